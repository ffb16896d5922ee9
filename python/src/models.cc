// khub.AutoModelForCausalLM and khub.AutoTokenizer (docs/python.md): CausalLM::from_pretrained
// with the CLI's load options, generate() with GenerationOptions, the kernel report as the CLI's
// `--json` prints it.
#include "common.h"

namespace khub::python {

namespace {

std::string fspath(py::handle p) { return py::str(py::module_::import("os").attr("fspath")(p)); }

// "f32" / "bf16" / "f16", or a torch or numpy dtype (torch.bfloat16, numpy.float32).
std::string dtype_from_python(py::handle dtype) {
  if (dtype.is_none()) return "";
  std::string s = py::str(dtype);
  static const std::pair<const char*, const char*> kNames[] = {
      {"torch.float32", "f32"}, {"torch.bfloat16", "bf16"}, {"torch.float16", "f16"},
      {"float32", "f32"},       {"bfloat16", "bf16"},       {"float16", "f16"},
      {"f32", "f32"},           {"bf16", "bf16"},           {"f16", "f16"}};
  for (const auto& [name, khub_name] : kNames) {
    if (s == name) return khub_name;
  }
  fail(ErrorKind::kInvalidArgument, "dtype: expected \"f32\", \"bf16\", \"f16\" or a torch/numpy ",
       "float32, bfloat16 or float16 dtype, got ", s);
}

std::optional<KernelConfig> kernel_config_from_python(py::handle cfg) {
  if (cfg.is_none()) return std::nullopt;
  if (py::isinstance<py::str>(cfg) || py::hasattr(cfg, "__fspath__")) {
    return KernelConfig::from_file(fspath(cfg));
  }
  return KernelConfig::from_json(python_to_json(cfg), "kernel_config");
}

std::vector<int32_t> ids_from_python(py::handle ids, const std::string& what) {
  py::object list =
      py::hasattr(ids, "tolist") ? ids.attr("tolist")() : py::reinterpret_borrow<py::object>(ids);
  std::vector<int32_t> out;
  for (py::handle h : list) {
    KHUB_CHECK_ARG(py::isinstance<py::int_>(h), what, ": expected token ids (ints), got ",
                   std::string(py::str(py::type::of(h).attr("__name__"))));
    out.push_back(h.cast<int32_t>());
  }
  return out;
}

class PyModel {
 public:
  PyModel(std::unique_ptr<CausalLM> model, std::string dir)
      : model_(std::move(model)), dir_(std::move(dir)) {}

  CausalLM& model() { return *model_; }
  const std::string& dir() const { return dir_; }

  // The model directory's tokenizer, loaded on first use.
  AutoTokenizer& tokenizer() {
    if (!tokenizer_) tokenizer_ = AutoTokenizer::from_pretrained(dir_);
    return *tokenizer_;
  }

 private:
  std::unique_ptr<CausalLM> model_;
  std::string dir_;
  std::optional<AutoTokenizer> tokenizer_;
};

py::object generate(PyModel& m, py::object inputs, int64_t max_new_tokens, bool do_sample,
                    double temperature, int64_t top_k, double top_p, double min_p,
                    double repetition_penalty, uint64_t seed, py::object eos_token_id,
                    py::object stop_token_ids, bool ignore_eos, py::object streamer,
                    bool return_dict) {
  GenerationOptions opt;
  opt.max_new_tokens = max_new_tokens;
  opt.sampling.do_sample = do_sample;
  opt.sampling.temperature = static_cast<float>(temperature);
  opt.sampling.top_k = top_k;
  opt.sampling.top_p = static_cast<float>(top_p);
  opt.sampling.min_p = static_cast<float>(min_p);
  opt.sampling.repetition_penalty = static_cast<float>(repetition_penalty);
  opt.seed = seed;
  opt.ignore_eos = ignore_eos;
  if (!eos_token_id.is_none()) {
    opt.eos_token_ids = py::isinstance<py::int_>(eos_token_id)
                            ? std::vector<int32_t>{eos_token_id.cast<int32_t>()}
                            : ids_from_python(eos_token_id, "eos_token_id");
  }
  if (!stop_token_ids.is_none())
    opt.stop_token_ids = ids_from_python(stop_token_ids, "stop_token_ids");

  // Text in, text out (as `khub generate --prompt`): encoded with the model's tokenizer, special
  // tokens added; its eos token stops generation unless ignore_eos.
  bool text = py::isinstance<py::str>(inputs);
  std::vector<std::vector<int32_t>> prompts;
  bool batch = false;
  if (text) {
    AutoTokenizer& tok = m.tokenizer();
    prompts.push_back(tok.encode(inputs.cast<std::string>(), /*add_special_tokens=*/true));
    if (!ignore_eos) {
      if (auto eos = tok.eos_token_id()) opt.stop_token_ids.push_back(*eos);
    }
  } else {
    py::object list = py::hasattr(inputs, "tolist") ? inputs.attr("tolist")() : inputs;
    py::sequence seq = list.cast<py::sequence>();
    KHUB_CHECK_ARG(py::len(seq) > 0,
                   "generate: inputs is empty; expected token ids, a batch of "
                   "them, or text");
    batch = !py::isinstance<py::int_>(seq[0]);
    if (batch) {
      for (size_t i = 0; i < py::len(seq); ++i)
        prompts.push_back(ids_from_python(seq[i], "generate: inputs[" + std::to_string(i) + "]"));
    } else {
      prompts.push_back(ids_from_python(seq, "generate: inputs"));
    }
  }
  if (!streamer.is_none()) {
    // streamer(sequence, token) -> a false value stops that sequence (None continues).
    opt.on_token = [streamer](int64_t seq, int32_t token) {
      py::gil_scoped_acquire gil;
      py::object r = streamer(seq, token);
      return r.is_none() || r.cast<bool>();
    };
  }
  GenerationResult r;
  {
    py::gil_scoped_release release;
    r = khub::generate(m.model(), prompts, opt);
  }
  py::object tokens = batch ? py::cast(r.tokens) : py::cast(r.tokens[0]);
  py::object out_text = py::none();
  if (text) out_text = py::cast(m.tokenizer().decode(r.tokens[0], /*skip_special_tokens=*/true));
  if (!return_dict) return text ? out_text : tokens;
  py::dict d;
  d["ids"] = tokens;
  if (text) {
    d["prompt_ids"] = prompts[0];
    d["text"] = out_text;
  }
  d["prefill_ms"] = r.prefill_seconds * 1e3;
  d["decode_ms"] = r.decode_seconds * 1e3;
  d["decode_tokens"] = r.decode_tokens;
  d["tokens_per_s"] = r.decode_tokens_per_second();
  return d;
}

}  // namespace

void register_models(py::module_& m) {
  py::class_<AutoTokenizer>(m, "AutoTokenizer",
                            "tokenizer.json + tokenizer_config.json of a model directory")
      .def_static("from_pretrained",
                  [](py::object dir) { return AutoTokenizer::from_pretrained(fspath(dir)); })
      .def(
          "encode",
          [](const AutoTokenizer& t, const std::string& text, bool add_special_tokens) {
            return t.encode(text, add_special_tokens);
          },
          py::arg("text"), py::arg("add_special_tokens") = true)
      .def(
          "decode",
          [](const AutoTokenizer& t, py::object ids, bool skip_special_tokens) {
            std::vector<int32_t> v = ids_from_python(ids, "decode: ids");
            return t.decode(v, skip_special_tokens);
          },
          py::arg("ids"), py::arg("skip_special_tokens") = false)
      .def(
          "apply_chat_template",
          [](const AutoTokenizer& t, py::object messages, bool tokenize,
             bool add_generation_prompt) -> py::object {
            nlohmann::ordered_json msgs =
                nlohmann::ordered_json::parse(python_to_json(messages).dump());
            ChatTemplateOptions o;
            o.add_generation_prompt = add_generation_prompt;
            if (tokenize) return py::cast(t.apply_chat_template_ids(msgs, o));
            return py::cast(t.apply_chat_template(msgs, o));
          },
          py::arg("messages"), py::kw_only(), py::arg("tokenize") = false,
          py::arg("add_generation_prompt") = false)
      .def_property_readonly("eos_token_id", &AutoTokenizer::eos_token_id)
      .def_property_readonly("bos_token_id", &AutoTokenizer::bos_token_id)
      .def_property_readonly("eos_token", &AutoTokenizer::eos_token)
      .def_property_readonly("bos_token", &AutoTokenizer::bos_token);

  py::class_<PyModel>(m, "CausalLM", "A loaded causal LM (khub::CausalLM)")
      .def("generate", &generate, py::arg("inputs"), py::kw_only(), py::arg("max_new_tokens") = 32,
           py::arg("do_sample") = false, py::arg("temperature") = 1.0, py::arg("top_k") = 0,
           py::arg("top_p") = 1.0, py::arg("min_p") = 0.0, py::arg("repetition_penalty") = 1.0,
           py::arg("seed") = 0, py::arg("eos_token_id") = py::none(),
           py::arg("stop_token_ids") = py::none(), py::arg("ignore_eos") = false,
           py::arg("streamer") = py::none(), py::arg("return_dict") = false)
      .def(
          "kernel_report",
          [](PyModel& p) { return json_to_python(p.model().kernel_report().to_json()); },
          "what kernelize bound per layer key: [{key, layers, kernel: {repo, revision, variant, "
          "layer} | None, reason, ...}], as `khub generate --json` prints under \"kernels\"")
      .def("kernel_report_table", [](PyModel& p) { return p.model().kernel_report().table(); })
      .def_property_readonly(
          "tokenizer", [](PyModel& p) -> AutoTokenizer& { return p.tokenizer(); },
          py::return_value_policy::reference_internal)
      .def_property_readonly("device", [](PyModel& p) { return p.model().device().str(); })
      .def_property_readonly(
          "dtype", [](PyModel& p) { return std::string(dtype_name(p.model().activation_dtype())); })
      .def_property_readonly("kernels_enabled",
                             [](PyModel& p) { return p.model().kernels_enabled(); })
      .def_property_readonly("model_type", [](PyModel& p) { return p.model().config().model_type; })
      .def_property_readonly("vocab_size", [](PyModel& p) { return p.model().config().vocab_size; })
      .def("__repr__", [](PyModel& p) {
        return "<khub CausalLM " + p.model().config().architecture + " from " + p.dir() + " on " +
               p.model().device().str() + ">";
      });

  m.def(
      "_from_pretrained",
      [](py::object path, bool use_kernels, const std::string& device, py::object dtype,
         py::object kernel_config, std::string attn_implementation, py::object mode, bool strict,
         py::object lockfile) {
        LoadOptions o;
        o.device = device;
        o.dtype = dtype_from_python(dtype);
        o.use_kernels = use_kernels;
        o.kernel_config = kernel_config_from_python(kernel_config);
        o.attn_implementation = attn_implementation;
        if (!mode.is_none()) o.mode = mode_parse(mode.cast<std::string>());
        o.strict = strict;
        if (o.use_kernels || o.kernel_config || !o.attn_implementation.empty())
          o.kernel_locks = locks_from_python(lockfile);
        else if (!lockfile.is_none() && !py::isinstance<py::bool_>(lockfile))
          o.kernel_locks = locks_from_python(lockfile);  // named: read (a missing file is an error)
        std::string dir = fspath(path);
        std::unique_ptr<CausalLM> model;
        {
          py::gil_scoped_release release;
          model = CausalLM::from_pretrained(dir, o);
        }
        return PyModel(std::move(model), dir);
      },
      py::arg("path"), py::kw_only(), py::arg("use_kernels") = false, py::arg("device") = "cpu",
      py::arg("dtype") = py::none(), py::arg("kernel_config") = py::none(),
      py::arg("attn_implementation") = "", py::arg("mode") = py::none(), py::arg("strict") = false,
      py::arg("lockfile") = py::none());
}

}  // namespace khub::python
