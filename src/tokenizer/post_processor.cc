#include "tokenizer/post_processor.h"

namespace khub::tok {
namespace {

// The single-sequence template: fixed special-token ids around the sequence ("$A").
class TemplateProcessing : public PostProcessor {
 public:
  TemplateProcessing(const Json& j, const std::string& path) {
    const Json& specials = json_field(j, path, "special_tokens");
    const Json& single = json_array(j, path, "single");
    for (size_t i = 0; i < single.size(); ++i) {
      std::string p = path + ".single[" + std::to_string(i) + "]";
      const Json& item = single[i];
      if (item.is_object() && item.contains("Sequence")) {
        std::string id = json_string(item["Sequence"], p + ".Sequence", "id");
        if (id != "A") json_fail(p + ".Sequence.id", "a single-sequence template can only use A");
        parts_.push_back({true, {}});
      } else if (item.is_object() && item.contains("SpecialToken")) {
        std::string name = json_string(item["SpecialToken"], p + ".SpecialToken", "id");
        if (!specials.is_object() || !specials.contains(name))
          json_fail(path + ".special_tokens",
                    "no entry for \"" + name + "\" used in " + p + ".SpecialToken");
        std::string sp = path + ".special_tokens[\"" + name + "\"]";
        const Json& ids = json_array(specials[name], sp, "ids");
        Part part{false, {}};
        for (const Json& id : ids) {
          if (!id.is_number_integer()) json_fail(sp + ".ids", "expected integer ids");
          part.ids.push_back(id.get<int32_t>());
        }
        parts_.push_back(std::move(part));
      } else {
        json_fail(p, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
    }
  }
  void process(std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (const Part& p : parts_) {
      if (p.sequence) {
        out.insert(out.end(), ids.begin(), ids.end());
      } else {
        out.insert(out.end(), p.ids.begin(), p.ids.end());
      }
    }
    ids = std::move(out);
  }

 private:
  struct Part {
    bool sequence;
    std::vector<int32_t> ids;
  };
  std::vector<Part> parts_;
};

// RobertaProcessing / BertProcessing: cls + ids + sep.
class ClsSep : public PostProcessor {
 public:
  ClsSep(const Json& j, const std::string& path) {
    cls_ = read(j, path, "cls");
    sep_ = read(j, path, "sep");
  }
  void process(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), cls_);
    ids.push_back(sep_);
  }

 private:
  static int32_t read(const Json& j, const std::string& path, const char* key) {
    const Json& v = json_field(j, path, key);
    if (!v.is_array() || v.size() != 2 || !v[1].is_number_integer())
      json_fail(path + "." + key, "expected [token, id]");
    return v[1].get<int32_t>();
  }
  int32_t cls_, sep_;
};

class NoOp : public PostProcessor {
 public:
  void process(std::vector<int32_t>&) const override {}
};

class Sequence : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> items) : items_(std::move(items)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& p : items_) p->process(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> items_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const Json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  std::string type = json_type(j, path);
  if (type == "TemplateProcessing") return std::make_unique<TemplateProcessing>(j, path);
  if (type == "RobertaProcessing" || type == "BertProcessing")
    return std::make_unique<ClsSep>(j, path);
  if (type == "ByteLevel") return std::make_unique<NoOp>();  // only trims offsets
  if (type == "Sequence")
    return std::make_unique<Sequence>(
        make_sequence_parts<PostProcessor>(j, path, "processors", make_post_processor));
  json_fail(path + ".type", "unknown post_processor type '" + type +
                                "' (supported: TemplateProcessing, RobertaProcessing, "
                                "BertProcessing, ByteLevel, Sequence)");
}

}  // namespace khub::tok
