// Tensor: a strided view (shape, strides in elements, byte offset) over shared Storage.
//
// Views (view, slice, select, transpose, permute) share storage and never copy; contiguous(),
// clone() and to() copy. Storage either owns allocator memory or adopts an external owner (an
// mmap'ed safetensors file, a DLPack producer) through a keep-alive handle, so weights loaded by
// mmap stay zero-copy for as long as any tensor views them.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"

namespace khub {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& shape);
int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

class Storage {
 public:
  // Owns nbytes from allocator.
  Storage(size_t nbytes, Allocator* allocator);
  // Adopts external memory kept alive by owner (may be null for memory that outlives the tensor).
  Storage(void* data, size_t nbytes, Device device, std::shared_ptr<void> owner);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;  // null when adopted
  std::shared_ptr<void> owner_;
};

class Tensor {
 public:
  Tensor() = default;  // undefined tensor

  static Tensor empty(Shape shape, DType dtype, Device device = Device::cpu());
  static Tensor zeros(Shape shape, DType dtype, Device device = Device::cpu());
  static Tensor full(Shape shape, double value, DType dtype);  // CPU
  // Wraps memory kept alive by owner; no copy.
  static Tensor from_blob(void* data, Shape shape, DType dtype, Device device,
                          std::shared_ptr<void> owner, Shape strides = {});
  // Copies a host vector (CPU tensor). T must match dtype's element size.
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, Shape shape, DType dtype);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const { return shape_[normalize_dim(d)]; }
  int64_t stride(int64_t d) const { return strides_[normalize_dim(d)]; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  size_t element_size() const { return dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  size_t byte_offset() const { return offset_; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  void* data() const { return static_cast<char*>(storage_->data()) + offset_; }
  template <typename T>
  T* data_as() const {
    KHUB_ICHECK(sizeof(T) == dtype_size(dtype_), "element size of ", dtype_name(dtype_));
    return static_cast<T*>(data());
  }

  bool is_contiguous() const;

  // Views. `view` needs a contiguous tensor and accepts one -1.
  Tensor view(Shape shape) const;
  Tensor reshape(Shape shape) const;  // view when possible, else copy
  Tensor slice(int64_t dim, int64_t start, int64_t end) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops dim
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor permute(const std::vector<int64_t>& order) const;
  Tensor unsqueeze(int64_t dim) const;

  // Copies.
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;    // same device; copies only when dtype differs
  Tensor to(Device device) const;  // copies only when device differs
  // Elementwise copy from src (same shape; dtype conversion between any two dtypes).
  void copy_from(const Tensor& src);
  void fill(double value);  // CPU

  // Reads element i (row-major logical index) as double; for tests and small inspections.
  double item(int64_t flat_index = 0) const;
  std::vector<float> to_float_vector() const;

  std::string describe() const;  // "bf16[2, 3] cpu"

 private:
  int64_t normalize_dim(int64_t d) const;

  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;  // bytes
  Shape shape_;
  Shape strides_;  // elements
  DType dtype_ = DType::kF32;
};

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, Shape shape, DType dtype) {
  KHUB_ICHECK(sizeof(T) == dtype_size(dtype));
  KHUB_CHECK_ARG(shape_numel(shape) == static_cast<int64_t>(values.size()), "from_vector: shape ",
                 shape_str(shape), " holds ", shape_numel(shape), " elements, got ", values.size());
  Tensor t = empty(std::move(shape), dtype);
  std::copy(values.begin(), values.end(), t.data_as<T>());
  return t;
}

// Copies between devices (host<->device, device<->device). The CUDA runtime part registers one;
// CPU<->CPU is built in.
using DeviceCopyFn =
    std::function<void(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes)>;
void register_device_copy(DeviceType type, DeviceCopyFn fn);
// Element copy between two views of one dtype on the same device, either or both non-contiguous
// (contiguous() and copy_from of device tensors go through it). The device runtime registers it.
using DeviceStridedCopyFn = std::function<void(const Tensor& dst, const Tensor& src)>;
void register_device_strided_copy(DeviceType type, DeviceStridedCopyFn fn);

}  // namespace khub
