// Revision ids: the content address of a revision tree (docs/kernel-hub.md §3, docs/design.md §7),
// shared by every source. A published revision of a local hub has the id of its tree; a local
// folder (a LOCAL_KERNELS entry, a path given to get_local_kernel) has no refs or history, so its
// revision is the id of the tree it would publish — build/<variant>/<file> for each of its variant
// folders — computed from the files as they are now. Signatures, locks and pins bind to that id
// like to a hub revision's: a signature made for another revision is refused, and a folder whose
// files change has a new revision (docs/kernel-hub.md §8).
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace khub::hub {

// Whether a path in a revision tree is a signature file (build/<variant>/signatures/<id>.sig):
// revision ids leave them out, since a signature names the revision it signs.
bool is_revision_signature_path(const std::string& path);

// The content address of a tree: the first 40 hex digits of the SHA-256 of the `sha256sum`-style
// listing "<sha256 hex>  <path>\n" of every file, sorted bytewise by path. Reproducible with:
//   cd REV && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum
//     | sha256sum | cut -c1-40          (one pipeline)
// `files` holds (relative path, lower-case hex sha256) pairs in any order; signature files
// (is_revision_signature_path) are left out.
std::string revision_id(std::vector<std::pair<std::string, std::string>> files);

// The revision id of a local kernel folder (a kernel project with build/, a build folder of
// variant folders, or one variant folder; local_kernels.h): revision_id() over
// build/<variant>/<path> of every regular file of every variant folder. Symlinks and other
// non-regular files are listed by name (so they change the id) but not followed; the loader
// refuses them. Throws Error(kNotFound) when the folder does not exist, kIo when a file cannot be
// read.
std::string local_folder_revision(const std::filesystem::path& folder);

}  // namespace khub::hub
