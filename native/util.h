/* native/util.h: argument and error helpers shared by the addon's files (defined in flashback.c). */
#ifndef FLASHBACK_UTIL_H
#define FLASHBACK_UTIL_H
#include <node_api.h>
#include <stdbool.h>

#define MAX_ARGS 6

/* After a failed napi_* call: make sure an exception is pending, then return NULL to JS. */
napi_value fail(napi_env env);

#define CHECK(env, call)                     \
  do {                                       \
    if ((call) != napi_ok) return fail(env); \
  } while (0)

/* Throws an Error shaped like Node's fs errors (.code, .errno, .syscall); returns NULL. */
napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path);
/* Reads up to MAX_ARGS arguments into argv; throws unless at least `want` were given. */
bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv);
/* A typed array argument of exactly type `want` (a Buffer is a Uint8Array): its elements and length; throws a
   TypeError naming `what` otherwise. */
bool get_typed(napi_env env, napi_value v, napi_typedarray_type want, const char *what, void **data, size_t *length);
/* exports[name] = a function calling fn. */
napi_status export_function(napi_env env, napi_value exports, const char *name, napi_callback fn);
/* A Buffer or string argument as a NUL-terminated heap string (caller frees); embedded NULs are refused. */
bool get_bytes(napi_env env, napi_value v, const char *what, char **out);
#endif
