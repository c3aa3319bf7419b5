/* node.c — the replica object: rings, the store stage (block log +
 * consensus records + state + executor + snapshots), status. The pool
 * stage is in node_pool.c.
 *
 * ------------------------------------------------- consensus records in the log
 * A PC_ACT_PERSIST record can exceed PC_LOG_CONSENSUS_MAX (an SBFT BLOCK
 * record carries the whole batch), so the store stage splits each into log
 * consensus records of at most PC_LOG_CONSENSUS_MAX payload bytes:
 *   kind    1 = a whole record, 2 = a fragment with more to follow,
 *           3 = the last fragment
 *   height  the consensus persist sequence number (informative)
 *   round   the fragment index, 0, 1, 2, ...
 * At restart fragments are joined in log order; a run of fragments not
 * closed by a kind-3 record (a crash in the middle) is dropped, and is
 * never durable as a whole anyway: the record counts as durable only when
 * its last fragment is.
 *
 * ------------------------------------------------- block records in the log
 *   prev_hash   chain hash of height h−1 (zero for h = 1)
 *   block_hash  chain hash of h (the ledger hash)
 *   exec_root   the execution root the block carries (of h − D)
 *   block       block (91, common/block.h) ‖ u32 batch length ‖ batch
 *   cert        the decision certificate (pc_cert_encode)
 * A block is appended when it is decided, before it executes; restart
 * re-executes every block above the latest snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <urcu.h>

#include "common/block.h"
#include "executor/executor.h"
#include "node/node_int_private.h"
#include "storage/storage.h"
#include "txpool/txpool.h"

/* ============================================================ messages, rings */

node_msg_t *node_msg_new(uint8_t kind, uint16_t peer, uint64_t a, const void *p1, size_t l1, const void *p2,
                         size_t l2) {
  node_msg_t *m = malloc(sizeof *m + l1 + l2 + 1);
  if (!m) {
    PC_ERROR("node: out of memory for a %zu-byte message", l1 + l2);
    return NULL;
  }
  m->kind = kind;
  m->peer = peer;
  m->a = a;
  m->b = 0;
  m->len = l1 + l2;
  if (l1) memcpy(m->data, p1, l1);
  if (l2) memcpy(m->data + l1, p2, l2);
  return m;
}

struct node_ovf {
  node_ovf_t *next;
  node_msg_t *m;
};

int node_q_init(node_q_t *q, const char *name, unsigned count, bool mp) {
  memset(q, 0, sizeof *q);
  ssize_t sz = rte_ring_get_memsize(count);
  if (sz < 0) return PC_ERR_INVALID;
  q->r = aligned_alloc(64, ((size_t)sz + 63) & ~(size_t)63);
  if (!q->r) return PC_ERR_NOMEM;
  if (rte_ring_init(q->r, name, count, (mp ? 0 : RING_F_SP_ENQ) | RING_F_SC_DEQ) != 0) {
    free(q->r);
    q->r = NULL;
    return PC_ERR_INVALID;
  }
  return 0;
}

void node_q_flush(node_q_t *q) {
  while (q->head) {
    if (rte_ring_enqueue(q->r, q->head->m) != 0) return;
    node_ovf_t *o = q->head;
    q->head = o->next;
    if (!q->head) q->tail = NULL;
    q->queued--;
    free(o);
  }
}

void node_q_push(node_q_t *q, node_msg_t *m) {
  if (!m) return;
  node_q_flush(q);
  if (!q->head && rte_ring_enqueue(q->r, m) == 0) return;
  node_ovf_t *o = malloc(sizeof *o);
  if (!o) {
    PC_ERROR("node: out of memory, message dropped");
    free(m);
    return;
  }
  o->next = NULL;
  o->m = m;
  if (q->tail)
    q->tail->next = o;
  else
    q->head = o;
  q->tail = o;
  q->queued++;
}

node_msg_t *node_q_pop(node_q_t *q) {
  void *p = NULL;
  return rte_ring_dequeue(q->r, &p) == 0 ? p : NULL;
}

void node_q_fini(node_q_t *q) {
  if (!q->r) return;
  node_msg_t *m;
  while ((m = node_q_pop(q)) != NULL) free(m);
  while (q->head) {
    node_ovf_t *o = q->head;
    q->head = o->next;
    free(o->m);
    free(o);
  }
  free(q->r);
  q->r = NULL;
}

/* ============================================================ store stage */

typedef struct pmap {
  struct pmap *next;
  uint64_t log_seq, cons_seq;
} pmap_t;

typedef struct {
  pc_node_t *n;
  pc_log_t *log;
  pc_state_t *state; /* read by the pool stage under RCU */
  pc_executor_t *exec;
  pc_exec_storage_t sbind; /* state + the base version a block executes on */
  pc_exec_state_t st;
  char log_dir[300], snap_dir[300];
  pmap_t *pm_head, *pm_tail;
  uint64_t last_h;        /* highest block appended */
  pc_hash_t last_chain;   /* its chain hash */
  uint64_t executed;
  uint8_t *frag;          /* restart reassembly */
  size_t frag_len, frag_cap;
  bool replaying;
  void *xsrv;                 /* state-transfer server (node_xfer_serve) */
  pc_snapshot_install_t *inst; /* state-transfer install in progress */
} store_t;

static int mkdirs(const char *p) {
  char buf[300];
  snprintf(buf, sizeof buf, "%s", p);
  for (char *c = buf + 1; *c; c++) {
    if (*c != '/') continue;
    *c = 0;
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return PC_ERR_IO;
    *c = '/';
  }
  if (mkdir(buf, 0700) != 0 && errno != EEXIST) return PC_ERR_IO;
  return 0;
}

static void remember(pc_node_t *n, uint64_t h, const pc_hash_t *chain, const pc_hash_t *root) {
  size_t i = h % NODE_HIST;
  pthread_mutex_lock(&n->st_mu);
  n->hist_h[i] = h;
  n->hist_chain[i] = *chain;
  n->hist_exec[i] = *root;
  n->st.executed = h;
  n->st.chain_hash = *chain;
  n->st.exec_root = *root;
  pthread_mutex_unlock(&n->st_mu);
}

static bool sig_filter(void *ctx, const pc_tx_t *tx) { return node_sig_ok(ctx, tx); }

/* Executes one decided block: the executor decodes its transactions (a
 * malformed one, or one whose signature fails, is skipped identically on
 * every replica and in pc-ledger's replay), runs, commits, snapshots at
 * checkpoint heights and tells consensus. */
static int exec_block(store_t *s, uint64_t h, const pc_block_t *b, const uint8_t *batch, size_t blen,
                      const pc_hash_t *chain, const uint8_t *cert, size_t cert_len) {
  pc_node_t *n = s->n;
  pc_exec_result_t res;
  rcu_read_lock();
  s->sbind.base = pc_state_current(s->state);
  int rc = pc_exec_run_batch(s->exec, &s->st, h, b->timestamp_us, batch, blen, sig_filter, n, &res);
  rcu_read_unlock();
  if (rc == 0) rc = pc_exec_commit(s->exec, &s->st, &res);
  if (rc) {
    PC_ERROR("store: executing height %llu failed: %s; execution stops here", (unsigned long long)h,
             pc_strerror(rc));
    return rc;
  }
  const pc_tx_t *txs = pc_exec_batch_txs(s->exec); /* what ran, in block order */
  size_t nt = res.n_receipts;
  uint64_t ok = 0;
  for (size_t i = 0; i < res.n_receipts; i++) ok += res.receipts[i].status == PC_TX_OK;
  s->executed = h;
  /* receipts, roots, header and certificate for the gateway (before the
   * EXECUTED message: nothing waits on it, but keep the order natural) */
  rcu_read_lock();
  uint64_t ver = pc_state_version_number(pc_state_current(s->state));
  rcu_read_unlock();
  node_rs_block_t rb = {.height = h, .header = b, .cert = cert, .cert_len = cert_len, .state_version = ver,
                        .state_root = &res.state_root, .receipts_root = &res.receipts_root,
                        .count = nt, .receipts = res.receipts, .txs = txs};
  int prc = node_rs_publish(n->rs, &rb);
  if (prc) PC_WARN("store: receipts of height %llu not kept: %s", (unsigned long long)h, pc_strerror(prc));
  uint32_t K = n->cp.checkpoint_interval;
  bool cp = K && h % K == 0;
  pc_snapshot_manifest_t man;
  memset(&man, 0, sizeof man);
  if (cp) {
    rcu_read_lock();
    int src = pc_snapshot_write(pc_state_current(s->state), h, s->snap_dir, NULL, &man);
    rcu_read_unlock();
    if (src) {
      PC_WARN("store: snapshot of height %llu failed: %s", (unsigned long long)h, pc_strerror(src));
      cp = false;
    }
  }
  node_msg_t *m = node_msg_new(NM_EXECUTED, 0, h, res.exec_root.b, 32, cp ? man.manifest_hash.b : NULL, cp ? 32 : 0);
  if (cp) pc_snapshot_manifest_free(&man);
  if (m) {
    m->b = cp;
    /* during restart replay only the last heights matter to consensus */
    uint64_t keep = 4ull * n->cp.window + 2;
    if (!s->replaying || h + keep > n->start_executed)
      node_q_push(&n->store2cons, m);
    else
      free(m);
  }
  remember(n, h, chain, &res.exec_root);
  pthread_mutex_lock(&n->st_mu);
  n->st.txs_executed += nt;
  n->st.txs_ok += ok;
  pthread_mutex_unlock(&n->st_mu);
  return 0;
}

static int split_block(const pc_log_block_t *lb, pc_block_t *b, const uint8_t **batch, size_t *blen) {
  pc_reader_t r;
  pc_reader_init(&r, lb->block, lb->block_len);
  int rc = pc_block_decode(&r, b);
  if (rc) return rc;
  *batch = pc_get_blob32(&r, PC_BATCH_MAX, blen);
  return pc_reader_finish(&r);
}

static int replay_fn(void *arg, const pc_log_block_t *lb) {
  store_t *s = arg;
  pc_block_t b;
  const uint8_t *batch;
  size_t blen;
  int rc = split_block(lb, &b, &batch, &blen);
  if (rc) {
    PC_ERROR("store: block %llu in the log does not decode: %s", (unsigned long long)lb->height, pc_strerror(rc));
    return rc;
  }
  rc = exec_block(s, lb->height, &b, batch, blen, &lb->block_hash, lb->cert, lb->cert_len);
  if (rc == 0) s->n->st.replayed++;
  return rc;
}

static int rec_fn(void *arg, const pc_log_consensus_t *c) {
  store_t *s = arg;
  pc_node_t *n = s->n;
  if (c->kind == 1 || c->round == 0) s->frag_len = 0; /* a new record drops an unfinished one */
  if (c->kind < 1 || c->kind > 3) return 0;
  if (s->frag_len + c->payload_len > s->frag_cap) {
    size_t cap = (s->frag_len + c->payload_len) * 2;
    uint8_t *p = realloc(s->frag, cap);
    if (!p) return PC_ERR_NOMEM;
    s->frag = p;
    s->frag_cap = cap;
  }
  memcpy(s->frag + s->frag_len, c->payload, c->payload_len);
  s->frag_len += c->payload_len;
  if (c->kind == 2) return 0;
  node_rec_t *r = realloc(n->recs, (n->n_recs + 1) * sizeof *r);
  if (!r) return PC_ERR_NOMEM;
  n->recs = r;
  r[n->n_recs].data = malloc(s->frag_len ? s->frag_len : 1);
  if (!r[n->n_recs].data) return PC_ERR_NOMEM;
  memcpy(r[n->n_recs].data, s->frag, s->frag_len);
  r[n->n_recs].len = s->frag_len;
  n->n_recs++;
  s->frag_len = 0;
  return 0;
}

/* The snapshot a restart loads: the newest one in [lo, last − D] (D =
 * 2 × window), 0 if none. Not simply the newest: consensus needs the
 * execution root of h − D to propose or vote at h, so after a restart at
 * `last` it needs the roots of last + 1 − D and above, and only heights
 * the store re-executes (or the snapshot height of a state transfer) have
 * a known root. Replaying from at least D below the end gives them all;
 * the cost is at most D + K more blocks to re-execute. Snapshots are only
 * written at multiples of K, so only those are looked for (the newest
 * first, bounded by the latest one on disk). */
static uint64_t restart_snapshot(store_t *s, uint64_t lo, uint64_t last) {
  uint64_t D = pc_cluster_depth(&s->n->cluster), K = s->n->cp.checkpoint_interval, latest = 0;
  if (!K || last < D || pc_snapshot_latest(s->snap_dir, &latest) != 0) return 0;
  uint64_t hi = last - D < latest ? last - D : latest;
  if (hi < lo) return 0;
  for (uint64_t h = hi - hi % K; h >= lo && h > 0; h = h >= K ? h - K : 0) {
    pc_snapshot_manifest_t m;
    if (pc_snapshot_manifest_read(s->snap_dir, h, NULL, &m) != 0) continue;
    pc_snapshot_manifest_free(&m);
    return h;
  }
  return 0;
}

static int store_init(void *p) {
  store_t *s = p;
  pc_node_t *n = s->n;
  snprintf(s->log_dir, sizeof s->log_dir, "%s/log", n->o.data_dir);
  snprintf(s->snap_dir, sizeof s->snap_dir, "%s/snap", n->o.data_dir);
  if (mkdirs(s->log_dir) || mkdirs(s->snap_dir)) {
    PC_ERROR("store: cannot create %s/{log,snap}: %s", n->o.data_dir, strerror(errno));
    return PC_ERR_IO;
  }
  pc_log_config_t lc = {.dir = s->log_dir, .segment_size = n->o.segment_size, .max_group = n->o.group_count,
                        .max_delay_us = n->o.group_time_us, .flush_thread = true};
  pc_log_report_t rep;
  s->log = pc_log_open(&lc, &rep);
  if (!s->log) {
    PC_ERROR("store: %s", rep.message);
    return PC_ERR_CORRUPT;
  }
  if (rep.status == PC_LOG_TORN) PC_WARN("store: %s", rep.message);
  /* keep D + 32 state versions: a query is answered at a height whose
   * h + D is certified, about D below the newest executed height */
  s->state = pc_state_new(pc_cluster_depth(&n->cluster) + 32);
  pc_exec_config_t ec = {.sched = (pc_sched_t)n->o.sched, .n_workers = n->o.exec_workers ? n->o.exec_workers : 1,
                         .cores = n->o.exec_cores};
  s->exec = pc_exec_create(&ec);
  if (!s->state || !s->exec) return PC_ERR_NOMEM;
  if (n->cluster.n_plugins || n->o.plugin_dir[0]) {
    /* the cluster file pins plugin <name> as the file <name>.so */
    static char files[PC_CLUSTER_PLUGINS_MAX][PC_CONF_NAME_MAX + 4];
    pc_exec_plugin_pin_t pins[PC_CLUSTER_PLUGINS_MAX];
    for (unsigned i = 0; i < n->cluster.n_plugins; i++) {
      snprintf(files[i], sizeof files[i], "%s.so", n->cluster.plugins[i].name);
      pins[i] = (pc_exec_plugin_pin_t){files[i], n->cluster.plugins[i].hash};
    }
    int prc = pc_exec_load_plugin_dir(s->exec, n->o.plugin_dir[0] ? n->o.plugin_dir : ".", pins,
                                      n->cluster.n_plugins);
    if (prc) {
      PC_ERROR("store: contract plugins in %s refused (%s): see the line above", n->o.plugin_dir, pc_strerror(prc));
      return prc;
    }
  }
  s->sbind.state = s->state;
  s->st = pc_exec_state_storage(&s->sbind);
  if (node_rs_open(n->rs, s->state) != 0) return PC_ERR_NOMEM;
  int rc = pc_log_iter_consensus(s->log, rec_fn, s);
  if (rc) return rc;
  s->xsrv = node_xfer_server_new(n, s->snap_dir);
  if (!s->xsrv) return PC_ERR_NOMEM;
  /* state: latest snapshot (if the log reaches it), then the blocks above */
  uint64_t last = rep.last_height, snap = 0, from = 1;
  if (last && pc_log_get(s->log, last, &(pc_log_block_t){0}) == 0) {
    pc_log_block_t lb;
    pc_log_get(s->log, last, &lb);
    s->last_h = last;
    s->last_chain = lb.block_hash;
  }
  uint64_t base = pc_log_base_height(s->log);
  if (base) {
    /* a state transfer based the log at `base`: blocks at or below it are
     * not in the log, so start from that snapshot (or a newer one) */
    pc_log_block_t bb;
    if (last < base && pc_log_base(s->log, &bb) == 0) {
      last = base;
      s->last_h = base;
      s->last_chain = bb.block_hash;
    }
    snap = restart_snapshot(s, base, last);
    if (!snap) snap = base;
  } else {
    snap = restart_snapshot(s, 1, last);
  }
  if (snap > 0) {
    int64_t v = pc_snapshot_load(s->state, s->snap_dir, snap, NULL, NULL);
    if (v > 0) {
      pc_state_publish(s->state, (uint64_t)v);
      from = snap + 1;
      s->executed = snap;
      PC_INFO("store: state loaded from the snapshot of height %llu", (unsigned long long)snap);
    } else {
      PC_WARN("store: snapshot %llu unusable (%s): replaying from genesis", (unsigned long long)snap,
              pc_strerror((int)v));
    }
  }
  if (base && s->executed < base) {
    PC_ERROR("store: the log is based at %llu by a state transfer but its snapshot does not load",
             (unsigned long long)base);
    return PC_ERR_CORRUPT;
  }
  n->start_executed = last;
  if (s->executed == last && last) {
    /* nothing to replay (e.g. right after a transfer): consensus still needs the root */
    pc_log_block_t lb;
    if (base == last && pc_log_base(s->log, &lb) == 0 && lb.height == last)
      remember(n, last, &s->last_chain, &lb.exec_root);
  }
  if (last >= from) {
    s->replaying = true;
    rc = pc_log_iter_blocks(s->log, from, last, replay_fn, s);
    s->replaying = false;
    if (rc) return rc;
    PC_INFO("store: replayed heights %llu..%llu", (unsigned long long)from, (unsigned long long)last);
  }
  pthread_mutex_lock(&n->st_mu);
  n->st.decided = last;
  n->st.durable = last;
  pthread_mutex_unlock(&n->st_mu);
  return 0;
}

static void persist(store_t *s, node_msg_t *m) {
  size_t off = 0;
  uint32_t idx = 0;
  int64_t seq = 0;
  do {
    size_t part = m->len - off > PC_LOG_CONSENSUS_MAX ? PC_LOG_CONSENSUS_MAX : m->len - off;
    bool whole = off == 0 && part == m->len;
    bool last = off + part == m->len;
    pc_log_consensus_t c = {.kind = whole ? 1 : last ? 3 : 2, .height = m->a, .round = idx++,
                            .payload = m->data + off, .payload_len = part};
    seq = pc_log_append_consensus(s->log, &c);
    if (seq < 0) {
      PC_ERROR("store: consensus record %llu not stored: %s (votes stop)", (unsigned long long)m->a,
               pc_strerror((int)seq));
      return; /* never reported durable: consensus stays behind its barrier */
    }
    off += part;
  } while (off < m->len);
  pmap_t *pm = malloc(sizeof *pm);
  if (!pm) return;
  pm->next = NULL;
  pm->log_seq = (uint64_t)seq;
  pm->cons_seq = m->a;
  if (s->pm_tail)
    s->pm_tail->next = pm;
  else
    s->pm_head = pm;
  s->pm_tail = pm;
  pthread_mutex_lock(&s->n->st_mu);
  s->n->st.persisted++;
  pthread_mutex_unlock(&s->n->st_mu);
}

static void decided(store_t *s, node_msg_t *m) {
  pc_node_t *n = s->n;
  uint64_t h = m->a;
  if (h <= s->last_h) return; /* already in the log (decided again after a restart) */
  if (h != s->last_h + 1) {
    PC_ERROR("store: decided height %llu but the log ends at %llu; cannot append (needs state transfer)",
             (unsigned long long)h, (unsigned long long)s->last_h);
    return;
  }
  pc_reader_t r;
  pc_reader_init(&r, m->data, m->len);
  pc_hash_t id, chain;
  pc_get_bytes(&r, id.b, 32);
  pc_get_bytes(&r, chain.b, 32);
  size_t boff = r.pos;
  pc_block_t b;
  pc_block_decode(&r, &b);
  size_t blen;
  const uint8_t *batch = pc_get_blob32(&r, PC_BATCH_MAX, &blen);
  size_t cert_off = r.pos;
  if (pc_reader_ok(&r)) {
    PC_ERROR("store: internal decided message malformed");
    return;
  }
  pc_log_block_t lb = {.height = h, .prev_hash = s->last_chain, .block_hash = chain, .exec_root = b.exec_root,
                       .cert = m->data + cert_off, .cert_len = m->len - cert_off, .block = m->data + boff,
                       .block_len = cert_off - boff};
  int64_t rc = pc_log_append_block(s->log, &lb);
  if (rc < 0) {
    PC_ERROR("store: appending block %llu failed: %s", (unsigned long long)h, pc_strerror((int)rc));
    return;
  }
  s->last_h = h;
  s->last_chain = chain;
  pthread_mutex_lock(&n->st_mu);
  n->st.decided = h;
  pthread_mutex_unlock(&n->st_mu);
  exec_block(s, h, &b, batch, blen, &chain, m->data + cert_off, m->len - cert_off);
}

/* ------------------------------------------------- state transfer (store side)
 * The consensus stage fetches and verifies; this stage serves peers'
 * requests from its snapshots, writes the verified manifest and chunks
 * through storage's installer and, on DONE: finishes the install, loads
 * the snapshot into a fresh state (checked against the certified root),
 * swaps it in for the executor and the receipt store, appends the log's
 * base record, syncs it, and only then tells consensus (INSTALLED). */

static void xfer_installed(store_t *s, uint64_t h, bool ok, const pc_hash_t *root) {
  node_msg_t *m = node_msg_new(NM_XFER_INSTALLED, 0, h, root ? root->b : NULL, root ? 32 : 0, NULL, 0);
  if (!m) return;
  m->b = ok;
  node_q_push(&s->n->store2cons, m);
}

static int xfer_swap_state(store_t *s, uint64_t h, const pc_hash_t *root) {
  pc_node_t *n = s->n;
  pc_state_t *ns = pc_state_new(pc_cluster_depth(&n->cluster) + 32);
  if (!ns) return PC_ERR_NOMEM;
  /* the manifest is the certified one (its hash is in the checkpoint) and
   * the load checks the state root against it; `root` is the execution
   * root, which is not the state root, so it is not passed here */
  (void)root;
  int64_t v = pc_snapshot_load(ns, s->snap_dir, h, NULL, NULL);
  if (v <= 0) {
    pc_state_free(ns);
    return v < 0 ? (int)v : PC_ERR_STATE;
  }
  pc_state_publish(ns, (uint64_t)v);
  /* readers (gateway, pool's nonce view) reach the state only through the
   * receipt store's RCU pointer: close waits for them, then the old state
   * can go; receipts of the heights below the jump are dropped with it */
  node_rs_close(n->rs);
  pc_state_free(s->state);
  s->state = ns;
  s->sbind.state = ns;
  s->st = pc_exec_state_storage(&s->sbind);
  return node_rs_open(n->rs, ns);
}

static void xfer_done(store_t *s, node_msg_t *m) {
  pc_node_t *n = s->n;
  uint64_t h = m->a, got = 0;
  if (m->len < 64 || !s->inst) {
    PC_ERROR("store: state transfer DONE without an install in progress");
    xfer_installed(s, h, false, NULL);
    return;
  }
  pc_hash_t root, chain;
  memcpy(root.b, m->data, 32);
  memcpy(chain.b, m->data + 32, 32);
  int rc = pc_snapshot_install_finish(s->inst, &got);
  if (rc == PC_ERR_STATE) {
    PC_ERROR("store: state transfer to %llu: chunks missing", (unsigned long long)h);
    pc_snapshot_install_abort(s->inst);
  }
  s->inst = NULL;
  if (rc == 0 && got != h) rc = PC_ERR_STATE;
  if (rc == 0) rc = xfer_swap_state(s, h, &root);
  if (rc == 0) {
    pc_log_block_t base = {.height = h, .block_hash = chain, .exec_root = root, .cert = m->data + 64,
                           .cert_len = m->len - 64};
    int64_t seq = pc_log_append_base(s->log, &base);
    rc = seq < 0 ? (int)seq : pc_log_sync(s->log);
  }
  if (rc) {
    PC_ERROR("store: state transfer to height %llu failed: %s", (unsigned long long)h, pc_strerror(rc));
    xfer_installed(s, h, false, NULL);
    return;
  }
  s->last_h = h;
  s->last_chain = chain;
  s->executed = h;
  remember(n, h, &chain, &root);
  pthread_mutex_lock(&n->st_mu);
  n->st.decided = h;
  n->st.durable = h;
  n->st.state_transfers_done++;
  pthread_mutex_unlock(&n->st_mu);
  PC_INFO("store: state of height %llu installed by state transfer", (unsigned long long)h);
  xfer_installed(s, h, true, &root);
}

static void xfer_store_msg(store_t *s, node_msg_t *m) {
  switch (m->kind) {
  case NM_XFER_REQ: {
    uint8_t *out = NULL;
    size_t olen = 0;
    if (s->xsrv && node_xfer_serve(s->xsrv, m->peer, m->data, m->len, &out, &olen) == 0) {
      node_msg_t *r = node_msg_new(NM_XFER_REPLY, m->peer, 0, out, olen, NULL, 0);
      if (r) node_q_push(&s->n->store2cons, r);
      pthread_mutex_lock(&s->n->st_mu);
      s->n->st.xfer_served++;
      pthread_mutex_unlock(&s->n->st_mu);
    }
    free(out);
    break;
  }
  case NM_XFER_MANIFEST:
    if (s->inst) pc_snapshot_install_abort(s->inst); /* another target: start over */
    s->inst = pc_snapshot_install_begin(s->snap_dir, NULL, m->data, m->len);
    break;
  case NM_XFER_CHUNK:
    if (s->inst) {
      int rc = pc_snapshot_install_chunk(s->inst, (uint32_t)m->a, m->data, m->len);
      if (rc) PC_WARN("store: state-transfer chunk %llu not written: %s", (unsigned long long)m->a, pc_strerror(rc));
    }
    break;
  case NM_XFER_DONE: xfer_done(s, m); break;
  default: break;
  }
}

static unsigned store_poll(void *p, uint64_t now) {
  (void)now;
  store_t *s = p;
  pc_node_t *n = s->n;
  unsigned work = 0;
  node_q_flush(&n->store2cons);
  node_msg_t *m;
  for (unsigned k = 0; k < 256 && (m = node_q_pop(&n->cons2store)) != NULL; k++, work++) {
    if (m->kind == NM_PERSIST)
      persist(s, m);
    else if (m->kind == NM_DECIDED)
      decided(s, m);
    else
      xfer_store_msg(s, m);
    free(m);
  }
  node_rs_set_durable(n->rs, pc_log_durable_height(s->log));
  uint64_t ds = pc_log_durable_seq(s->log), cons = 0;
  while (s->pm_head && s->pm_head->log_seq <= ds) {
    pmap_t *pm = s->pm_head;
    cons = pm->cons_seq;
    s->pm_head = pm->next;
    if (!s->pm_head) s->pm_tail = NULL;
    free(pm);
  }
  if (cons) {
    /* release: pairs with the consensus stage's acquire load */
    atomic_store_explicit(&n->durable_cons_seq, cons, memory_order_release);
    work++;
  }
  return work;
}

static void store_hk(void *p, uint64_t now) {
  (void)now;
  store_t *s = p;
  uint64_t dh = pc_log_durable_height(s->log);
  uint64_t rh, rb, rt, re;
  node_rs_stats(s->n->rs, &rh, &rb, &rt, &re);
  pthread_mutex_lock(&s->n->st_mu);
  s->n->st.durable = dh;
  s->n->st.rs_heights = rh;
  s->n->st.rs_bytes = rb;
  s->n->st.rs_txs = rt;
  s->n->st.rs_evicted = re;
  pthread_mutex_unlock(&s->n->st_mu);
}

static void store_fini(void *p) {
  store_t *s = p;
  if (s->log) {
    int rc = pc_log_sync(s->log);
    if (rc) PC_WARN("store: final log sync: %s", pc_strerror(rc));
    pc_log_close(s->log);
    s->log = NULL;
  }
  if (s->inst) pc_snapshot_install_abort(s->inst);
  s->inst = NULL;
  node_xfer_server_free(s->xsrv);
  s->xsrv = NULL;
  pc_exec_destroy(s->exec);
  s->exec = NULL;
  node_rs_close(s->n->rs); /* readers stop seeing the state before it is freed */
  if (s->state) pc_state_free(s->state);
  s->state = NULL;
  while (s->pm_head) {
    pmap_t *pm = s->pm_head;
    s->pm_head = pm->next;
    free(pm);
  }
  s->pm_tail = NULL;
  free(s->frag);
  s->frag = NULL;
}

/* ============================================================ replica */

void pc_node_opts_default(pc_node_opts_t *o, const pc_cluster_t *cluster, uint16_t id) {
  memset(o, 0, sizeof *o);
  o->cluster = cluster;
  o->id = id;
  snprintf(o->data_dir, sizeof o->data_dir, "data-%u", id);
  o->net = PC_NODE_NET_UDP;
  o->sched = PC_SCHED_AUTO;
  o->exec_workers = 1;
  pc_gw_config_defaults(&o->gw);
}

pc_node_t *pc_node_create(const pc_node_opts_t *o) {
  if (!o->cluster || o->id >= o->cluster->n || !o->data_dir[0]) {
    PC_ERROR("node: bad options (cluster, id %u, data_dir)", o->id);
    return NULL;
  }
  if (o->sched >= PC_SCHED_COUNT) {
    PC_ERROR("node: bad scheduler %u", o->sched);
    return NULL;
  }
  pc_node_t *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->o = *o;
  n->cluster = *o->cluster;
  n->o.cluster = &n->cluster;
  const pc_cluster_t *c = &n->cluster;
  n->cp = (node_cons_params_t){.protocol = c->protocol, .vote_mode = c->vote_mode, .fast_path = c->fast_path,
                               .n = c->n, .f = c->f, .id = o->id, .chain_id = c->chain_id,
                               .fast_wait_ns = c->fast_wait_ns, .collector_wait_ns = c->collector_wait_ns,
                               .round_timeout_ns = c->round_timeout_ns, .window = c->window,
                               .checkpoint_interval = c->checkpoint_interval, .batch_size = c->batch_size,
                               .batch_bytes = (uint32_t)(c->batch_bytes > PC_BATCH_MAX ? PC_BATCH_MAX : c->batch_bytes),
                               .keep_decided = o->keep_decided};
  pthread_mutex_init(&n->st_mu, NULL);
  n->hist_chain = calloc(NODE_HIST, sizeof *n->hist_chain);
  n->hist_exec = calloc(NODE_HIST, sizeof *n->hist_exec);
  n->hist_h = calloc(NODE_HIST, sizeof *n->hist_h);
  char nm[32];
  int rc = 0;
  node_q_t *qs[] = {&n->net2cons, &n->net2pool, &n->cons2net, &n->pool2net, &n->cons2store,
                    &n->cons2pool, &n->pool2cons, &n->store2cons};
  for (size_t i = 0; i < PC_ARRAY_LEN(qs) && rc == 0; i++) {
    snprintf(nm, sizeof nm, "n%u-q%zu", o->id, i);
    rc = node_q_init(qs[i], nm, 4096, false);
  }
  snprintf(nm, sizeof nm, "n%u-client", o->id);
  if (rc == 0) rc = node_q_init(&n->client2pool, nm, 16384, true);
  store_t *st = calloc(1, sizeof *st);
  if (st) st->n = n;
  n->store = st;
  n->pool = node_pool_new(n);
  n->cons = node_cons_new(n);
  n->net = node_net_new(n);
  n->gw = node_gw_new(n);
  n->rs = node_rs_new(pc_cluster_depth(&n->cluster), o->receipt_heights ? o->receipt_heights : NODE_HIST,
                      o->receipt_bytes ? o->receipt_bytes : 256ull << 20);
  n->refused = node_refused_new(0);
  if (rc == 0) rc = node_sig_init(n);
  if (rc || !n->refused || !st || !n->pool || !n->cons || !n->net || !n->gw || !n->rs || !n->hist_chain || !n->hist_exec || !n->hist_h) {
    PC_ERROR("node: cannot allocate replica %u", o->id);
    pc_node_destroy(n);
    return NULL;
  }
  return n;
}

void pc_node_destroy(pc_node_t *n) {
  if (!n) return;
  node_q_t *qs[] = {&n->net2cons, &n->net2pool, &n->cons2net, &n->pool2net, &n->cons2store,
                    &n->cons2pool, &n->pool2cons, &n->store2cons, &n->client2pool};
  for (size_t i = 0; i < PC_ARRAY_LEN(qs); i++) node_q_fini(qs[i]);
  for (size_t i = 0; i < n->n_recs; i++) free(n->recs[i].data);
  free(n->recs);
  free(n->store);
  node_pool_free(n->pool);
  node_cons_free(n->cons);
  node_net_free(n->net);
  node_gw_free(n->gw);
  node_rs_free(n->rs);
  node_refused_free(n->refused);
  node_sig_fini(n);
  free(n->hist_chain);
  free(n->hist_exec);
  free(n->hist_h);
  pthread_mutex_destroy(&n->st_mu);
  free(n);
}

pc_stage_def_t pc_node_stage(pc_node_t *n, int i) {
  switch (i) {
  case PC_NODE_STAGE_STORE:
    return (pc_stage_def_t){.name = "store", .ctx = n->store, .init = store_init, .poll = store_poll,
                            .housekeeping = store_hk, .fini = store_fini};
  case PC_NODE_STAGE_CONSENSUS: return node_cons_stage(n->cons);
  case PC_NODE_STAGE_POOL: return node_pool_stage(n->pool);
  case PC_NODE_STAGE_GATEWAY: return node_gw_stage(n->gw);
  default: return node_net_stage(n->net);
  }
}

int pc_node_gateway_ports(pc_node_t *n, uint16_t *port, uint16_t *http_port) {
  return node_gw_ports(n->gw, port, http_port);
}

int pc_node_submit(pc_node_t *n, const void *tx, size_t len) { return node_submit(n, tx, len, false); }

int node_submit(pc_node_t *n, const void *tx, size_t len, bool verified) {
  if (len == 0 || len > PC_TX_MAX) return PC_ERR_TOO_LARGE;
  if (node_pool_full(n)) return PC_ERR_FULL;
  node_msg_t *m = node_msg_new(NM_CLIENT_TX, 0, verified, tx, len, NULL, 0);
  if (!m) return PC_ERR_NOMEM;
  if (rte_ring_mp_enqueue(n->client2pool.r, m) != 0) {
    free(m);
    return PC_ERR_FULL;
  }
  return 0;
}

void pc_node_get_status(pc_node_t *n, pc_node_status_t *st) {
  pthread_mutex_lock(&n->st_mu);
  *st = n->st;
  pthread_mutex_unlock(&n->st_mu);
  node_refused_stats(n->refused, &st->refused_noted, &st->refused_answered);
}

int pc_node_root_at(pc_node_t *n, uint64_t h, pc_hash_t *chain, pc_hash_t *root) {
  int rc = PC_ERR_NOT_FOUND;
  pthread_mutex_lock(&n->st_mu);
  size_t i = h % NODE_HIST;
  if (h && n->hist_h[i] == h) {
    if (chain) *chain = n->hist_chain[i];
    if (root) *root = n->hist_exec[i];
    rc = 0;
  }
  pthread_mutex_unlock(&n->st_mu);
  return rc;
}
