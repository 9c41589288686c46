/* native/chunker.h: the gear-hash scan of the FastCDC chunker (src/core/chunker/fastcdc.ts). */
#ifndef FLASHBACK_CHUNKER_H
#define FLASHBACK_CHUNKER_H
#include <node_api.h>

napi_status flashback_chunker_init(napi_env env, napi_value exports);
#endif
