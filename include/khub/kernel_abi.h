/*
 * khub kernel ABI, version 1.0 — the one contract between khub and a kernel library.
 *
 * Who reads this: you are writing a kernel (RMSNorm, an activation, attention, ...) that khub will
 * download from a kernel hub, verify, dlopen and call in place of one of its reference layers.
 * This header is plain C99 so any toolchain can build against it; it depends only on DLPack.
 *
 * ---------------------------------------------------------------------------------------------
 * 1. What your library exports
 *
 *   Exactly one entry symbol, KHUB_KERNEL_ENTRY_SYMBOL ("khub_kernel_manifest"), of type
 *   khub_manifest_fn, plus one symbol per function listed in the manifest (each function's
 *   `symbol`). Nothing else: build with -fvisibility=hidden and mark these with KHUB_KERNEL_EXPORT.
 *   khub compares the library's dynamic symbol table with the manifest and refuses a library that
 *   exports symbols its manifest does not list (or lists symbols it does not export). khub loads
 *   libraries with RTLD_LOCAL, so two versions of one kernel can live in one process: never rely
 *   on global symbol interposition, never keep process-wide state that a second copy would break.
 *
 * 2. The manifest
 *
 *   khub_kernel_manifest() returns a pointer to a static khub_manifest that lives as long as the
 *   library. Its first field is the ABI version the library was built against; khub refuses a
 *   different major (both numbers appear in the error) and accepts a lower or equal minor (minors
 *   only add fields at the end of structs, which `struct_size` fields let khub detect).
 *
 *   The manifest lists
 *   - functions: a callable with a signature — ordered tensor arguments (inputs, the host layer's
 *     parameters, outputs), named attributes (scalars such as `eps`), the dtypes it supports,
 *     flags (backward, graph capture, synchronisation), a workspace query and constraints;
 *   - layers: the names khub's layer keys map to ("RMSNorm", "SiluAndMul", "Attention", ...),
 *     each naming its forward function and, if implemented, its backward function.
 *
 *   The build also records the manifest in metadata.json; khub checks both agree before use.
 *
 * 3. Calling convention
 *
 *   khub_status fn(const khub_call* call, khub_error* error);
 *
 *   `call->tensors` holds one DLTensor per signature argument, in signature order (inputs, then
 *   params, then outputs — as listed). Tensors may be strided: honour `strides` and
 *   `byte_offset`, or declare KHUB_ARG_CONTIGUOUS on the argument and khub passes contiguous ones.
 *   `call->attrs` holds the attribute values by name (every declared attribute is present; khub
 *   fills defaults). Outputs are allocated by khub before the call with the shape the signature
 *   implies; your function writes every element of every output (khub's tests poison outputs to
 *   catch unwritten elements).
 *
 *   The host owns everything: streams (`call->context->stream`, a cudaStream_t for CUDA, NULL on
 *   CPU), output memory and scratch memory (`call->context->workspace`, at least the bytes your
 *   workspace_size callback asked for). Kernels never allocate device memory, never synchronise
 *   unless the function declares KHUB_FN_SYNCHRONIZES, never print to stdout, never call exit()
 *   or abort() on bad input.
 *
 * 4. Errors
 *
 *   Return KHUB_STATUS_OK, or another status and a message written into error->message (always
 *   NUL-terminated, at most sizeof(error->message) bytes). khub turns it into an exception naming
 *   the kernel, repo, revision and variant, so the message only needs to say what went wrong
 *   ("x has 3 dims, expected 2"). C++ libraries must catch every exception at the boundary.
 *
 * 5. Modes
 *
 *   khub's kernelize uses a layer only in a mode it supports: Training requires a backward
 *   function (KHUB_LAYER_HAS_BACKWARD, with `backward` set); Compile (the step is captured into a
 *   CUDA graph and replayed) requires KHUB_FN_CAN_CAPTURE on every function the layer calls: no
 *   host synchronisation, no allocation, no host-side branching on device data, same launches for
 *   the same shapes.
 *
 * 6. Constraints
 *
 *   `constraints` is a JSON object that says which inputs a function can honour beyond dtypes,
 *   e.g. {"head_dim": [64, 128, 256], "sliding_window": true, "softcap": false, "sinks": false,
 *   "min_compute_capability": "8.0"}. kernelize never routes an input to a function whose
 *   constraints exclude it; it falls back to the reference path and reports why.
 * ---------------------------------------------------------------------------------------------
 */
#ifndef KHUB_KERNEL_ABI_H_
#define KHUB_KERNEL_ABI_H_

#include <dlpack/dlpack.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KHUB_KERNEL_ABI_VERSION_MAJOR 1
#define KHUB_KERNEL_ABI_VERSION_MINOR 0

/* The entry symbol every kernel library exports. */
#define KHUB_KERNEL_ENTRY_SYMBOL "khub_kernel_manifest"

#if defined(_WIN32)
#define KHUB_KERNEL_EXPORT __declspec(dllexport)
#else
#define KHUB_KERNEL_EXPORT __attribute__((visibility("default")))
#endif

/* ---- status and errors ---------------------------------------------------------------------- */

typedef enum {
  KHUB_STATUS_OK = 0,
  KHUB_STATUS_INVALID_ARGUMENT = 1, /* shapes, dtypes, strides or attributes the function rejects */
  KHUB_STATUS_UNSUPPORTED = 2,      /* a valid input this build cannot handle (e.g. no AVX2) */
  KHUB_STATUS_DEVICE_ERROR = 3,     /* a CUDA launch or runtime error */
  KHUB_STATUS_INTERNAL = 4          /* a bug in the kernel */
} khub_status;

typedef struct khub_error {
  uint32_t struct_version; /* 1 */
  char message[512];       /* NUL-terminated; written by the kernel when it returns non-OK */
} khub_error;

/* ---- values: attributes and defaults -------------------------------------------------------- */

typedef enum {
  KHUB_VALUE_NONE = 0,
  KHUB_VALUE_INT = 1,
  KHUB_VALUE_FLOAT = 2,
  KHUB_VALUE_BOOL = 3,
  KHUB_VALUE_STRING = 4
} khub_value_kind;

typedef struct khub_value {
  int32_t kind; /* khub_value_kind */
  union {
    int64_t i; /* INT, BOOL (0/1) */
    double f;  /* FLOAT */
    const char* s;
  } v;
} khub_value;

typedef struct khub_named_value {
  const char* name;
  khub_value value;
} khub_named_value;

/* ---- signatures ----------------------------------------------------------------------------- */

typedef enum {
  KHUB_ARG_INPUT = 0,  /* activations passed by the caller (x, q, k, v, positions, ...) */
  KHUB_ARG_PARAM = 1,  /* the host layer's own parameters (weight, bias), read by name */
  KHUB_ARG_OUTPUT = 2, /* allocated by khub, written by the kernel */
  KHUB_ARG_INOUT = 3   /* read and written in place (e.g. a residual stream, a KV cache) */
} khub_arg_role;

/* Argument flags. */
#define KHUB_ARG_CONTIGUOUS (1u << 0) /* khub passes a contiguous tensor */
#define KHUB_ARG_OPTIONAL (1u << 1)   /* may be absent: the DLTensor has data == NULL, ndim == 0 */

typedef struct khub_arg_desc {
  const char* name; /* "x", "weight", "out", ... — names are part of the signature */
  int32_t role;     /* khub_arg_role */
  /* Comma-separated dtype names ("f32,bf16,f16"), or "same:<arg>" to require another argument's
   * dtype, or "i32,i64" for indices. */
  const char* dtypes;
  int32_t ndim; /* required rank, or -1 for any */
  uint32_t flags;
} khub_arg_desc;

typedef struct khub_attr_desc {
  const char* name; /* "eps", "causal", "scale", "window", "softcap", ... */
  int32_t kind;     /* khub_value_kind */
  int32_t required; /* 1: the caller must provide it; 0: `default_value` is used */
  khub_value default_value;
} khub_attr_desc;

/* Function flags. */
#define KHUB_FN_CAN_CAPTURE (1u << 0)   /* safe inside CUDA graph capture (see §5) */
#define KHUB_FN_SYNCHRONIZES (1u << 1)  /* the function synchronises the stream or the device */
#define KHUB_FN_DETERMINISTIC (1u << 2) /* bitwise reproducible for equal inputs */

typedef struct khub_exec_context {
  uint32_t struct_version; /* 1 */
  DLDevice device;
  void* stream;    /* cudaStream_t / hipStream_t; NULL on CPU */
  void* workspace; /* scratch memory on `device`, or NULL when none was requested */
  uint64_t workspace_bytes;
  int32_t num_threads; /* CPU: threads the kernel may use (0 = its own choice) */
} khub_exec_context;

typedef struct khub_call {
  uint32_t struct_version; /* 1 */
  const khub_exec_context* context;
  int32_t num_tensors; /* == the function's num_args */
  const DLTensor* tensors;
  int32_t num_attrs; /* == the function's num_attrs, same order */
  const khub_named_value* attrs;
} khub_call;

typedef khub_status (*khub_kernel_fn)(const khub_call* call, khub_error* error);
/* Bytes of workspace needed for this call (tensors and attrs are filled; workspace is NULL). */
typedef uint64_t (*khub_workspace_fn)(const khub_call* call);

typedef struct khub_function_desc {
  uint32_t struct_size; /* sizeof(khub_function_desc) at build time */
  const char* name;     /* "rms_norm_forward" */
  const char* symbol;   /* exported symbol implementing it: "khub_rmsnorm_rms_norm_forward" */
  int32_t num_args;
  const khub_arg_desc* args;
  int32_t num_attrs;
  const khub_attr_desc* attrs;
  const char* dtypes;               /* comma-separated dtypes the function computes in */
  uint32_t flags;                   /* KHUB_FN_* */
  khub_workspace_fn workspace_size; /* NULL: needs no workspace */
  const char* constraints;          /* JSON object, "{}" when none (see §6) */
} khub_function_desc;

/* Layer flags. */
#define KHUB_LAYER_HAS_BACKWARD (1u << 0)
#define KHUB_LAYER_CAN_CAPTURE (1u << 1)

typedef struct khub_layer_desc {
  uint32_t struct_size; /* sizeof(khub_layer_desc) at build time */
  const char* name;     /* the layer name a mapping refers to: "RMSNorm", "SiluAndMul", ... */
  const char* forward;  /* name of a function in this manifest */
  const char* backward; /* name of a function, or NULL */
  uint32_t flags;       /* KHUB_LAYER_* */
} khub_layer_desc;

typedef struct khub_manifest {
  uint32_t abi_major; /* KHUB_KERNEL_ABI_VERSION_MAJOR at build time — always the first field */
  uint32_t abi_minor;
  uint32_t struct_size;    /* sizeof(khub_manifest) at build time */
  const char* kernel_name; /* "rmsnorm" (the repo name, without the org) */
  const char* backend;     /* "cpu", "cuda", "rocm", "metal", "xpu" */
  int32_t num_functions;
  const khub_function_desc* functions;
  int32_t num_layers;
  const khub_layer_desc* layers;
} khub_manifest;

typedef const khub_manifest* (*khub_manifest_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KHUB_KERNEL_ABI_H_ */
