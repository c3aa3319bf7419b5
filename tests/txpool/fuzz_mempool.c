/* fuzz_mempool.c — libFuzzer target driving the mempool with a sequence of
 * operations read from the input, checking its invariants after each one:
 * count and bytes within bounds, cut ≤ count, a decided batch's
 * transactions gone, a cut never repeating a transaction still in flight,
 * and the per-sender cut rule: a cut takes a sender only if none of its
 * transactions was in flight, and starts at the sender's next nonce.
 * Transactions carry zero signatures: the mempool never verifies.
 *
 * Input: repeated [op u8][a u8][b u8][c u8]; op % 6 selects
 *   0 insert   sender a%8, nonce b%24, expiry c%8 (0 = none), salt c
 *   1 cut      epoch a%3, height b%8, max_count 1 + c%16 (kept as "last")
 *   2 decided  the last cut batch
 *   3 release  the last cut batch
 *   4 evict    expired below height a%10
 *   5 insert   a run of nonces 0..b%24 for sender a%8 */
#include <stdlib.h>
#include <string.h>

#include "common/block.h"
#include "txpool/txpool.h"

#define CHAIN 5

static size_t make_tx(uint8_t *out, size_t cap, unsigned sender, uint64_t nonce, uint64_t expiry, uint8_t salt) {
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  uint8_t pk[PC_TX_PUBKEY_SIZE];
  memset(pk, (int)(sender + 1), sizeof pk);
  pc_put_u8(&w, PC_TX_VERSION);
  pc_put_u64(&w, CHAIN);
  pc_put_bytes(&w, pk, sizeof pk);
  pc_put_u64(&w, nonce);
  pc_put_u64(&w, expiry);
  pc_put_u8(&w, 1);
  pc_put_u8(&w, 'c');
  pc_put_u8(&w, 1);
  pc_put_u8(&w, 'm');
  pc_put_blob32(&w, &salt, 1);
  pc_put_u8(&w, 0);
  uint8_t sig[PC_TX_SIG_SIZE] = {0};
  pc_put_bytes(&w, sig, sizeof sig);
  if (pc_writer_finish(&w)) abort();
  return w.len;
}

static void insert(pc_mempool_t *mp, unsigned sender, uint64_t nonce, uint64_t expiry, uint8_t salt) {
  uint8_t raw[256];
  static pc_tx_t tx;
  size_t len = make_tx(raw, sizeof raw, sender, nonce, expiry, salt);
  if (pc_tx_decode(raw, len, &tx)) abort();
  pc_txpool_reason_t why = PC_TXR_COUNT;
  int rc = pc_mempool_insert(mp, &tx, 0, &why);
  if (rc == 0 && !pc_mempool_contains(mp, &tx.hash)) abort();
  if (rc != 0 && why == PC_TXR_COUNT) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t last[1 << 14], batch[1 << 14];
  size_t last_len = 0;
  pc_mempool_cfg_t c;
  pc_mempool_cfg_default(&c, 3, 1);
  c.n_buckets = 6;
  c.max_count = 40;
  c.max_bytes = 40 * 120;
  c.sender_max_count = 12;
  c.sender_max_bytes = 12 * 120;
  c.gap_limit = 16;
  c.max_senders = 6;
  pc_mempool_t *mp = pc_mempool_create(&c, NULL);
  if (!mp) abort();
  for (size_t i = 0; i + 4 <= size; i += 4) {
    uint8_t op = data[i] % 6, a = data[i + 1], b = data[i + 2], cc = data[i + 3];
    switch (op) {
    case 0: insert(mp, a % 8, b % 24, cc % 8, cc); break;
    case 5:
      for (unsigned n = 0; n <= (unsigned)(b % 24); n++) insert(mp, a % 8, n, 0, cc);
      break;
    case 1: {
      pc_writer_t w;
      pc_writer_init(&w, batch, sizeof batch);
      pc_batch_limits_t lim = {.max_count = 1u + cc % 16, .max_bytes = sizeof batch, .max_wait_ns = 0};
      pc_mempool_stats_t before;
      pc_mempool_stats(mp, &before);
      int n = pc_mempool_cut(mp, a % 3, b % 8, &lim, 0, true, &w);
      if (n < 0 || (unsigned)n > lim.max_count || pc_batch_count(batch, w.len) != n) abort();
      pc_mempool_stats_t after;
      pc_mempool_stats(mp, &after);
      if (after.cut != before.cut + (unsigned)n) abort(); /* nothing cut twice */
      /* per sender (pk = 8 × sender + 1 bytes): all of its in-flight
       * transactions are in this batch, consecutive from its next nonce */
      for (unsigned sdr = 0; sdr < 8; sdr++) {
        uint8_t pk[PC_TX_PUBKEY_SIZE];
        memset(pk, (int)(sdr + 1), sizeof pk);
        uint64_t expect = pc_mempool_next_nonce(mp, pk);
        uint32_t in_batch = 0;
        size_t pos = 0, tl;
        const uint8_t *t;
        static pc_tx_t tx;
        while ((t = pc_batch_next(batch, w.len, &pos, &tl))) {
          if (pc_tx_decode(t, tl, &tx)) abort();
          if (memcmp(tx.sender, pk, sizeof pk) != 0) continue;
          if (tx.nonce != expect++) abort();
          in_batch++;
        }
        if (in_batch && pc_mempool_in_flight(mp, pk) != in_batch) abort();
      }
      memcpy(last, batch, w.len);
      last_len = w.len;
      break;
    }
    case 2: {
      if (pc_mempool_remove_decided(mp, last, last_len) < 0) abort();
      size_t pos = 0, n;
      const uint8_t *t;
      while ((t = pc_batch_next(last, last_len, &pos, &n))) {
        pc_hash_t h;
        pc_tx_hash_bytes(&h, t, n);
        if (pc_mempool_contains(mp, &h)) abort();
      }
      last_len = 0;
      break;
    }
    case 3: pc_mempool_release(mp, last, last_len); break;
    case 4: pc_mempool_evict_expired(mp, a % 10); break;
    }
    pc_mempool_stats_t st;
    pc_mempool_stats(mp, &st);
    if (st.count > c.max_count || st.bytes > c.max_bytes || st.cut > st.count || st.senders > c.max_senders) abort();
  }
  pc_mempool_destroy(mp);
  return 0;
}
