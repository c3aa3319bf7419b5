/* dp_testlib.h — shared by the dataplane tests: deterministic keys and
 * message contents, and a receiver that checks every message arrives once,
 * intact and in order per sender. */
#ifndef PC_DP_TESTLIB_H
#define PC_DP_TESTLIB_H

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/dataplane.h"

/* Deterministic Ed25519 key of replica i (seed = i repeated). */
static inline void tl_key(uint16_t i, uint8_t pk[32], uint8_t sk[64]) {
  uint8_t seed[32];
  memset(seed, (int)(i + 1), sizeof seed);
  crypto_sign_seed_keypair(pk, sk, seed);
}

/* Fills cfg for replica self of n over UDP on 127.0.0.1:base_port+i. */
static inline void tl_cfg(pc_dp_cfg_t *cfg, pc_dp_kind_t kind, uint16_t self, uint16_t n, uint16_t base_port) {
  pc_dp_cfg_default(cfg);
  cfg->kind = kind;
  cfg->self = self;
  cfg->n = n;
  for (uint16_t i = 0; i < n; i++) {
    uint8_t sk[64];
    tl_key(i, cfg->peers[i].ed25519_pk, sk);
    if (i == self) memcpy(cfg->ed25519_sk, sk, 64);
    cfg->peers[i].addr.ip = 0x7f000001; /* 127.0.0.1 only */
    cfg->peers[i].addr.port = (uint16_t)(base_port + i);
    uint8_t mac[6] = {0x02, 0x50, 0x43, 0, 0, (uint8_t)i};
    memcpy(cfg->peers[i].addr.mac, mac, 6);
  }
}

/* Byte k of message idx from sender s. */
static inline uint8_t tl_byte(uint16_t s, uint64_t idx, size_t k) {
  return (uint8_t)(idx * 131 + k * 7 + (k >> 9) * 13 + s * 29);
}

static inline void tl_fill(uint8_t *m, size_t len, uint16_t s, uint64_t idx) {
  for (size_t k = 0; k < len; k++) m[k] = tl_byte(s, idx, k);
}

/* Receiver state: per sender the next expected index; a length function
 * gives the size of message idx. */
typedef size_t (*tl_len_fn)(uint64_t idx);

typedef struct {
  tl_len_fn len_of;
  uint64_t next[PC_MAX_REPLICAS];
  uint64_t errors;
  char first_error[160];
} tl_rx_t;

static inline void tl_deliver(void *user, uint16_t peer, const uint8_t *msg, size_t len) {
  tl_rx_t *r = user;
  uint64_t idx = r->next[peer]++;
  size_t want = r->len_of(idx);
  bool ok = len == want;
  for (size_t k = 0; ok && k < len; k++) ok = msg[k] == tl_byte(peer, idx, k);
  if (!ok) {
    if (!r->errors)
      snprintf(r->first_error, sizeof r->first_error, "from %u: message %llu bad (len %zu, want %zu)", peer,
               (unsigned long long)idx, len, want);
    r->errors++;
  }
}

#endif
