/*
 * The inner loop of FastCDC (docs/design.md §6), the one part of the chunker that touches every byte of a large
 * file: in JavaScript it ran at ≈ 220 MB/s on the benchmark machine, here at several times that. The chunk
 * boundaries are a repository-format property; src/core/chunker/fastcdc.ts owns the algorithm (where to start,
 * which mask, the max and eof cases) and test/chunker.test.ts checks golden vectors and a naive reference.
 */
#include "chunker.h"

#include <stdint.h>
#include <stdio.h>

#include "util.h"

static bool get_index(napi_env env, napi_value v, const char *what, size_t bound, size_t *out) {
  int64_t i;
  if (napi_get_value_int64(env, v, &i) != napi_ok || i < 0 || (uint64_t)i > bound) {
    char msg[128];
    snprintf(msg, sizeof msg, "The \"%s\" argument must be an integer in 0..%zu", what, bound);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  *out = (size_t)i;
  return true;
}

/*
 * gearScan(state: Int32Array(258), buf: Uint8Array, warm, from, mid, limit) -> the offset just past the first
 * boundary in buf[from..limit), or -1 when there is none. state = the 256 gear values, then maskS and maskL.
 * h starts at 0 at `warm` and takes in the bytes warm..from untested (they rebuild the hash of a scan that
 * resumes at `from`); bytes before `mid` are tested with maskS, the others with maskL:
 * h = (h << 1) + gear[byte] (mod 2^32), a boundary after the byte when (h & mask) == 0.
 */
static napi_value js_gearScan(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int32_t *state;
  uint8_t *buf;
  size_t n_state, len, warm, from, mid, limit;
  if (!get_args(env, info, 6, argv) || !get_typed(env, argv[0], napi_int32_array, "state", (void **)&state, &n_state) ||
      !get_typed(env, argv[1], napi_uint8_array, "buf", (void **)&buf, &len)) {
    return NULL;
  }
  if (n_state != 258) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "The \"state\" argument must hold 258 values");
    return NULL;
  }
  if (!get_index(env, argv[5], "limit", len, &limit) || !get_index(env, argv[4], "mid", limit, &mid) ||
      !get_index(env, argv[3], "from", limit, &from) || !get_index(env, argv[2], "warm", from, &warm)) {
    return NULL;
  }
  const uint32_t *gear = (const uint32_t *)state;
  const uint32_t mask_s = (uint32_t)state[256], mask_l = (uint32_t)state[257];
  uint32_t h = 0;
  int64_t found = -1;
  size_t i = warm;
  for (; i < from; i++) h = (h << 1) + gear[buf[i]];
  for (; i < mid; i++) {
    h = (h << 1) + gear[buf[i]];
    if ((h & mask_s) == 0) {
      found = (int64_t)i + 1;
      goto done;
    }
  }
  for (; i < limit; i++) {
    h = (h << 1) + gear[buf[i]];
    if ((h & mask_l) == 0) {
      found = (int64_t)i + 1;
      goto done;
    }
  }
done:;
  napi_value result;
  CHECK(env, napi_create_int64(env, found, &result));
  return result;
}

napi_status flashback_chunker_init(napi_env env, napi_value exports) {
  return export_function(env, exports, "gearScan", js_gearScan);
}
