/* test_ledger.c — pc-ledger verify with a cluster file: a ledger built
 * here (real blocks, batches of signed transactions, certificates signed by
 * the cluster's keys, execution roots from the executor on the storage
 * state) passes; a certificate short of quorum, a broken chain link and a
 * wrong carried execution root are each reported with their height. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <urcu.h>

#include "common/block.h"
#include "common/config.h"
#include "executor/executor.h"
#include "storage/storage.h"
#include "tests/tools/run.h"

#define CHAIN 7
#define HEIGHTS 8

enum { GOOD = 0, SHORT_CERT = 1, WRONG_ROOT = 2, BROKEN_LINK = 3, FORGED = 4 };

static uint8_t sk[4][64];
static char dir[64], cluster_path[96], log_dir[96];

static void write_cluster(void) {
  pc_cluster_t c;
  pc_cluster_defaults(&c);
  c.chain_id = CHAIN;
  c.n = 4;
  c.f = 1;
  c.window = 1; /* D = 2 */
  for (unsigned i = 0; i < 4; i++) {
    uint8_t seed[32] = {(uint8_t)(i + 1)};
    crypto_sign_seed_keypair(c.replicas[i].pubkey, sk[i], seed);
    uint8_t ip[4] = {127, 0, 0, 1};
    memcpy(c.replicas[i].ip, ip, 4);
    c.replicas[i].port = (uint16_t)(9100 + i);
    c.replicas[i].id = (uint16_t)i;
  }
  static char text[16384], err[256];
  int n = pc_cluster_encode(&c, text, sizeof text, err, sizeof err);
  cr_assert_gt(n, 0, "%s", err);
  FILE *f = fopen(cluster_path, "w");
  cr_assert_not_null(f);
  fwrite(text, 1, (size_t)n, f);
  fclose(f);
}

static bool sig_ok(void *ctx, const pc_tx_t *tx) {
  (void)ctx;
  return pc_tx_verify(tx) == 0;
}

/* Writes HEIGHTS blocks into log_dir, with one defect chosen by `defect`. */
static void make_ledger(int defect) {
  snprintf(dir, sizeof dir, "/tmp/pc-ledger-test-%d", (int)getpid());
  snprintf(cluster_path, sizeof cluster_path, "%s/cluster.conf", dir);
  snprintf(log_dir, sizeof log_dir, "%s/log", dir);
  rm_tree(dir);
  cr_assert_eq(mkdir(dir, 0700), 0);
  write_cluster();
  pc_log_config_t lc = {.dir = log_dir};
  pc_log_t *log = pc_log_open(&lc, NULL);
  cr_assert_not_null(log);

  rcu_register_thread();
  pc_state_t *state = pc_state_new(2);
  pc_exec_config_t ec = {.sched = PC_SCHED_SERIAL, .n_workers = 1, .no_pin = true};
  pc_executor_t *exec = pc_exec_create(&ec);
  cr_assert(state && exec);
  pc_exec_storage_t bind = {.state = state};
  pc_exec_state_t st = pc_exec_state_storage(&bind);

  uint8_t usk[64], upk[32];
  uint8_t useed[32] = {42};
  crypto_sign_seed_keypair(upk, usk, useed);
  pc_hash_t roots[HEIGHTS + 1], prev = {{0}};
  uint64_t nonce = 0;
  for (uint64_t h = 1; h <= HEIGHTS; h++) {
    static uint8_t batch[4096], rec[8192], certbuf[4096];
    pc_writer_t w;
    pc_writer_init(&w, batch, sizeof batch);
    for (int k = 0; k < 2; k++) {
      uint8_t amount[8], enc[512];
      pc_store_le64(amount, h);
      pc_tx_t tx = {.chain_id = CHAIN, .nonce = nonce++, .args = amount, .args_len = 8};
      memcpy(tx.sender, upk, 32);
      snprintf(tx.contract, sizeof tx.contract, "counter");
      snprintf(tx.method, sizeof tx.method, "add");
      int n = pc_tx_encode_signed(enc, sizeof enc, &tx, usk);
      cr_assert_gt(n, 0);
      pc_batch_append(&w, enc, (size_t)n);
    }
    if (defect == FORGED && h == 3) { /* a proposer slips in a transaction nobody signed */
      uint8_t amount[8], enc[512];
      pc_store_le64(amount, 1000000);
      pc_tx_t tx = {.chain_id = CHAIN, .nonce = nonce, .args = amount, .args_len = 8};
      memcpy(tx.sender, upk, 32);
      snprintf(tx.contract, sizeof tx.contract, "counter");
      snprintf(tx.method, sizeof tx.method, "add");
      int n = pc_tx_encode_signed(enc, sizeof enc, &tx, usk);
      cr_assert_gt(n, 0);
      enc[n - 1] ^= 1; /* the signature no longer verifies */
      pc_batch_append(&w, enc, (size_t)n);
    }
    size_t blen = w.len;
    pc_block_t b = {.chain_id = CHAIN, .height = h, .creator = 0,
                    .timestamp_us = 1000 * h};
    if (h > 2) b.exec_root = roots[h - 2];
    if (defect == WRONG_ROOT && h == 6) b.exec_root.b[0] ^= 1;
    pc_batch_hash(&b.batch_hash, batch, blen);
    pc_writer_init(&w, rec, sizeof rec);
    pc_block_encode(&w, &b);
    pc_put_blob32(&w, batch, blen);
    cr_assert(!w.overflow);
    size_t rlen = w.len;
    pc_hash_t id, chain;
    pc_block_id(&b, &id);
    pc_chain_hash(&chain, &id, &prev);

    static pc_cert_t cert;
    pc_cert_init(&cert, PC_PROTO_SBFT, PC_CERT_COMMIT, CHAIN, h, 0, &id, 4);
    unsigned signers = defect == SHORT_CERT && h == 5 ? 2 : 3;
    for (uint16_t i = 0; i < signers; i++) {
      uint8_t sig[PC_SIG_SIZE];
      pc_vote_sign(sig, sk[i], CHAIN, PC_PROTO_SBFT, PC_PHASE_COMMIT, h, 0, &id);
      cr_assert_eq(pc_cert_add(&cert, i, sig), 0);
    }
    pc_writer_init(&w, certbuf, sizeof certbuf);
    pc_cert_encode(&w, &cert);
    pc_hash_t link = prev;
    if (defect == BROKEN_LINK && h == 4) link.b[3] ^= 0x80;
    pc_log_block_t lb = {.height = h, .prev_hash = link, .block_hash = chain, .exec_root = b.exec_root,
                         .cert = certbuf, .cert_len = w.len, .block = rec, .block_len = rlen};
    cr_assert_gt(pc_log_append_block(log, &lb), 0);
    prev = chain;

    pc_exec_result_t res;
    rcu_read_lock();
    bind.base = pc_state_current(state);
    cr_assert_eq(pc_exec_run_batch(exec, &st, h, b.timestamp_us, batch, blen, sig_ok, NULL, &res), 0);
    rcu_read_unlock();
    cr_assert_eq(pc_exec_commit(exec, &st, &res), 0);
    cr_assert_eq(res.n_receipts, 2, "the forged transaction is not executed");
    for (size_t i = 0; i < res.n_receipts; i++) cr_assert_eq(res.receipts[i].status, PC_TX_OK);
    roots[h] = res.exec_root;
  }
  cr_assert_eq(pc_log_sync(log), 0);
  pc_log_close(log);
  pc_exec_destroy(exec);
  pc_state_free(state);
  rcu_unregister_thread();
}

static void setup(void) { cr_assert_eq(pc_crypto_init(), 0); }
static void teardown(void) { rm_tree(dir); }
TestSuite(tools_ledger, .init = setup, .fini = teardown);

Test(tools_ledger, a_good_ledger_verifies_with_certificates_and_replay) {
  make_ledger(GOOD);
  run_t r;
  run_tool(&r, PC_LEDGER, "verify", "--data", dir, "--cluster", cluster_path, "--replay", NULL);
  cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
  cr_assert(strstr(r.out, "8 checked"), "%s", r.out);
  cr_assert(strstr(r.out, "8 heights re-executed, 6 carried roots"), "%s", r.out);
  cr_assert(strstr(r.out, "verified: 0 failures"), "%s", r.out);
}

Test(tools_ledger, a_certificate_short_of_quorum_is_reported_with_its_height) {
  make_ledger(SHORT_CERT);
  run_t r;
  run_tool(&r, PC_LEDGER, "verify", "--data", dir, "--cluster", cluster_path, NULL);
  cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
  cr_assert(strstr(r.out, "FAIL height 5: certificate rejected"), "%s", r.out);
  cr_assert(strstr(r.out, "FAILED: 1 failure"), "%s", r.out);
  /* without the cluster file only the records are checked: clean */
  run_tool(&r, PC_LEDGER, "verify", "--data", dir, NULL);
  cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
}

Test(tools_ledger, a_broken_chain_link_is_reported) {
  make_ledger(BROKEN_LINK);
  run_t r;
  run_tool(&r, PC_LEDGER, "verify", "--data", dir, "--cluster", cluster_path, NULL);
  cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
  cr_assert(strstr(r.out, "FAIL height 4: previous chain hash"), "%s", r.out);
}

Test(tools_ledger, a_wrong_carried_execution_root_is_caught_by_replay) {
  make_ledger(WRONG_ROOT);
  run_t r;
  run_tool(&r, PC_LEDGER, "verify", "--data", dir, "--cluster", cluster_path, NULL);
  cr_assert_eq(r.status, 0, "signatures and links are fine: %s%s", r.out, r.err);
  run_tool(&r, PC_LEDGER, "verify", "--data", dir, "--cluster", cluster_path, "--replay", NULL);
  cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
  cr_assert(strstr(r.out, "FAIL height 6: the execution root it carries differs"), "%s", r.out);
}

Test(tools_ledger, replay_without_a_cluster_file_is_a_usage_error) {
  run_t r;
  run_tool(&r, PC_LEDGER, "verify", "--data", "/nonexistent", "--replay", NULL);
  cr_assert_eq(r.status, 64);
  cr_assert(strstr(r.err, "need --cluster"), "%s", r.err);
}

Test(tools_ledger, a_transaction_with_a_bad_signature_is_skipped_in_replay_as_by_the_replicas) {
  make_ledger(FORGED);
  run_t r;
  run_tool(&r, PC_LEDGER, "verify", "--data", dir, "--cluster", cluster_path, "--replay", NULL);
  cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
  cr_assert(strstr(r.out, "1 transactions with a bad signature skipped"), "%s", r.out);
}
