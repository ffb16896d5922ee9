// Hex text of raw bytes, for the ids and digests names are made of (revision ids, blob ids,
// digests): below the store's hashing (store/content_hash.h) so that name checks can use it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace khub::hub::net {

std::string to_hex(std::string_view raw);
// Throws kFormat when `hex` is not an even-length hex string.
std::string from_hex(std::string_view hex);
// Whether `s` is exactly `len` hex digits (either case).
bool is_hex(std::string_view s, size_t len);

}  // namespace khub::hub::net
