/* txtest.h — helpers shared by the txpool tests: deterministic senders and
 * signed transactions. */
#ifndef PC_TXTEST_H
#define PC_TXTEST_H

#include <criterion/criterion.h>
#include <string.h>

#include "common/block.h"
#include "txpool/client.h"
#include "txpool/txpool.h"

#define TT_CHAIN 77

/* A pool of `workers` verify threads with rings of `ring` entries; tweak
 * (may be NULL) adjusts the config before creation. */
static inline pc_txpool_t *tt_pool(unsigned workers, unsigned ring, const pc_txpool_transport_t *tp, uint16_t n,
                                   uint16_t self, void (*tweak)(pc_txpool_cfg_t *)) {
  pc_txpool_cfg_t c;
  pc_txpool_cfg_default(&c, TT_CHAIN, n, self);
  c.n_workers = workers;
  c.ring_size = ring;
  if (tweak) tweak(&c);
  pc_txpool_t *p = pc_txpool_create(&c, NULL, tp);
  cr_assert_not_null(p);
  return p;
}

static inline pc_txpool_stats_t tt_stats(pc_txpool_t *p) {
  pc_txpool_stats_t st;
  pc_txpool_stats(p, &st);
  return st;
}

/* A sender whose key derives from a small integer. */
static inline void tt_key(pc_client_key_t *k, unsigned id) {
  uint8_t seed[32] = {0};
  pc_store_le32(seed, id + 1);
  cr_assert_eq(pc_client_key_from_seed(k, seed), 0);
}

typedef struct {
  uint8_t raw[512];
  size_t len;
  pc_tx_t tx; /* decoded view of raw */
} tt_tx_t;

/* Builds and decodes a signed transaction; args_pad adds argument bytes. */
static inline void tt_build(tt_tx_t *t, const pc_client_key_t *k, uint64_t chain, uint64_t nonce, uint64_t expiry,
                            uint32_t args_pad) {
  static uint8_t args[256];
  cr_assert_leq(args_pad, sizeof args);
  pc_client_tx_t c = {.chain_id = chain, .nonce = nonce, .expiry_height = expiry, .contract = "token",
                      .method = "transfer", .args = args, .args_len = args_pad};
  int n = pc_client_tx_build(t->raw, sizeof t->raw, k, &c, NULL);
  cr_assert_gt(n, 0);
  t->len = (size_t)n;
  cr_assert_eq(pc_tx_decode(t->raw, t->len, &t->tx), 0);
}

/* Builds the transaction of sender id (tt_key) on TT_CHAIN. */
static inline void tt_sign(tt_tx_t *t, unsigned sender, uint64_t nonce, uint64_t expiry, uint32_t args_pad) {
  pc_client_key_t k;
  tt_key(&k, sender);
  tt_build(t, &k, TT_CHAIN, nonce, expiry, args_pad);
}

/* Finds a sender id ≥ start whose bucket, in epoch, is owned by `owner`. */
static inline unsigned tt_sender_owned_by(unsigned start, uint64_t epoch, uint16_t owner, uint32_t n_buckets,
                                          uint16_t n_replicas) {
  for (unsigned id = start;; id++) {
    pc_client_key_t k;
    tt_key(&k, id);
    if (pc_txpool_bucket_owner(epoch, pc_txpool_bucket_of(k.pk, n_buckets), n_replicas) == owner) return id;
  }
}

#endif
