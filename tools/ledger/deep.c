/* deep.c — pc-ledger's checks that need the cluster file: every block's
 * structure, hash chain and certificate, and (with --replay) re-execution
 * of the whole ledger to recompute each execution root that a later block
 * carries (block h + D carries the root of h).
 *
 * Runs on a log that pc_log_check found clean, so opening it changes
 * nothing. One thread (registered with liburcu for the state).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "common/block.h"
#include "executor/executor.h"
#include "tools/ledger/ledger_private.h"

typedef struct {
  const pc_cluster_t *cl;
  const ledger_deep_opts_t *o;
  uint8_t (*keys)[PC_PUBKEY_SIZE];
  unsigned q, depth;
  pc_hash_t prev_chain;
  bool have_prev;
  uint64_t checked, roots_checked, failures;
  /* replay */
  pc_state_t *state;
  pc_executor_t *exec;
  pc_exec_storage_t bind;
  pc_exec_state_t st;
  pc_hash_t *roots; /* roots[h % (depth + 1)] = execution root of h */
  uint64_t replayed, bad_signatures;
  pc_hash_t last_root;
} deep_t;

static void fail(deep_t *d, uint64_t h, const char *what) {
  if (d->failures++ < 20) printf("FAIL height %" PRIu64 ": %s\n", h, what);
}

/* As the node: a transaction whose signature does not verify is not
 * executed (a faulty proposer may put one in a block). */
static bool signature_ok(void *ctx, const pc_tx_t *tx) {
  deep_t *d = ctx;
  if (pc_tx_verify(tx) == 0) return true;
  d->bad_signatures++;
  return false;
}

static int replay_one(deep_t *d, uint64_t h, const pc_block_t *b, const uint8_t *batch, size_t blen) {
  pc_exec_result_t res;
  rcu_read_lock();
  d->bind.base = pc_state_current(d->state);
  int rc = pc_exec_run_batch(d->exec, &d->st, h, b->timestamp_us, batch, blen, signature_ok, d, &res);
  rcu_read_unlock();
  if (rc == 0) rc = pc_exec_commit(d->exec, &d->st, &res);
  if (rc) {
    printf("FAIL height %" PRIu64 ": re-execution failed: %s\n", h, pc_strerror(rc));
    d->failures++;
    return rc;
  }
  d->roots[h % (d->depth + 1)] = res.exec_root;
  d->last_root = res.exec_root;
  d->replayed++;
  return 0;
}

static int check_block(void *arg, const pc_log_block_t *lb) {
  deep_t *d = arg;
  uint64_t h = lb->height;
  d->checked++;
  pc_reader_t r;
  pc_reader_init(&r, lb->block, lb->block_len);
  pc_block_t b;
  size_t blen = 0;
  const uint8_t *batch = NULL;
  if (pc_block_decode(&r, &b) == 0) batch = pc_get_blob32(&r, PC_BATCH_MAX, &blen);
  if (!batch || pc_reader_finish(&r) != 0) {
    fail(d, h, "the block bytes do not decode (block header, then the batch)");
    return 0;
  }
  if (b.height != h) fail(d, h, "the block inside the record is for another height");
  if (b.chain_id != d->cl->chain_id) fail(d, h, "the block is for another chain id than the cluster file's");
  pc_hash_t bh, id, chain;
  pc_batch_hash(&bh, batch, blen);
  if (!pc_hash_equal(&bh, &b.batch_hash)) fail(d, h, "batch hash does not match the block header");
  if (!pc_hash_equal(&b.exec_root, &lb->exec_root)) fail(d, h, "record exec_root differs from the block's");
  if (d->have_prev && !pc_hash_equal(&lb->prev_hash, &d->prev_chain))
    fail(d, h, "previous chain hash does not match the record before it");
  pc_block_id(&b, &id);
  pc_chain_hash(&chain, &id, &lb->prev_hash);
  if (!pc_hash_equal(&chain, &lb->block_hash)) fail(d, h, "chain hash is not H(block id || previous chain hash)");
  d->prev_chain = lb->block_hash;
  d->have_prev = true;

  static pc_cert_t cert;
  pc_reader_init(&r, lb->cert, lb->cert_len);
  if (pc_cert_decode(&r, &cert) != 0 || pc_reader_finish(&r) != 0) {
    fail(d, h, "the certificate does not decode");
  } else if (cert.height != h || !pc_hash_equal(&cert.digest, &id)) {
    fail(d, h, "the certificate is not on this block (height or block id differ)");
  } else {
    int rc = pc_cert_verify(&cert, d->cl->chain_id, (const uint8_t(*)[PC_PUBKEY_SIZE])d->keys, d->cl->n, d->q);
    if (rc) {
      char msg[96];
      snprintf(msg, sizeof msg, "certificate rejected: %s", pc_strerror(rc));
      fail(d, h, msg);
    }
  }

  if (d->exec) {
    if (h > d->depth && h - d->depth >= d->o->first_height) {
      d->roots_checked++;
      if (!pc_hash_equal(&b.exec_root, &d->roots[(h - d->depth) % (d->depth + 1)]))
        fail(d, h, "the execution root it carries differs from the re-executed root of height - D");
    }
    if (replay_one(d, h, &b, batch, blen)) return PC_ERR_STATE;
  }
  if (d->o->progress && d->checked % 10000 == 0) fprintf(stderr, "  ... height %" PRIu64 "\n", h);
  return 0;
}

int ledger_deep_verify(pc_log_t *log, const pc_cluster_t *cl, const ledger_deep_opts_t *o) {
  deep_t d = {.cl = cl, .o = o, .q = pc_cluster_quorum(cl), .depth = pc_cluster_depth(cl)};
  d.keys = calloc(cl->n, sizeof *d.keys);
  if (!d.keys) return PC_ERR_NOMEM;
  for (unsigned i = 0; i < cl->n; i++) memcpy(d.keys[i], cl->replicas[i].pubkey, PC_PUBKEY_SIZE);
  int rc = 0;
  if (o->replay) {
    if (o->first_height != 1) {
      printf("replay: the log starts at height %" PRIu64 ", not 1; replay needs the whole ledger\n", o->first_height);
      free(d.keys);
      return PC_ERR_STATE;
    }
    rcu_register_thread();
    d.state = pc_state_new(2);
    pc_exec_config_t ec = {.sched = PC_SCHED_SERIAL, .n_workers = 1, .no_pin = true};
    d.exec = pc_exec_create(&ec);
    d.roots = calloc(d.depth + 1, sizeof *d.roots);
    if (!d.state || !d.exec || !d.roots) rc = PC_ERR_NOMEM;
    if (!rc && o->plugin_dir) {
      /* as the node: plugin <name> is the file <name>.so */
      static char files[PC_CLUSTER_PLUGINS_MAX][PC_CONF_NAME_MAX + 4];
      pc_exec_plugin_pin_t pins[PC_CLUSTER_PLUGINS_MAX];
      for (unsigned i = 0; i < cl->n_plugins; i++) {
        snprintf(files[i], sizeof files[i], "%s.so", cl->plugins[i].name);
        pins[i] = (pc_exec_plugin_pin_t){files[i], cl->plugins[i].hash};
      }
      rc = pc_exec_load_plugin_dir(d.exec, o->plugin_dir, pins, cl->n_plugins);
      if (rc) printf("replay: loading the plugins of %s failed: %s\n", o->plugin_dir, pc_strerror(rc));
    }
    d.bind.state = d.state;
    d.st = pc_exec_state_storage(&d.bind);
  }
  if (!rc) rc = pc_log_iter_blocks(log, o->first_height, o->last_height, check_block, &d);
  printf("blocks    %" PRIu64 " checked: structure, hash chain, certificates (q = %u of n = %u)\n", d.checked, d.q,
         (unsigned)cl->n);
  if (d.exec) {
    char hex[PC_HASH_HEX_SIZE];
    printf("replay    %" PRIu64 " heights re-executed, %" PRIu64 " carried roots (h + %u) compared\n", d.replayed,
           d.roots_checked, d.depth);
    if (d.bad_signatures)
      printf("replay    %" PRIu64 " transactions with a bad signature skipped, as the replicas do\n", d.bad_signatures);
    if (d.replayed)
      printf("exec_root %s at height %" PRIu64 "\n", pc_hash_to_hex(&d.last_root, hex), o->first_height + d.replayed - 1);
  }
  printf("%s: %" PRIu64 " failure%s\n", d.failures || rc ? "FAILED" : "verified", d.failures, d.failures == 1 ? "" : "s");
  if (d.exec) pc_exec_destroy(d.exec);
  if (d.state) pc_state_free(d.state);
  if (o->replay) rcu_unregister_thread();
  free(d.roots);
  free(d.keys);
  if (rc) return rc;
  return d.failures ? PC_ERR_CORRUPT : 0;
}
