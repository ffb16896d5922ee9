// Safetensors in khub: the one header to include. Reading (mmap, zero-copy, validated), reading
// a checkpoint's single or sharded weights, writing single and sharded files.
#pragma once

#include "io/safetensors_file.h"            // IWYU pragma: export
#include "io/safetensors_header.h"          // IWYU pragma: export
#include "io/safetensors_model_files.h"     // IWYU pragma: export
#include "io/safetensors_sharded_writer.h"  // IWYU pragma: export
#include "io/safetensors_writer.h"          // IWYU pragma: export
