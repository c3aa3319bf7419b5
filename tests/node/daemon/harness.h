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

#endif
