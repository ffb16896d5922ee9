#include "core/dlpack.h"

namespace khub {

DLDataType dtype_to_dl(DType dtype) {
  uint8_t bits = static_cast<uint8_t>(dtype_size(dtype) * 8);
  switch (dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kF64:
      return {kDLFloat, bits, 1};
    case DType::kBF16:
      return {kDLBfloat, 16, 1};
    case DType::kI8:
    case DType::kI16:
    case DType::kI32:
    case DType::kI64:
      return {kDLInt, bits, 1};
    case DType::kU8:
    case DType::kU16:
    case DType::kU32:
    case DType::kU64:
      return {kDLUInt, bits, 1};
    case DType::kBool:
      return {kDLBoolCode, 8, 1};
    case DType::kF8E4M3:
      return {kDLFloat8E4M3FnCode, 8, 1};
    case DType::kF8E5M2:
      return {kDLFloat8E5M2Code, 8, 1};
  }
  fail(ErrorKind::kInternal, "unhandled dtype");
}

DType dtype_from_dl(DLDataType dl) {
  if (dl.lanes == 1) {
    for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kI8, DType::kI16,
                    DType::kI32, DType::kI64, DType::kU8, DType::kU16, DType::kU32, DType::kU64,
                    DType::kBool, DType::kF8E4M3, DType::kF8E5M2}) {
      DLDataType x = dtype_to_dl(d);
      if (x.code == dl.code && x.bits == dl.bits) return d;
    }
  }
  fail(ErrorKind::kUnsupported, "DLPack dtype (code ", int(dl.code), ", bits ", int(dl.bits),
       ", lanes ", dl.lanes, ") has no khub dtype");
}

DLDevice device_to_dl(Device device) {
  switch (device.type) {
    case DeviceType::kCPU:
      return {kDLCPU, 0};
    case DeviceType::kCUDA:
      return {kDLCUDA, device.index};
    case DeviceType::kROCm:
      return {kDLROCM, device.index};
    case DeviceType::kMetal:
      return {kDLMetal, device.index};
    case DeviceType::kXPU:
      return {static_cast<DLDeviceType>(14), device.index};  // kDLOneAPI
    case DeviceType::kNPU:
      return {kDLExtDev, device.index};
  }
  fail(ErrorKind::kInternal, "unhandled device");
}

Device device_from_dl(DLDevice dl) {
  switch (static_cast<int>(dl.device_type)) {
    case kDLCPU:
    case kDLCUDAHost:
      return Device::cpu();
    case kDLCUDA:
    case kDLCUDAManaged:
      return Device::cuda(dl.device_id);
    case kDLROCM:
      return {DeviceType::kROCm, dl.device_id};
    case kDLMetal:
      return {DeviceType::kMetal, dl.device_id};
    case 14:
      return {DeviceType::kXPU, dl.device_id};
    case kDLExtDev:
      return {DeviceType::kNPU, dl.device_id};
    default:
      break;
  }
  fail(ErrorKind::kUnsupported, "DLPack device type ", int(dl.device_type), " has no khub device");
}

DLTensor to_dltensor(const Tensor& t) {
  DLTensor dl{};
  dl.data = t.storage()->data();
  dl.device = device_to_dl(t.device());
  dl.ndim = static_cast<int32_t>(t.dim());
  dl.dtype = dtype_to_dl(t.dtype());
  dl.shape = const_cast<int64_t*>(t.shape().data());
  dl.strides = const_cast<int64_t*>(t.strides().data());
  dl.byte_offset = t.byte_offset();
  return dl;
}

namespace {
struct ExportContext {
  Tensor tensor;  // keeps storage, shape and strides alive
  DLManagedTensor managed;
};
}  // namespace

DLManagedTensor* to_dlpack(const Tensor& t) {
  auto* ctx = new ExportContext{t, {}};
  ctx->managed.dl_tensor = to_dltensor(ctx->tensor);
  ctx->managed.manager_ctx = ctx;
  ctx->managed.deleter = [](DLManagedTensor* self) {
    delete static_cast<ExportContext*>(self->manager_ctx);
  };
  return &ctx->managed;
}

Tensor from_dlpack(DLManagedTensor* managed) {
  KHUB_CHECK_ARG(managed != nullptr, "from_dlpack: null DLManagedTensor");
  std::shared_ptr<void> owner(managed, [](void* p) {
    auto* m = static_cast<DLManagedTensor*>(p);
    if (m->deleter) m->deleter(m);
  });
  const DLTensor& dl = managed->dl_tensor;
  DType dtype = dtype_from_dl(dl.dtype);
  Device device = device_from_dl(dl.device);
  KHUB_CHECK_ARG(dl.ndim >= 0, "from_dlpack: negative ndim ", dl.ndim);
  Shape shape(dl.shape, dl.shape + dl.ndim);
  Shape strides = dl.strides ? Shape(dl.strides, dl.strides + dl.ndim) : contiguous_strides(shape);
  void* data = static_cast<char*>(dl.data) + dl.byte_offset;
  return Tensor::from_blob(data, std::move(shape), dtype, device, std::move(owner),
                           std::move(strides));
}

}  // namespace khub
