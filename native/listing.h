/*
 * native/listing.c: one directory listed and lstat()ed in a single call, entries sorted by name, with the
 * directory cache's digest. Shared by lstatdir and the walker thread (walk.c).
 */
#ifndef FLASHBACK_LISTING_H
#define FLASHBACK_LISTING_H
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

/* Per entry: errno (0 when lstat succeeded), dev, ino, mode, nlink, uid, gid, rdev, size, blocks, atime, mtime,
 * ctime (nanoseconds). */
#define FIELDS 13

typedef struct listing {
  struct listing *next;
  char *path;
  int err;        /* errno of opendir/readdir; 0 when listed */
  size_t n;       /* entries */
  size_t ok;      /* entries whose lstat succeeded */
  char *names;    /* n NUL-terminated names, back to back, sorted */
  size_t *off;    /* start of each name in `names` */
  int64_t *st;    /* n * FIELDS */
  unsigned char digest[32];
  size_t bytes;   /* memory held, for the walker's bound */
} listing;

/*
 * Lists `path`. On success (the listing may still carry an opendir/readdir errno in err) it owns `path`; NULL
 * when memory or OpenSSL failed, and then the caller still owns `path`.
 */
listing *list_dir(char *path);
void listing_free(listing *l);
/* { names, ends, stats, digest, ok } (see listing.c), or a thrown fs-style error for l->err */
napi_value listing_to_js(napi_env env, const listing *l);
#endif
