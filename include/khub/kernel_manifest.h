/*
 * khub kernel ABI support: the ending every kernel library shares — its static manifest and the
 * exported entry point that returns it (kernel_abi.h, sections 1 and 2) — in one statement.
 *
 *   KHUB_DEFINE_KERNEL_MANIFEST("rmsnorm", "cuda", my_ns::kFunctions, my_ns::kLayers)
 *
 * at file scope, after the two arrays (a khub_function_desc[] and a khub_layer_desc[]; names inside
 * namespaces, anonymous ones included, are written qualified), defines
 *
 *   const khub_manifest* khub_kernel_manifest(void)   (extern "C", exported)
 *
 * returning a manifest built against this header's ABI version, with the arrays' lengths counted
 * by the compiler. Plain C99 or C++.
 */
#ifndef KHUB_KERNEL_MANIFEST_H_
#define KHUB_KERNEL_MANIFEST_H_

#include "khub/kernel_abi.h"

#define KHUB_ARRAY_LENGTH(array) ((int32_t)(sizeof(array) / sizeof((array)[0])))

#ifdef __cplusplus
#define KHUB_MANIFEST_EXTERN_C extern "C"
#else
#define KHUB_MANIFEST_EXTERN_C
#endif

#define KHUB_DEFINE_KERNEL_MANIFEST(kernel_name, backend, functions, layers)                  \
  KHUB_MANIFEST_EXTERN_C KHUB_KERNEL_EXPORT const khub_manifest* khub_kernel_manifest(void) { \
    static const khub_manifest manifest = {KHUB_KERNEL_ABI_VERSION_MAJOR,                     \
                                           KHUB_KERNEL_ABI_VERSION_MINOR,                     \
                                           (uint32_t)sizeof(khub_manifest),                   \
                                           kernel_name,                                       \
                                           backend,                                           \
                                           KHUB_ARRAY_LENGTH(functions),                      \
                                           functions,                                         \
                                           KHUB_ARRAY_LENGTH(layers),                         \
                                           layers};                                           \
    return &manifest;                                                                         \
  }

#endif /* KHUB_KERNEL_MANIFEST_H_ */
