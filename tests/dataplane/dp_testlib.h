/* dp_testlib.h — shared by the dataplane tests: deterministic keys and
 * message contents, and a receiver that checks every message arrives once,
 * intact and in order per sender. */
#ifndef PC_DP_TESTLIB_H
#define PC_DP_TESTLIB_H

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* tl_rm_runtime removes the EAL runtime directories (telemetry socket,
 * config) that processes with file prefixes starting with prefix left in
 * /var/run/dpdk; --no-shconf still creates them and kill -9 never cleans
 * up. prefix is always test-made (pid based), never user input. */
static inline void tl_rm_runtime(const char *prefix) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf /var/run/dpdk/%s* 2>/dev/null", prefix);
  if (system(cmd) != 0) {
    /* best effort */
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

/* tl_exchange: the body of one replica in a multi-process test (rx is the
 * callback state given to pc_dp_create with tl_deliver). It sends
 * messages 0..total-1 (sizes from len_of) to every other replica, polls
 * until it has received total from each of them and everything it sent is
 * acknowledged, then keeps answering for linger_ns so the peers' last ACKs
 * get through. Returns 0 on success, 1 on a content error, 2 on timeout. */
static inline int tl_exchange(pc_dp_t *dp, tl_rx_t *rx, uint16_t self, uint16_t n, uint64_t total,
                              uint64_t timeout_ns, uint64_t linger_ns) {
  tl_len_fn len_of = rx->len_of;
  size_t maxlen = 0;
  for (uint64_t i = 0; i < total; i++) maxlen = len_of(i) > maxlen ? len_of(i) : maxlen;
  uint8_t *buf = malloc(maxlen ? maxlen : 1);
  uint64_t sent[PC_MAX_REPLICAS] = {0};
  uint64_t deadline = pc_now_ns() + timeout_ns;
  unsigned idle = 0;
  int rc = 0;
  for (;;) {
    bool done = true;
    for (uint16_t p = 0; p < n; p++) {
      if (p == self) continue;
      while (sent[p] < total) {
        size_t len = len_of(sent[p]);
        tl_fill(buf, len, self, sent[p]);
        if (pc_dp_send(dp, p, buf, len) != 0) break;
        sent[p]++;
      }
      if (sent[p] < total || rx->next[p] < total) done = false;
    }
    if (done && pc_dp_tx_idle(dp)) break;
    if (rx->errors) {
      rc = 1;
      break;
    }
    if (pc_now_ns() > deadline) {
      fprintf(stderr, "replica %u: timeout (received", self);
      for (uint16_t p = 0; p < n; p++) fprintf(stderr, " %llu", (unsigned long long)rx->next[p]);
      fprintf(stderr, ", tx idle %d)\n", pc_dp_tx_idle(dp));
      rc = 2;
      break;
    }
    if (pc_dp_poll(dp, 256) > 0)
      idle = 0;
    else
      pc_dp_idle(++idle);
  }
  uint64_t end = pc_now_ns() + linger_ns;
  while (rc == 0 && pc_now_ns() < end) {
    if (pc_dp_poll(dp, 256) > 0)
      idle = 0;
    else
      pc_dp_idle(++idle);
  }
  if (rx->errors) {
    fprintf(stderr, "replica %u: %s\n", self, rx->first_error);
    rc = 1;
  }
  free(buf);
  return rc;
}

/* tl_serve_until_closed keeps answering (polling dp) until the supervisor
 * closes cmd_fd, then destroys dp: a replica that finished must not leave
 * while its peer may still wait for the final ACKs. */
static inline void tl_serve_until_closed(pc_dp_t *dp, int cmd_fd) {
  unsigned idle = 0;
  char c;
  while (read(cmd_fd, &c, 1) != 0) {
    if (pc_dp_poll(dp, 256) > 0)
      idle = 0;
    else
      pc_dp_idle(++idle);
  }
  pc_dp_destroy(dp);
}

/* A stage thread for tests: pc_dp_run(dp) until stop is set (release). */
typedef struct {
  pc_dp_t *dp;
  atomic_bool stop;
} tl_stage_t;

static inline void *tl_stage_thread(void *arg) {
  tl_stage_t *st = arg;
  pc_dp_run(st->dp, &st->stop);
  return NULL;
}

#endif
