/* test_storage.c — the executor on the real state (storage/'s RCU trie):
 * a pc_exec_state_t bound to pc_state_t, and the property that every
 * scheduler, run on storage, gives the serial result; and that the
 * receipts are the same as on the in-memory state. The binding here is the
 * one the node needs (get on the pinned base version, apply = batch +
 * commit + publish). */
#include <criterion/criterion.h>
#include <urcu.h>

#include "storage/storage.h"
#define PROP_CHECK(cond, ...) cr_assert(cond, __VA_ARGS__)
#define PROP_LOG(...) cr_log_info(__VA_ARGS__)
#include "tests/executor/sched_property.h"

typedef struct {
  pc_executor_t *e;
  pc_exec_storage_t b;
  pc_exec_state_t st;
} srun_t;

static void srun_open(srun_t *r, pc_sched_t s, unsigned workers) {
  pc_exec_config_t cfg = {.sched = s, .n_workers = workers, .tx_budget = BUDGET, .no_fallback = true};
  r->e = pc_exec_create(&cfg);
  cr_assert_not_null(r->e);
  r->b.state = pc_state_new(4);
  cr_assert_not_null(r->b.state);
  r->st = pc_exec_state_storage(&r->b);
  /* genesis: the same balances as runner_open gives the in-memory state */
  pc_state_batch_t *g = pc_state_batch_new(r->b.state);
  for (uint32_t i = 0; i < NACC; i++) {
    uint8_t acct[32], k[PC_TOKEN_BALANCE_KEY_LEN], sk[64], v[8];
    tb_acct(acct, i);
    pc_token_balance_key(k, acct);
    int n = pc_exec_state_key(sk, sizeof sk, "token", k, sizeof k);
    pc_store_le64(v, 5000);
    cr_assert_eq(pc_state_batch_put(g, sk, (size_t)n, v, 8), 0);
  }
  int64_t ver = pc_state_commit(g, NULL);
  cr_assert_gt(ver, 0);
  cr_assert_eq(pc_state_publish(r->b.state, (uint64_t)ver), 0);
}

static void srun_block(srun_t *r, const pc_exec_block_t *blk, pc_exec_result_t *out) {
  rcu_read_lock();
  r->b.base = pc_state_current(r->b.state);
  cr_assert_eq(pc_exec_run(r->e, &r->st, blk, out), 0);
  rcu_read_unlock();
  cr_assert_eq(pc_exec_commit(r->e, &r->st, out), 0);
}

static void srun_close(srun_t *r) {
  pc_exec_destroy(r->e);
  pc_state_free(r->b.state);
}

Test(executor_storage, schedulers_on_storage_equal_serial_and_memstate_receipts) {
  rcu_register_thread();
  static const pc_sched_t sch[] = {PC_SCHED_SERIAL, PC_SCHED_TASKSET, PC_SCHED_DAG, PC_SCHED_OPTIMISTIC,
                                   PC_SCHED_AUTO};
  srun_t run[PC_ARRAY_LEN(sch)];
  for (size_t k = 0; k < PC_ARRAY_LEN(sch); k++) srun_open(&run[k], sch[k], k == 0 ? 1 : 3);
  runner_t mem;
  runner_open(&mem, PC_SCHED_SERIAL, 1, false);
  uint64_t seed = pc_test_seed(0x5707), rng = seed;
  uint64_t next[NACC] = {0};
  tblock_t b;
  tb_init(&b, MAXTX + 1);
  unsigned blocks = pc_test_iters(300);
  for (unsigned h = 1; h <= blocks; h++) {
    gen_block(&b, &rng, next, (int)(h % 3)); /* none, all, mixed declarations in turn */
    pc_exec_block_t blk = {.height = h, .time_us = h, .txs = b.tx, .n_txs = b.n};
    pc_exec_result_t mr, ref, got;
    cr_assert_eq(pc_exec_run(mem.e, &mem.st, &blk, &mr), 0);
    cr_assert_eq(pc_exec_commit(mem.e, &mem.st, &mr), 0);
    srun_block(&run[0], &blk, &ref);
    cr_assert(pc_hash_equal(&ref.receipts_root, &mr.receipts_root),
              "seed %llu block %u: receipts on storage differ from the in-memory state",
              (unsigned long long)seed, h);
    cr_assert_eq(ref.batch.n, mr.batch.n);
    for (size_t k = 1; k < PC_ARRAY_LEN(sch); k++) {
      srun_block(&run[k], &blk, &got);
      cr_assert(pc_hash_equal(&got.exec_root, &ref.exec_root),
                "seed %llu block %u: %s on storage: execution root differs from serial",
                (unsigned long long)seed, h, pc_sched_name(sch[k]));
    }
    for (size_t i = 0; i < mr.n_receipts; i++)
      if (mr.receipts[i].status == PC_TX_OK) next[pc_load_le32(b.tx[i].sender)] = b.tx[i].nonce + 1;
  }
  tb_free(&b);
  runner_close(&mem);
  for (size_t k = 0; k < PC_ARRAY_LEN(sch); k++) srun_close(&run[k]);
  rcu_unregister_thread();
}
