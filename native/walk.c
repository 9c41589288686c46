/*
 * Directory listings for the backup walk (docs/architecture.md "No-change backups").
 *
 * lstatdir(path[, walker]) lists a directory and lstat()s every entry in one call. Entries come sorted by name
 * (bytewise, as Buffer.compare), with a SHA-256 digest of the entries whose lstat succeeded: the key of the
 * directory cache (src/core/archiver/dircache.ts, entriesDigest, which computes the same bytes in JS).
 *
 * A walker (walkerStart) lists the source trees ahead of the backup, in a thread of its own, in the order the
 * backup visits them: depth first, children by name. The main thread then finds most listings ready instead
 * of waiting on the kernel, which is most of a no-change backup. The walker only ever saves time:
 *  - lstatdir(path, walker) takes the listing of `path` if the walker made it; every listing the walker made
 *    before it is dropped (the backup skipped those directories: excluded, another file system).
 *  - If the walker is listing `path` right now, it waits for it.
 *  - If `path` is still on the walker's stack (the walker is behind), the caller lists it itself and hands its
 *    subdirectories to the walker, dropping everything the walker had planned before it.
 *  - Any other path (a symlink followed by --follow-symlinks) is listed directly, as without a walker.
 * Listings held by the walker are bounded (WALK_MAX_HELD bytes unless walkerStart says otherwise); it waits
 * for the backup beyond that.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <node_api.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "listing.h"
#include "util.h"
#include "walk.h"

#define WALK_MAX_HELD (8u * 1024 * 1024)

/* ---- the walker ---- */

typedef struct {
  char *path;
  uint64_t dev; /* the source's device, for oneFileSystem */
} item;

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* broadcast on every change of the state below */
  pthread_t thread;
  bool started, stop, one_fs;
  item *stack; /* next directory to list on top */
  size_t sp, cap;
  listing *head, *tail; /* made, in walk order, not yet taken */
  size_t held, max_held;
  const char *current; /* being listed by the thread */
  bool current_dead;   /* the backup went past it while it was being listed */
} walker;

static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  bool root = a == 1 && dir[0] == '/';
  char *p = malloc(a + b + 2);
  if (p == NULL) return NULL;
  memcpy(p, dir, a);
  size_t at = a;
  if (!root) p[at++] = '/';
  memcpy(p + at, name, b + 1);
  return p;
}

/* Pushes the subdirectories of `l` (last name first, so the first is on top). Called with the lock held. */
static void push_children(walker *w, const listing *l, uint64_t dev) {
  if (l->err != 0) return;
  for (size_t i = l->n; i-- > 0;) {
    const int64_t *f = l->st + i * FIELDS;
    if (f[0] != 0 || ((mode_t)f[3] & S_IFMT) != S_IFDIR) continue;
    if (w->one_fs && (uint64_t)f[1] != dev) continue;
    if (w->sp == w->cap) {
      size_t cap = w->cap ? w->cap * 2 : 64;
      item *s = realloc(w->stack, cap * sizeof *s);
      if (s == NULL) return; /* the walker just knows less; the backup lists the rest itself */
      w->stack = s;
      w->cap = cap;
    }
    char *p = join(l->path, l->names + l->off[i]);
    if (p == NULL) return;
    w->stack[w->sp++] = (item){p, dev};
  }
}

static void drop_made(walker *w, listing *until) {
  while (w->head != NULL && w->head != until) {
    listing *l = w->head;
    w->head = l->next;
    w->held -= l->bytes;
    listing_free(l);
  }
  if (w->head == NULL) w->tail = NULL;
}

static void *walker_main(void *arg) {
  walker *w = arg;
  pthread_mutex_lock(&w->mu);
  while (!w->stop) {
    if (w->sp == 0 || w->held > w->max_held) {
      pthread_cond_wait(&w->cv, &w->mu);
      continue;
    }
    item it = w->stack[--w->sp];
    w->current = it.path;
    w->current_dead = false;
    pthread_mutex_unlock(&w->mu);
    listing *l = list_dir(it.path);
    pthread_mutex_lock(&w->mu);
    w->current = NULL;
    if (l == NULL) free(it.path); /* out of memory: the backup lists it itself */
    if (l != NULL && (w->current_dead || w->stop)) {
      listing_free(l);
    } else if (l != NULL) {
      push_children(w, l, it.dev);
      if (w->tail != NULL) w->tail->next = l;
      else w->head = l;
      w->tail = l;
      w->held += l->bytes;
    }
    pthread_cond_broadcast(&w->cv);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static void walker_stop(walker *w) {
  if (!w->started) return;
  pthread_mutex_lock(&w->mu);
  w->stop = true;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  w->started = false;
  drop_made(w, NULL);
  for (size_t i = 0; i < w->sp; i++) free(w->stack[i].path);
  w->sp = 0;
}

static void walker_finalize(napi_env env, void *data, void *hint) {
  walker *w = data;
  walker_stop(w);
  free(w->stack);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w);
}

/*
 * The listing of `path` from the walker, or NULL when the walker never planned it: the caller lists it.
 * *oom is set when the walker planned it but listing it failed for lack of memory.
 */

static listing *walker_take(walker *w, const char *path, bool *oom) {
  *oom = false;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    for (listing *l = w->head; l != NULL; l = l->next) {
      if (strcmp(l->path, path) != 0) continue;
      drop_made(w, l);
      w->head = l->next;
      if (w->head == NULL) w->tail = NULL;
      w->held -= l->bytes;
      l->next = NULL;
      pthread_cond_broadcast(&w->cv);
      pthread_mutex_unlock(&w->mu);
      return l;
    }
    if (w->current != NULL && !w->current_dead && strcmp(w->current, path) == 0) {
      drop_made(w, NULL);
      pthread_cond_wait(&w->cv, &w->mu);
      continue;
    }
    break;
  }
  listing *l = NULL;
  for (size_t i = w->sp; i-- > 0;) {
    if (strcmp(w->stack[i].path, path) != 0) continue;
    /*
     * The walker is behind: everything it made or planned before `path` was skipped by the backup. The caller
     * lists `path` here, holding the lock so that the walker cannot pop anything meanwhile, and plans its
     * subdirectories: the stack stays in walk order.
     */
    drop_made(w, NULL);
    if (w->current != NULL) w->current_dead = true;
    for (size_t j = i + 1; j < w->sp; j++) free(w->stack[j].path);
    item it = w->stack[i];
    w->sp = i;
    l = list_dir(it.path);
    if (l != NULL) {
      push_children(w, l, it.dev);
    } else {
      free(it.path);
      *oom = true;
    }
    break;
  }
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  return l;
}

static bool get_walker(napi_env env, napi_value v, walker **out) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) return false;
  if (type == napi_undefined || type == napi_null) {
    *out = NULL;
    return true;
  }
  void *data = NULL;
  if (type != napi_external || napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"walker\" argument must be a walker from walkerStart()");
    return false;
  }
  *out = data;
  return true;
}

/* lstatdir(path, walker?) -> { names, ends, stats, digest, ok } */
static napi_value js_lstatdir(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char *path = NULL;
  walker *w = NULL;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "missing arguments");
    return NULL;
  }
  if (!get_bytes(env, argv[0], "path", &path)) return NULL;
  if (argc > 1 && !get_walker(env, argv[1], &w)) {
    free(path);
    return NULL;
  }
  bool oom = false;
  listing *l = w != NULL && w->started ? walker_take(w, path, &oom) : NULL;
  if (l == NULL && !oom) l = list_dir(path); /* takes path when it succeeds */
  if (l == NULL || l->path != path) free(path);
  if (l == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  napi_value out = listing_to_js(env, l);
  listing_free(l);
  return out;
}

/* walkerStart(roots: Buffer[] in visiting order, oneFileSystem, maxHeld?) -> walker (an external) */
static napi_value js_walker_start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool is_array = false;
  if (argc < 2 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "walkerStart(roots: Buffer[], oneFileSystem: boolean, maxHeld?: number)");
    return NULL;
  }
  bool one_fs = false;
  CHECK(env, napi_get_value_bool(env, argv[1], &one_fs));
  double max_held = WALK_MAX_HELD;
  napi_valuetype t = napi_undefined;
  if (argc > 2) CHECK(env, napi_typeof(env, argv[2], &t));
  if (t != napi_undefined) CHECK(env, napi_get_value_double(env, argv[2], &max_held));
  uint32_t n = 0;
  CHECK(env, napi_get_array_length(env, argv[0], &n));
  walker *w = calloc(1, sizeof *w);
  if (w == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  w->one_fs = one_fs;
  w->max_held = max_held > 0 ? (size_t)max_held : 0;
  napi_value ext;
  if (napi_create_external(env, w, walker_finalize, NULL, &ext) != napi_ok) {
    walker_finalize(env, w, NULL);
    return fail(env);
  }
  w->stack = calloc(n ? n : 1, sizeof *w->stack);
  if (w->stack == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  w->cap = n ? n : 1;
  /* first root on top */
  for (uint32_t i = n; i-- > 0;) {
    napi_value v;
    char *root = NULL;
    CHECK(env, napi_get_element(env, argv[0], i, &v));
    if (!get_bytes(env, v, "root", &root)) return NULL;
    struct stat s;
    if (lstat(root, &s) != 0) {
      free(root); /* the backup reports unreadable sources */
      continue;
    }
    w->stack[w->sp++] = (item){root, (uint64_t)s.st_dev};
  }
  if (pthread_create(&w->thread, NULL, walker_main, w) == 0) w->started = true;
  return ext;
}

/* walkerStop(walker): stops the thread and frees what it held (also done when the walker is collected) */
static napi_value js_walker_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  walker *w = NULL;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_walker(env, argv[0], &w)) return NULL;
  if (w != NULL) walker_stop(w);
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_status flashback_walk_init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {{"lstatdir", js_lstatdir}, {"walkerStart", js_walker_start}, {"walkerStop", js_walker_stop}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_status s = export_function(env, exports, fns[i].name, fns[i].fn);
    if (s != napi_ok) return s;
  }
  return napi_ok;
}
