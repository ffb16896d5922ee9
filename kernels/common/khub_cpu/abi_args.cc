#include "abi_args.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace khub_cpu {
namespace {

void format_shape(const DLTensor& t, char* buf, size_t cap) {
  size_t n = std::snprintf(buf, cap, "[");
  for (int d = 0; d < t.ndim && n < cap; ++d)
    n += std::snprintf(buf + n, cap - n, d ? ", %lld" : "%lld", static_cast<long long>(t.shape[d]));
  if (n < cap) std::snprintf(buf + n, cap - n, "]");
}

void format_dtype(DLDataType dt, char* buf, size_t cap) {
  const char* name = nullptr;
  if (dt.lanes == 1) {
    if (dt.code == kDLFloat && dt.bits == 32) name = "f32";
    if (dt.code == kDLFloat && dt.bits == 16) name = "f16";
    if (dt.code == kDLFloat && dt.bits == 64) name = "f64";
    if (dt.code == kDLBfloat && dt.bits == 16) name = "bf16";
    if (dt.code == kDLInt && dt.bits == 32) name = "i32";
    if (dt.code == kDLInt && dt.bits == 64) name = "i64";
  }
  if (name) {
    std::snprintf(buf, cap, "%s", name);
  } else {
    std::snprintf(buf, cap, "(code %d, bits %d, lanes %d)", dt.code, dt.bits, dt.lanes);
  }
}

}  // namespace

const char* elem_type_name(ElemType type) {
  switch (type) {
    case ElemType::kF32:
      return "f32";
    case ElemType::kBF16:
      return "bf16";
    case ElemType::kF16:
      return "f16";
  }
  return "?";
}

bool CallArgs::fail(khub_status status, const char* fmt, ...) {
  status_ = status;
  if (error_ == nullptr) return false;
  int n = std::snprintf(error_->message, sizeof(error_->message), "%s: ", function_);
  if (n < 0 || n >= static_cast<int>(sizeof(error_->message))) n = 0;
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(error_->message + n, sizeof(error_->message) - n, fmt, args);
  va_end(args);
  return false;
}

khub_status CallArgs::finish(Status status, const ErrorText& text) {
  switch (status) {
    case Status::kOk:
      return KHUB_STATUS_OK;
    case Status::kInvalidArgument:
      fail(KHUB_STATUS_INVALID_ARGUMENT, "%s", text.text);
      break;
    case Status::kUnsupported:
      fail(KHUB_STATUS_UNSUPPORTED, "%s", text.text);
      break;
    case Status::kInternal:
      fail(KHUB_STATUS_INTERNAL, "%s", text.text);
      break;
  }
  return status_;
}

bool CallArgs::check_call(int num_tensors, int num_attrs) {
  if (call_ == nullptr) return fail(KHUB_STATUS_INVALID_ARGUMENT, "call is NULL");
  if (call_->struct_version != 1)
    return fail(KHUB_STATUS_INVALID_ARGUMENT, "khub_call struct_version is %u, expected 1",
                call_->struct_version);
  if (call_->context != nullptr && call_->context->struct_version != 1)
    return fail(KHUB_STATUS_INVALID_ARGUMENT, "khub_exec_context struct_version is %u, expected 1",
                call_->context->struct_version);
  if (call_->num_tensors != num_tensors || (num_tensors > 0 && call_->tensors == nullptr))
    return fail(KHUB_STATUS_INVALID_ARGUMENT, "call has %d tensors, expected %d",
                call_->tensors ? call_->num_tensors : 0, num_tensors);
  if (call_->num_attrs != num_attrs || (num_attrs > 0 && call_->attrs == nullptr))
    return fail(KHUB_STATUS_INVALID_ARGUMENT, "call has %d attributes, expected %d",
                call_->attrs ? call_->num_attrs : 0, num_attrs);
  return true;
}

void* CallArgs::data(int i) const {
  const DLTensor& t = tensor(i);
  return static_cast<char*>(t.data) + t.byte_offset;
}

int64_t CallArgs::numel(int i) const {
  const DLTensor& t = tensor(i);
  int64_t n = 1;
  for (int d = 0; d < t.ndim; ++d) n *= t.shape[d];
  return n;
}

int64_t CallArgs::stride(int i, int dim) const {
  const DLTensor& t = tensor(i);
  if (t.strides != nullptr) return t.strides[dim];
  int64_t s = 1;
  for (int d = t.ndim - 1; d > dim; --d) s *= t.shape[d];
  return s;
}

bool CallArgs::float_tensor(int i, const char* name, ElemType* type) {
  const DLTensor& t = tensor(i);
  if (t.device.device_type != kDLCPU && t.device.device_type != kDLCUDAHost)
    return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s is on DLPack device type %d, expected the CPU",
                name, static_cast<int>(t.device.device_type));
  DLDataType dt = t.dtype;
  if (dt.lanes == 1 && dt.code == kDLFloat && dt.bits == 32) {
    *type = ElemType::kF32;
  } else if (dt.lanes == 1 && dt.code == kDLBfloat && dt.bits == 16) {
    *type = ElemType::kBF16;
  } else if (dt.lanes == 1 && dt.code == kDLFloat && dt.bits == 16) {
    *type = ElemType::kF16;
  } else {
    char buf[48];
    format_dtype(dt, buf, sizeof(buf));
    return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has dtype %s, expected one of f32, bf16, f16",
                name, buf);
  }
  if (t.ndim < 0 || (t.ndim > 0 && t.shape == nullptr))
    return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has ndim %d and shape %p", name, t.ndim,
                static_cast<const void*>(t.shape));
  for (int d = 0; d < t.ndim; ++d)
    if (t.shape[d] < 0)
      return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has size %lld in dim %d", name,
                  static_cast<long long>(t.shape[d]), d);
  if (t.data == nullptr && numel(i) > 0)
    return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has no data (NULL) but %lld elements", name,
                static_cast<long long>(numel(i)));
  return true;
}

bool CallArgs::f32_tensor(int i, const char* name) {
  ElemType type = ElemType::kF32;
  if (!float_tensor(i, name, &type)) return false;
  if (type != ElemType::kF32)
    return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has dtype %s, expected f32", name,
                elem_type_name(type));
  return true;
}

bool CallArgs::same_dtype(int i, const char* name, int j, const char* other) {
  DLDataType a = tensor(i).dtype, b = tensor(j).dtype;
  if (a.code == b.code && a.bits == b.bits && a.lanes == b.lanes) return true;
  char ba[48], bb[48];
  format_dtype(a, ba, sizeof(ba));
  format_dtype(b, bb, sizeof(bb));
  return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has dtype %s, expected %s (the dtype of %s)", name,
              ba, bb, other);
}

bool CallArgs::rank(int i, const char* name, int expected) {
  if (tensor(i).ndim == expected) return true;
  return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has %d dims, expected %d", name, tensor(i).ndim,
              expected);
}

bool CallArgs::min_rank(int i, const char* name, int minimum) {
  if (tensor(i).ndim >= minimum) return true;
  return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has %d dims, expected at least %d", name,
              tensor(i).ndim, minimum);
}

bool CallArgs::same_shape(int i, const char* name, int j, const char* other) {
  const DLTensor &a = tensor(i), &b = tensor(j);
  bool same = a.ndim == b.ndim;
  for (int d = 0; same && d < a.ndim; ++d) same = a.shape[d] == b.shape[d];
  if (same) return true;
  char sa[160], sb[160];
  format_shape(a, sa, sizeof(sa));
  format_shape(b, sb, sizeof(sb));
  return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has shape %s, expected %s (the shape of %s)", name,
              sa, sb, other);
}

bool CallArgs::dim_is(int i, const char* name, int dim, int64_t expected, const char* why) {
  if (tensor(i).shape[dim] == expected) return true;
  char s[160];
  format_shape(tensor(i), s, sizeof(s));
  return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has shape %s: dim %d is %lld, expected %lld (%s)",
              name, s, dim, static_cast<long long>(tensor(i).shape[dim]),
              static_cast<long long>(expected), why);
}

bool CallArgs::shape_is(int i, const char* name, const int64_t* expected, int ndim,
                        const char* why) {
  const DLTensor& t = tensor(i);
  bool same = t.ndim == ndim;
  for (int d = 0; same && d < ndim; ++d) same = t.shape[d] == expected[d];
  if (same) return true;
  DLTensor want{};
  want.ndim = ndim;
  want.shape = const_cast<int64_t*>(expected);
  char sa[160], sb[160];
  format_shape(t, sa, sizeof(sa));
  format_shape(want, sb, sizeof(sb));
  return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has shape %s, expected %s (%s)", name, sa, sb, why);
}

bool CallArgs::writable(int i, const char* name) {
  const DLTensor& t = tensor(i);
  for (int d = 0; d < t.ndim; ++d)
    if (t.shape[d] > 1 && stride(i, d) == 0)
      return fail(KHUB_STATUS_INVALID_ARGUMENT,
                  "%s has stride 0 in dim %d (a broadcast view), expected a tensor whose "
                  "elements do not overlap",
                  name, d);
  return true;
}

bool CallArgs::rows(int i, const char* name, RowLayout* layout) {
  const DLTensor& t = tensor(i);
  *layout = RowLayout{};
  layout->inner_stride = t.ndim > 0 ? stride(i, t.ndim - 1) : 1;
  int64_t rows = 1;
  // Walk the leading dims from the innermost outwards, merging a dim into the previous kept one
  // when they form one arithmetic progression; kept dims are stored outermost first.
  int64_t sizes[64], strides[64];
  int kept = 0;
  for (int d = t.ndim - 2; d >= 0; --d) {
    int64_t size = t.shape[d], st = stride(i, d);
    rows *= size;
    if (size == 1) continue;
    if (kept > 0 && st == strides[kept - 1] * sizes[kept - 1]) {
      sizes[kept - 1] *= size;
      continue;
    }
    if (kept == 64 || kept == RowLayout::kMaxDims)
      return fail(KHUB_STATUS_INVALID_ARGUMENT,
                  "%s has more than %d non-mergeable leading dims (strides too irregular)", name,
                  RowLayout::kMaxDims);
    sizes[kept] = size;
    strides[kept] = st;
    ++kept;
  }
  layout->rows = rows;
  layout->ndim = kept;
  for (int k = 0; k < kept; ++k) {
    layout->sizes[k] = sizes[kept - 1 - k];
    layout->strides[k] = strides[kept - 1 - k];
  }
  return true;
}

const khub_named_value* CallArgs::find_attr(const char* name) {
  for (int a = 0; a < call_->num_attrs; ++a)
    if (call_->attrs[a].name != nullptr && std::strcmp(call_->attrs[a].name, name) == 0)
      return &call_->attrs[a];
  fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute %s is missing", name);
  return nullptr;
}

bool CallArgs::attr_float(const char* name, double* value) {
  const khub_named_value* a = find_attr(name);
  if (a == nullptr) return false;
  if (a->value.kind == KHUB_VALUE_FLOAT) {
    *value = a->value.v.f;
  } else if (a->value.kind == KHUB_VALUE_INT) {
    *value = static_cast<double>(a->value.v.i);
  } else {
    return fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute %s has value kind %d, expected FLOAT",
                name, a->value.kind);
  }
  return true;
}

bool CallArgs::attr_int(const char* name, int64_t* value) {
  const khub_named_value* a = find_attr(name);
  if (a == nullptr) return false;
  if (a->value.kind != KHUB_VALUE_INT)
    return fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute %s has value kind %d, expected INT", name,
                a->value.kind);
  *value = a->value.v.i;
  return true;
}

bool CallArgs::attr_bool(const char* name, bool* value) {
  const khub_named_value* a = find_attr(name);
  if (a == nullptr) return false;
  if (a->value.kind != KHUB_VALUE_BOOL && a->value.kind != KHUB_VALUE_INT)
    return fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute %s has value kind %d, expected BOOL", name,
                a->value.kind);
  *value = a->value.v.i != 0;
  return true;
}

int CallArgs::num_threads() const {
  return call_->context != nullptr ? call_->context->num_threads : 0;
}

void* CallArgs::workspace() const {
  return call_->context != nullptr ? call_->context->workspace : nullptr;
}

uint64_t CallArgs::workspace_bytes() const {
  return call_->context != nullptr && call_->context->workspace != nullptr
             ? call_->context->workspace_bytes
             : 0;
}

}  // namespace khub_cpu
