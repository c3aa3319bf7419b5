/* exec_testutil.h — building blocks of transactions for the executor tests
 * (transactions are built as decoded pc_tx_t structs; no signatures). */
#ifndef PC_EXEC_TESTUTIL_H
#define PC_EXEC_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/executor.h"
#include "tests/testutil.h"

typedef struct {
  pc_tx_t *tx;
  size_t n, cap;
  uint8_t *mem; /* backing bytes for args and keys (never moves) */
  size_t used, mcap;
} tblock_t;

static inline void tb_init(tblock_t *b, size_t cap) {
  memset(b, 0, sizeof *b);
  b->cap = cap;
  b->tx = calloc(cap, sizeof *b->tx);
  b->mcap = 8u << 20;
  b->mem = malloc(b->mcap);
}

static inline void tb_free(tblock_t *b) {
  free(b->tx);
  free(b->mem);
  memset(b, 0, sizeof *b);
}

static inline void tb_reset(tblock_t *b) {
  b->n = 0;
  b->used = 0;
}

static inline uint8_t *tb_mem(tblock_t *b, const void *p, size_t n) {
  if (b->used + n > b->mcap) abort();
  uint8_t *d = b->mem + b->used;
  if (n) memcpy(d, p, n);
  b->used += n;
  return d;
}

/* acct: a 32-byte account key derived from an id */
static inline void tb_acct(uint8_t out[32], uint32_t id) {
  memset(out, 0, 32);
  pc_store_le32(out, id);
  out[31] = 0xac;
}

static inline void tb_rehash(pc_tx_t *t) {
  pc_hasher_t h;
  pc_hasher_init_tagged(&h, "test/tx");
  pc_hasher_update(&h, t->sender, 32);
  uint8_t n[8];
  pc_store_le64(n, t->nonce);
  pc_hasher_update(&h, n, 8);
  pc_store_le64(n, t->expiry_height);
  pc_hasher_update(&h, n, 8);
  pc_hasher_update(&h, t->contract, strlen(t->contract) + 1);
  pc_hasher_update(&h, t->method, strlen(t->method) + 1);
  pc_hasher_update(&h, t->args, t->args_len);
  uint8_t d = t->declared;
  pc_hasher_update(&h, &d, 1);
  for (unsigned i = 0; i < t->n_reads; i++)
    pc_hasher_update(&h, t->reads[i].p, t->reads[i].len), pc_hasher_update(&h, "r", 1);
  for (unsigned i = 0; i < t->n_writes; i++)
    pc_hasher_update(&h, t->writes[i].p, t->writes[i].len), pc_hasher_update(&h, "w", 1);
  pc_hasher_final(&h, &t->hash);
}

static inline pc_tx_t *tb_add(tblock_t *b, uint32_t sender, uint64_t nonce, const char *contract,
                              const char *method, const void *args, size_t alen) {
  if (b->n == b->cap) abort();
  pc_tx_t *t = &b->tx[b->n++];
  memset(t, 0, sizeof *t);
  tb_acct(t->sender, sender);
  t->nonce = nonce;
  snprintf(t->contract, sizeof t->contract, "%s", contract);
  snprintf(t->method, sizeof t->method, "%s", method);
  t->args = tb_mem(b, args, alen);
  t->args_len = (uint32_t)alen;
  tb_rehash(t);
  return t;
}

/* tb_read / tb_write add a declared key (marking the tx declared) */
static inline void tb_read(tblock_t *b, pc_tx_t *t, const void *k, size_t kl) {
  t->declared = true;
  t->reads[t->n_reads++] = (pc_tx_key_t){tb_mem(b, k, kl), (uint16_t)kl};
  tb_rehash(t);
}
static inline void tb_write(tblock_t *b, pc_tx_t *t, const void *k, size_t kl) {
  t->declared = true;
  t->writes[t->n_writes++] = (pc_tx_key_t){tb_mem(b, k, kl), (uint16_t)kl};
  tb_rehash(t);
}

/* common argument encoders */
static inline size_t arg_acct_amount(uint8_t out[40], uint32_t to, uint64_t amount) {
  tb_acct(out, to);
  pc_store_le64(out + 32, amount);
  return 40;
}

/* token transfer from `from` to `to`, declared or not */
static inline pc_tx_t *tb_transfer(tblock_t *b, uint32_t from, uint64_t nonce, uint32_t to, uint64_t amount,
                                   bool declare) {
  uint8_t a[40];
  arg_acct_amount(a, to, amount);
  pc_tx_t *t = tb_add(b, from, nonce, "token", "transfer", a, 40);
  if (declare) {
    uint8_t k[PC_TOKEN_BALANCE_KEY_LEN], acct[32];
    tb_acct(acct, from);
    pc_token_balance_key(k, acct);
    tb_write(b, t, k, sizeof k);
    tb_acct(acct, to);
    pc_token_balance_key(k, acct);
    tb_write(b, t, k, sizeof k);
  }
  return t;
}

/* seeds the token balance of account id directly in the state */
static inline void ms_fund(pc_memstate_t *m, uint32_t id, uint64_t amount) {
  uint8_t acct[32], k[PC_TOKEN_BALANCE_KEY_LEN], sk[128], v[8];
  tb_acct(acct, id);
  pc_token_balance_key(k, acct);
  int n = pc_exec_state_key(sk, sizeof sk, "token", k, sizeof k);
  pc_store_le64(v, amount);
  pc_memstate_put(m, sk, (size_t)n, v, 8);
}

static inline uint64_t ms_balance(pc_memstate_t *m, uint32_t id) {
  uint8_t acct[32], k[PC_TOKEN_BALANCE_KEY_LEN], sk[128];
  tb_acct(acct, id);
  pc_token_balance_key(k, acct);
  int n = pc_exec_state_key(sk, sizeof sk, "token", k, sizeof k);
  const uint8_t *v;
  size_t vl;
  if (pc_memstate_get(m, sk, (size_t)n, &v, &vl)) return 0;
  return vl == 8 ? pc_load_le64(v) : 0;
}

/* encodes every receipt of r back to back (for byte-for-byte comparisons) */
static inline size_t receipts_bytes(const pc_exec_result_t *r, uint8_t *out, size_t cap) {
  size_t len = 0;
  for (size_t i = 0; i < r->n_receipts; i++) {
    int n = pc_receipt_encode(&r->receipts[i], out + len, cap - len);
    if (n < 0) abort();
    len += (size_t)n;
  }
  return len;
}

#endif
