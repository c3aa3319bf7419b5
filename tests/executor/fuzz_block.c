/* fuzz_block — a block of transactions decoded from the input
 * (u16 length ‖ encoded transaction, repeated; undecodable ones are
 * skipped) runs under the serial reference and under the DAG/optimistic
 * schedulers with two workers; any difference in the execution root is a
 * bug (abort). Contract arguments, declared keys, nonces and methods all
 * come from the input, so this also fuzzes the built-in contracts' argument
 * parsers and the access checks. */
#include <stdlib.h>
#include <string.h>

#include "executor/executor.h"

#define MAXTX 32

static pc_executor_t *g_ser, *g_par;

/* the workers' scratch lives in hwloc-bound mappings LeakSanitizer does not
 * scan: stop the executors before it looks */
static void stop_all(void) {
  pc_exec_destroy(g_ser);
  pc_exec_destroy(g_par);
}

static void fund(pc_memstate_t *m, const pc_tx_t *txs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint8_t k[PC_TOKEN_BALANCE_KEY_LEN], sk[64], v[8];
    pc_token_balance_key(k, txs[i].sender);
    int kl = pc_exec_state_key(sk, sizeof sk, "token", k, sizeof k);
    pc_store_le64(v, 1000);
    pc_memstate_put(m, sk, (size_t)kl, v, 8);
  }
}

static void run(pc_executor_t *e, const pc_tx_t *txs, size_t n, pc_hash_t *root) {
  pc_memstate_t *m = pc_memstate_create();
  if (!m) abort();
  fund(m, txs, n);
  pc_exec_state_t st = pc_memstate_iface(m);
  for (uint64_t h = 1; h <= 2; h++) { /* twice: the second block replays the first */
    pc_exec_block_t blk = {.height = h, .time_us = h, .txs = txs, .n_txs = n};
    pc_exec_result_t r;
    if (pc_exec_run(e, &st, &blk, &r) != 0 || pc_exec_commit(e, &st, &r) != 0) abort();
    *root = r.exec_root;
  }
  pc_memstate_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g_ser) {
    pc_log_set_level(PC_LOG_ERROR);
    pc_exec_config_t s = {.sched = PC_SCHED_SERIAL, .n_workers = 1, .tx_budget = 50000};
    pc_exec_config_t p = {.sched = PC_SCHED_AUTO, .n_workers = 2, .tx_budget = 50000, .no_fallback = true};
    g_ser = pc_exec_create(&s);
    g_par = pc_exec_create(&p);
    if (!g_ser || !g_par) abort();
    atexit(stop_all);
  }
  static pc_tx_t txs[MAXTX];
  size_t n = 0, pos = 0;
  while (pos + 2 <= size && n < MAXTX) {
    size_t len = pc_load_le16(data + pos);
    pos += 2;
    if (len > size - pos) break;
    if (pc_tx_decode(data + pos, len, &txs[n]) == 0) n++;
    pos += len;
  }
  pc_hash_t a, b;
  run(g_ser, txs, n, &a);
  run(g_par, txs, n, &b);
  if (!pc_hash_equal(&a, &b)) abort();
  return 0;
}
