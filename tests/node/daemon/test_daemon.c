/* test_daemon.c — four replicas in one process over the dataplane's
 * in-memory loop transport, each a pc_node_t (store, consensus, pool, net
 * stages) run by one stage-runner thread. A few thousand signed token
 * transactions are submitted; every replica must execute the same ones of
 * them, and all must agree on the ledger (chain) hash and the execution
 * root at a common height — for SBFT and for PBFT. Each cluster is then
 * stopped and restarted on the same data directories: recovery (snapshot
 * plus log replay through the executor) must give back the same roots,
 * and the cluster must keep deciding and agree again. Bounded waits only;
 * no timing assertions. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "dataplane/dataplane.h"
#include "executor/executor.h"
#include "node/node.h"
#include "tests/node/daemon/harness.h"
#include "tests/testutil.h"
#include "txpool/client.h"

#define N 4
#define CHAIN 77
#define SENDERS 64

typedef struct {
  pc_cluster_t cl;
  uint8_t sk[N][64];
  char dir[128];
  pc_dp_loop_t *loop;
  pc_node_t *node[N];
  pc_runner_t *run;
  bool store_thread; /* every replica's store stage on a runner thread of its own */
} cluster_t;

static void make_cluster(cluster_t *c, uint8_t protocol) {
  memset(c, 0, sizeof *c);
  harness_cluster(&c->cl, c->sk, CHAIN, protocol, 0, 21000, c->dir, sizeof c->dir, "pc-daemon-test");
  c->cl.batch_size = 256;
}

static void start(cluster_t *c) {
  c->loop = pc_dp_loop_create(N, 8192);
  cr_assert_not_null(c->loop);
  int t = harness_runner(&c->run);
  if (!c->store_thread) {
    harness_add_all(c->run, t, c->node, N, &c->cl, c->sk, c->dir, c->loop, PC_NODE_STAGES, NULL, NULL);
  } else {
    /* as parachain-node does when the core map gives the store cores of
     * its own: the stores on the first thread (threads start in order, and
     * a store's init hands its records to the consensus init), the other
     * stages on a second one (the loop transport wants one thread) */
    int rest = pc_runner_add_thread(c->run, NULL);
    cr_assert_geq(rest, 0);
    for (uint16_t i = 0; i < N; i++) {
      pc_node_opts_t o;
      harness_opts(&o, &c->cl, c->sk[i], i, c->dir, c->loop);
      c->node[i] = pc_node_create(&o);
      cr_assert_not_null(c->node[i]);
      for (int s = 0; s < PC_NODE_STAGES; s++) {
        pc_stage_def_t d = pc_node_stage(c->node[i], s);
        cr_assert_eq(pc_runner_add_stage(c->run, s == PC_NODE_STAGE_STORE ? t : rest, &d), 0);
      }
    }
  }
  cr_assert_eq(pc_runner_start(c->run), 0, "the replicas did not start");
}

static void stop(cluster_t *c) { harness_stop(&c->run, c->node, &c->loop); }

static void cleanup(cluster_t *c) { harness_rm(c->dir); }

/* settled: every replica admitted `want` transactions, holds none in its
 * pool, and all executed the same number of transactions. */
static bool settled(cluster_t *c, uint64_t want) {
  pc_node_status_t st[N];
  for (int i = 0; i < N; i++) {
    pc_node_get_status(c->node[i], &st[i]);
    if (st[i].admitted < want || st[i].pool_count != 0 || st[i].txs_executed != st[0].txs_executed) return false;
  }
  return true;
}

/* Waits (bounded: a liveness bound, not a timing assertion) until the
 * cluster settled on `want` submitted transactions. Every one must then
 * have executed: the pool stage keeps one outstanding cut at a time, so a
 * sender's later nonces never overtake earlier ones voided with a lost
 * proposal (the loss this test used to tolerate). */
static void wait_settled(cluster_t *c, uint64_t want) {
  for (int k = 0; k < 2400 && !settled(c, want); k++) pc_sleep_ns(50000000ull);
  for (int i = 0; i < N && !settled(c, want); i++) {
    pc_node_status_t st;
    pc_node_get_status(c->node[i], &st);
    cr_log_warn("replica %d: executed h %llu txs %llu ok %llu; pool: submitted %llu admitted %llu rejected %llu "
                "held %llu; rounds left %llu",
                i, (unsigned long long)st.executed, (unsigned long long)st.txs_executed,
                (unsigned long long)st.txs_ok, (unsigned long long)st.submitted, (unsigned long long)st.admitted,
                (unsigned long long)st.pool_rejected, (unsigned long long)st.pool_count,
                (unsigned long long)st.round_changes);
  }
  cr_assert(settled(c, want), "the cluster did not settle on %llu transactions", (unsigned long long)want);
}

static void submit(cluster_t *c, uint16_t r, const pc_client_key_t *k, uint64_t nonce, const char *method,
                   const void *args, uint32_t alen) {
  harness_submit(c->node[r], CHAIN, k, nonce, method, args, alen);
}

static void key_of(pc_client_key_t *k, unsigned i) { harness_key(k, 0xc1, i); }

/* Admin (client key 1000): init, then mint 1000 to every sender, in waves
 * that respect the pool's nonce gap; then SENDERS × per transfers. */
static uint64_t drive(cluster_t *c, unsigned per) {
  pc_client_key_t admin, s[SENDERS];
  key_of(&admin, 1000);
  for (unsigned i = 0; i < SENDERS; i++) key_of(&s[i], i);
  uint64_t total = 0, nonce = 0;
  submit(c, 0, &admin, nonce++, "init", NULL, 0);
  total++;
  for (unsigned i = 0; i < SENDERS; i++) {
    uint8_t a[40];
    memcpy(a, s[i].pk, 32);
    pc_store_le64(a + 32, 1000);
    submit(c, 0, &admin, nonce++, "mint", a, sizeof a);
    total++;
    if (i % 24 == 23) wait_settled(c, total);
  }
  wait_settled(c, total);
  for (unsigned k = 0; k < per; k++)
    for (unsigned i = 0; i < SENDERS; i++) {
      uint8_t a[40];
      memcpy(a, s[(i + k + 1) % SENDERS].pk, 32);
      pc_store_le64(a + 32, 1 + k);
      submit(c, (uint16_t)(i % N), &s[i], k, "transfer", a, sizeof a);
      total++;
    }
  wait_settled(c, total);
  return total;
}

/* Every replica: same transaction count and successes; the same chain
 * hash and execution root at the lowest executed height. Returns it. */
static uint64_t check_agree(cluster_t *c, uint64_t total, pc_hash_t *chain, pc_hash_t *root) {
  pc_node_status_t st[N];
  uint64_t h = UINT64_MAX;
  for (int i = 0; i < N; i++) {
    pc_node_get_status(c->node[i], &st[i]);
    if (st[i].executed < h) h = st[i].executed;
  }
  cr_assert_gt(h, 0);
  for (int i = 0; i < N; i++) {
    cr_assert_eq(st[i].txs_executed, st[0].txs_executed, "replica %d: executed transactions differ", i);
    cr_assert_eq(st[i].txs_ok, st[0].txs_ok, "replica %d: successes differ", i);
    cr_assert_eq(st[i].txs_bad_signature, 0, "replica %d skipped a correctly signed transaction", i);
  }
  cr_assert_eq(st[0].txs_executed, total, "not every transaction made it into a block (%llu of %llu)",
                (unsigned long long)st[0].txs_executed, (unsigned long long)total);
  cr_assert_eq(st[0].txs_ok, total, "not every transaction succeeded (%llu of %llu)",
               (unsigned long long)st[0].txs_ok, (unsigned long long)total);
  pc_hash_t ch[N], er[N];
  for (int i = 0; i < N; i++) cr_assert_eq(pc_node_root_at(c->node[i], h, &ch[i], &er[i]), 0);
  for (int i = 1; i < N; i++) {
    cr_assert(pc_hash_equal(&ch[i], &ch[0]), "replica %d: ledger hash at %llu differs", i, (unsigned long long)h);
    cr_assert(pc_hash_equal(&er[i], &er[0]), "replica %d: execution root at %llu differs", i,
              (unsigned long long)h);
  }
  *chain = ch[0];
  *root = er[0];
  return h;
}

static void run_protocol(uint8_t protocol, bool restart, bool store_thread) {
  rcu_register_thread();
  cluster_t *c = calloc(1, sizeof *c);
  make_cluster(c, protocol);
  c->store_thread = store_thread;
  start(c);
  uint64_t total = drive(c, pc_test_iters(30) < 2 ? 2 : pc_test_iters(30));
  pc_hash_t chain, root;
  uint64_t h = check_agree(c, total, &chain, &root);
  stop(c);
  if (!restart) goto done;

  /* restart on the same data: recovery replays the log through the executor */
  start(c);
  for (int k = 0; k < 3000; k++) {
    bool all = true;
    for (int i = 0; i < N; i++) {
      pc_node_status_t st;
      pc_node_get_status(c->node[i], &st);
      all = all && st.executed >= h + 2;
    }
    if (all) break;
    pc_sleep_ns(50000000ull);
  }
  for (int i = 0; i < N; i++) {
    pc_node_status_t st;
    pc_node_get_status(c->node[i], &st);
    cr_assert_geq(st.executed, h + 2, "replica %d did not keep deciding after the restart (%llu, was %llu)", i,
                  (unsigned long long)st.executed, (unsigned long long)h);
    pc_hash_t ch, er;
    if (pc_node_root_at(c->node[i], h, &ch, &er) != 0) continue; /* below the snapshot it restarted from */
    cr_assert(pc_hash_equal(&ch, &chain), "replica %d: ledger hash at %llu changed across the restart", i,
              (unsigned long long)h);
    cr_assert(pc_hash_equal(&er, &root), "replica %d: execution root at %llu changed across the restart", i,
              (unsigned long long)h);
  }
  {
    /* and they still agree at a common height decided after the restart */
    uint64_t h2 = UINT64_MAX;
    for (int i = 0; i < N; i++) {
      pc_node_status_t st;
      pc_node_get_status(c->node[i], &st);
      if (st.executed < h2) h2 = st.executed;
    }
    pc_hash_t ch0, er0;
    cr_assert_eq(pc_node_root_at(c->node[0], h2, &ch0, &er0), 0);
    for (int i = 1; i < N; i++) {
      pc_hash_t ch, er;
      cr_assert_eq(pc_node_root_at(c->node[i], h2, &ch, &er), 0);
      cr_assert(pc_hash_equal(&ch, &ch0) && pc_hash_equal(&er, &er0), "replica %d disagrees at %llu after the restart",
                i, (unsigned long long)h2);
    }
  }
  stop(c);
done:
  cleanup(c);
  free(c);
  rcu_unregister_thread();
}

Test(daemon, sbft_four_replicas_agree_and_restart, .timeout = 280) { run_protocol(PC_PROTO_SBFT, true, false); }

Test(daemon, pbft_four_replicas_agree_and_restart, .timeout = 280) { run_protocol(PC_PROTO_PBFT, true, false); }

/* The store stage on another thread than consensus (a core map whose
 * store cores differ from its consensus cores): the stages meet only
 * through their rings, the durable-seq atomic and the status mutex. */
Test(daemon, sbft_store_on_its_own_thread_agrees_and_restarts, .timeout = 280) {
  run_protocol(PC_PROTO_SBFT, true, true);
}
