/* native/index.c: loading index entries into the blob index's shared hash table. */
#ifndef FLASHBACK_INDEX_H
#define FLASHBACK_INDEX_H
#include <node_api.h>
napi_status flashback_index_init(napi_env env, napi_value exports);
#endif
