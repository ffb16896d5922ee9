#include "core/tensor.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <sstream>

#include "core/device_backend.h"

namespace khub {

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

Storage::Storage(size_t nbytes, Allocator* allocator)
    : nbytes_(nbytes), device_(allocator->device()), allocator_(allocator) {
  data_ = allocator->allocate(nbytes);
}

Storage::Storage(void* data, size_t nbytes, Device device, std::shared_ptr<void> owner)
    : data_(data), nbytes_(nbytes), device_(device), owner_(std::move(owner)) {}

Storage::~Storage() {
  if (allocator_ != nullptr) allocator_->deallocate(data_, nbytes_);
}

Tensor Tensor::empty(Shape shape, DType dtype, Device device) {
  for (int64_t d : shape) {
    KHUB_CHECK_ARG(d >= 0, "tensor shape ", shape_str(shape), " has a negative dimension");
  }
  Tensor t;
  t.dtype_ = dtype;
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  t.storage_ = std::make_shared<Storage>(t.nbytes(), allocator_for(device));
  return t;
}

Tensor Tensor::zeros(Shape shape, DType dtype, Device device) {
  Tensor t = empty(std::move(shape), dtype, Device::cpu());
  std::memset(t.data(), 0, t.nbytes());
  return device.is_cpu() ? t : t.to(device);
}

Tensor Tensor::full(Shape shape, double value, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  t.fill(value);
  return t;
}

Tensor Tensor::from_blob(void* data, Shape shape, DType dtype, Device device,
                         std::shared_ptr<void> owner, Shape strides) {
  Tensor t;
  t.dtype_ = dtype;
  t.strides_ = strides.empty() ? contiguous_strides(shape) : std::move(strides);
  KHUB_ICHECK(t.strides_.size() == shape.size());
  t.shape_ = std::move(shape);
  size_t extent = 0;  // bytes the view can touch
  if (t.numel() > 0) {
    int64_t last = 0;
    for (size_t i = 0; i < t.shape_.size(); ++i) last += (t.shape_[i] - 1) * t.strides_[i];
    extent = static_cast<size_t>(last + 1) * dtype_size(dtype);
  }
  t.storage_ = std::make_shared<Storage>(data, extent, device, std::move(owner));
  return t;
}

int64_t Tensor::normalize_dim(int64_t d) const {
  int64_t n = dim();
  int64_t r = d < 0 ? d + n : d;
  KHUB_CHECK_ARG(r >= 0 && r < n, "dimension ", d, " is out of range for a tensor of shape ",
                 shape_str(shape_));
  return r;
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

Tensor Tensor::view(Shape shape) const {
  KHUB_CHECK_ARG(is_contiguous(), "view of a non-contiguous tensor ", describe(),
                 "; call contiguous() or reshape()");
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      KHUB_CHECK_ARG(infer < 0, "view shape ", shape_str(shape), " has more than one -1");
      infer = static_cast<int64_t>(i);
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) shape[infer] = known == 0 ? 0 : numel() / known;
  KHUB_CHECK_ARG(shape_numel(shape) == numel(), "cannot view ", describe(), " as ",
                 shape_str(shape));
  Tensor t = *this;
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::reshape(Shape shape) const {
  return is_contiguous() ? view(std::move(shape)) : contiguous().view(std::move(shape));
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end) const {
  d = normalize_dim(d);
  KHUB_CHECK_ARG(0 <= start && start <= end && end <= shape_[d], "slice [", start, ", ", end,
                 ") of dimension ", d, " is out of range for ", describe());
  Tensor t = *this;
  t.offset_ += static_cast<size_t>(start * strides_[d]) * dtype_size(dtype_);
  t.shape_[d] = end - start;
  return t;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = normalize_dim(d);
  KHUB_CHECK_ARG(index >= 0 && index < shape_[d], "index ", index, " of dimension ", d,
                 " is out of range for ", describe());
  Tensor t = slice(d, index, index + 1);
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  d0 = normalize_dim(d0);
  d1 = normalize_dim(d1);
  Tensor t = *this;
  std::swap(t.shape_[d0], t.shape_[d1]);
  std::swap(t.strides_[d0], t.strides_[d1]);
  return t;
}

Tensor Tensor::permute(const std::vector<int64_t>& order) const {
  KHUB_CHECK_ARG(static_cast<int64_t>(order.size()) == dim(), "permute order has ", order.size(),
                 " entries for a ", dim(), "-d tensor");
  Tensor t = *this;
  std::vector<bool> seen(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    int64_t src = normalize_dim(order[i]);
    KHUB_CHECK_ARG(!seen[src], "permute order repeats dimension ", src);
    seen[src] = true;
    t.shape_[i] = shape_[src];
    t.strides_[i] = strides_[src];
  }
  return t;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  int64_t n = dim() + 1;
  int64_t r = d < 0 ? d + n : d;
  KHUB_CHECK_ARG(r >= 0 && r < n, "unsqueeze dimension ", d, " out of range for ", describe());
  Tensor t = *this;
  int64_t stride = r < dim() ? strides_[r] * shape_[r] : 1;
  t.shape_.insert(t.shape_.begin() + r, 1);
  t.strides_.insert(t.strides_.begin() + r, stride);
  return t;
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device());
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  KHUB_CHECK_ARG(device().is_cpu(), "dtype conversion of ", describe(),
                 " runs on the CPU only; use ops::cast for device tensors");
  Tensor t = empty(shape_, dtype, device());
  t.copy_from(*this);
  return t;
}

namespace {

std::mutex& copy_mutex() {
  static std::mutex mu;
  return mu;
}
DeviceCopyFn& copy_slot(DeviceType type) {
  static DeviceCopyFn slots[8];
  return slots[static_cast<int>(type)];
}
DeviceStridedCopyFn& strided_copy_slot(DeviceType type) {
  static DeviceStridedCopyFn slots[8];
  return slots[static_cast<int>(type)];
}

// The registered routine of a device type, registering the device's runtime on first use.
template <typename Fn>
Fn lookup_device_routine(Fn& (*slot_of)(DeviceType), Device device, const char* what) {
  {
    std::lock_guard<std::mutex> lock(copy_mutex());
    if (Fn fn = slot_of(device.type)) return fn;
  }
  detail::ensure_device_backend(device);
  std::lock_guard<std::mutex> lock(copy_mutex());
  Fn fn = slot_of(device.type);
  if (!fn) fail(ErrorKind::kUnsupported, "no ", what, " routine for ", device.str());
  return fn;
}

double load_as_double(const char* p, DType dt) {
  switch (dt) {
    case DType::kF32: {
      float v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case DType::kF64: {
      double v;
      std::memcpy(&v, p, 8);
      return v;
    }
    case DType::kF16: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return f16_to_f32(v);
    }
    case DType::kBF16: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return bf16_to_f32(v);
    }
    case DType::kI8:
      return static_cast<int8_t>(*p);
    case DType::kI16: {
      int16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case DType::kI32: {
      int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case DType::kI64: {
      int64_t v;
      std::memcpy(&v, p, 8);
      return static_cast<double>(v);
    }
    case DType::kU8:
    case DType::kBool:
      return static_cast<uint8_t>(*p);
    case DType::kU16: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case DType::kU32: {
      uint32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case DType::kU64: {
      uint64_t v;
      std::memcpy(&v, p, 8);
      return static_cast<double>(v);
    }
    default:
      break;
  }
  fail(ErrorKind::kUnsupported, "element conversion from ", dtype_name(dt));
}

void store_from_double(char* p, DType dt, double x) {
  switch (dt) {
    case DType::kF32: {
      float v = static_cast<float>(x);
      std::memcpy(p, &v, 4);
      return;
    }
    case DType::kF64:
      std::memcpy(p, &x, 8);
      return;
    case DType::kF16: {
      uint16_t v = f32_to_f16(static_cast<float>(x));
      std::memcpy(p, &v, 2);
      return;
    }
    case DType::kBF16: {
      uint16_t v = f32_to_bf16(static_cast<float>(x));
      std::memcpy(p, &v, 2);
      return;
    }
    case DType::kI8:
      *p = static_cast<char>(static_cast<int8_t>(x));
      return;
    case DType::kI16: {
      int16_t v = static_cast<int16_t>(x);
      std::memcpy(p, &v, 2);
      return;
    }
    case DType::kI32: {
      int32_t v = static_cast<int32_t>(x);
      std::memcpy(p, &v, 4);
      return;
    }
    case DType::kI64: {
      int64_t v = static_cast<int64_t>(x);
      std::memcpy(p, &v, 8);
      return;
    }
    case DType::kU8:
      *p = static_cast<char>(static_cast<uint8_t>(x));
      return;
    case DType::kBool:
      *p = x != 0.0 ? 1 : 0;
      return;
    case DType::kU16: {
      uint16_t v = static_cast<uint16_t>(x);
      std::memcpy(p, &v, 2);
      return;
    }
    case DType::kU32: {
      uint32_t v = static_cast<uint32_t>(x);
      std::memcpy(p, &v, 4);
      return;
    }
    case DType::kU64: {
      uint64_t v = static_cast<uint64_t>(x);
      std::memcpy(p, &v, 8);
      return;
    }
    default:
      break;
  }
  fail(ErrorKind::kUnsupported, "element conversion to ", dtype_name(dt));
}

// Calls fn(byte offset in a, byte offset in b) for every element in row-major logical order.
template <typename Fn>
void for_each_offset(const Shape& shape, const Shape& sa, size_t ea, const Shape& sb, size_t eb,
                     Fn&& fn) {
  int64_t n = shape_numel(shape);
  if (n == 0) return;
  size_t nd = shape.size();
  std::vector<int64_t> idx(nd, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t i = 0; i < n; ++i) {
    fn(static_cast<size_t>(oa) * ea, static_cast<size_t>(ob) * eb);
    for (size_t d = nd; d-- > 0;) {
      if (++idx[d] < shape[d]) {
        oa += sa[d];
        ob += sb[d];
        break;
      }
      oa -= sa[d] * (shape[d] - 1);
      ob -= sb[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

void raw_device_copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t n) {
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    std::memmove(dst, src, n);
    return;
  }
  Device non_cpu = dst_dev.is_cpu() ? src_dev : dst_dev;
  if (n == 0) return;
  lookup_device_routine(&copy_slot, non_cpu, "copy")(dst, dst_dev, src, src_dev, n);
}

}  // namespace

void register_device_copy(DeviceType type, DeviceCopyFn fn) {
  std::lock_guard<std::mutex> lock(copy_mutex());
  copy_slot(type) = std::move(fn);
}

void register_device_strided_copy(DeviceType type, DeviceStridedCopyFn fn) {
  std::lock_guard<std::mutex> lock(copy_mutex());
  strided_copy_slot(type) = std::move(fn);
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor src = contiguous_strides(shape_) == strides_ ? *this : contiguous();
  Tensor dst = empty(shape_, dtype_, device);
  raw_device_copy(dst.data(), device, src.data(), this->device(), nbytes());
  return dst;
}

void Tensor::copy_from(const Tensor& src) {
  KHUB_CHECK_ARG(src.shape_ == shape_, "copy_from: shape ", shape_str(src.shape_), " into ",
                 shape_str(shape_));
  if (!device().is_cpu() || !src.device().is_cpu()) {
    KHUB_CHECK_ARG(src.dtype_ == dtype_, "copy_from between devices needs equal dtypes (convert ",
                   "with ops::cast): ", src.describe(), " into ", describe());
    bool dense = is_contiguous() && src.is_contiguous();
    if (dense) {
      raw_device_copy(data(), device(), src.data(), src.device(), nbytes());
    } else if (device() == src.device()) {
      lookup_device_routine(&strided_copy_slot, device(), "strided copy")(*this, src);
    } else if (!src.is_contiguous()) {
      copy_from(src.contiguous());  // densify on the source's device, then transfer
    } else {
      Tensor staged = empty(shape_, dtype_, device());  // transfer, then scatter on this device
      staged.copy_from(src);
      copy_from(staged);
    }
    return;
  }
  char* d = static_cast<char*>(data());
  const char* s = static_cast<const char*>(src.data());
  if (src.dtype_ == dtype_ && is_contiguous() && src.is_contiguous()) {
    std::memmove(d, s, nbytes());
    return;
  }
  size_t ed = dtype_size(dtype_), es = dtype_size(src.dtype_);
  if (src.dtype_ == dtype_) {
    for_each_offset(shape_, strides_, ed, src.strides_, es,
                    [&](size_t od, size_t os) { std::memcpy(d + od, s + os, ed); });
    return;
  }
  DType dd = dtype_, ds = src.dtype_;
  for_each_offset(shape_, strides_, ed, src.strides_, es, [&](size_t od, size_t os) {
    store_from_double(d + od, dd, load_as_double(s + os, ds));
  });
}

void Tensor::fill(double value) {
  KHUB_CHECK_ARG(device().is_cpu(), "fill of ", describe(), " runs on the CPU only");
  char* d = static_cast<char*>(data());
  size_t e = dtype_size(dtype_);
  for_each_offset(shape_, strides_, e, strides_, e,
                  [&](size_t od, size_t) { store_from_double(d + od, dtype_, value); });
}

double Tensor::item(int64_t flat_index) const {
  KHUB_CHECK_ARG(device().is_cpu(), "item() of ", describe(), " needs a CPU tensor");
  KHUB_CHECK_ARG(flat_index >= 0 && flat_index < numel(), "item index ", flat_index,
                 " out of range for ", describe());
  int64_t off = 0, rem = flat_index;
  for (size_t d = shape_.size(); d-- > 0;) {
    off += (rem % shape_[d]) * strides_[d];
    rem /= shape_[d];
  }
  return load_as_double(static_cast<const char*>(data()) + off * dtype_size(dtype_), dtype_);
}

std::vector<float> Tensor::to_float_vector() const {
  Tensor f = (device().is_cpu() ? *this : to(Device::cpu())).to(DType::kF32).contiguous();
  const float* p = f.data_as<float>();
  return std::vector<float>(p, p + f.numel());
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " " + device().str();
}

}  // namespace khub
