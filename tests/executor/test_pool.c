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

/* ------------------------------------------------ fallback bookkeeping */

/* n transactions by fresh senders (from base): adds on the one counter key
 * when hot (a chain), else empty compute calls (independent, ~1 µs) */
static void counter_block(tblock_t *b, uint32_t base, uint32_t n, bool hot) {
  tb_reset(b);
  uint8_t d[8], a[36];
  pc_store_le64(d, 1);
  for (uint32_t i = 0; i < n; i++) {
    if (hot) {
      tb_write(b, tb_add(b, base + i, 0, "counter", "add", d, 8), "n", 1);
      continue;
    }
    pc_store_le32(a, 0);
    memset(a + 4, (int)(base + i), 32);
    pc_tx_t *t = tb_add(b, base + i, 0, "compute", "run", a, 36);
    t->declared = true;
    tb_rehash(t);
  }
}

/* A DAG cooldown counts blocks, not blocks that reached the DAG: blocks
 * run serially for another reason (tiny here) use it up. Before, a count
 * left by one stream outlived any number of such blocks and made the first
 * blocks of the next, parallel stream run serially (compute-10us stuck at
 * 1.5x in the benchmark). */
Test(executor_pool, a_dag_cooldown_is_used_up_by_blocks_that_ran_serially_for_other_reasons) {
  pc_exec_config_t cfg = {.sched = PC_SCHED_DAG, .n_workers = 2, .min_parallel_tx_ns = 1 /* never cheap */};
  pc_executor_t *e = pc_exec_create(&cfg);
  cr_assert_not_null(e);
  pc_memstate_t *m = pc_memstate_create();
  pc_exec_state_t st = pc_memstate_iface(m);
  tblock_t b;
  tb_init(&b, 128);
  pc_exec_result_t r;
  pc_exec_profile_t p;
  uint64_t h = 1;
  uint32_t base = 1000;
  counter_block(&b, base, 100, true); /* a chain: cannot pay, cooldown starts */
  base += 100;
  pc_exec_block_t blk = {.height = h++, .txs = b.tx, .n_txs = b.n};
  cr_assert_eq(pc_exec_run(e, &st, &blk, &r), 0);
  pc_exec_last_profile(e, &p);
  cr_assert_eq(r.ran, PC_SCHED_SERIAL);
  cr_assert_eq(p.why_serial, PC_EXEC_WHY_CONFLICT, "why %s", pc_exec_why_name(p.why_serial));
  cr_assert_eq(pc_exec_commit(e, &st, &r), 0);
  for (int k = 0; k < 4; k++) { /* four tiny blocks: serial anyway */
    counter_block(&b, base, 2, false);
    base += 2;
    blk = (pc_exec_block_t){.height = h++, .txs = b.tx, .n_txs = b.n};
    cr_assert_eq(pc_exec_run(e, &st, &blk, &r), 0);
    pc_exec_last_profile(e, &p);
    cr_assert_eq(p.why_serial, PC_EXEC_WHY_TINY, "block %d: why %s", k, pc_exec_why_name(p.why_serial));
    cr_assert_eq(pc_exec_commit(e, &st, &r), 0);
  }
  counter_block(&b, base, 100, false); /* independent: the DAG runs it */
  blk = (pc_exec_block_t){.height = h++, .txs = b.tx, .n_txs = b.n};
  cr_assert_eq(pc_exec_run(e, &st, &blk, &r), 0);
  pc_exec_last_profile(e, &p);
  cr_assert_eq(r.ran, PC_SCHED_DAG, "ran %s (why %s)", pc_sched_name(r.ran), pc_exec_why_name(p.why_serial));
  uint32_t sum = 0;
  for (unsigned i = 0; i < p.n_workers; i++) sum += p.worker_txs[i];
  cr_assert_eq(p.n_workers, 2);
  cr_assert_eq(sum, 100, "the workers executed every transaction once");
  tb_free(&b);
  pc_memstate_destroy(m);
  pc_exec_destroy(e);
}

/* compute calls of `iters` BLAKE2b rounds (declared, no keys) by fresh
 * senders, every fifth replaced by an add on the counter (a chain) */
static void costly_block(tblock_t *b, uint32_t base, uint32_t n, uint32_t iters) {
  tb_reset(b);
  uint8_t d[8], a[36];
  pc_store_le64(d, 1);
  for (uint32_t i = 0; i < n; i++) {
    if (i % 5 == 4) {
      tb_write(b, tb_add(b, base + i, 0, "counter", "add", d, 8), "n", 1);
      continue;
    }
    pc_store_le32(a, iters);
    memset(a + 4, (int)(base + i), 32);
    pc_tx_t *t = tb_add(b, base + i, 0, "compute", "run", a, 36);
    t->declared = true;
    tb_rehash(t);
  }
}

/* The cost rule runs a block serially when the stream's transactions have
 * been cheap; a block whose first transactions prove far costlier is
 * rerun in parallel at once (nothing of its serial start is kept), and the
 * result still equals serial execution byte for byte. The costs differ
 * ~100-fold and are measured in thread CPU time, not wall time, so the
 * load of a shared machine does not move them across the threshold. */
static void costly_after_cheap(pc_sched_t sched) {
  pc_exec_config_t cfg = {.sched = sched, .n_workers = 2, .min_parallel_tx_ns = 50000};
  pc_exec_config_t scfg = {.sched = PC_SCHED_SERIAL, .n_workers = 1};
  pc_executor_t *e = pc_exec_create(&cfg), *es = pc_exec_create(&scfg);
  cr_assert(e && es);
  pc_memstate_t *m = pc_memstate_create(), *ms = pc_memstate_create();
  pc_exec_state_t st = pc_memstate_iface(m), sst = pc_memstate_iface(ms);
  tblock_t b;
  tb_init(&b, 128);
  static uint8_t rb[2][1 << 16];
  uint64_t h = 1;
  uint32_t base = 1000;
  bool cheap_seen = false;
  /* up to 6 cheap blocks: at least one must run serially by the cost rule
   * (empty compute calls cost a few µs; the threshold is 50 µs) */
  for (int k = 0; k < 9; k++) {
    bool cheap_phase = k < 6 && !cheap_seen;
    if (k < 6 && cheap_seen) continue;
    if (cheap_phase)
      counter_block(&b, base, 100, false);
    else
      costly_block(&b, base, 40, 8000); /* ~1 ms each */
    base += b.n;
    pc_exec_block_t blk = {.height = h++, .txs = b.tx, .n_txs = b.n};
    pc_exec_result_t r, rs;
    cr_assert_eq(pc_exec_run(e, &st, &blk, &r), 0);
    pc_exec_profile_t p;
    pc_exec_last_profile(e, &p);
    cr_assert_eq(pc_exec_run(es, &sst, &blk, &rs), 0);
    size_t l0 = receipts_bytes(&r, rb[0], sizeof rb[0]), l1 = receipts_bytes(&rs, rb[1], sizeof rb[1]);
    cr_assert(l0 == l1 && memcmp(rb[0], rb[1], l0) == 0, "block %llu: receipts differ from serial",
              (unsigned long long)blk.height);
    cr_assert_eq(pc_exec_commit(e, &st, &r), 0);
    cr_assert_eq(pc_exec_commit(es, &sst, &rs), 0);
    cr_assert(pc_hash_equal(&r.exec_root, &rs.exec_root), "block %llu: execution root differs from serial",
              (unsigned long long)blk.height);
    for (size_t i = 0; i < r.n_receipts; i++)
      cr_assert_eq(r.receipts[i].status, PC_TX_OK, "block %llu tx %zu: %s", (unsigned long long)blk.height, i,
                   pc_tx_status_name(r.receipts[i].status));
    if (cheap_phase) {
      cheap_seen = p.why_serial == PC_EXEC_WHY_CHEAP;
      cr_assert(!p.probed);
      if (k == 5) cr_assert(cheap_seen, "no cheap block ran serially by the cost rule");
    } else if (k == 6) {
      cr_assert_eq(r.ran, sched, "%s: the first costly block ran %s (why %s)", pc_sched_name(sched),
                   pc_sched_name(r.ran), pc_exec_why_name(p.why_serial));
      cr_assert(p.probed, "it ran in parallel after its probe");
    } else {
      cr_assert(!p.probed, "the cost estimate moved: no probe needed");
      /* optimistic may cool down after re-executing the counter chain */
      if (sched != PC_SCHED_OPTIMISTIC || p.why_serial != PC_EXEC_WHY_COOLDOWN)
        cr_assert_eq(r.ran, sched, "%s: ran %s (why %s)", pc_sched_name(sched), pc_sched_name(r.ran),
                     pc_exec_why_name(p.why_serial));
    }
  }
  tb_free(&b);
  pc_memstate_destroy(m);
  pc_memstate_destroy(ms);
  pc_exec_destroy(e);
  pc_exec_destroy(es);
}

Test(executor_pool, a_costly_block_after_a_cheap_stream_is_rerun_in_parallel_with_the_serial_result) {
  costly_after_cheap(PC_SCHED_DAG);
  costly_after_cheap(PC_SCHED_TASKSET);
  costly_after_cheap(PC_SCHED_OPTIMISTIC);
}
