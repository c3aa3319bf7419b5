/* test_contracts.c — built-in contracts, statuses, "changes nothing",
 * never twice, receipts. Error cases run under every scheduler. */
#include <criterion/criterion.h>

#include "tests/executor/exec_testutil.h"

typedef struct {
  pc_executor_t *e;
  pc_memstate_t *m;
  pc_exec_state_t st;
  tblock_t b;
  pc_exec_result_t r;
} fx_t;

static void fx_open(fx_t *f, pc_sched_t s, unsigned workers, uint64_t budget) {
  memset(f, 0, sizeof *f);
  pc_exec_config_t cfg = {.sched = s, .n_workers = workers, .tx_budget = budget, .no_fallback = true};
  f->e = pc_exec_create(&cfg);
  cr_assert_not_null(f->e);
  f->m = pc_memstate_create();
  cr_assert_not_null(f->m);
  f->st = pc_memstate_iface(f->m);
  tb_init(&f->b, 256);
}

static void fx_close(fx_t *f) {
  pc_exec_destroy(f->e);
  pc_memstate_destroy(f->m);
  tb_free(&f->b);
}

/* runs and commits the block under construction, then empties it */
static void fx_run(fx_t *f, uint64_t height) {
  pc_exec_block_t blk = {.height = height, .time_us = 1000 * height, .txs = f->b.tx, .n_txs = f->b.n};
  cr_assert_eq(pc_exec_run(f->e, &f->st, &blk, &f->r), 0);
  cr_assert_eq(pc_exec_commit(f->e, &f->st, &f->r), 0);
}

static const pc_sched_t all_scheds[] = {PC_SCHED_SERIAL, PC_SCHED_TASKSET, PC_SCHED_DAG, PC_SCHED_OPTIMISTIC};

/* Runs `n` setup blocks made by setup(), then one block made by probe(),
 * under every scheduler; asserts the probe's transaction `idx` got
 * `status` and that the probe changed nothing in the state. */
typedef void (*build_fn)(tblock_t *b, int step);
static void expect_no_change(build_fn build, int setup_blocks, size_t idx, int status) {
  for (size_t s = 0; s < PC_ARRAY_LEN(all_scheds); s++) {
    fx_t f;
    fx_open(&f, all_scheds[s], 2, 100000);
    ms_fund(f.m, 1, 1000);
    ms_fund(f.m, 2, 1000);
    for (int k = 0; k < setup_blocks; k++) {
      tb_reset(&f.b);
      build(&f.b, k);
      fx_run(&f, (uint64_t)k + 1);
    }
    pc_hash_t before;
    pc_memstate_root(f.m, &before);
    tb_reset(&f.b);
    build(&f.b, setup_blocks);
    fx_run(&f, (uint64_t)setup_blocks + 1);
    cr_assert_eq(f.r.receipts[idx].status, status, "%s: status %s, expected %s", pc_sched_name(all_scheds[s]),
                 pc_tx_status_name(f.r.receipts[idx].status), pc_tx_status_name(status));
    cr_assert_eq(f.r.batch.n, 0, "%s: the failing block wrote %zu keys", pc_sched_name(all_scheds[s]),
                 f.r.batch.n);
    pc_hash_t after;
    pc_memstate_root(f.m, &after);
    cr_assert(pc_hash_equal(&before, &after), "%s: state changed", pc_sched_name(all_scheds[s]));
    cr_assert(pc_hash_equal(&after, &f.r.state_root));
    fx_close(&f);
  }
}

/* ---------------------------------------------------------------- token */

Test(executor_contracts, token_init_mint_transfer_balance) {
  fx_t f;
  fx_open(&f, PC_SCHED_SERIAL, 1, 0);
  uint8_t a[40];
  tb_add(&f.b, 100, 0, "token", "init", NULL, 0);
  tb_add(&f.b, 100, 1, "token", "mint", a, arg_acct_amount(a, 1, 1000));
  tb_transfer(&f.b, 1, 0, 2, 300, false);
  uint8_t who[32];
  tb_acct(who, 2);
  tb_add(&f.b, 3, 0, "token", "balance", who, 32);
  fx_run(&f, 1);
  for (int i = 0; i < 4; i++)
    cr_assert_eq(f.r.receipts[i].status, PC_TX_OK, "tx %d: %s", i, pc_tx_status_name(f.r.receipts[i].status));
  cr_assert_eq(f.r.receipts[3].output.len, 8);
  cr_assert_eq(pc_load_le64(f.r.receipts[3].output.p), 300);
  cr_assert_eq(f.r.receipts[2].n_events, 1);
  cr_assert_eq(f.r.receipts[2].events[0].len, 80);
  cr_assert_eq(memcmp(f.r.receipts[2].events[0].p, "transfer", 8), 0);
  cr_assert_eq(ms_balance(f.m, 1), 700);
  cr_assert_eq(ms_balance(f.m, 2), 300);
  cr_assert_gt(f.r.receipts[2].budget_used, PC_COST_TX_BASE);
  fx_close(&f);
}

static void build_mint_non_admin(tblock_t *b, int step) {
  uint8_t a[40];
  if (step == 0)
    tb_add(b, 100, 0, "token", "init", NULL, 0);
  else
    tb_add(b, 1, 0, "token", "mint", a, arg_acct_amount(a, 1, 5));
}
Test(executor_contracts, token_mint_by_non_admin_fails_and_changes_nothing) {
  expect_no_change(build_mint_non_admin, 1, 0, PC_TX_FAILED);
}

static void build_overdraw(tblock_t *b, int step) {
  (void)step;
  tb_transfer(b, 1, 0, 2, 1001, step & 1);
}
Test(executor_contracts, token_overdraw_fails_and_changes_nothing) {
  expect_no_change(build_overdraw, 0, 0, PC_TX_FAILED);
}

/* ------------------------------------------------------------------- kv */

static size_t kv_put_args(uint8_t *out, const char *name, const void *v, size_t vl) {
  size_t nl = strlen(name);
  pc_store_le16(out, (uint16_t)nl);
  memcpy(out + 2, name, nl);
  memcpy(out + 2 + nl, v, vl);
  return 2 + nl + vl;
}

Test(executor_contracts, kv_owner_acl) {
  fx_t f;
  fx_open(&f, PC_SCHED_SERIAL, 1, 0);
  uint8_t a[64];
  tb_add(&f.b, 1, 0, "kv", "put", a, kv_put_args(a, "x", "one", 3));
  tb_add(&f.b, 2, 0, "kv", "put", a, kv_put_args(a, "x", "two", 3)); /* not the owner */
  tb_add(&f.b, 2, 0, "kv", "del", "x", 1);                           /* not the owner */
  tb_add(&f.b, 1, 1, "kv", "put", a, kv_put_args(a, "x", "uno", 3)); /* owner replaces */
  tb_add(&f.b, 3, 0, "kv", "get", "x", 1);
  fx_run(&f, 1);
  cr_assert_eq(f.r.receipts[0].status, PC_TX_OK);
  cr_assert_eq(f.r.receipts[1].status, PC_TX_FAILED);
  cr_assert_eq(f.r.receipts[2].status, PC_TX_FAILED);
  cr_assert_eq(f.r.receipts[3].status, PC_TX_OK);
  cr_assert_eq(f.r.receipts[4].status, PC_TX_OK);
  cr_assert_eq(f.r.receipts[4].output.len, 3);
  cr_assert_eq(memcmp(f.r.receipts[4].output.p, "uno", 3), 0);
  tb_reset(&f.b);
  tb_add(&f.b, 1, 2, "kv", "del", "x", 1);
  tb_add(&f.b, 3, 1, "kv", "get", "x", 1);
  fx_run(&f, 2);
  cr_assert_eq(f.r.receipts[0].status, PC_TX_OK);
  cr_assert_eq(f.r.receipts[1].status, PC_TX_FAILED);
  fx_close(&f);
}

/* -------------------------------------------------------- counter, compute */

Test(executor_contracts, counter_add_outputs_the_new_value) {
  fx_t f;
  fx_open(&f, PC_SCHED_SERIAL, 1, 0);
  uint8_t d[8];
  for (uint32_t i = 0; i < 5; i++) {
    pc_store_le64(d, i + 1);
    tb_add(&f.b, i, 0, "counter", "add", d, 8);
  }
  fx_run(&f, 1);
  cr_assert_eq(pc_load_le64(f.r.receipts[4].output.p), 15);
  fx_close(&f);
}

Test(executor_contracts, compute_is_iterated_blake2b) {
  fx_t f;
  fx_open(&f, PC_SCHED_SERIAL, 1, 0);
  uint8_t a[36] = {0};
  pc_store_le32(a, 10);
  memset(a + 4, 7, 32);
  tb_add(&f.b, 1, 0, "compute", "run", a, 36);
  fx_run(&f, 1);
  pc_hash_t h;
  memset(h.b, 7, 32);
  for (int i = 0; i < 10; i++) pc_hash_blake2b(&h, h.b, 32);
  cr_assert_eq(f.r.receipts[0].status, PC_TX_OK);
  cr_assert_eq(memcmp(f.r.receipts[0].output.p, h.b, 32), 0);
  cr_assert_eq(f.r.receipts[0].budget_used, PC_COST_TX_BASE + 36 + 10 + 32);
  fx_close(&f);
}

/* ------------------------------------------------------- error statuses */

static void build_budget(tblock_t *b, int step) {
  (void)step;
  uint8_t a[36] = {0};
  pc_store_le32(a, 200000); /* > the 100000 budget */
  tb_add(b, 1, 0, "compute", "run", a, 36);
}
Test(executor_contracts, budget_exhaustion_changes_nothing) {
  expect_no_change(build_budget, 0, 0, PC_TX_OUT_OF_BUDGET);
}

Test(executor_contracts, budget_exhaustion_reports_the_whole_budget) {
  fx_t f;
  fx_open(&f, PC_SCHED_SERIAL, 1, 5000);
  build_budget(&f.b, 0);
  fx_run(&f, 1);
  cr_assert_eq(f.r.receipts[0].status, PC_TX_OUT_OF_BUDGET);
  cr_assert_eq(f.r.receipts[0].budget_used, 5000);
  cr_assert_eq(f.r.receipts[0].output.len, 0);
  fx_close(&f);
}

static void build_undeclared_write(tblock_t *b, int step) {
  (void)step;
  uint8_t a[40], k[PC_TOKEN_BALANCE_KEY_LEN], acct[32];
  pc_tx_t *t = tb_add(b, 1, 0, "token", "transfer", a, arg_acct_amount(a, 2, 10));
  tb_acct(acct, 1);
  pc_token_balance_key(k, acct);
  tb_write(b, t, k, sizeof k); /* the receiver's balance is not declared */
}
Test(executor_contracts, access_violation_changes_nothing) {
  expect_no_change(build_undeclared_write, 0, 0, PC_TX_ACCESS_VIOLATION);
}

static void build_write_to_read_only(tblock_t *b, int step) {
  (void)step;
  uint8_t d[8];
  pc_store_le64(d, 1);
  pc_tx_t *t = tb_add(b, 1, 0, "counter", "add", d, 8);
  tb_read(b, t, "n", 1); /* declared read only; add writes */
}
Test(executor_contracts, write_to_a_read_only_key_is_an_access_violation) {
  expect_no_change(build_write_to_read_only, 0, 0, PC_TX_ACCESS_VIOLATION);
}

static void build_unknown_contract(tblock_t *b, int step) {
  (void)step;
  tb_add(b, 1, 0, "nosuch", "run", NULL, 0);
}
Test(executor_contracts, unknown_contract_changes_nothing) {
  expect_no_change(build_unknown_contract, 0, 0, PC_TX_UNKNOWN_CONTRACT);
}

static void build_unknown_method(tblock_t *b, int step) {
  (void)step;
  tb_add(b, 1, 0, "token", "steal", NULL, 0);
}
Test(executor_contracts, unknown_method_changes_nothing) {
  expect_no_change(build_unknown_method, 0, 0, PC_TX_UNKNOWN_METHOD);
}

static void build_bad_args(tblock_t *b, int step) {
  (void)step;
  uint8_t a[40] = {0};
  tb_add(b, 1, 0, "token", "transfer", a, 39);
}
Test(executor_contracts, malformed_arguments_change_nothing) {
  expect_no_change(build_bad_args, 0, 0, PC_TX_BAD_ARGS);
}

static void build_big_output(tblock_t *b, int step) {
  static uint8_t a[6000], v[5000];
  if (step == 0) {
    tb_add(b, 1, 0, "kv", "put", a, kv_put_args(a, "big", v, sizeof v));
  } else {
    tb_add(b, 2, 0, "kv", "get", "big", 3); /* 5000-byte output > PC_EXEC_OUTPUT_MAX */
  }
}
Test(executor_contracts, output_over_its_limit_changes_nothing) {
  expect_no_change(build_big_output, 1, 0, PC_TX_LIMIT);
}

/* --------------------------------------------------------- never twice */

static void build_twice(tblock_t *b, int step) {
  (void)step;
  tb_transfer(b, 1, 0, 2, 10, false); /* the very same transaction in blocks 1 and 2 */
}
Test(executor_contracts, same_tx_in_consecutive_blocks_executes_once) {
  expect_no_change(build_twice, 1, 0, PC_TX_BAD_NONCE);
}

static void build_old_nonce(tblock_t *b, int step) {
  if (step < 2)
    tb_transfer(b, 1, (uint64_t)step, 2, 10, false);
  else
    tb_transfer(b, 1, 0, 2, 11, false); /* a new transaction with a used nonce */
}
Test(executor_contracts, old_nonce_executes_nothing) {
  expect_no_change(build_old_nonce, 2, 0, PC_TX_BAD_NONCE);
}

static void build_gap(tblock_t *b, int step) {
  (void)step;
  tb_transfer(b, 1, 5, 2, 10, false);
}
Test(executor_contracts, nonce_gap_executes_nothing) { expect_no_change(build_gap, 0, 0, PC_TX_BAD_NONCE); }

Test(executor_contracts, duplicate_in_one_block_executes_once) {
  for (size_t s = 0; s < PC_ARRAY_LEN(all_scheds); s++) {
    fx_t f;
    fx_open(&f, all_scheds[s], 2, 0);
    ms_fund(f.m, 1, 1000);
    for (int k = 0; k < 3; k++) tb_transfer(&f.b, 1, 0, 2, 10, true);
    fx_run(&f, 1);
    cr_assert_eq(f.r.receipts[0].status, PC_TX_OK);
    cr_assert_eq(f.r.receipts[1].status, PC_TX_DUPLICATE);
    cr_assert_eq(f.r.receipts[2].status, PC_TX_DUPLICATE);
    cr_assert_eq(ms_balance(f.m, 2), 10);
    fx_close(&f);
  }
}

static void build_expired2(tblock_t *b, int step) {
  (void)step;
  pc_tx_t *t = tb_transfer(b, 1, 0, 2, 10, false);
  t->expiry_height = 1; /* valid up to height 1 */
  tb_rehash(t);
}
Test(executor_contracts, expired_tx_changes_nothing) {
  for (size_t s = 0; s < PC_ARRAY_LEN(all_scheds); s++) {
    fx_t f;
    fx_open(&f, all_scheds[s], 2, 0);
    ms_fund(f.m, 1, 1000);
    pc_hash_t before;
    pc_memstate_root(f.m, &before);
    build_expired2(&f.b, 0);
    fx_run(&f, 2); /* height 2 > expiry 1 */
    cr_assert_eq(f.r.receipts[0].status, PC_TX_EXPIRED);
    cr_assert_eq(f.r.batch.n, 0);
    cr_assert(pc_hash_equal(&before, &f.r.state_root));
    tb_reset(&f.b);
    build_expired2(&f.b, 0);
    fx_run(&f, 1); /* at its expiry height it is still valid */
    cr_assert_eq(f.r.receipts[0].status, PC_TX_OK);
    fx_close(&f);
  }
}

Test(executor_contracts, a_failed_tx_does_not_consume_its_nonce) {
  fx_t f;
  fx_open(&f, PC_SCHED_SERIAL, 1, 0);
  ms_fund(f.m, 1, 100);
  tb_transfer(&f.b, 1, 0, 2, 500, false); /* fails: short balance */
  tb_transfer(&f.b, 1, 0, 2, 50, false);  /* same nonce, now valid */
  fx_run(&f, 1);
  cr_assert_eq(f.r.receipts[0].status, PC_TX_FAILED);
  cr_assert_eq(f.r.receipts[1].status, PC_TX_OK);
  cr_assert_eq(ms_balance(f.m, 2), 50);
  fx_close(&f);
}

/* ------------------------------------------------------- receipts, roots */

Test(executor_contracts, exec_root_is_hash_of_state_and_receipts_roots) {
  fx_t f;
  fx_open(&f, PC_SCHED_SERIAL, 1, 0);
  ms_fund(f.m, 1, 100);
  tb_transfer(&f.b, 1, 0, 2, 5, false);
  fx_run(&f, 1);
  pc_hash_t sr, rr, x;
  pc_memstate_root(f.m, &sr);
  cr_assert(pc_hash_equal(&sr, &f.r.state_root));
  cr_assert_eq(pc_receipts_root(f.r.receipts, f.r.n_receipts, &rr), 0);
  cr_assert(pc_hash_equal(&rr, &f.r.receipts_root));
  pc_hash_pair(&x, "parachain/exec-root", &sr, &rr);
  cr_assert(pc_hash_equal(&x, &f.r.exec_root));
  fx_close(&f);
}

Test(executor_contracts, empty_block_has_the_empty_receipts_root) {
  fx_t f;
  fx_open(&f, PC_SCHED_DAG, 2, 0);
  fx_run(&f, 1);
  pc_hash_t e;
  pc_hash_tagged(&e, "parachain/receipts-empty", "", 0);
  cr_assert(pc_hash_equal(&e, &f.r.receipts_root));
  cr_assert_eq(f.r.n_receipts, 0);
  fx_close(&f);
}

Test(executor_contracts, receipt_round_trip) {
  pc_bytes_t ev[2] = {{(const uint8_t *)"abc", 3}, {(const uint8_t *)"", 0}};
  pc_receipt_t r = {.status = PC_TX_OK,
                    .budget_used = 77,
                    .output = {(const uint8_t *)"out", 3},
                    .n_events = 2,
                    .events = ev};
  uint8_t buf[256];
  int n = pc_receipt_encode(&r, buf, sizeof buf);
  cr_assert_gt(n, 0);
  pc_receipt_t d;
  pc_bytes_t dev[PC_EXEC_EVENTS_MAX];
  cr_assert_eq(pc_receipt_decode(buf, (size_t)n, &d, dev), 0);
  cr_assert_eq(d.budget_used, 77);
  cr_assert_eq(d.n_events, 2);
  cr_assert_eq(memcmp(d.events[0].p, "abc", 3), 0);
  uint8_t buf2[256];
  cr_assert_eq(pc_receipt_encode(&d, buf2, sizeof buf2), n);
  cr_assert_eq(memcmp(buf, buf2, (size_t)n), 0);
}

Test(executor_contracts, receipt_decode_rejects_malformed) {
  pc_receipt_t r = {.status = PC_TX_FAILED, .budget_used = 1, .output = {(const uint8_t *)"x", 1}};
  uint8_t buf[64];
  int n = pc_receipt_encode(&r, buf, sizeof buf);
  pc_receipt_t d;
  pc_bytes_t dev[PC_EXEC_EVENTS_MAX];
  uint64_t before = pc_reject_count(PC_DEC_CONTRACT, 1);
  cr_assert_eq(pc_receipt_decode(buf, (size_t)n - 1, &d, dev), PC_ERR_TRUNCATED);
  cr_assert_eq(pc_receipt_decode(buf, (size_t)n + 1, &d, dev), PC_ERR_TRAILING);
  buf[0] = PC_TX_STATUS_COUNT;
  cr_assert_eq(pc_receipt_decode(buf, (size_t)n, &d, dev), PC_ERR_RANGE);
  buf[0] = 0;
  pc_store_le16(buf + n - 2, PC_EXEC_EVENTS_MAX + 1);
  cr_assert_eq(pc_receipt_decode(buf, (size_t)n, &d, dev), PC_ERR_TOO_LARGE);
  cr_assert_eq(pc_reject_count(PC_DEC_CONTRACT, 1), before + 4);
}

Test(executor_contracts, memstate_root_ignores_insertion_order) {
  pc_memstate_t *a = pc_memstate_create(), *b = pc_memstate_create();
  for (int i = 0; i < 100; i++) {
    uint8_t k[2] = {(uint8_t)i, 1}, v = (uint8_t)(i * 3);
    pc_memstate_put(a, k, 2, &v, 1);
  }
  for (int i = 99; i >= 0; i--) {
    uint8_t k[2] = {(uint8_t)i, 1}, v = (uint8_t)(i * 3);
    pc_memstate_put(b, k, 2, &v, 1);
  }
  pc_hash_t ra, rb;
  pc_memstate_root(a, &ra);
  pc_memstate_root(b, &rb);
  cr_assert(pc_hash_equal(&ra, &rb));
  uint8_t k[2] = {5, 1}, v = 0;
  pc_memstate_put(b, k, 2, &v, 1);
  pc_memstate_root(b, &rb);
  cr_assert_not(pc_hash_equal(&ra, &rb));
  pc_memstate_destroy(a);
  pc_memstate_destroy(b);
}

Test(executor_contracts, state_key_keeps_contracts_apart) {
  uint8_t a[64], b[64];
  int na = pc_exec_state_key(a, sizeof a, "ab", "c", 1);
  int nb = pc_exec_state_key(b, sizeof b, "a", "bc", 2);
  cr_assert_eq(na, nb);
  cr_assert_neq(memcmp(a, b, (size_t)na), 0);
  cr_assert_eq(pc_exec_state_key(a, sizeof a, "", "c", 1), PC_ERR_INVALID);
  cr_assert_eq(pc_exec_state_key(a, 3, "ab", "c", 1), PC_ERR_OVERFLOW);
}

/* ------------------------------------------------------- state failures */

static int failing_get(void *self, const uint8_t *key, size_t klen, const uint8_t **val, size_t *vlen) {
  (void)self, (void)key, (void)klen, (void)val, (void)vlen;
  return PC_ERR_IO;
}

Test(executor_contracts, a_failing_state_read_fails_the_block_under_every_scheduler) {
  for (size_t s = 0; s < PC_ARRAY_LEN(all_scheds); s++) {
    fx_t f;
    fx_open(&f, all_scheds[s], 2, 0);
    pc_exec_state_t bad = {.self = NULL, .get = failing_get, .apply = f.st.apply};
    bool decl = all_scheds[s] == PC_SCHED_TASKSET || all_scheds[s] == PC_SCHED_DAG;
    for (uint32_t i = 0; i < 40; i++) tb_transfer(&f.b, i, 0, i + 1, 1, decl || (i & 1));
    pc_exec_block_t blk = {.height = 1, .txs = f.b.tx, .n_txs = f.b.n};
    cr_assert_eq(pc_exec_run(f.e, &bad, &blk, &f.r), PC_ERR_IO, "%s", pc_sched_name(all_scheds[s]));
    /* the executor is still usable afterwards */
    fx_run(&f, 1);
    cr_assert_eq(f.r.receipts[0].status, PC_TX_FAILED); /* no balance in the fresh state */
    fx_close(&f);
  }
}

/* The block clock (executor.h; DESIGN.md: block time = max(timestamp,
 * previous block time + 1 µs)): whatever timestamps the rotating proposers
 * wrote, the time contracts read never goes backwards, and a block that
 * applies nothing leaves the clock (and the state) as it was. */
static int m_now(pc_contract_ctx_t *c, const uint8_t *args, size_t len) {
  (void)args;
  (void)len;
  uint8_t t[8];
  pc_store_le64(t, c->time_us);
  return c->host->output(c, t, sizeof t) == 0 ? PC_CONTRACT_OK : PC_CONTRACT_FAIL;
}
static const pc_contract_method_t clock_methods[] = {{"now", m_now}};
static const pc_contract_def_t clock_def = {PC_CONTRACT_ABI_VERSION, "clock", 1, clock_methods};

/* One block at (height, timestamp) with sender 1's call of clock.now at
 * nonce; returns the receipt status, and the time it read in *seen. */
static int clock_block(fx_t *f, uint64_t nonce, uint64_t height, uint64_t timestamp, uint64_t *seen) {
  tb_reset(&f->b);
  tb_add(&f->b, 1, nonce, "clock", "now", "", 0);
  pc_exec_block_t blk = {.height = height, .time_us = timestamp, .txs = f->b.tx, .n_txs = f->b.n};
  cr_assert_eq(pc_exec_run(f->e, &f->st, &blk, &f->r), 0);
  cr_assert_eq(pc_exec_commit(f->e, &f->st, &f->r), 0);
  if (f->r.receipts[0].status == PC_TX_OK) {
    cr_assert_eq(f->r.receipts[0].output.len, 8);
    *seen = pc_load_le64(f->r.receipts[0].output.p);
  }
  return f->r.receipts[0].status;
}

Test(executor_contracts, block_clock_never_goes_backwards) {
  for (size_t s = 0; s < PC_ARRAY_LEN(all_scheds); s++) {
    fx_t f;
    fx_open(&f, all_scheds[s], 2, 100000);
    cr_assert_eq(pc_exec_register(f.e, &clock_def), 0);
    uint64_t t = 0;
    cr_assert_eq(clock_block(&f, 0, 1, 5000, &t), PC_TX_OK);
    cr_assert_eq(t, 5000, "the first block's own timestamp");
    cr_assert_eq(clock_block(&f, 1, 2, 3000, &t), PC_TX_OK);
    cr_assert_eq(t, 5001, "an earlier timestamp: the previous block time + 1 µs");
    cr_assert_eq(clock_block(&f, 2, 3, 5001, &t), PC_TX_OK);
    cr_assert_eq(t, 5002, "an equal timestamp: + 1 µs as well");
    cr_assert_eq(clock_block(&f, 3, 4, 9000, &t), PC_TX_OK);
    cr_assert_eq(t, 9000, "a later timestamp: its own");
    pc_hash_t before, after;
    pc_memstate_root(f.m, &before);
    cr_assert_eq(clock_block(&f, 99, 5, 20000, &t), PC_TX_BAD_NONCE);
    pc_memstate_root(f.m, &after);
    cr_assert(pc_hash_equal(&before, &after), "a block that applies nothing changes nothing, the clock included");
    cr_assert_eq(clock_block(&f, 4, 6, 100, &t), PC_TX_OK);
    cr_assert_eq(t, 9001, "the clock is the last applied block's, not the skipped one's");
    fx_close(&f);
  }
}
