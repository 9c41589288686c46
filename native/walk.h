/* native/walk.c: directory listings for the backup walk, and the walker thread that lists ahead. */
#ifndef FLASHBACK_WALK_H
#define FLASHBACK_WALK_H
#include <node_api.h>
napi_status flashback_walk_init(napi_env env, napi_value exports);
#endif
