/* test_pool.c — worker pool configuration, start and stop. */
#include <criterion/criterion.h>

#include <sodium.h>

#include "common/block.h"
#include "tests/executor/exec_testutil.h"

Test(executor_pool, zero_or_too_many_workers_is_refused) {
  pc_exec_config_t cfg = {.sched = PC_SCHED_DAG, .n_workers = 0};
  cr_assert_null(pc_exec_create(&cfg));
  cfg.n_workers = PC_EXEC_WORKERS_MAX + 1;
  cr_assert_null(pc_exec_create(&cfg));
  cfg.n_workers = 1;
  cfg.sched = PC_SCHED_COUNT;
  cr_assert_null(pc_exec_create(&cfg));
}

Test(executor_pool, a_core_missing_from_the_topology_is_refused) {
  int cores[2] = {0, 4000};
  pc_exec_config_t cfg = {.sched = PC_SCHED_DAG, .n_workers = 2, .cores = cores};
  cr_assert_null(pc_exec_create(&cfg));
  cores[1] = -1;
  cr_assert_null(pc_exec_create(&cfg));
}

Test(executor_pool, explicit_cores_shared_by_many_workers_start_and_stop) {
  int cores[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  pc_exec_config_t cfg = {.sched = PC_SCHED_DAG, .n_workers = 8, .cores = cores};
  for (int round = 0; round < 3; round++) {
    pc_executor_t *e = pc_exec_create(&cfg);
    cr_assert_not_null(e);
    cr_assert_eq(pc_exec_n_workers(e), 8);
    pc_exec_destroy(e);
  }
  pc_exec_destroy(NULL);
}

/* More workers than cores, and one worker: the same block gives the same
 * result (ran with no_fallback so the pool really runs it). */
Test(executor_pool, worker_count_does_not_change_the_result) {
  pc_hash_t ref;
  unsigned counts[] = {1, 2, 5, 16};
  for (size_t c = 0; c < PC_ARRAY_LEN(counts); c++) {
    pc_exec_config_t cfg = {.sched = PC_SCHED_DAG, .n_workers = counts[c], .no_fallback = true};
    pc_executor_t *e = pc_exec_create(&cfg);
    cr_assert_not_null(e);
    pc_memstate_t *m = pc_memstate_create();
    pc_exec_state_t st = pc_memstate_iface(m);
    for (uint32_t i = 0; i < 20; i++) ms_fund(m, i, 100);
    tblock_t b;
    tb_init(&b, 64);
    for (uint32_t i = 0; i < 60; i++) tb_transfer(&b, i % 20, i / 20, (i * 7) % 20, 5, true);
    pc_exec_block_t blk = {.height = 1, .txs = b.tx, .n_txs = b.n};
    pc_exec_result_t r;
    cr_assert_eq(pc_exec_run(e, &st, &blk, &r), 0);
    cr_assert_eq(r.ran, PC_SCHED_DAG);
    cr_assert_eq(pc_exec_commit(e, &st, &r), 0);
    if (c == 0)
      ref = r.exec_root;
    else
      cr_assert(pc_hash_equal(&ref, &r.exec_root), "%u workers differ", counts[c]);
    tb_free(&b);
    pc_memstate_destroy(m);
    pc_exec_destroy(e);
  }
}

Test(executor_pool, fallback_runs_tiny_and_fully_conflicting_blocks_serially) {
  pc_exec_config_t cfg = {.sched = PC_SCHED_DAG, .n_workers = 2};
  pc_executor_t *e = pc_exec_create(&cfg);
  pc_memstate_t *m = pc_memstate_create();
  pc_exec_state_t st = pc_memstate_iface(m);
  tblock_t b;
  tb_init(&b, 128);
  uint8_t d[8];
  pc_store_le64(d, 1);
  for (uint32_t i = 0; i < 100; i++) tb_write(&b, tb_add(&b, i, 0, "counter", "add", d, 8), "n", 1);
  pc_exec_block_t blk = {.height = 1, .txs = b.tx, .n_txs = b.n};
  pc_exec_result_t r;
  cr_assert_eq(pc_exec_run(e, &st, &blk, &r), 0);
  cr_assert_eq(r.ran, PC_SCHED_SERIAL); /* a chain: cannot pay */
  blk.n_txs = 2;
  cr_assert_eq(pc_exec_run(e, &st, &blk, &r), 0);
  cr_assert_eq(r.ran, PC_SCHED_SERIAL); /* tiny */
  pc_exec_stats_t s;
  pc_exec_stats(e, &s);
  cr_assert_eq(s.fallbacks, 2);
  tb_free(&b);
  pc_memstate_destroy(m);
  pc_exec_destroy(e);
}

/* Runs two blocks of 100 independent transactions (distinct senders and
 * declared keys) with DAG and 2 workers; returns what each block ran. */
static void two_independent_blocks(uint32_t min_parallel_tx_ns, pc_sched_t ran[2], uint64_t *fallbacks) {
  pc_exec_config_t cfg = {.sched = PC_SCHED_DAG, .n_workers = 2, .min_parallel_tx_ns = min_parallel_tx_ns};
  pc_executor_t *e = pc_exec_create(&cfg);
  cr_assert_not_null(e);
  pc_memstate_t *m = pc_memstate_create();
  pc_exec_state_t st = pc_memstate_iface(m);
  tblock_t b;
  tb_init(&b, 128);
  uint8_t d[8];
  pc_store_le64(d, 1);
  for (uint32_t i = 0; i < 100; i++) {
    char key[16];
    int kl = snprintf(key, sizeof key, "k%u", i);
    tb_write(&b, tb_add(&b, i, 0, "counter", "add", d, 8), key, (size_t)kl);
  }
  pc_exec_block_t blk = {.height = 1, .txs = b.tx, .n_txs = b.n};
  pc_exec_result_t r;
  for (int k = 0; k < 2; k++) {
    cr_assert_eq(pc_exec_run(e, &st, &blk, &r), 0);
    ran[k] = r.ran;
  }
  pc_exec_stats_t s;
  pc_exec_stats(e, &s);
  *fallbacks = s.fallbacks;
  tb_free(&b);
  pc_memstate_destroy(m);
  pc_exec_destroy(e);
}

/* The cost rule compares measured time with a threshold; the two extreme
 * thresholds make the outcome independent of the machine's speed. */
Test(executor_pool, cheap_transactions_run_serially_once_their_cost_is_measured) {
  pc_sched_t ran[2];
  uint64_t fallbacks;
  two_independent_blocks(UINT32_MAX, ran, &fallbacks); /* every transaction counts as cheap */
  cr_assert_eq(ran[0], PC_SCHED_DAG, "nothing measured yet: the configured scheduler runs");
  cr_assert_eq(ran[1], PC_SCHED_SERIAL);
  cr_assert_eq(fallbacks, 1);
  two_independent_blocks(1, ran, &fallbacks); /* no transaction is cheap */
  cr_assert_eq(ran[0], PC_SCHED_DAG);
  cr_assert_eq(ran[1], PC_SCHED_DAG);
  cr_assert_eq(fallbacks, 0);
}

/* pc_exec_run_batch runs what decodes, skips what does not, and gives the
 * same result as pc_exec_run on the decoded transactions. */
Test(executor_pool, run_batch_skips_undecodable_transactions_like_the_block_path) {
  uint8_t sk[64], pk[32];
  crypto_sign_keypair(pk, sk);
  tblock_t b;
  tb_init(&b, 8);
  uint8_t d[8];
  pc_store_le64(d, 3);
  static uint8_t batch[8192], enc[1024];
  pc_writer_t w;
  pc_writer_init(&w, batch, sizeof batch);
  for (uint32_t i = 0; i < 3; i++) {
    pc_tx_t *t = tb_add(&b, 0, i, "counter", "add", d, 8);
    memcpy(t->sender, pk, 32);
    t->chain_id = 1;
    int n = pc_tx_encode_signed(enc, sizeof enc, t, sk);
    cr_assert_gt(n, 0);
    cr_assert_eq(pc_tx_decode(enc, (size_t)n, t), 0); /* t now views enc: re-decode below */
    pc_batch_append(&w, enc, (size_t)n);
    if (i == 1) pc_batch_append(&w, "garbage", 7); /* does not decode: skipped */
  }
  cr_assert(!w.overflow);
  pc_tx_t txs[3];
  size_t pos = 0, len, k = 0;
  const uint8_t *p;
  while ((p = pc_batch_next(batch, w.len, &pos, &len)))
    if (pc_tx_decode(p, len, &txs[k]) == 0) k++;
  cr_assert_eq(k, 3);

  pc_hash_t roots[2];
  for (int way = 0; way < 2; way++) {
    pc_exec_config_t cfg = {.sched = PC_SCHED_SERIAL, .n_workers = 1};
    pc_executor_t *e = pc_exec_create(&cfg);
    pc_memstate_t *m = pc_memstate_create();
    pc_exec_state_t st = pc_memstate_iface(m);
    pc_exec_result_t r;
    if (way == 0) {
      cr_assert_eq(pc_exec_run_batch(e, &st, 1, 0, batch, w.len, NULL, NULL, &r), 0);
    } else {
      pc_exec_block_t blk = {.height = 1, .txs = txs, .n_txs = 3};
      cr_assert_eq(pc_exec_run(e, &st, &blk, &r), 0);
    }
    cr_assert_eq(r.n_receipts, 3);
    for (size_t i = 0; i < 3; i++) cr_assert_eq(r.receipts[i].status, PC_TX_OK, "tx %zu status %u", i, r.receipts[i].status);
    cr_assert_eq(pc_exec_commit(e, &st, &r), 0);
    roots[way] = r.exec_root;
    pc_memstate_destroy(m);
    pc_exec_destroy(e);
  }
  cr_assert(pc_hash_equal(&roots[0], &roots[1]));
  tb_free(&b);
}
