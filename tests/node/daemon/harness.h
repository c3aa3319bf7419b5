/* harness.h — what the in-process daemon tests share: a 4-replica cluster
 * file with deterministic keys, the replicas' options over the dataplane's
 * loop transport, their stages on one runner thread, and the temporary
 * data folder. Each test keeps its own cluster struct around these. */
#ifndef PC_TESTS_NODE_HARNESS_H
#define PC_TESTS_NODE_HARNESS_H

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dataplane.h"
#include "executor/executor.h"
#include "node/node.h"
#include "tests/testutil.h"
#include "txpool/client.h"

#define HN 4

/* Fills cl for HN replicas (f = 1, checkpoints every 16, UDP addresses
 * 127.0.0.1:base_port + i) with keys derived from (replica, protocol, tag)
 * into sk. No assertion (usable in a replica child process); call
 * pc_crypto_init first. */
static inline void harness_cluster_fill(pc_cluster_t *cl, uint8_t sk[HN][64], uint64_t chain, uint8_t protocol,
                                        uint8_t tag, uint16_t base_port) {
  pc_cluster_defaults(cl);
  cl->chain_id = chain;
  cl->n = HN;
  cl->f = 1;
  cl->protocol = protocol;
  cl->checkpoint_interval = 16;
  for (uint16_t i = 0; i < HN; i++) {
    uint8_t seed[32] = {(uint8_t)(i + 1), protocol, tag};
    crypto_sign_seed_keypair(cl->replicas[i].pubkey, sk[i], seed);
    cl->replicas[i].id = i;
    uint8_t mac[6] = {2, 0, 0, 0, 0, (uint8_t)(i + 1)};
    memcpy(cl->replicas[i].mac, mac, 6);
    uint8_t ip[4] = {127, 0, 0, 1};
    memcpy(cl->replicas[i].ip, ip, 4);
    cl->replicas[i].port = (uint16_t)(base_port + i);
  }
}

/* harness_cluster_fill, and makes a fresh folder in dir named after `name`. */
static inline void harness_cluster(pc_cluster_t *cl, uint8_t sk[HN][64], uint64_t chain, uint8_t protocol, uint8_t tag,
                                   uint16_t base_port, char *dir, size_t dircap, const char *name) {
  cr_assert_eq(pc_crypto_init(), 0);
  harness_cluster_fill(cl, sk, chain, protocol, tag, base_port);
  snprintf(dir, dircap, "/tmp/%s-XXXXXX", name);
  cr_assert_not_null(mkdtemp(dir));
}

/* Options of replica i: data in dir/r<i>, the loop transport, serial
 * execution on one worker. */
static inline void harness_opts(pc_node_opts_t *o, const pc_cluster_t *cl, const uint8_t sk[64], uint16_t i,
                                const char *dir, pc_dp_loop_t *loop) {
  pc_node_opts_default(o, cl, i);
  memcpy(o->seckey, sk, 64);
  snprintf(o->data_dir, sizeof o->data_dir, "%s/r%u", dir, i);
  o->net = PC_NODE_NET_LOOP;
  o->loop = loop;
  o->sched = PC_SCHED_SERIAL;
  o->exec_workers = 1;
}

/* Creates replica o's node and gives its first `stages` stages to runner
 * thread t (the loop transport wants one thread for all replicas). */
static inline pc_node_t *harness_add(pc_runner_t *run, int t, const pc_node_opts_t *o, int stages) {
  pc_node_t *n = pc_node_create(o);
  cr_assert_not_null(n);
  for (int s = 0; s < stages; s++) {
    pc_stage_def_t d = pc_node_stage(n, s);
    cr_assert_eq(pc_runner_add_stage(run, t, &d), 0);
  }
  return n;
}

/* A new runner with one unpinned thread (the loop transport wants one
 * thread for all replicas); returns the thread's index. */
static inline int harness_runner(pc_runner_t **run) {
  *run = pc_runner_new();
  cr_assert_not_null(*run);
  int t = pc_runner_add_thread(*run, NULL);
  cr_assert_geq(t, 0);
  return t;
}

/* Adjusts replica i's options before it is created (may be NULL). */
typedef void (*harness_tweak_fn)(pc_node_opts_t *o, uint16_t i, void *user);

/* Creates replicas 0..count-1 (harness_opts, then tweak) into nodes[] and
 * gives their first `stages` stages to runner thread t. */
static inline void harness_add_all(pc_runner_t *run, int t, pc_node_t **nodes, int count, const pc_cluster_t *cl,
                                   uint8_t sk[HN][64], const char *dir, pc_dp_loop_t *loop, int stages,
                                   harness_tweak_fn tweak, void *user) {
  for (uint16_t i = 0; i < count; i++) {
    pc_node_opts_t o;
    harness_opts(&o, cl, sk[i], i, dir, loop);
    if (tweak) tweak(&o, i, user);
    nodes[i] = harness_add(run, t, &o, stages);
  }
}

/* Stops the runner, frees the nodes and the loop. */
static inline void harness_stop(pc_runner_t **run, pc_node_t **nodes, pc_dp_loop_t **loop) {
  pc_runner_free(*run);
  *run = NULL;
  for (int i = 0; i < HN; i++) {
    pc_node_destroy(nodes[i]);
    nodes[i] = NULL;
  }
  pc_dp_loop_destroy(*loop);
  *loop = NULL;
}

static inline void harness_rm(const char *dir) {
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

/* Client key i of a test; tag keeps tests' senders apart. */
static inline void harness_key(pc_client_key_t *k, uint8_t tag, unsigned i) {
  uint8_t seed[32] = {tag};
  pc_store_le32(seed + 1, i);
  cr_assert_eq(pc_client_key_from_seed(k, seed), 0);
}

/* Builds, signs and submits a token transaction to replica node, retrying
 * while its pool pushes back (bounded). */
static inline void harness_submit(pc_node_t *node, uint64_t chain, const pc_client_key_t *k, uint64_t nonce,
                                  const char *method, const void *args, uint32_t alen) {
  uint8_t buf[PC_TX_MAX];
  pc_client_tx_t t = {.chain_id = chain, .nonce = nonce, .contract = "token", .method = method, .args = args,
                      .args_len = alen};
  int len = pc_client_tx_build(buf, sizeof buf, k, &t, NULL);
  cr_assert_gt(len, 0);
  int rc;
  for (int tries = 0; (rc = pc_node_submit(node, buf, (size_t)len)) == PC_ERR_FULL && tries < 10000; tries++)
    pc_sleep_ns(1000000);
  cr_assert_eq(rc, 0);
}

/* ------------------------------------------------ cluster-wide waits and checks
 * Shared by the in-process cluster tests (test_daemon, test_xfer,
 * test_byzantine): bounded waits (a liveness bound, never a timing
 * assertion) over the first nh replicas of nodes[], and the agreement
 * check. */

/* Lowest executed height among nodes[0..nh). */
static inline uint64_t harness_min_executed(pc_node_t *const *nodes, int nh) {
  uint64_t h = UINT64_MAX;
  for (int i = 0; i < nh; i++) {
    pc_node_status_t st;
    pc_node_get_status(nodes[i], &st);
    if (st.executed < h) h = st.executed;
  }
  return h;
}

/* One warning line per replica: where it stands (for a failing wait). */
static inline void harness_log_status(pc_node_t *const *nodes, int nh) {
  for (int i = 0; i < nh; i++) {
    pc_node_status_t st;
    pc_node_get_status(nodes[i], &st);
    cr_log_warn("replica %d: decided %llu executed %llu txs %llu ok %llu bad-sig %llu; cons in %llu rejected %llu "
                "rounds left %llu; net bad %llu; pool rejected %llu held %llu; transfers asked %llu done %llu",
                i, (unsigned long long)st.decided, (unsigned long long)st.executed,
                (unsigned long long)st.txs_executed, (unsigned long long)st.txs_ok,
                (unsigned long long)st.txs_bad_signature, (unsigned long long)st.cons_msgs_in,
                (unsigned long long)st.cons_rejected, (unsigned long long)st.round_changes,
                (unsigned long long)st.net_bad, (unsigned long long)st.pool_rejected,
                (unsigned long long)st.pool_count, (unsigned long long)st.state_transfers_asked,
                (unsigned long long)st.state_transfers_done);
  }
}

/* Every one of nodes[0..nh) executed height h (bounded: 150 s). */
static inline void harness_wait_height(pc_node_t *const *nodes, int nh, uint64_t h) {
  for (int k = 0; k < 3000 && harness_min_executed(nodes, nh) < h; k++) pc_sleep_ns(50000000ull);
  if (harness_min_executed(nodes, nh) < h) harness_log_status(nodes, nh);
  cr_assert_geq(harness_min_executed(nodes, nh), h, "the replicas did not all reach height %llu",
                (unsigned long long)h);
}

/* Every one of nodes[0..nh) executed `want` successful transactions (bounded: 120 s). */
static inline void harness_wait_ok(pc_node_t *const *nodes, int nh, uint64_t want) {
  bool all = false;
  for (int k = 0; k < 2400 && !all; k++) {
    all = true;
    for (int i = 0; i < nh; i++) {
      pc_node_status_t st;
      pc_node_get_status(nodes[i], &st);
      all = all && st.txs_ok >= want;
    }
    if (!all) pc_sleep_ns(50000000ull);
  }
  if (!all) harness_log_status(nodes, nh);
  for (int i = 0; i < nh; i++) {
    pc_node_status_t st;
    pc_node_get_status(nodes[i], &st);
    cr_assert_geq(st.txs_ok, want, "replica %d executed %llu successful transactions of %llu (height %llu)", i,
                  (unsigned long long)st.txs_ok, (unsigned long long)want, (unsigned long long)st.executed);
  }
}

/* Safety: nodes[0..nh) report the same ledger hash and execution root at
 * their lowest common executed height — and, with every_height, at every
 * height from 1 up to it. Returns that height. */
static inline uint64_t harness_check_agree(pc_node_t *const *nodes, int nh, bool every_height) {
  uint64_t top = harness_min_executed(nodes, nh);
  cr_assert_gt(top, 0);
  for (uint64_t h = every_height ? 1 : top; h <= top; h++) {
    pc_hash_t ch0, er0;
    cr_assert_eq(pc_node_root_at(nodes[0], h, &ch0, &er0), 0, "replica 0 forgot height %llu",
                 (unsigned long long)h);
    for (int i = 1; i < nh; i++) {
      pc_hash_t ch, er;
      cr_assert_eq(pc_node_root_at(nodes[i], h, &ch, &er), 0, "replica %d forgot height %llu", i,
                   (unsigned long long)h);
      cr_assert(pc_hash_equal(&ch, &ch0), "replica %d: ledger hash at %llu differs from replica 0's", i,
                (unsigned long long)h);
      cr_assert(pc_hash_equal(&er, &er0), "replica %d: execution root at %llu differs from replica 0's", i,
                (unsigned long long)h);
    }
  }
  return top;
}

#endif
