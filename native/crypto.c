/*
 * The per-blob primitives of docs/design.md §2 (AES-256-GCM seal/open, HMAC-SHA256), called once per blob by
 * backup, restore, check, copy and prune. node:crypto builds a cipher or HMAC object per call (a JS object, an
 * OpenSSL context, an algorithm fetch): for the ~80k small blobs of a source tree that overhead cost more than
 * the cryptography itself. Here each thread (each N-API environment) keeps its OpenSSL contexts and re-keys
 * them per call. OpenSSL is the one Node is linked with (its symbols are exported to addons), so the results
 * are bit-identical to node:crypto's; test/native-crypto.test.ts cross-checks both ways.
 */
#include <node_api.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

#define NONCE_BYTES 12
#define TAG_BYTES 16
#define KEY_BYTES 32
#define MAC_BYTES 32

typedef struct {
  EVP_CIPHER *gcm;
  EVP_CIPHER_CTX *enc;
  EVP_CIPHER_CTX *dec;
  EVP_MAC *hmac;
  EVP_MAC_CTX *mac;
  /* nonces are drawn from the DRBG in bulk: one RAND_bytes call per 340 seals instead of one per seal */
  uint8_t nonces[NONCE_BYTES * 340];
  size_t nonce_used;
} crypto_state;

static void state_free(void *arg) {
  crypto_state *s = arg;
  if (s == NULL) return;
  OPENSSL_cleanse(s->nonces, sizeof s->nonces);
  EVP_CIPHER_CTX_free(s->enc);
  EVP_CIPHER_CTX_free(s->dec);
  EVP_CIPHER_free(s->gcm);
  EVP_MAC_CTX_free(s->mac);
  EVP_MAC_free(s->hmac);
  free(s);
}

static napi_value throw_crypto(napi_env env, const char *what) {
  napi_throw_error(env, "ERR_CRYPTO", what);
  return NULL;
}

/* argv[i] as bytes: a Buffer or any TypedArray/DataView view (Uint8Array from a worker message). */
static bool get_view(napi_env env, napi_value v, const char *what, uint8_t **data, size_t *len) {
  bool is = false;
  if (napi_is_buffer(env, v, &is) == napi_ok && is) return napi_get_buffer_info(env, v, (void **)data, len) == napi_ok;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    void *base;
    if (napi_get_typedarray_info(env, v, &type, &length, &base, &ab, &offset) != napi_ok) return false;
    size_t unit = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: unit = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: unit = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: unit = 8; break;
      default: break;
    }
    *data = base;
    *len = length * unit;
    return true;
  }
  char msg[128];
  snprintf(msg, sizeof msg, "The \"%s\" argument must be a Buffer or Uint8Array", what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

static bool get_key(napi_env env, napi_value v, uint8_t **key) {
  size_t len = 0;
  if (!get_view(env, v, "key", key, &len)) return false;
  if (len != KEY_BYTES) {
    napi_throw_range_error(env, "ERR_CRYPTO_INVALID_KEYLEN", "key must be 32 bytes");
    return false;
  }
  return true;
}

#define MAX_CRYPTO_ARGS 5

/* The thread's crypto_state, with at least `want` arguments in argv (MAX_CRYPTO_ARGS slots). */
static crypto_state *get_state(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = MAX_CRYPTO_ARGS;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, &data) != napi_ok) return NULL;
  if (argc < want) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "missing arguments");
    return NULL;
  }
  return data;
}

/* The (key, aad, bytes) arguments every seal and open takes first; `what` names the third one. */
static bool get_key_aad_bytes(napi_env env, napi_value *argv, const char *what, uint8_t **key, uint8_t **aad,
                              size_t *aad_len, uint8_t **bytes, size_t *len) {
  return get_key(env, argv[0], key) && get_view(env, argv[1], "aad", aad, aad_len) && get_view(env, argv[2], what, bytes, len);
}

/* Seals plain into out (plain.length + 28 bytes): nonce ‖ ciphertext ‖ tag. */
static bool seal_into(napi_env env, crypto_state *s, const uint8_t *key, const uint8_t *aad, size_t aad_len,
                      const uint8_t *plain, size_t plain_len, uint8_t *out) {
  int n = 0;
  if (plain_len > (size_t)INT32_MAX || aad_len > (size_t)INT32_MAX) return throw_crypto(env, "seal: input too large"), false;
  if (s->nonce_used + NONCE_BYTES > sizeof s->nonces) {
    if (RAND_bytes(s->nonces, sizeof s->nonces) != 1) return throw_crypto(env, "seal: no random nonce"), false;
    s->nonce_used = 0;
  }
  memcpy(out, s->nonces + s->nonce_used, NONCE_BYTES);
  /* a nonce is used once: wipe it from the pool */
  memset(s->nonces + s->nonce_used, 0, NONCE_BYTES);
  s->nonce_used += NONCE_BYTES;
  if (EVP_EncryptInit_ex(s->enc, NULL, NULL, key, out) != 1 ||
      (aad_len > 0 && EVP_EncryptUpdate(s->enc, NULL, &n, aad, (int)aad_len) != 1) ||
      (plain_len > 0 && EVP_EncryptUpdate(s->enc, out + NONCE_BYTES, &n, plain, (int)plain_len) != 1) ||
      EVP_EncryptFinal_ex(s->enc, out + NONCE_BYTES + plain_len, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(s->enc, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, out + NONCE_BYTES + plain_len) != 1)
    return throw_crypto(env, "seal: AES-256-GCM failed"), false;
  return true;
}

/* seal(key, aad, plain) -> Buffer (its own ArrayBuffer: a worker can transfer it without a copy) */
static napi_value js_seal(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_CRYPTO_ARGS];
  crypto_state *s = get_state(env, info, 3, argv);
  uint8_t *key, *aad, *plain, *out;
  size_t aad_len, plain_len;
  if (s == NULL || !get_key_aad_bytes(env, argv, "plain", &key, &aad, &aad_len, &plain, &plain_len)) return NULL;
  napi_value result;
  if (napi_create_buffer(env, plain_len + NONCE_BYTES + TAG_BYTES, (void **)&out, &result) != napi_ok) return NULL;
  if (!seal_into(env, s, key, aad, aad_len, plain, plain_len, out)) return NULL;
  return result;
}

/* sealInto(key, aad, plain, out, offset) -> bytes written at out[offset..] (plain.length + 28) */
static napi_value js_seal_into(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_CRYPTO_ARGS];
  crypto_state *s = get_state(env, info, 5, argv);
  uint8_t *key, *aad, *plain, *out;
  size_t aad_len, plain_len, out_len;
  int64_t offset;
  if (s == NULL || !get_key_aad_bytes(env, argv, "plain", &key, &aad, &aad_len, &plain, &plain_len) ||
      !get_view(env, argv[3], "out", &out, &out_len) || napi_get_value_int64(env, argv[4], &offset) != napi_ok)
    return NULL;
  size_t need = plain_len + NONCE_BYTES + TAG_BYTES;
  if (offset < 0 || (size_t)offset > out_len || out_len - (size_t)offset < need) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sealInto: output buffer too small");
    return NULL;
  }
  if (!seal_into(env, s, key, aad, aad_len, plain, plain_len, out + offset)) return NULL;
  napi_value result;
  if (napi_create_int64(env, (int64_t)need, &result) != napi_ok) return NULL;
  return result;
}

/* Opens sealed into out; returns the plaintext length, or -1 when authentication fails. */
static long open_into(napi_env env, crypto_state *s, const uint8_t *key, const uint8_t *aad, size_t aad_len,
                      const uint8_t *sealed, size_t sealed_len, uint8_t *out) {
  if (sealed_len < NONCE_BYTES + TAG_BYTES) return -1;
  size_t body = sealed_len - NONCE_BYTES - TAG_BYTES;
  if (body > (size_t)INT32_MAX || aad_len > (size_t)INT32_MAX) return throw_crypto(env, "open: input too large"), -2;
  int n = 0;
  if (EVP_DecryptInit_ex(s->dec, NULL, NULL, key, sealed) != 1 ||
      (aad_len > 0 && EVP_DecryptUpdate(s->dec, NULL, &n, aad, (int)aad_len) != 1) ||
      (body > 0 && EVP_DecryptUpdate(s->dec, out, &n, sealed + NONCE_BYTES, (int)body) != 1) ||
      EVP_CIPHER_CTX_ctrl(s->dec, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, (void *)(sealed + NONCE_BYTES + body)) != 1)
    return throw_crypto(env, "open: AES-256-GCM failed"), -2;
  if (EVP_DecryptFinal_ex(s->dec, out + body, &n) != 1) {
    /* wrong key, tampered or truncated: no plaintext may leak out */
    memset(out, 0, body);
    return -1;
  }
  return (long)body;
}

/* open(key, aad, sealed) -> Buffer | undefined */
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_CRYPTO_ARGS];
  crypto_state *s = get_state(env, info, 3, argv);
  uint8_t *key, *aad, *sealed, *out;
  size_t aad_len, sealed_len;
  if (s == NULL || !get_key_aad_bytes(env, argv, "sealed", &key, &aad, &aad_len, &sealed, &sealed_len)) return NULL;
  napi_value result, undef;
  napi_get_undefined(env, &undef);
  if (sealed_len < NONCE_BYTES + TAG_BYTES) return undef;
  if (napi_create_buffer(env, sealed_len - NONCE_BYTES - TAG_BYTES, (void **)&out, &result) != napi_ok) return NULL;
  long n = open_into(env, s, key, aad, aad_len, sealed, sealed_len, out);
  if (n == -2) return NULL;
  return n < 0 ? undef : result;
}

/* openInto(key, aad, sealed, out) -> plaintext length written at out[0..], or -1 when authentication fails */
static napi_value js_open_into(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_CRYPTO_ARGS];
  crypto_state *s = get_state(env, info, 4, argv);
  uint8_t *key, *aad, *sealed, *out;
  size_t aad_len, sealed_len, out_len;
  if (s == NULL || !get_key_aad_bytes(env, argv, "sealed", &key, &aad, &aad_len, &sealed, &sealed_len) ||
      !get_view(env, argv[3], "out", &out, &out_len))
    return NULL;
  long n = -1;
  if (sealed_len >= NONCE_BYTES + TAG_BYTES) {
    if (out_len < sealed_len - NONCE_BYTES - TAG_BYTES) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "openInto: output buffer too small");
      return NULL;
    }
    n = open_into(env, s, key, aad, aad_len, sealed, sealed_len, out);
    if (n == -2) return NULL;
  }
  napi_value result;
  if (napi_create_int64(env, n, &result) != napi_ok) return NULL;
  return result;
}

/* hmac(key, data) -> Buffer(32): HMAC-SHA256 */
static napi_value js_hmac(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_CRYPTO_ARGS];
  crypto_state *s = get_state(env, info, 2, argv);
  uint8_t *key, *data, *out;
  size_t key_len, data_len, n = 0;
  if (s == NULL || !get_view(env, argv[0], "key", &key, &key_len) || !get_view(env, argv[1], "data", &data, &data_len))
    return NULL;
  napi_value result;
  if (napi_create_buffer(env, MAC_BYTES, (void **)&out, &result) != napi_ok) return NULL;
  /* a zero-length key must still be a valid pointer for OpenSSL */
  static const uint8_t empty[1] = {0};
  if (EVP_MAC_init(s->mac, key_len > 0 ? key : empty, key_len, NULL) != 1 ||
      EVP_MAC_update(s->mac, data, data_len) != 1 || EVP_MAC_final(s->mac, out, &n, MAC_BYTES) != 1 || n != MAC_BYTES)
    return throw_crypto(env, "HMAC-SHA256 failed");
  return result;
}

napi_status flashback_crypto_init(napi_env env, napi_value exports) {
  crypto_state *s = calloc(1, sizeof *s);
  if (s == NULL) return napi_generic_failure;
  s->nonce_used = sizeof s->nonces; /* empty: the first seal fills it */
  s->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
  s->enc = EVP_CIPHER_CTX_new();
  s->dec = EVP_CIPHER_CTX_new();
  s->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  s->mac = s->hmac != NULL ? EVP_MAC_CTX_new(s->hmac) : NULL;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  if (s->gcm == NULL || s->enc == NULL || s->dec == NULL || s->mac == NULL || EVP_MAC_CTX_set_params(s->mac, params) != 1 ||
      EVP_EncryptInit_ex(s->enc, s->gcm, NULL, NULL, NULL) != 1 || EVP_DecryptInit_ex(s->dec, s->gcm, NULL, NULL, NULL) != 1) {
    state_free(s);
    return napi_generic_failure;
  }
  napi_status st = napi_add_env_cleanup_hook(env, state_free, s);
  if (st != napi_ok) {
    state_free(s);
    return st;
  }
  const napi_property_descriptor props[] = {
      {"seal", NULL, js_seal, NULL, NULL, NULL, napi_enumerable, s},
      {"sealInto", NULL, js_seal_into, NULL, NULL, NULL, napi_enumerable, s},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, s},
      {"openInto", NULL, js_open_into, NULL, NULL, NULL, napi_enumerable, s},
      {"hmac", NULL, js_hmac, NULL, NULL, NULL, napi_enumerable, s},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
