/*
 * flashback_native: the few system calls Node does not expose (docs/design.md §10 metadata).
 * Every function is synchronous. Paths and xattr names are taken as Buffers (raw bytes, file names need
 * not be UTF-8) or strings. Failures throw an Error shaped like Node's fs errors: .code ('ENOENT', ...),
 * .errno (negative, as in Node), .syscall.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <node_api.h>

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "crypto.h"
#include "util.h"
#include "walk.h"
#include "index.h"
#include "chunker.h"
/* getpw*_r / getgr*_r scratch buffers grow up to this size on ERANGE (huge groups). */
#define MAX_NSS_BUF (16 * 1024 * 1024)

/* After a failed napi_* call: make sure an exception is pending, then return NULL to JS. */
napi_value fail(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, "N-API call failed");
  return NULL;
}

static const char *errno_name(int err) {
  /* glibc names 95 EOPNOTSUPP; Node/libuv (and callers) use ENOTSUP. */
  if (err == ENOTSUP) return "ENOTSUP";
  const char *name = strerrorname_np(err);
  return name != NULL ? name : "EUNKNOWN";
}

napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  char msg[512];
  if (path != NULL)
    snprintf(msg, sizeof msg, "%s: %s, %s '%s'", errno_name(err), strerror(err), syscall, path);
  else
    snprintf(msg, sizeof msg, "%s: %s, %s", errno_name(err), strerror(err), syscall);
  napi_value code, message, error, errno_val, syscall_val;
  CHECK(env, napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code));
  CHECK(env, napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message));
  CHECK(env, napi_create_error(env, code, message, &error));
  CHECK(env, napi_create_int32(env, -err, &errno_val));
  CHECK(env, napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_val));
  CHECK(env, napi_set_named_property(env, error, "errno", errno_val));
  CHECK(env, napi_set_named_property(env, error, "syscall", syscall_val));
  napi_throw(env, error);
  return NULL;
}

/* Throws a TypeError about argument `what`; returns false for the bool-returning argument readers. */
static bool throw_type(napi_env env, const char *what, const char *expected) {
  char msg[256];
  snprintf(msg, sizeof msg, "The \"%s\" argument must be %s", what, expected);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

static napi_value throw_type_value(napi_env env, const char *what, const char *expected) {
  throw_type(env, what, expected);
  return NULL;
}

bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = MAX_ARGS;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < want) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "missing arguments");
    return false;
  }
  return true;
}

/*
 * Copies a Buffer or string argument into a NUL-terminated heap string (caller frees *out).
 * Embedded NULs are refused: the kernel would silently truncate the path or name there.
 */
bool get_bytes(napi_env env, napi_value v, const char *what, char **out) {
  bool is_buffer = false;
  napi_valuetype type;
  if (napi_is_buffer(env, v, &is_buffer) != napi_ok || napi_typeof(env, v, &type) != napi_ok) return false;
  size_t len = 0;
  char *copy = NULL;
  if (is_buffer) {
    void *data = NULL;
    if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) return false;
    copy = malloc(len + 1);
    if (copy == NULL) goto oom;
    if (len > 0) memcpy(copy, data, len);
    copy[len] = '\0';
  } else if (type == napi_string) {
    if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return false;
    copy = malloc(len + 1);
    if (copy == NULL) goto oom;
    if (napi_get_value_string_utf8(env, v, copy, len + 1, &len) != napi_ok) {
      free(copy);
      return false;
    }
  } else {
    return throw_type(env, what, "a Buffer or a string");
  }
  if (memchr(copy, '\0', len) != NULL) {
    free(copy);
    char msg[256];
    snprintf(msg, sizeof msg, "The \"%s\" argument must not contain null bytes", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
    return false;
  }
  *out = copy;
  return true;
oom:
  napi_throw_error(env, "ENOMEM", "out of memory");
  return false;
}

static const char *typed_name(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "an Int8Array";
    case napi_uint8_array: return "a Buffer or Uint8Array";
    case napi_uint8_clamped_array: return "a Uint8ClampedArray";
    case napi_int16_array: return "an Int16Array";
    case napi_uint16_array: return "a Uint16Array";
    case napi_int32_array: return "an Int32Array";
    case napi_uint32_array: return "a Uint32Array";
    case napi_float32_array: return "a Float32Array";
    case napi_float64_array: return "a Float64Array";
    case napi_bigint64_array: return "a BigInt64Array";
    case napi_biguint64_array: return "a BigUint64Array";
  }
  return "a typed array";
}

bool get_typed(napi_env env, napi_value v, napi_typedarray_type want, const char *what, void **data, size_t *length) {
  bool is = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is || napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok ||
      type != want) {
    return throw_type(env, what, typed_name(want));
  }
  return true;
}

napi_status export_function(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value f;
  napi_status s = napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f);
  return s != napi_ok ? s : napi_set_named_property(env, exports, name, f);
}

/* A JS number that is an exact integer, or a BigInt, as int64. */
static bool get_int64(napi_env env, napi_value v, const char *what, int64_t *out) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) return false;
  if (type == napi_bigint) {
    bool lossless = false;
    if (napi_get_value_bigint_int64(env, v, out, &lossless) != napi_ok) return false;
    if (!lossless) return throw_type(env, what, "a BigInt within the int64 range");
    return true;
  }
  if (type == napi_number) {
    double d;
    if (napi_get_value_double(env, v, &d) != napi_ok) return false;
    /* 2^63 itself is not representable as int64; -2^63 is. */
    if (!isfinite(d) || d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
      return throw_type(env, what, "an integer");
    *out = (int64_t)d;
    return true;
  }
  return throw_type(env, what, "a number or a BigInt");
}

static bool get_uint64(napi_env env, napi_value v, const char *what, uint64_t *out) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) return false;
  if (type == napi_bigint) {
    bool lossless = false;
    if (napi_get_value_bigint_uint64(env, v, out, &lossless) != napi_ok) return false;
    if (!lossless) return throw_type(env, what, "a non-negative BigInt within the uint64 range");
    return true;
  }
  int64_t i;
  if (!get_int64(env, v, what, &i)) return false;
  if (i < 0) return throw_type(env, what, "non-negative");
  *out = (uint64_t)i;
  return true;
}

static bool get_uint32(napi_env env, napi_value v, const char *what, uint32_t *out) {
  int64_t i;
  if (!get_int64(env, v, what, &i)) return false;
  if (i < 0 || i > UINT32_MAX) return throw_type(env, what, "an integer in 0..4294967295");
  *out = (uint32_t)i;
  return true;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* llistxattr(path) -> Buffer[] */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  char *path = NULL;
  if (!get_args(env, info, 1, argv) || !get_bytes(env, argv[0], "path", &path)) return NULL;
  char *list = NULL;
  ssize_t len;
  /* The list can grow between the size query and the read: retry on ERANGE. */
  for (;;) {
    len = llistxattr(path, NULL, 0);
    if (len <= 0) break;
    char *grown = realloc(list, (size_t)len);
    if (grown == NULL) {
      free(list);
      free(path);
      return throw_errno(env, ENOMEM, "llistxattr", NULL);
    }
    list = grown;
    len = llistxattr(path, list, (size_t)len);
    if (len >= 0 || errno != ERANGE) break;
  }
  if (len < 0) {
    int err = errno;
    napi_value r = throw_errno(env, err, "llistxattr", path);
    free(list);
    free(path);
    return r;
  }
  free(path);
  napi_value result;
  if (napi_create_array(env, &result) != napi_ok) {
    free(list);
    return fail(env);
  }
  uint32_t index = 0;
  for (ssize_t pos = 0; pos < len;) {
    size_t n = strnlen(list + pos, (size_t)(len - pos));
    napi_value name;
    if (n > 0) {
      if (napi_create_buffer_copy(env, n, list + pos, NULL, &name) != napi_ok ||
          napi_set_element(env, result, index++, name) != napi_ok) {
        free(list);
        return fail(env);
      }
    }
    pos += (ssize_t)n + 1;
  }
  free(list);
  return result;
}

/* lgetxattr(path, name) -> Buffer */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  char *path = NULL, *name = NULL;
  if (!get_args(env, info, 2, argv) || !get_bytes(env, argv[0], "path", &path)) return NULL;
  if (!get_bytes(env, argv[1], "name", &name)) {
    free(path);
    return NULL;
  }
  char *value = NULL;
  ssize_t len;
  for (;;) {
    len = lgetxattr(path, name, NULL, 0);
    if (len <= 0) break;
    char *grown = realloc(value, (size_t)len);
    if (grown == NULL) {
      errno = ENOMEM;
      len = -1;
      break;
    }
    value = grown;
    len = lgetxattr(path, name, value, (size_t)len);
    if (len >= 0 || errno != ERANGE) break;
  }
  napi_value result = NULL;
  if (len < 0) {
    throw_errno(env, errno, "lgetxattr", path);
  } else {
    static const char empty = 0;
    if (napi_create_buffer_copy(env, (size_t)len, len > 0 ? value : &empty, NULL, &result) != napi_ok)
      result = NULL;
  }
  free(value);
  free(name);
  free(path);
  return result;
}

/* lsetxattr(path, name, value) */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  bool is_buffer = false;
  void *value = NULL;
  size_t len = 0;
  if (!get_args(env, info, 3, argv)) return NULL;
  CHECK(env, napi_is_buffer(env, argv[2], &is_buffer));
  if (!is_buffer) return throw_type_value(env, "value", "a Buffer");
  CHECK(env, napi_get_buffer_info(env, argv[2], &value, &len));
  char *path = NULL, *name = NULL;
  if (!get_bytes(env, argv[0], "path", &path)) return NULL;
  if (!get_bytes(env, argv[1], "name", &name)) {
    free(path);
    return NULL;
  }
  int rc = lsetxattr(path, name, value, len, 0);
  napi_value result = rc == 0 ? undefined(env) : throw_errno(env, errno, "lsetxattr", path);
  free(name);
  free(path);
  return result;
}

/* utimensat(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec, nofollow) */
static napi_value js_utimensat(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int64_t v[4];
  static const char *const names[4] = {"atimeSec", "atimeNsec", "mtimeSec", "mtimeNsec"};
  bool nofollow = false;
  if (!get_args(env, info, 6, argv)) return NULL;
  for (int i = 0; i < 4; i++)
    if (!get_int64(env, argv[i + 1], names[i], &v[i])) return NULL;
  if (v[1] < 0 || v[1] > 999999999) return throw_type_value(env, "atimeNsec", "in 0..999999999");
  if (v[3] < 0 || v[3] > 999999999) return throw_type_value(env, "mtimeNsec", "in 0..999999999");
  if ((time_t)v[0] != v[0] || (time_t)v[2] != v[2]) return throw_errno(env, EOVERFLOW, "utimensat", NULL);
  CHECK(env, napi_get_value_bool(env, argv[5], &nofollow));
  char *path = NULL;
  if (!get_bytes(env, argv[0], "path", &path)) return NULL;
  struct timespec ts[2] = {{.tv_sec = (time_t)v[0], .tv_nsec = (long)v[1]},
                           {.tv_sec = (time_t)v[2], .tv_nsec = (long)v[3]}};
  int rc = utimensat(AT_FDCWD, path, ts, nofollow ? AT_SYMLINK_NOFOLLOW : 0);
  napi_value result = rc == 0 ? undefined(env) : throw_errno(env, errno, "utimensat", path);
  free(path);
  return result;
}

/* futimens(fd, atimeSec, atimeNsec, mtimeSec, mtimeNsec): utimensat on an open file (restore finishes files by fd) */
static napi_value js_futimens(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int64_t fd, v[4];
  static const char *const names[4] = {"atimeSec", "atimeNsec", "mtimeSec", "mtimeNsec"};
  if (!get_args(env, info, 5, argv) || !get_int64(env, argv[0], "fd", &fd)) return NULL;
  for (int i = 0; i < 4; i++)
    if (!get_int64(env, argv[i + 1], names[i], &v[i])) return NULL;
  if (fd < 0 || fd > INT32_MAX) return throw_type_value(env, "fd", "a file descriptor");
  if (v[1] < 0 || v[1] > 999999999) return throw_type_value(env, "atimeNsec", "in 0..999999999");
  if (v[3] < 0 || v[3] > 999999999) return throw_type_value(env, "mtimeNsec", "in 0..999999999");
  if ((time_t)v[0] != v[0] || (time_t)v[2] != v[2]) return throw_errno(env, EOVERFLOW, "futimens", NULL);
  struct timespec ts[2] = {{.tv_sec = (time_t)v[0], .tv_nsec = (long)v[1]},
                           {.tv_sec = (time_t)v[2], .tv_nsec = (long)v[3]}};
  return futimens((int)fd, ts) == 0 ? undefined(env) : throw_errno(env, errno, "futimens", NULL);
}

/*
 * fstatInto(fd, out: BigInt64Array(3)): out = [size, mtime ns, ctime ns] of the open file. The backup's chunk
 * workers stat every file before and after reading it; fs.fstatSync builds a Stats object with four Dates each
 * time (≈ 0.2 s of CPU per worker for Linux 6.1).
 */
static napi_value js_fstatInto(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int64_t fd;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (!get_args(env, info, 2, argv) || !get_int64(env, argv[0], "fd", &fd)) return NULL;
  if (fd < 0 || fd > INT32_MAX) return throw_type_value(env, "fd", "a file descriptor");
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_bigint64_array || length < 3) {
    return throw_type_value(env, "out", "a BigInt64Array of 3");
  }
  struct stat st;
  if (fstat((int)fd, &st) != 0) return throw_errno(env, errno, "fstat", NULL);
  int64_t *out = data;
  out[0] = (int64_t)st.st_size;
  out[1] = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  out[2] = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
  return undefined(env);
}

/*
 * releasePages(buf, from): hands the whole pages of buf[from..] back to the kernel (madvise MADV_DONTNEED); their
 * bytes read as zeros afterwards. For the workers' scratch buffers, between requests: a large blob touches pages
 * that would otherwise stay resident for the rest of the run (docs/architecture.md, "Memory budget"). Only pages
 * lying wholly inside the buffer are released. Returns the bytes released.
 */
static napi_value js_releasePages(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t length;
  void *data;
  int64_t from;
  if (!get_args(env, info, 2, argv) || !get_typed(env, argv[0], napi_uint8_array, "buf", &data, &length) ||
      !get_int64(env, argv[1], "from", &from)) {
    return NULL;
  }
  if (from < 0 || (uint64_t)from > length) return throw_type_value(env, "from", "an offset within the buffer");
  long page = sysconf(_SC_PAGESIZE);
  uintptr_t start = ((uintptr_t)data + (uintptr_t)from + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
  uintptr_t end = ((uintptr_t)data + length) & ~((uintptr_t)page - 1);
  double released = 0;
  if (end > start) {
    if (madvise((void *)start, end - start, MADV_DONTNEED) != 0) return throw_errno(env, errno, "madvise", NULL);
    released = (double)(end - start);
  }
  napi_value result;
  CHECK(env, napi_create_double(env, released, &result));
  return result;
}

/*
 * tuneMalloc(arenaMax, mmapThreshold): glibc malloc settings for the whole process (docs/architecture.md,
 * "Memory"). Node's ArrayBuffers come from malloc. By default glibc gives every thread that contends an arena
 * of its own (up to 8 per core), and raises its mmap threshold each time a large mmapped block is freed, after
 * which the pipeline's 4–16 MiB buffers come from the arenas and stay resident once freed. A fixed threshold
 * hands such blocks back to the kernel on free. Returns false where the C library is not glibc.
 */
static napi_value js_tuneMalloc(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  uint32_t arenas, threshold;
  if (!get_args(env, info, 2, argv) || !get_uint32(env, argv[0], "arenaMax", &arenas) ||
      !get_uint32(env, argv[1], "mmapThreshold", &threshold))
    return NULL;
  bool ok = false;
#ifdef __GLIBC__
  ok = (arenas == 0 || mallopt(M_ARENA_MAX, (int)arenas) == 1) && (threshold == 0 || mallopt(M_MMAP_THRESHOLD, (int)threshold) == 1);
#endif
  napi_value result;
  if (napi_get_boolean(env, ok, &result) != napi_ok) return NULL;
  return result;
}

/* mknod(path, mode, rdev) */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  uint32_t mode;
  uint64_t rdev;
  if (!get_args(env, info, 3, argv) || !get_uint32(env, argv[1], "mode", &mode) ||
      !get_uint64(env, argv[2], "rdev", &rdev))
    return NULL;
  char *path = NULL;
  if (!get_bytes(env, argv[0], "path", &path)) return NULL;
  int rc = mknod(path, (mode_t)mode, (dev_t)rdev);
  napi_value result = rc == 0 ? undefined(env) : throw_errno(env, errno, "mknod", path);
  free(path);
  return result;
}

/*
 * The four NSS lookups share one shape: call the _r function with a growing scratch buffer.
 * A missing entry is not an error (result NULL with 0, ENOENT, ESRCH, EBADF or EPERM per getpwnam(3)).
 */
typedef enum { BY_UID, BY_GID, BY_USER, BY_GROUP } lookup_kind;

static int lookup(lookup_kind kind, uint32_t id, const char *name, char **buf, const char **out_name,
                  uint32_t *out_id, bool *found) {
  size_t size = 1024;
  for (;;) {
    char *grown = realloc(*buf, size);
    if (grown == NULL) return ENOMEM;
    *buf = grown;
    struct passwd pw, *pwp = NULL;
    struct group gr, *grp = NULL;
    int rc;
    switch (kind) {
      case BY_UID: rc = getpwuid_r((uid_t)id, &pw, *buf, size, &pwp); break;
      case BY_USER: rc = getpwnam_r(name, &pw, *buf, size, &pwp); break;
      case BY_GID: rc = getgrgid_r((gid_t)id, &gr, *buf, size, &grp); break;
      default: rc = getgrnam_r(name, &gr, *buf, size, &grp); break;
    }
    if (rc == ERANGE && size < MAX_NSS_BUF) {
      size *= 2;
      continue;
    }
    *found = pwp != NULL || grp != NULL;
    if (pwp != NULL) {
      *out_name = pwp->pw_name;
      *out_id = pwp->pw_uid;
    } else if (grp != NULL) {
      *out_name = grp->gr_name;
      *out_id = grp->gr_gid;
    }
    if (*found || rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) return 0;
    return rc;
  }
}

static const char *const lookup_syscalls[] = {"getpwuid_r", "getgrgid_r", "getpwnam_r", "getgrnam_r"};

static napi_value lookup_name(napi_env env, napi_callback_info info, lookup_kind kind) {
  napi_value argv[MAX_ARGS];
  uint32_t id;
  if (!get_args(env, info, 1, argv) || !get_uint32(env, argv[0], kind == BY_UID ? "uid" : "gid", &id))
    return NULL;
  char *buf = NULL;
  const char *name = NULL;
  uint32_t ignored;
  bool found = false;
  int rc = lookup(kind, id, NULL, &buf, &name, &ignored, &found);
  napi_value result = NULL;
  if (rc != 0)
    throw_errno(env, rc, lookup_syscalls[kind], NULL);
  else if (!found)
    result = undefined(env);
  else if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &result) != napi_ok)
    result = NULL;
  free(buf);
  return result;
}

static napi_value lookup_id(napi_env env, napi_callback_info info, lookup_kind kind) {
  napi_value argv[MAX_ARGS];
  char *name = NULL;
  if (!get_args(env, info, 1, argv) || !get_bytes(env, argv[0], "name", &name)) return NULL;
  char *buf = NULL;
  const char *ignored = NULL;
  uint32_t id = 0;
  bool found = false;
  int rc = lookup(kind, 0, name, &buf, &ignored, &id, &found);
  napi_value result = NULL;
  if (rc != 0)
    throw_errno(env, rc, lookup_syscalls[kind], NULL);
  else if (!found)
    result = undefined(env);
  else if (napi_create_uint32(env, id, &result) != napi_ok)
    result = NULL;
  free(buf);
  free(name);
  return result;
}

static napi_value js_getpwuid(napi_env env, napi_callback_info info) { return lookup_name(env, info, BY_UID); }
static napi_value js_getgrgid(napi_env env, napi_callback_info info) { return lookup_name(env, info, BY_GID); }
static napi_value js_getpwnam(napi_env env, napi_callback_info info) { return lookup_id(env, info, BY_USER); }
static napi_value js_getgrnam(napi_env env, napi_callback_info info) { return lookup_id(env, info, BY_GROUP); }

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"llistxattr", js_llistxattr}, {"lgetxattr", js_lgetxattr}, {"lsetxattr", js_lsetxattr},
      {"utimensat", js_utimensat},   {"futimens", js_futimens},   {"fstatInto", js_fstatInto}, {"tuneMalloc", js_tuneMalloc}, {"releasePages", js_releasePages}, {"mknod", js_mknod},         {"getpwuid", js_getpwuid},
      {"getgrgid", js_getgrgid},     {"getpwnam", js_getpwnam},   {"getgrnam", js_getgrnam},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) CHECK(env, export_function(env, exports, fns[i].name, fns[i].fn));
  if (flashback_walk_init(env, exports) != napi_ok || flashback_index_init(env, exports) != napi_ok ||
      flashback_chunker_init(env, exports) != napi_ok) {
    return NULL;
  }
  if (flashback_crypto_init(env, exports) != napi_ok) {
    napi_throw_error(env, "ERR_CRYPTO", "cannot set up OpenSSL contexts");
    return NULL;
  }
  return exports;
}
