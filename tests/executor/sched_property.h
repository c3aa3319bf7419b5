/* sched_property.h — the scheduler property test, shared by the Criterion
 * suite (test_sched.c) and the plain program run under ThreadSanitizer
 * (tsan_sched.c; Criterion cannot start under TSan). The includer defines
 * PROP_CHECK(cond, fmt, ...) and PROP_LOG(fmt, ...).
 *
 * Over seeded random blocks (conflict rate from none to total, declared /
 * undeclared / mixed, failing, aborting and budget-exhausted transactions,
 * duplicates, bad nonces), a scheduler with 1, 2, 3 and 8 workers must
 * produce the serial reference's receipts byte for byte and its execution
 * root. Iterations: pc_test_iters (PC_TEST_SCALE); replay a seed with
 * PC_TEST_SEED. */
#ifndef PC_SCHED_PROPERTY_H
#define PC_SCHED_PROPERTY_H

#include <stdio.h>

#include "tests/executor/exec_testutil.h"

#define NACC 256
#define MAXTX 48
#define BUDGET 20000

typedef struct {
  pc_executor_t *e;
  pc_memstate_t *m;
  pc_exec_state_t st;
} runner_t;

static void runner_open(runner_t *r, pc_sched_t s, unsigned workers, bool fallback) {
  pc_exec_config_t cfg = {.sched = s, .n_workers = workers, .tx_budget = BUDGET, .no_fallback = !fallback};
  r->e = pc_exec_create(&cfg);
  PROP_CHECK(r->e != NULL, "pc_exec_create failed");
  r->m = pc_memstate_create();
  PROP_CHECK(r->m != NULL, "pc_memstate_create failed");
  r->st = pc_memstate_iface(r->m);
  for (uint32_t i = 0; i < NACC; i++) ms_fund(r->m, i, 5000);
}

static void runner_close(runner_t *r) {
  pc_exec_destroy(r->e);
  pc_memstate_destroy(r->m);
}

enum { DECL_NONE = 0, DECL_ALL = 1, DECL_MIXED = 2 };

static void kv_name(char *out, uint32_t id) { snprintf(out, 16, "k%u", id); }

static void add_kv_key(tblock_t *b, pc_tx_t *t, const char *name, bool write) {
  uint8_t k[32];
  size_t n = strlen(name);
  k[0] = 'e';
  memcpy(k + 1, name, n);
  if (write)
    tb_write(b, t, k, n + 1);
  else
    tb_read(b, t, k, n + 1);
}

/* one random block; nonces come from the model `next` (advanced only by OK receipts) */
static void gen_block(tblock_t *b, uint64_t *rng, const uint64_t *next, int decl) {
  static const uint32_t accs[] = {1, 2, 3, 8, 32, 256};
  uint32_t nacc = accs[pc_test_rand(rng) % PC_ARRAY_LEN(accs)];
  uint32_t ntx = (uint32_t)(pc_test_rand(rng) % (MAXTX + 1));
  uint64_t pending[NACC] = {0};
  tb_reset(b);
  for (uint32_t i = 0; i < ntx; i++) {
    uint32_t from = (uint32_t)(pc_test_rand(rng) % nacc), to = (uint32_t)(pc_test_rand(rng) % nacc);
    uint64_t nonce = next[from] + pending[from]++;
    bool declare = decl == DECL_ALL || (decl == DECL_MIXED && (pc_test_rand(rng) & 1));
    unsigned kind = (unsigned)(pc_test_rand(rng) % 100);
    uint8_t a[128];
    char name[16];
    pc_tx_t *t;
    if (kind < 40) {
      tb_transfer(b, from, nonce, to, pc_test_rand(rng) % 3000, declare);
    } else if (kind < 55) {
      pc_store_le64(a, pc_test_rand(rng) % 10);
      t = tb_add(b, from, nonce, "counter", "add", a, 8);
      if (declare) tb_write(b, t, "n", 1);
    } else if (kind < 67) {
      kv_name(name, (uint32_t)(pc_test_rand(rng) % nacc));
      size_t nl = strlen(name), vl = pc_test_rand(rng) % 64;
      pc_store_le16(a, (uint16_t)nl);
      memcpy(a + 2, name, nl);
      for (size_t k = 0; k < vl; k++) a[2 + nl + k] = (uint8_t)pc_test_rand(rng);
      t = tb_add(b, from, nonce, "kv", "put", a, 2 + nl + vl);
      if (declare) add_kv_key(b, t, name, true);
    } else if (kind < 72) {
      kv_name(name, (uint32_t)(pc_test_rand(rng) % nacc));
      t = tb_add(b, from, nonce, "kv", (pc_test_rand(rng) & 1) ? "get" : "del", name, strlen(name));
      if (declare) add_kv_key(b, t, name, t->method[0] == 'd');
    } else if (kind < 80) {
      bool huge = pc_test_rand(rng) % 8 == 0;
      pc_store_le32(a, huge ? BUDGET : (uint32_t)(pc_test_rand(rng) % 30));
      memset(a + 4, (int)i, 32);
      t = tb_add(b, from, nonce, "compute", "run", a, 36);
      if (declare) t->declared = true, tb_rehash(t);
    } else if (kind < 83) {
      memset(a, 0, 39);
      t = tb_add(b, from, nonce, "token", "transfer", a, 39); /* bad args */
      if (declare) t->declared = true, tb_rehash(t);
    } else if (kind < 85) {
      t = tb_add(b, from, nonce, (pc_test_rand(rng) & 1) ? "token" : "nosuch", "nosuch", NULL, 0);
    } else if (kind < 89) {
      /* declares only the sender's balance: an access violation when declared */
      uint8_t k[PC_TOKEN_BALANCE_KEY_LEN], acct[32];
      t = tb_add(b, from, nonce, "token", "transfer", a, arg_acct_amount(a, (from + 1) % NACC, 1));
      if (declare) {
        tb_acct(acct, from);
        pc_token_balance_key(k, acct);
        tb_write(b, t, k, sizeof k);
      }
    } else if (kind < 93 && b->n > 0) {
      b->tx[b->n] = b->tx[pc_test_rand(rng) % b->n]; /* duplicate of an earlier one */
      b->n++;
    } else if (kind < 96) {
      pending[from]--;
      tb_transfer(b, from, nonce + 1 + pc_test_rand(rng) % 2, to, 1, declare); /* gap */
    } else {
      pending[from]--;
      if (next[from] == 0) {
        tb_transfer(b, from, nonce, to, 1, declare);
        pending[from]++;
      } else {
        tb_transfer(b, from, next[from] - 1, to, 1, declare); /* old nonce */
      }
    }
  }
}

static uint8_t ref_bytes[MAXTX * 8192], got_bytes[MAXTX * 8192];

static inline void property(pc_sched_t sched, int decl, bool fallback, uint64_t seed_def,
                            unsigned base_blocks) {
  static const unsigned wcounts[] = {1, 2, 3, 8};
  runner_t ref, run[PC_ARRAY_LEN(wcounts)];
  runner_open(&ref, PC_SCHED_SERIAL, 1, false);
  for (size_t k = 0; k < PC_ARRAY_LEN(wcounts); k++) runner_open(&run[k], sched, wcounts[k], fallback);
  uint64_t seed = pc_test_seed(seed_def), rng = seed;
  uint64_t next[NACC] = {0};
  tblock_t b;
  tb_init(&b, MAXTX + 1);
  unsigned blocks = pc_test_iters(base_blocks);
  unsigned ok = 0, failed = 0;
  for (unsigned h = 1; h <= blocks; h++) {
    gen_block(&b, &rng, next, decl);
    pc_exec_block_t blk = {.height = h, .time_us = 1000ull * h, .txs = b.tx, .n_txs = b.n};
    pc_exec_result_t rr, gr;
    PROP_CHECK(pc_exec_run(ref.e, &ref.st, &blk, &rr) == 0, "serial run failed");
    PROP_CHECK(pc_exec_commit(ref.e, &ref.st, &rr) == 0, "serial commit failed");
    size_t rlen = receipts_bytes(&rr, ref_bytes, sizeof ref_bytes);
    for (size_t k = 0; k < PC_ARRAY_LEN(wcounts); k++) {
      PROP_CHECK(pc_exec_run(run[k].e, &run[k].st, &blk, &gr) == 0, "run failed");
      PROP_CHECK(pc_exec_commit(run[k].e, &run[k].st, &gr) == 0, "commit failed");
      size_t glen = receipts_bytes(&gr, got_bytes, sizeof got_bytes);
      for (size_t i = 0; i < gr.n_receipts && i < rr.n_receipts; i++)
        PROP_CHECK(gr.receipts[i].status == rr.receipts[i].status,
                   "seed %llu block %u: %s with %u workers: tx %zu status %s, serial %s",
                   (unsigned long long)seed, h, pc_sched_name(sched), wcounts[k], i,
                   pc_tx_status_name(gr.receipts[i].status), pc_tx_status_name(rr.receipts[i].status));
      PROP_CHECK(glen == rlen && memcmp(got_bytes, ref_bytes, rlen) == 0,
                 "seed %llu block %u: %s with %u workers: receipts differ from serial",
                 (unsigned long long)seed, h, pc_sched_name(sched), wcounts[k]);
      PROP_CHECK(pc_hash_equal(&gr.exec_root, &rr.exec_root),
                 "seed %llu block %u: %s with %u workers: execution root differs from serial",
                 (unsigned long long)seed, h, pc_sched_name(sched), wcounts[k]);
    }
    for (size_t i = 0; i < rr.n_receipts; i++) {
      if (rr.receipts[i].status == PC_TX_OK) {
        uint32_t from = pc_load_le32(b.tx[i].sender);
        next[from] = b.tx[i].nonce + 1;
        ok++;
      } else {
        failed++;
      }
    }
  }
  /* the generator must exercise both sides */
  PROP_CHECK(ok > 0 && failed > 0, "the generator made %u ok and %u failed transactions", ok, failed);
  pc_exec_stats_t st;
  pc_exec_stats(run[1].e, &st);
  PROP_LOG(
      "%s decl=%d fallback=%d: %u blocks, %u ok, %u failed; 2 workers: %llu fallbacks, %llu re-executions, "
      "%llu steals",
      pc_sched_name(sched), decl, fallback, blocks, ok, failed, (unsigned long long)st.fallbacks,
      (unsigned long long)st.reexecutions, (unsigned long long)st.steals);
  tb_free(&b);
  runner_close(&ref);
  for (size_t k = 0; k < PC_ARRAY_LEN(wcounts); k++) runner_close(&run[k]);
}

#endif
