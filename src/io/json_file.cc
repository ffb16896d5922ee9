#include "io/json_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/error.h"
#include "io/quote_untrusted.h"

namespace khub {
namespace {

// Tracks the open containers while nlohmann's parser reports events, to find duplicate keys and
// to stop runaway nesting before the tree is built.
class StructureChecker {
 public:
  StructureChecker(std::string_view source, const JsonParseOptions& options)
      : source_(source), options_(options) {}

  bool on_event(int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        if (static_cast<int>(frames_.size()) >= options_.max_depth) {
          fail(ErrorKind::kFormat, source_, ": JSON nests deeper than ", options_.max_depth,
               " levels at ", path());
        }
        frames_.push_back(Frame{event == Event::object_start, {}, {}});
        break;
      case Event::object_end:
      case Event::array_end:
        if (!frames_.empty()) frames_.pop_back();
        break;
      case Event::key: {
        if (frames_.empty() || !frames_.back().is_object) break;
        Frame& frame = frames_.back();
        std::string key = parsed.get<std::string>();
        if (options_.reject_duplicate_keys && !frame.keys.insert(key).second) duplicate(key);
        frame.current_key = std::move(key);
        break;
      }
      case Event::value:
        break;
    }
    return true;
  }

 private:
  [[noreturn]] void duplicate(const std::string& key) const {
    constexpr const char* kWhy = " (JSON keys must be unique; a parser would silently keep one)";
    // The noun applies to the keys of a top-level object only.
    const char* noun = frames_[0].is_object ? options_.top_level_key_noun : nullptr;
    if (frames_.size() == 1) {
      if (noun != nullptr) {
        fail(ErrorKind::kFormat, source_, ": ", noun, " ", quote_untrusted(key), " appears twice",
             kWhy);
      }
      fail(ErrorKind::kFormat, source_, ": duplicate key ", quote_untrusted(key),
           " in the top-level object", kWhy);
    }
    if (noun != nullptr) {
      fail(ErrorKind::kFormat, source_, ": ", noun, " ", quote_untrusted(frames_[0].current_key),
           ": duplicate key ", quote_untrusted(key), " in the object at ", path(), kWhy);
    }
    fail(ErrorKind::kFormat, source_, ": duplicate key ", quote_untrusted(key),
         " in the object at ", path(), kWhy);
  }

  struct Frame {
    bool is_object;
    std::unordered_set<std::string> keys;
    std::string current_key;
  };

  // "/weight_map/model.embed_tokens.weight"-style location of the innermost open container.
  std::string path() const {
    std::string p;
    for (size_t i = 0; i + 1 < frames_.size(); ++i) {
      p += '/';
      p += frames_[i].is_object ? quote_untrusted(frames_[i].current_key, 80) : std::string("[]");
    }
    return p.empty() ? "/" : p;
  }

  std::string_view source_;
  const JsonParseOptions& options_;
  std::vector<Frame> frames_;
};

// 1-based line and column of byte offset at in text.
std::pair<size_t, size_t> line_and_column(std::string_view text, size_t at) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < at && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

}  // namespace

nlohmann::json parse_json(std::string_view text, std::string_view source,
                          const JsonParseOptions& options) {
  // nlohmann's lexer takes a NUL byte for the end of input and ignores what follows it; valid
  // JSON never holds a raw NUL (inside strings it must be escaped), so refuse it up front.
  if (size_t nul = text.find('\0'); nul != std::string_view::npos) {
    auto [line, column] = line_and_column(text, nul);
    fail(ErrorKind::kFormat, source, ": invalid JSON: NUL byte at line ", line, ", column ",
         column);
  }
  StructureChecker checker(source, options);
  try {
    return nlohmann::json::parse(
        text.begin(), text.end(),
        [&checker](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
          return checker.on_event(depth, event, parsed);
        });
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line L, column C: <detail>";
    // nlohmann counts a failing newline as column 0 of the next line, so the place is recomputed
    // from the byte offset, and the detail (which quotes the token read so far, possibly
    // megabytes of it) is cut.
    std::string_view what = e.what();
    size_t cut = what.find(": ", what.find("parse error"));
    std::string detail(cut == std::string_view::npos ? what : what.substr(cut + 2));
    if (detail.size() > 240) detail = detail.substr(0, 240) + "...";
    size_t at = e.byte == 0 ? 0 : std::min<size_t>(e.byte, text.size()) - 1;
    auto [line, column] = line_and_column(text, at);
    fail(ErrorKind::kFormat, source, ": invalid JSON at line ", line, ", column ", column, ": ",
         detail);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kFormat, source, ": invalid JSON: ", e.what());
  }
}

std::string read_text_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    fail(ErrorKind::kNotFound, path.string(), ": no such file");
  if (std::filesystem::is_directory(path, ec)) {
    fail(ErrorKind::kIo, path.string(), ": is a directory, expected a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, path.string(), ": cannot open: ", std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(ErrorKind::kIo, path.string(), ": read failed");
  return text;
}

nlohmann::json read_json_file(const std::filesystem::path& path, const JsonParseOptions& options) {
  return parse_json(read_text_file(path), path.string(), options);
}

std::string_view json_type_name(const nlohmann::json& value) {
  if (value.is_number_unsigned() || value.is_number_integer()) return "integer";
  if (value.is_number_float()) return "number";
  return value.type_name();
}

}  // namespace khub
