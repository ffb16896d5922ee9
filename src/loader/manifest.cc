#include "loader/manifest.h"

#include <cstddef>
#include <cstring>

#include "core/error.h"

namespace khub::loader {
namespace {

using json = nlohmann::json;

// Struct sizes at ABI 1.0: a library built against 1.0 reports at least these.
constexpr uint32_t kManifestV1Size = sizeof(khub_manifest);
constexpr uint32_t kFunctionV1Size = sizeof(khub_function_desc);
constexpr uint32_t kLayerV1Size = sizeof(khub_layer_desc);

constexpr uint32_t kKnownArgFlags = KHUB_ARG_CONTIGUOUS | KHUB_ARG_OPTIONAL;
constexpr uint32_t kKnownFnFlags =
    KHUB_FN_CAN_CAPTURE | KHUB_FN_SYNCHRONIZES | KHUB_FN_DETERMINISTIC;
constexpr uint32_t kKnownLayerFlags = KHUB_LAYER_HAS_BACKWARD | KHUB_LAYER_CAN_CAPTURE;

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  fail(ErrorKind::kVerification, where, ": manifest: ", what);
}

bool is_identifier(const char* s, bool allow_dot = false) {
  if (!s || !*s) return false;
  size_t n = std::strlen(s);
  if (n > 128) return false;
  auto ok_first = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  };
  if (!ok_first(s[0])) return false;
  for (size_t i = 1; i < n; ++i) {
    char c = s[i];
    if (!ok_first(c) && !(c >= '0' && c <= '9') && !(allow_dot && c == '.')) return false;
  }
  return true;
}

std::string quoted(const char* s) { return s ? "'" + std::string(s) + "'" : "NULL"; }

json flag_list(uint32_t flags, std::initializer_list<std::pair<uint32_t, const char*>> names) {
  json out = json::array();
  for (const auto& [bit, name] : names) {
    if (flags & bit) out.push_back(name);
  }
  return out;
}

FunctionInfo validate_function(const khub_function_desc& f, const std::string& where) {
  FunctionInfo info;
  if (!is_identifier(f.name))
    bad(where, "function name " + quoted(f.name) + " is not an identifier");
  info.name = f.name;
  std::string fw = where + ": function '" + info.name + "'";
  if (!is_identifier(f.symbol)) {
    bad(fw, "symbol " + quoted(f.symbol) + " is not a C identifier");
  }
  info.symbol = f.symbol;
  if (f.num_args < 1 || f.num_args > 64 || !f.args) {
    bad(fw, "num_args " + std::to_string(f.num_args) + " (expected 1..64 with args set)");
  }
  if (f.num_attrs < 0 || f.num_attrs > 64 || (f.num_attrs > 0 && !f.attrs)) {
    bad(fw, "num_attrs " + std::to_string(f.num_attrs) + " (expected 0..64 with attrs set)");
  }
  bool writes = false;
  for (int i = 0; i < f.num_args; ++i) {
    const khub_arg_desc& a = f.args[i];
    ArgInfo arg;
    if (!is_identifier(a.name))
      bad(fw, "argument " + std::to_string(i) + " name " + quoted(a.name));
    arg.name = a.name;
    for (const ArgInfo& prev : info.args) {
      if (prev.name == arg.name) bad(fw, "argument '" + arg.name + "' is declared twice");
    }
    if (!arg_role_name(a.role))
      bad(fw, "argument '" + arg.name + "' has unknown role " + std::to_string(a.role));
    arg.role = static_cast<khub_arg_role>(a.role);
    writes |= arg.role == KHUB_ARG_OUTPUT || arg.role == KHUB_ARG_INOUT;
    if (!a.dtypes || !*a.dtypes) bad(fw, "argument '" + arg.name + "' declares no dtypes");
    arg.dtypes_text = a.dtypes;
    if (arg.dtypes_text.rfind("same:", 0) == 0) {
      arg.same_as = arg.dtypes_text.substr(5);
    } else {
      arg.dtypes = parse_dtype_list(arg.dtypes_text, fw + ": argument '" + arg.name + "'");
    }
    if (a.ndim < -1 || a.ndim > 16)
      bad(fw, "argument '" + arg.name + "' has ndim " + std::to_string(a.ndim));
    arg.ndim = a.ndim;
    if (a.flags & ~kKnownArgFlags) bad(fw, "argument '" + arg.name + "' has unknown flag bits");
    arg.flags = a.flags;
    if (arg.optional() && (arg.role == KHUB_ARG_OUTPUT || arg.role == KHUB_ARG_INOUT)) {
      bad(fw, "argument '" + arg.name + "' is written but optional");
    }
    info.args.push_back(std::move(arg));
  }
  if (!writes) bad(fw, "has no output or inout argument");
  for (const ArgInfo& arg : info.args) {
    if (arg.same_as.empty()) continue;
    const ArgInfo* target = nullptr;
    for (const ArgInfo& other : info.args) {
      if (other.name == arg.same_as) target = &other;
    }
    if (!target || target == &arg || !target->same_as.empty()) {
      bad(fw, "argument '" + arg.name + "' has dtypes '" + arg.dtypes_text +
                  "' but no other argument with explicit dtypes is named '" + arg.same_as + "'");
    }
  }
  for (int i = 0; i < f.num_attrs; ++i) {
    const khub_attr_desc& a = f.attrs[i];
    AttrInfo attr;
    if (!is_identifier(a.name))
      bad(fw, "attribute " + std::to_string(i) + " name " + quoted(a.name));
    attr.name = a.name;
    for (const AttrInfo& prev : info.attrs) {
      if (prev.name == attr.name) bad(fw, "attribute '" + attr.name + "' is declared twice");
    }
    for (const ArgInfo& arg : info.args) {
      if (arg.name == attr.name)
        bad(fw, "'" + attr.name + "' is both an argument and an attribute");
    }
    if (!value_kind_name(a.kind) || a.kind == KHUB_VALUE_NONE) {
      bad(fw, "attribute '" + attr.name + "' has invalid kind " + std::to_string(a.kind));
    }
    attr.kind = static_cast<khub_value_kind>(a.kind);
    attr.required = a.required != 0;
    if (a.required != 0 && a.required != 1)
      bad(fw, "attribute '" + attr.name + "' required must be 0 or 1");
    if (!attr.required) {
      if (a.default_value.kind != a.kind) {
        bad(fw, "attribute '" + attr.name + "' is " + value_kind_name(a.kind) +
                    " but its default is " +
                    (value_kind_name(a.default_value.kind) ? value_kind_name(a.default_value.kind)
                                                           : "invalid"));
      }
      attr.default_value = a.default_value;
      if (a.kind == KHUB_VALUE_STRING) {
        if (!a.default_value.v.s) bad(fw, "attribute '" + attr.name + "' default string is NULL");
        attr.default_string = a.default_value.v.s;
      }
      if (a.kind == KHUB_VALUE_BOOL && a.default_value.v.i != 0 && a.default_value.v.i != 1) {
        bad(fw, "attribute '" + attr.name + "' bool default must be 0 or 1");
      }
    }
    info.attrs.push_back(std::move(attr));
  }
  if (!f.dtypes || !*f.dtypes) bad(fw, "declares no compute dtypes");
  info.dtypes_text = f.dtypes;
  info.dtypes = parse_dtype_list(info.dtypes_text, fw);
  if (f.flags & ~kKnownFnFlags) bad(fw, "has unknown flag bits");
  info.flags = f.flags;
  info.workspace_size = f.workspace_size;
  const char* c = f.constraints ? f.constraints : "{}";
  try {
    info.constraints = json::parse(c);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for huge numbers
    bad(fw, std::string("constraints are not valid JSON: ") + e.what());
  }
  if (!info.constraints.is_object()) bad(fw, "constraints must be a JSON object");
  return info;
}

}  // namespace

const char* arg_role_name(int32_t role) {
  switch (role) {
    case KHUB_ARG_INPUT:
      return "input";
    case KHUB_ARG_PARAM:
      return "param";
    case KHUB_ARG_OUTPUT:
      return "output";
    case KHUB_ARG_INOUT:
      return "inout";
  }
  return nullptr;
}

const char* value_kind_name(int32_t kind) {
  switch (kind) {
    case KHUB_VALUE_NONE:
      return "none";
    case KHUB_VALUE_INT:
      return "int";
    case KHUB_VALUE_FLOAT:
      return "float";
    case KHUB_VALUE_BOOL:
      return "bool";
    case KHUB_VALUE_STRING:
      return "string";
  }
  return nullptr;
}

std::vector<DType> parse_dtype_list(const std::string& text, const std::string& where) {
  std::vector<DType> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string name =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    DType d;
    if (name.empty() || !dtype_parse(name, &d)) {
      fail(ErrorKind::kVerification, where, ": unknown dtype '", name, "' in '", text,
           "' (expected names like f32, bf16, f16, i32, i64)");
    }
    out.push_back(d);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

const FunctionInfo* ManifestInfo::function(const std::string& name) const {
  for (const FunctionInfo& f : functions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const LayerInfo* ManifestInfo::layer(const std::string& name) const {
  for (const LayerInfo& l : layers) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

ManifestInfo validate_manifest(const khub_manifest* m, const std::string& where) {
  if (!m) bad(where, "khub_kernel_manifest() returned NULL");
  if (m->abi_major != KHUB_KERNEL_ABI_VERSION_MAJOR) {
    fail(ErrorKind::kVerification, where, ": kernel ABI major ", m->abi_major,
         " (library) does not match ", KHUB_KERNEL_ABI_VERSION_MAJOR,
         " (this khub); rebuild the kernel against kernel ABI ", KHUB_KERNEL_ABI_VERSION_MAJOR,
         ".x");
  }
  if (m->abi_minor > KHUB_KERNEL_ABI_VERSION_MINOR) {
    fail(ErrorKind::kVerification, where, ": kernel ABI ", m->abi_major, ".", m->abi_minor,
         " (library) is newer than ", KHUB_KERNEL_ABI_VERSION_MAJOR, ".",
         KHUB_KERNEL_ABI_VERSION_MINOR, " (this khub); upgrade khub");
  }
  if (m->struct_size < kManifestV1Size || m->struct_size > sizeof(khub_manifest)) {
    bad(where, "struct_size " + std::to_string(m->struct_size) + " (expected " +
                   std::to_string(sizeof(khub_manifest)) + ")");
  }
  ManifestInfo info;
  info.abi_major = m->abi_major;
  info.abi_minor = m->abi_minor;
  if (!m->kernel_name || !*m->kernel_name) bad(where, "kernel_name is empty");
  info.kernel_name = m->kernel_name;
  static const char* kBackends[] = {"cpu", "cuda", "rocm", "metal", "xpu", "cann", "neuron", "tpu"};
  bool known_backend = false;
  for (const char* b : kBackends) known_backend |= m->backend && std::strcmp(m->backend, b) == 0;
  if (!known_backend) bad(where, "backend " + quoted(m->backend) + " is unknown");
  info.backend = m->backend;
  if (m->num_functions < 1 || m->num_functions > 4096 || !m->functions) {
    bad(where, "num_functions " + std::to_string(m->num_functions) +
                   " (expected >= 1 with functions set)");
  }
  if (m->num_layers < 0 || m->num_layers > 4096 || (m->num_layers > 0 && !m->layers)) {
    bad(where, "num_layers " + std::to_string(m->num_layers));
  }
  // Arrays are laid out with the stride the library was built with (its struct_size).
  uint32_t fstride = m->functions[0].struct_size;
  if (fstride < kFunctionV1Size || fstride > sizeof(khub_function_desc)) {
    bad(where, "function struct_size " + std::to_string(fstride) + " (expected " +
                   std::to_string(sizeof(khub_function_desc)) + ")");
  }
  const char* fbase = reinterpret_cast<const char*>(m->functions);
  for (int i = 0; i < m->num_functions; ++i) {
    const auto& f = *reinterpret_cast<const khub_function_desc*>(fbase + size_t(i) * fstride);
    if (f.struct_size != fstride)
      bad(where, "function " + std::to_string(i) + " has a different struct_size");
    FunctionInfo fi = validate_function(f, where);
    for (const FunctionInfo& prev : info.functions) {
      if (prev.name == fi.name) bad(where, "function '" + fi.name + "' is declared twice");
      if (prev.symbol == fi.symbol) bad(where, "symbol '" + fi.symbol + "' is used twice");
    }
    if (fi.symbol == KHUB_KERNEL_ENTRY_SYMBOL)
      bad(where, "a function may not use the entry symbol");
    info.functions.push_back(std::move(fi));
  }
  if (m->num_layers > 0) {
    uint32_t lstride = m->layers[0].struct_size;
    if (lstride < kLayerV1Size || lstride > sizeof(khub_layer_desc)) {
      bad(where, "layer struct_size " + std::to_string(lstride) + " (expected " +
                     std::to_string(sizeof(khub_layer_desc)) + ")");
    }
    const char* lbase = reinterpret_cast<const char*>(m->layers);
    for (int i = 0; i < m->num_layers; ++i) {
      const auto& l = *reinterpret_cast<const khub_layer_desc*>(lbase + size_t(i) * lstride);
      if (l.struct_size != lstride)
        bad(where, "layer " + std::to_string(i) + " has a different struct_size");
      if (!is_identifier(l.name, true))
        bad(where, "layer name " + quoted(l.name) + " is not an identifier");
      LayerInfo li;
      li.name = l.name;
      std::string lw = "layer '" + li.name + "'";
      if (info.layer(li.name)) bad(where, lw + " is declared twice");
      if (!l.forward || !info.function(l.forward)) {
        bad(where, lw + " names forward " + quoted(l.forward) +
                       ", which is not a function of this manifest");
      }
      li.forward = l.forward;
      if (l.flags & ~kKnownLayerFlags) bad(where, lw + " has unknown flag bits");
      li.flags = l.flags;
      if (li.has_backward()) {
        if (!l.backward || !info.function(l.backward)) {
          bad(where, lw + " declares has-backward but names backward " + quoted(l.backward) +
                         ", which is not a function of this manifest");
        }
        li.backward = l.backward;
      } else if (l.backward) {
        bad(where, lw + " names backward '" + std::string(l.backward) +
                       "' without KHUB_LAYER_HAS_BACKWARD");
      }
      if (li.can_capture()) {
        for (const std::string& fn : {li.forward, li.backward}) {
          if (!fn.empty() && !(info.function(fn)->flags & KHUB_FN_CAN_CAPTURE)) {
            bad(where, lw + " declares can-capture but function '" + fn + "' does not");
          }
        }
      }
      info.layers.push_back(std::move(li));
    }
  }
  return info;
}

json manifest_to_json(const ManifestInfo& m) {
  json j;
  j["abi-major"] = m.abi_major;
  j["abi-minor"] = m.abi_minor;
  j["kernel-name"] = m.kernel_name;
  j["backend"] = m.backend;
  j["functions"] = json::array();
  for (const FunctionInfo& f : m.functions) {
    json fj;
    fj["name"] = f.name;
    fj["symbol"] = f.symbol;
    fj["args"] = json::array();
    for (const ArgInfo& a : f.args) {
      fj["args"].push_back({{"name", a.name},
                            {"role", arg_role_name(a.role)},
                            {"dtypes", a.dtypes_text},
                            {"ndim", a.ndim},
                            {"flags", flag_list(a.flags, {{KHUB_ARG_CONTIGUOUS, "contiguous"},
                                                          {KHUB_ARG_OPTIONAL, "optional"}})}});
    }
    fj["attrs"] = json::array();
    for (const AttrInfo& a : f.attrs) {
      json def = nullptr;
      if (!a.required) {
        switch (a.kind) {
          case KHUB_VALUE_INT:
            def = a.default_value.v.i;
            break;
          case KHUB_VALUE_FLOAT:
            def = a.default_value.v.f;
            break;
          case KHUB_VALUE_BOOL:
            def = a.default_value.v.i != 0;
            break;
          case KHUB_VALUE_STRING:
            def = a.default_string;
            break;
          default:
            break;
        }
      }
      fj["attrs"].push_back({{"name", a.name},
                             {"kind", value_kind_name(a.kind)},
                             {"required", a.required},
                             {"default", def}});
    }
    fj["dtypes"] = f.dtypes_text;
    fj["flags"] = flag_list(f.flags, {{KHUB_FN_CAN_CAPTURE, "can-capture"},
                                      {KHUB_FN_SYNCHRONIZES, "synchronizes"},
                                      {KHUB_FN_DETERMINISTIC, "deterministic"}});
    fj["workspace"] = f.workspace_size != nullptr;
    fj["constraints"] = f.constraints;
    j["functions"].push_back(std::move(fj));
  }
  j["layers"] = json::array();
  for (const LayerInfo& l : m.layers) {
    j["layers"].push_back({{"name", l.name},
                           {"forward", l.forward},
                           {"backward", l.backward.empty() ? json(nullptr) : json(l.backward)},
                           {"has-backward", l.has_backward()},
                           {"can-capture", l.can_capture()}});
  }
  return j;
}

std::set<std::string> manifest_json_symbols(const json& manifest, const std::string& where) {
  if (!manifest.is_object()) fail(ErrorKind::kFormat, where, ": \"manifest\" is missing");
  auto fns = manifest.find("functions");
  if (fns == manifest.end() || !fns->is_array()) {
    fail(ErrorKind::kFormat, where, ": manifest.functions must be an array");
  }
  std::set<std::string> out;
  for (const json& f : *fns) {
    auto s = f.is_object() ? f.find("symbol") : f.end();
    if (s == f.end() || !s->is_string() || !is_identifier(s->get<std::string>().c_str())) {
      fail(ErrorKind::kFormat, where, ": manifest.functions[].symbol must be a C identifier");
    }
    out.insert(s->get<std::string>());
  }
  return out;
}

}  // namespace khub::loader
