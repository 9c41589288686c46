/*
 * One directory listed for the backup walk (docs/architecture.md "No-change backups"): opendir + fstatat of
 * every entry, sorted by name (bytewise, as Buffer.compare), with a SHA-256 digest of the entries whose lstat
 * succeeded: the key of the directory cache (src/core/archiver/dircache.ts, entriesDigest, which computes the
 * same bytes in JS).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <node_api.h>

#include <openssl/evp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "listing.h"
#include "util.h"


void listing_free(listing *l) {
  if (l == NULL) return;
  free(l->path);
  free(l->names);
  free(l->off);
  free(l->st);
  free(l);
}

typedef struct {
  const char *names;
  const size_t *off;
} sort_ctx;

static int by_name(const void *a, const void *b, void *ctx) {
  const sort_ctx *c = ctx;
  return strcmp(c->names + c->off[*(const size_t *)a], c->names + c->off[*(const size_t *)b]);
}

static void put64(unsigned char *p, int64_t v) {
  uint64_t u = (uint64_t)v;
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(u >> (8 * i));
}

/*
 * The digest of dircache.ts entriesDigest: for each entry (sorted) whose lstat succeeded, its name, then eleven
 * little-endian int64: name length, mode, uid, gid, size, ino, dev, nlink, mtime, ctime, and the atime (a
 * directory's mtime instead: listing a directory moves its atime).
 */
static bool digest(listing *l) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
  unsigned char rec[11 * 8];
  for (size_t i = 0; ok && i < l->n; i++) {
    const int64_t *f = l->st + i * FIELDS;
    if (f[0] != 0) continue;
    const char *name = l->names + l->off[i];
    size_t len = strlen(name);
    bool dir = ((mode_t)f[3] & S_IFMT) == S_IFDIR;
    put64(rec, (int64_t)len);
    put64(rec + 8, f[3]);
    put64(rec + 16, f[5]);
    put64(rec + 24, f[6]);
    put64(rec + 32, f[8]);
    put64(rec + 40, f[2]);
    put64(rec + 48, f[1]);
    put64(rec + 56, f[4]);
    put64(rec + 64, f[11]);
    put64(rec + 72, f[12]);
    put64(rec + 80, dir ? f[11] : f[10]);
    ok = EVP_DigestUpdate(ctx, name, len) == 1 && EVP_DigestUpdate(ctx, rec, sizeof rec) == 1;
  }
  unsigned int n = 0;
  ok = ok && EVP_DigestFinal_ex(ctx, l->digest, &n) == 1 && n == 32;
  EVP_MD_CTX_free(ctx);
  return ok;
}

listing *list_dir(char *path) {
  listing *l = calloc(1, sizeof *l);
  if (l == NULL) return NULL;
  l->path = path;
  DIR *dir = opendir(path);
  if (dir == NULL) {
    l->err = errno;
    return l;
  }
  int dfd = dirfd(dir);
  size_t cap = 64, n = 0, used = 0, room = 4096;
  char *names = malloc(room);
  size_t *off = malloc(cap * sizeof *off);
  int64_t *st = malloc(cap * FIELDS * sizeof *st);
  size_t *order = NULL;
  size_t *soff = NULL;
  int64_t *sst = NULL;
  char *snames = NULL;
  if (names == NULL || off == NULL || st == NULL) goto oom;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(dir);
    if (e == NULL) {
      l->err = errno;
      break;
    }
    const char *name = e->d_name;
    if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
    size_t len = strlen(name) + 1;
    if (n == cap) {
      cap *= 2;
      size_t *no = realloc(off, cap * sizeof *off);
      if (no == NULL) goto oom;
      off = no;
      int64_t *ns = realloc(st, cap * FIELDS * sizeof *st);
      if (ns == NULL) goto oom;
      st = ns;
    }
    if (used + len > room) {
      while (used + len > room) room *= 2;
      char *nn = realloc(names, room);
      if (nn == NULL) goto oom;
      names = nn;
    }
    memcpy(names + used, name, len);
    off[n] = used;
    used += len;
    int64_t *f = st + n * FIELDS;
    struct stat s;
    memset(f, 0, FIELDS * sizeof *f);
    if (fstatat(dfd, name, &s, AT_SYMLINK_NOFOLLOW) != 0) {
      f[0] = errno;
    } else {
      f[1] = (int64_t)s.st_dev;
      f[2] = (int64_t)s.st_ino;
      f[3] = s.st_mode;
      f[4] = (int64_t)s.st_nlink;
      f[5] = s.st_uid;
      f[6] = s.st_gid;
      f[7] = (int64_t)s.st_rdev;
      f[8] = s.st_size;
      f[9] = s.st_blocks;
      f[10] = (int64_t)s.st_atim.tv_sec * 1000000000 + s.st_atim.tv_nsec;
      f[11] = (int64_t)s.st_mtim.tv_sec * 1000000000 + s.st_mtim.tv_nsec;
      f[12] = (int64_t)s.st_ctim.tv_sec * 1000000000 + s.st_ctim.tv_nsec;
    }
    n++;
  }
  closedir(dir);
  dir = NULL;
  if (l->err != 0) goto fail;
  /* sort by name: an index, then names, offsets and stats copied in that order */
  order = malloc((n ? n : 1) * sizeof *order);
  soff = malloc((n ? n : 1) * sizeof *soff);
  sst = malloc((n ? n : 1) * FIELDS * sizeof *sst);
  snames = malloc(used ? used : 1);
  if (order == NULL || soff == NULL || sst == NULL || snames == NULL) goto oom;
  for (size_t i = 0; i < n; i++) order[i] = i;
  sort_ctx c = {names, off};
  qsort_r(order, n, sizeof *order, by_name, &c);
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    const char *name = names + off[order[i]];
    size_t len = strlen(name) + 1;
    memcpy(snames + at, name, len);
    soff[i] = at;
    at += len;
    memcpy(sst + i * FIELDS, st + order[i] * FIELDS, FIELDS * sizeof *st);
    if (sst[i * FIELDS] == 0) l->ok++;
  }
  free(order);
  free(names);
  free(off);
  free(st);
  l->n = n;
  l->names = snames;
  l->off = soff;
  l->st = sst;
  l->bytes = sizeof *l + strlen(path) + used + n * (sizeof *soff + FIELDS * sizeof *sst);
  if (!digest(l)) {
    l->path = NULL; /* the caller keeps it */
    listing_free(l);
    return NULL;
  }
  return l;
oom:
  if (dir != NULL) closedir(dir);
  l->path = NULL; /* the caller keeps it */
  listing_free(l);
  l = NULL;
fail:
  free(names);
  free(off);
  free(st);
  free(order);
  free(soff);
  free(sst);
  free(snames);
  return l;
}

/*
 * { names: Buffer (the names back to back), ends: Uint32Array (where each name ends in `names`), stats:
 * BigInt64Array (n * FIELDS), digest: Buffer(32), ok } or a thrown fs-style error. One Buffer for all names:
 * JS takes views of it, cheaper than a Buffer per name.
 */
napi_value listing_to_js(napi_env env, const listing *l) {
  if (l->err != 0) return throw_errno(env, l->err, "scandir", l->path);
  napi_value names, ends_ab, ends, out, ab, typed, dig, ok;
  void *data = NULL;
  size_t total = 0;
  for (size_t i = 0; i < l->n; i++) total += strlen(l->names + l->off[i]);
  CHECK(env, napi_create_buffer(env, total, &data, &names));
  void *ends_data = NULL;
  CHECK(env, napi_create_arraybuffer(env, l->n * sizeof(uint32_t), &ends_data, &ends_ab));
  uint32_t *end = ends_data;
  size_t at = 0;
  for (size_t i = 0; i < l->n; i++) {
    const char *name = l->names + l->off[i];
    size_t len = strlen(name);
    memcpy((char *)data + at, name, len);
    at += len;
    end[i] = (uint32_t)at;
  }
  CHECK(env, napi_create_typedarray(env, napi_uint32_array, l->n, ends_ab, 0, &ends));
  void *abdata = NULL;
  size_t bytes = l->n * FIELDS * sizeof *l->st;
  CHECK(env, napi_create_arraybuffer(env, bytes, &abdata, &ab));
  if (bytes > 0) memcpy(abdata, l->st, bytes);
  CHECK(env, napi_create_typedarray(env, napi_bigint64_array, l->n * FIELDS, ab, 0, &typed));
  CHECK(env, napi_create_buffer_copy(env, sizeof l->digest, l->digest, NULL, &dig));
  CHECK(env, napi_create_uint32(env, (uint32_t)l->ok, &ok));
  CHECK(env, napi_create_object(env, &out));
  CHECK(env, napi_set_named_property(env, out, "names", names));
  CHECK(env, napi_set_named_property(env, out, "ends", ends));
  CHECK(env, napi_set_named_property(env, out, "stats", typed));
  CHECK(env, napi_set_named_property(env, out, "digest", dig));
  CHECK(env, napi_set_named_property(env, out, "ok", ok));
  return out;
}

