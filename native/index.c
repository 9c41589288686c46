/*
 * Loading the blob index (src/core/index/blob-index.ts, Table): the entries of an index file go into the
 * in-memory hash table in one call per file. Every command loads the whole index in a fresh process, where
 * the same loop in JavaScript runs mostly unoptimized (V8's optimizing compiler needs tens of milliseconds on
 * this kind of machine before it takes over); here it is a few nanoseconds per entry.
 *
 * The table is the one Table keeps in SharedArrayBuffers, written in place, with exactly Table's layout and
 * probing (blob-index.ts is the reference; test/blob-index.test.ts checks both give identical tables):
 *  - slots: Uint32Array, a power of two, linear probing from (first int32 of the id) & mask; 0 is empty,
 *    otherwise entry number + 1;
 *  - entries in blocks of up to 65536 (entry e in block e >> 16): ids (8 int32 per entry), meta (pack, offset,
 *    length, rawLength: 4 uint32), flags (type | compression << 1: 1 byte).
 * The caller has made room (Table.reserve): this never grows anything.
 */
#include <node_api.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "index.h"
#include "util.h"

#define ENTRY_BYTES 46
#define BLOCK_SHIFT 16
#define BLOCK_MASK ((1u << BLOCK_SHIFT) - 1)
#define MAX_BLOCKS 4096

static uint32_t u32le(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static bool u32_arg(napi_env env, napi_value v, uint32_t *out) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "indexInsertBody: expected a number");
    return false;
  }
  return true;
}

static void truncated(napi_env env) { napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "index body is truncated"); }

/*
 * indexInsertBody(body, packs, slots, ids[], meta[], flags[], count) -> new count: adds the entries of an
 * index body (u8 version, u32 pack count, per pack: 32-byte id, u32 entry count, entries of ENTRY_BYTES:
 * type, compression, id, offset, length, rawLength) whose ids are not in the table yet; entries of the i-th
 * pack get pack number packs[i]. Throws, adding nothing, if the body is truncated, an entry has an invalid
 * type or compression, or the table has no room.
 */
static napi_value js_index_insert_body(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "missing arguments");
    return NULL;
  }
  uint8_t *buf;
  uint32_t *packs, *slots;
  size_t len, npacks, nslots;
  uint32_t count, nblocks;
  if (!get_typed(env, argv[0], napi_uint8_array, "body", (void **)&buf, &len) || !get_typed(env, argv[1], napi_uint32_array, "packs", (void **)&packs, &npacks) ||
      !get_typed(env, argv[2], napi_uint32_array, "slots", (void **)&slots, &nslots) || !u32_arg(env, argv[6], &count))
    return NULL;
  CHECK(env, napi_get_array_length(env, argv[3], &nblocks));
  if (nblocks == 0 || nblocks > MAX_BLOCKS || nslots == 0 || (nslots & (nslots - 1)) != 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "indexInsertBody: bad table");
    return NULL;
  }
  int32_t *ids[MAX_BLOCKS];
  uint32_t *meta[MAX_BLOCKS];
  uint8_t *flags[MAX_BLOCKS];
  size_t cap = 0;
  for (uint32_t b = 0; b < nblocks; b++) {
    napi_value vi, vm, vf;
    size_t li, lm, lf;
    CHECK(env, napi_get_element(env, argv[3], b, &vi));
    CHECK(env, napi_get_element(env, argv[4], b, &vm));
    CHECK(env, napi_get_element(env, argv[5], b, &vf));
    if (!get_typed(env, vi, napi_int32_array, "ids[]", (void **)&ids[b], &li) || !get_typed(env, vm, napi_uint32_array, "meta[]", (void **)&meta[b], &lm) ||
        !get_typed(env, vf, napi_uint8_array, "flags[]", (void **)&flags[b], &lf))
      return NULL;
    /* every block but a lone first one holds 65536 entries (entry e is in block e >> 16) */
    if (li != 8 * lf || lm != 4 * lf || (nblocks > 1 && lf != (1u << BLOCK_SHIFT)) || lf > (1u << BLOCK_SHIFT)) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "indexInsertBody: bad block");
      return NULL;
    }
    cap += lf;
  }
  /* structure and entries first: nothing is added from a body that fails */
  if (len < 5) {
    truncated(env);
    return NULL;
  }
  uint32_t np = u32le(buf + 1);
  if (np != npacks) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "indexInsertBody: pack numbers do not match the body");
    return NULL;
  }
  uint64_t total = 0;
  size_t at = 5;
  for (uint32_t i = 0; i < np; i++) {
    if (at + 36 > len) {
      truncated(env);
      return NULL;
    }
    uint32_t n = u32le(buf + at + 32);
    at += 36;
    if ((uint64_t)at + (uint64_t)n * ENTRY_BYTES > len) {
      truncated(env);
      return NULL;
    }
    for (uint32_t j = 0; j < n; j++, at += ENTRY_BYTES) {
      if (buf[at] > 1 || buf[at + 1] > 1) {
        char msg[64];
        snprintf(msg, sizeof msg, "invalid entry at %zu", at);
        napi_throw_error(env, NULL, msg);
        return NULL;
      }
    }
    total += n;
  }
  /* room: every entry may be new */
  if ((uint64_t)count + total > cap || ((uint64_t)count + total) * 4 > (uint64_t)nslots * 3) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "indexInsertBody: no room reserved");
    return NULL;
  }
  const uint32_t mask = (uint32_t)nslots - 1;
  at = 5;
  for (uint32_t i = 0; i < np; i++) {
    uint32_t n = u32le(buf + at + 32);
    at += 36;
    for (uint32_t j = 0; j < n; j++, at += ENTRY_BYTES) {
      const uint8_t *e = buf + at;
      int32_t q[8];
      for (int k = 0; k < 8; k++) q[k] = (int32_t)u32le(e + 2 + 4 * k);
      uint32_t s = (uint32_t)q[0] & mask;
      bool found = false;
      for (;; s = (s + 1) & mask) {
        uint32_t v = slots[s];
        if (v == 0) break;
        const int32_t *w = ids[(v - 1) >> BLOCK_SHIFT] + (((v - 1) & BLOCK_MASK) << 3);
        if (memcmp(w, q, sizeof q) == 0) {
          found = true;
          break;
        }
      }
      if (found) continue;
      uint32_t b = count >> BLOCK_SHIFT, o = count & BLOCK_MASK;
      memcpy(ids[b] + (o << 3), q, sizeof q);
      uint32_t *m = meta[b] + (o << 2);
      m[0] = packs[i];
      m[1] = u32le(e + 34);
      m[2] = u32le(e + 38);
      m[3] = u32le(e + 42);
      flags[b][o] = (uint8_t)(e[0] | e[1] << 1);
      slots[s] = count + 1;
      count++;
    }
  }
  napi_value out;
  CHECK(env, napi_create_uint32(env, count, &out));
  return out;
}

napi_status flashback_index_init(napi_env env, napi_value exports) {
  return export_function(env, exports, "indexInsertBody", js_index_insert_body);
}
