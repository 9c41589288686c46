/* native/crypto.c: AES-256-GCM seal/open and HMAC-SHA256 with per-thread OpenSSL contexts. */
#ifndef FLASHBACK_CRYPTO_H
#define FLASHBACK_CRYPTO_H
#include <node_api.h>
napi_status flashback_crypto_init(napi_env env, napi_value exports);
#endif
