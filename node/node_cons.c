/* node_cons.c — the consensus stage: drives one pc_consensus_t (SBFT or
 * PBFT) with messages from the net stage, batches from the pool stage,
 * execution results and durability from the store stage, and turns its
 * actions into ring messages. Implements consensus.h's durability barrier:
 * every send emitted after a PERSIST with seq s waits in `held` until the
 * store reports s durable; then they go out in emission order and
 * on_persist_done(s) is called. Never calls the instance from inside its
 * action callback. */
#include <stdlib.h>
#include <string.h>

#include "consensus/consensus.h"
#include "node/node_int_private.h"

typedef struct held {
  struct held *next;
  uint64_t need_seq; /* released once durable ≥ need_seq */
  node_msg_t *m;
} held_t;

typedef struct {
  pc_node_t *n;
  pc_consensus_t *c;
  pc_ed25519_signer_t signer_state;
  uint8_t (*pubkeys)[PC_PUBKEY_SIZE];
  uint64_t last_persist_seq; /* emitted */
  uint64_t done_seq;         /* reported with on_persist_done */
  held_t *held, *held_tail;
  size_t n_held;
  uint64_t next_tick;
  uint8_t *sendbuf;
  /* state transfer: the fetcher, and the target kept from the action */
  pc_xfer_t *xfer;
  uint64_t xfer_h;       /* target height being fetched or installed (0 = none) */
  bool xfer_installing;  /* DONE handed to the store, waiting for INSTALLED */
  pc_hash_t xfer_root, xfer_chain;
  uint8_t *xfer_cert;
  size_t xfer_cert_len;
  /* the latest PERSIST, not yet handed to the store: see push_persist */
  node_msg_t *pend_persist;
} cons_t;

/* PERSIST records go to the store one step late: a protocol persists the
 * DECIDED record of h just before it emits DECIDE h, and the store appends
 * what it gets in order to one log whose durability is a prefix. Handing
 * the block over first means a durable DECIDED record implies a durable
 * block: a crash can no longer leave consensus restored past the end of
 * the ledger (a gap the store could never fill). The reverse (block
 * durable, record lost) is harmless: the height is decided again from the
 * peers and the store skips heights already in its log. The held record
 * goes out before the next one, after a DECIDE, and at the end of every
 * poll; the barrier is unaffected (sends wait on the record's seq). */
static void flush_persist(cons_t *s) {
  if (!s->pend_persist) return;
  node_q_push(&s->n->cons2store, s->pend_persist);
  s->pend_persist = NULL;
}

static void to_net(cons_t *s, uint16_t peer, const uint8_t *data, size_t len) {
  uint8_t tag = NODE_TAG_CONSENSUS;
  node_msg_t *m = node_msg_new(NM_NET, peer, 0, &tag, 1, data, len);
  if (!m) return;
  if (s->held || s->last_persist_seq > s->done_seq) {
    held_t *h = malloc(sizeof *h);
    if (!h) {
      free(m);
      return;
    }
    h->next = NULL;
    h->need_seq = s->last_persist_seq;
    h->m = m;
    if (s->held_tail)
      s->held_tail->next = h;
    else
      s->held = h;
    s->held_tail = h;
    s->n_held++;
    pthread_mutex_lock(&s->n->st_mu);
    if (s->n_held > s->n->st.held_max) s->n->st.held_max = s->n_held;
    pthread_mutex_unlock(&s->n->st_mu);
    return;
  }
  node_q_push(&s->n->cons2net, m);
}

/* Sends a state-transfer message: no durability barrier (it carries no
 * vote), straight to the net stage. */
static void xfer_to_net(cons_t *s, uint16_t peer, const uint8_t *data, size_t len) {
  uint8_t tag = NODE_TAG_CONSENSUS;
  node_msg_t *m = node_msg_new(NM_NET, peer, 0, &tag, 1, data, len);
  if (m) node_q_push(&s->n->cons2net, m);
}

static void on_xfer_action(void *ctx, const pc_xfer_action_t *a) {
  cons_t *s = ctx;
  pc_node_t *n = s->n;
  node_msg_t *m = NULL;
  switch (a->kind) {
  case PC_XFER_ACT_SEND: xfer_to_net(s, a->to, a->data, a->len); return;
  case PC_XFER_ACT_MANIFEST: m = node_msg_new(NM_XFER_MANIFEST, a->to, s->xfer_h, a->data, a->len, NULL, 0); break;
  case PC_XFER_ACT_CHUNK: m = node_msg_new(NM_XFER_CHUNK, a->to, a->index, a->data, a->len, NULL, 0); break;
  case PC_XFER_ACT_DONE: {
    uint8_t *buf = malloc(64 + s->xfer_cert_len);
    if (!buf) return;
    memcpy(buf, s->xfer_root.b, 32);
    memcpy(buf + 32, s->xfer_chain.b, 32);
    if (s->xfer_cert_len) memcpy(buf + 64, s->xfer_cert, s->xfer_cert_len);
    m = node_msg_new(NM_XFER_DONE, 0, s->xfer_h, buf, 64 + s->xfer_cert_len, NULL, 0);
    free(buf);
    if (m) s->xfer_installing = true;
    break;
  }
  default: return;
  }
  if (m) node_q_push(&n->cons2store, m);
}

/* PC_ACT_STATE_TRANSFER: keep root, chain hash and certificate; start (or
 * continue) fetching. Without a manifest or a chain hash the daemon cannot
 * install the state: counted and logged only. */
static void start_transfer(cons_t *s, const pc_cons_action_t *a) {
  pc_node_t *n = s->n;
  uint64_t h = a->u.transfer.height;
  pthread_mutex_lock(&n->st_mu);
  n->st.state_transfers_asked++;
  pthread_mutex_unlock(&n->st_mu);
  if (s->xfer_installing) return; /* the store is installing; consensus hears when it is done */
  if (!a->u.transfer.manifest || !a->u.transfer.chain_hash || !s->xfer) {
    PC_WARN("consensus stage: state transfer to height %llu without %s: cannot fetch it", (unsigned long long)h,
            !a->u.transfer.manifest ? "a snapshot manifest" : "a chain hash");
    return;
  }
  if (s->xfer_h == h && pc_xfer_active(s->xfer)) return;
  size_t clen = a->u.transfer.cert ? pc_cert_encoded_size(a->u.transfer.cert) : 0;
  uint8_t *cb = malloc(clen ? clen : 1);
  if (!cb) return;
  if (clen) {
    pc_writer_t w;
    pc_writer_init(&w, cb, clen);
    pc_cert_encode(&w, a->u.transfer.cert);
    if (pc_writer_finish(&w) != 0) clen = 0;
  }
  free(s->xfer_cert);
  s->xfer_cert = cb;
  s->xfer_cert_len = clen;
  s->xfer_h = h;
  s->xfer_root = *a->u.transfer.exec_root;
  s->xfer_chain = *a->u.transfer.chain_hash;
  PC_INFO("consensus stage: state transfer to height %llu", (unsigned long long)h);
  int rc = pc_xfer_start(s->xfer, h, a->u.transfer.manifest, pc_now_ns());
  if (rc) PC_WARN("consensus stage: state transfer to %llu not started: %s", (unsigned long long)h, pc_strerror(rc));
}

static void on_action(void *ctx, const pc_cons_action_t *a) {
  cons_t *s = ctx;
  pc_node_t *n = s->n;
  switch (a->kind) {
  case PC_ACT_SEND: to_net(s, a->u.msg.to, a->u.msg.data, a->u.msg.len); break;
  case PC_ACT_BROADCAST: to_net(s, NODE_BROADCAST, a->u.msg.data, a->u.msg.len); break;
  case PC_ACT_PERSIST: {
    node_msg_t *m = node_msg_new(NM_PERSIST, 0, a->u.persist.seq, a->u.persist.data, a->u.persist.len, NULL, 0);
    if (!m) {
      PC_ERROR("consensus stage: out of memory for a persist record; stopping votes");
      return; /* never released: the protocol stays blocked rather than unsafe */
    }
    s->last_persist_seq = a->u.persist.seq;
    flush_persist(s);
    s->pend_persist = m;
    break;
  }
  case PC_ACT_DECIDE: {
    /* data: block id ‖ chain hash ‖ block (91) ‖ u32 batch len ‖ batch ‖ certificate */
    size_t clen = pc_cert_encoded_size(a->u.decide.cert);
    size_t need = 64 + PC_BLOCK_SIZE + 4 + a->u.decide.batch_len + clen;
    uint8_t *buf = malloc(need);
    if (!buf) {
      PC_ERROR("consensus stage: out of memory for decided height %llu",
               (unsigned long long)a->u.decide.height);
      return;
    }
    pc_writer_t w;
    pc_writer_init(&w, buf, need);
    pc_put_bytes(&w, a->u.decide.block_id->b, 32);
    pc_put_bytes(&w, a->u.decide.chain_hash->b, 32);
    pc_block_encode(&w, a->u.decide.block);
    pc_put_blob32(&w, a->u.decide.batch, a->u.decide.batch_len);
    pc_cert_encode(&w, a->u.decide.cert);
    if (pc_writer_finish(&w) == 0) {
      node_msg_t *m = node_msg_new(NM_DECIDED, 0, a->u.decide.height, buf, w.len, NULL, 0);
      if (m) node_q_push(&n->cons2store, m);
      m = node_msg_new(NM_POOL_DECIDED, 0, a->u.decide.height, a->u.decide.batch, a->u.decide.batch_len, NULL, 0);
      if (m) node_q_push(&n->cons2pool, m);
    }
    free(buf);
    flush_persist(s); /* the DECIDED record after its block */
    break;
  }
  case PC_ACT_NEED_BATCH: {
    node_msg_t *m = node_msg_new(NM_NEED_BATCH, 0, a->u.need_batch.height, NULL, 0, NULL, 0);
    if (m) node_q_push(&n->cons2pool, m);
    break;
  }
  case PC_ACT_STATE_TRANSFER: start_transfer(s, a); break;
  default: break;
  }
}

void *node_cons_new(pc_node_t *n) {
  cons_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->n = n;
  s->pubkeys = calloc(n->cp.n, sizeof *s->pubkeys);
  if (!s->pubkeys) {
    free(s);
    return NULL;
  }
  for (uint16_t i = 0; i < n->cp.n; i++) memcpy(s->pubkeys[i], n->cluster.replicas[i].pubkey, PC_PUBKEY_SIZE);
  return s;
}

void node_cons_free(void *p) {
  cons_t *s = p;
  if (!s) return;
  free(s->pubkeys);
  free(s);
}

static int cons_init(void *p) {
  cons_t *s = p;
  pc_node_t *n = s->n;
  const node_cons_params_t *cp = &n->cp;
  pc_consensus_config_t cfg;
  pc_consensus_config_defaults(&cfg, cp->n, cp->f, cp->id);
  cfg.protocol = cp->protocol;
  cfg.chain_id = cp->chain_id;
  cfg.vote_mode = cp->vote_mode;
  cfg.fast_path = cp->fast_path;
  cfg.delta_fast_ns = cp->fast_wait_ns;
  cfg.delta_collect_ns = cp->collector_wait_ns;
  cfg.base_timeout_ns = cp->round_timeout_ns;
  cfg.window = cp->window;
  cfg.checkpoint_interval = cp->checkpoint_interval;
  cfg.batch_max_txs = cp->batch_size;
  cfg.batch_max_bytes = cp->batch_bytes;
  if (cp->keep_decided) cfg.keep_decided = cp->keep_decided;
  cfg.signer = pc_signer_ed25519(&s->signer_state, n->o.seckey, (const uint8_t(*)[PC_PUBKEY_SIZE])s->pubkeys, cp->n);
  pc_consensus_io_t io = {.ctx = s, .action = on_action};
  s->c = pc_consensus_create(&cfg, &io);
  if (!s->c) return PC_ERR_CONFIG;
  pc_xfer_config_t xc = {.chain_id = cp->chain_id, .n = cp->n, .my_id = cp->id, .ctx = s, .action = on_xfer_action};
  s->xfer = pc_xfer_new(&xc);
  if (!s->xfer) {
    pc_consensus_destroy(s->c);
    s->c = NULL;
    return PC_ERR_NOMEM;
  }
  size_t bad = 0;
  for (size_t i = 0; i < n->n_recs; i++)
    if (pc_consensus_restore(s->c, n->recs[i].data, n->recs[i].len) != 0) bad++;
  if (n->n_recs) PC_INFO("consensus: restored %zu records (%zu refused)", n->n_recs - bad, bad);
  /* what the store replayed: report the recent executed heights before start */
  node_msg_t *m;
  while ((m = node_q_pop(&n->store2cons)) != NULL) {
    if (m->kind == NM_EXECUTED)
      pc_consensus_on_executed(s->c, m->a, (const pc_hash_t *)m->data, m->b ? (const pc_hash_t *)(m->data + 32) : NULL);
    free(m);
  }
  int rc = pc_consensus_start(s->c, pc_now_ns());
  flush_persist(s);
  if (rc) {
    PC_ERROR("consensus: start failed: %s", pc_strerror(rc));
    pc_consensus_destroy(s->c);
    s->c = NULL;
    return rc;
  }
  return 0;
}

static void release_held(cons_t *s, uint64_t durable) {
  while (s->held && s->held->need_seq <= durable) {
    held_t *h = s->held;
    s->held = h->next;
    if (!s->held) s->held_tail = NULL;
    s->n_held--;
    node_q_push(&s->n->cons2net, h->m);
    free(h);
  }
}

static unsigned cons_poll(void *p, uint64_t now) {
  cons_t *s = p;
  pc_node_t *n = s->n;
  unsigned work = 0;
  node_q_flush(&n->cons2net);
  node_q_flush(&n->cons2store);
  node_q_flush(&n->cons2pool);
  node_msg_t *m;
  /* durability first: it releases sends */
  /* acquire: pairs with the store stage's release store */
  uint64_t d = atomic_load_explicit(&n->durable_cons_seq, memory_order_acquire);
  if (d > s->done_seq) {
    if (d > s->last_persist_seq) d = s->last_persist_seq;
    release_held(s, d);
    s->done_seq = d;
    pc_consensus_on_persist_done(s->c, d);
    release_held(s, s->done_seq); /* sends it emitted that need nothing newer */
    work++;
  }
  for (unsigned k = 0; k < 256 && (m = node_q_pop(&n->net2cons)) != NULL; k++, work++) {
    if (m->len >= 2 && pc_msg_is_xfer(m->data[1])) {
      /* byte 1 of the envelope is the type */
      if (m->data[1] == PC_MSG_MANIFEST_REQ || m->data[1] == PC_MSG_CHUNK_REQ) {
        m->kind = NM_XFER_REQ; /* the store thread serves it (file I/O) */
        node_q_push(&n->cons2store, m);
        continue;
      }
      pc_xfer_on_message(s->xfer, m->peer, m->data, m->len, now);
      free(m);
      continue;
    }
    pc_consensus_on_message(s->c, m->peer, m->data, m->len);
    free(m);
  }
  for (unsigned k = 0; k < 64 && (m = node_q_pop(&n->pool2cons)) != NULL; k++, work++) {
    pc_consensus_on_batch(s->c, m->a, m->data, m->len, m->b);
    free(m);
  }
  for (unsigned k = 0; k < 64 && (m = node_q_pop(&n->store2cons)) != NULL; k++, work++) {
    if (m->kind == NM_XFER_REPLY) {
      xfer_to_net(s, m->peer, m->data, m->len);
    } else if (m->kind == NM_XFER_INSTALLED) {
      s->xfer_installing = false;
      if (m->b && m->a == s->xfer_h) {
        int rc = pc_consensus_on_transfer_done(s->c, m->a, (const pc_hash_t *)m->data);
        if (rc)
          PC_WARN("consensus stage: transfer to %llu refused by the protocol: %s", (unsigned long long)m->a,
                  pc_strerror(rc));
        node_msg_t *pj = node_msg_new(NM_POOL_JUMP, 0, m->a, NULL, 0, NULL, 0);
        if (pj) node_q_push(&n->cons2pool, pj);
      }
      s->xfer_h = 0;
    } else if (m->kind == NM_EXECUTED) {
      pc_consensus_on_executed(s->c, m->a, (const pc_hash_t *)m->data,
                               m->b ? (const pc_hash_t *)(m->data + 32) : NULL);
    }
    free(m);
  }
  if (s->xfer && now >= pc_xfer_next_deadline(s->xfer)) {
    pc_xfer_on_tick(s->xfer, now);
    work++;
  }
  uint64_t dl = pc_consensus_next_deadline(s->c);
  if (now >= dl || now >= s->next_tick) {
    pc_consensus_on_tick(s->c, now);
    s->next_tick = now + 1000000ull;
    work++;
  }
  flush_persist(s);
  return work;
}

static void cons_hk(void *p, uint64_t now) {
  (void)now;
  cons_t *s = p;
  pc_consensus_stats_t cs;
  pc_consensus_get_stats(s->c, &cs);
  pthread_mutex_lock(&s->n->st_mu);
  s->n->st.cons_msgs_in = cs.msgs_received;
  s->n->st.cons_msgs_out = cs.msgs_sent;
  s->n->st.cons_rejected = cs.rejected;
  s->n->st.round_changes = cs.round_changes;
  s->n->st.fast_decisions = cs.fast_decisions;
  s->n->st.stable_checkpoint = cs.stable_checkpoint;
  pthread_mutex_unlock(&s->n->st_mu);
}

static void cons_fini(void *p) {
  cons_t *s = p;
  free(s->pend_persist); /* never reached the store: not durable */
  s->pend_persist = NULL;
  while (s->held) {
    held_t *h = s->held;
    s->held = h->next;
    free(h->m); /* not durable: never sent */
    free(h);
  }
  s->held_tail = NULL;
  s->n_held = 0;
  pc_consensus_destroy(s->c);
  s->c = NULL;
  pc_xfer_free(s->xfer);
  s->xfer = NULL;
  free(s->xfer_cert);
  s->xfer_cert = NULL;
}

void *node_xfer_server_new(pc_node_t *n, const char *snap_dir) {
  pc_xfer_server_t *srv = pc_xfer_server_new(n->cp.chain_id, n->cp.n, n->cp.id, snap_dir, NULL);
  if (!srv) PC_ERROR("store: cannot create the state-transfer server");
  return srv;
}

void node_xfer_server_free(void *srv) { pc_xfer_server_free(srv); }

int node_xfer_serve(void *srv, uint16_t from, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len) {
  uint8_t *buf = malloc(PC_XFER_REPLY_MAX);
  if (!buf) return PC_ERR_NOMEM;
  int rc = pc_xfer_serve(srv, from, req, len, buf, PC_XFER_REPLY_MAX, out_len);
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf;
  return 0;
}

pc_stage_def_t node_cons_stage(void *c) {
  return (pc_stage_def_t){.name = "consensus", .ctx = c, .init = cons_init, .poll = cons_poll,
                          .housekeeping = cons_hk, .fini = cons_fini};
}
