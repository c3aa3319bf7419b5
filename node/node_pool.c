/* node_pool.c — the pool stage: the txpool (client and peer transactions,
 * signature checks, the mempool), batches cut for the proposer when
 * consensus asks for a height, and the bookkeeping of those cuts until the
 * height is decided.
 *
 * Batch rule. Several cuts may be outstanding (one per height asked for,
 * up to consensus's window); the mempool keeps a sender with a
 * transaction in an outstanding cut out of every other cut until that cut
 * settles (the per-sender cut rule, txpool/txpool.h), so a later height
 * never carries a sender's next nonces while the earlier ones may still be
 * voided. This stage only has to settle every cut exactly once:
 *   - asked again for a height it already cut (new round or view): the
 *     same batch again; the cut stays outstanding (it may still be decided
 *     as proposed);
 *   - a height decided: every cut at or below it settles — kept if decided
 *     as cut (the decided batch removes its transactions), else released;
 *   - state transfer reached height a (NM_POOL_JUMP): every cut at or
 *     below a is released and the senders' nonces re-read from the state;
 *   - a request for a height already decided gets an empty batch and
 *     leaves no cut (it could never settle).
 * Bucket ownership follows the target height's checkpoint epoch
 * (pc_txpool_epoch_of with the cluster's checkpoint interval), so it
 * rotates after each checkpoint height, alike on every replica; a height
 * of a new epoch is cut only once the earlier epochs are decided here
 * (earlier_epochs_decided), so the old and the new owner of a sender never
 * both have it in flight. Under PBFT
 * the mempool has one owner (the primary cuts every sender).
 */
#include <stdlib.h>
#include <string.h>

#include "node/node_int_private.h"
#include "txpool/txpool.h"


typedef struct cutrec {
  struct cutrec *next;
  uint64_t h;
  uint8_t *batch;
  size_t len;
} cutrec_t;

typedef struct need {
  struct need *next;
  uint64_t h, since;
} need_t;

typedef struct {
  pc_node_t *n;
  pc_txpool_t *pool;
  need_t *need;
  cutrec_t *cuts;
  uint8_t *buf;
  size_t cap;
  uint64_t rejected;
  uint64_t decided_h; /* highest height reported decided */
} pool_t;

static uint64_t view_nonce(void *ctx, const uint8_t sender[PC_TX_PUBKEY_SIZE]) {
  pool_t *s = ctx;
  /* through the receipt store's RCU-protected state pointer: the store
   * stage (another thread) clears it before it frees the state */
  return node_rs_nonce(s->n->rs, sender);
}

static bool view_executed(void *ctx, const pc_hash_t *h) {
  (void)ctx;
  (void)h;
  return false; /* the nonce check keeps a transaction from executing twice */
}

static int tp_broadcast(void *ctx, const uint8_t *batch, size_t len) {
  pool_t *s = ctx;
  uint8_t tag = NODE_TAG_TXBATCH;
  node_msg_t *m = node_msg_new(NM_NET, NODE_BROADCAST, 0, &tag, 1, batch, len);
  if (!m) return PC_ERR_AGAIN;
  node_q_push(&s->n->pool2net, m);
  return 0;
}

static int tp_recv(void *ctx, uint16_t *from, uint8_t *buf, size_t cap) {
  pool_t *s = ctx;
  node_msg_t *m = node_q_pop(&s->n->net2pool);
  if (!m) return 0;
  int rc;
  if (m->len > cap) {
    rc = PC_ERR_TOO_LARGE;
  } else {
    memcpy(buf, m->data, m->len);
    *from = m->peer;
    rc = (int)m->len;
  }
  free(m);
  return rc;
}

/* A client's transaction the pool refused: remembered so a WAIT for it
 * answers "rejected: <reason>" — not a duplicate (that one is pending or
 * decided already). Pool thread. */
static void note_refusal(pc_node_t *n, const pc_hash_t *h, int err, pc_txpool_reason_t why) {
  if (why != PC_TXR_BAD_FORMAT && why != PC_TXR_TOO_LARGE && why != PC_TXR_DUPLICATE)
    node_pool_refused(n, h, err, (int)why);
}

/* txpool's on_refused: a client transaction refused once a verify worker
 * checked it (submit had queued it). */
static void pool_refused_later(void *ctx, const pc_hash_t *h, uint16_t origin, int err, pc_txpool_reason_t why) {
  if (origin == PC_ORIGIN_CLIENT || origin == PC_ORIGIN_CLIENT_VERIFIED) note_refusal(ctx, h, err, why);
}

static int pool_init(void *p) {
  pool_t *s = p;
  pc_node_t *n = s->n;
  pc_txpool_cfg_t cfg;
  pc_txpool_cfg_default(&cfg, n->cp.chain_id, n->cp.n, n->cp.id);
  if (n->cp.protocol == PC_PROTO_PBFT) {
    /* one primary proposes: it must be able to cut every sender's transactions */
    cfg.mempool.n_replicas = 1;
    cfg.mempool.self = 0;
  }
  if (n->o.pool_max_txs) {
    cfg.mempool.max_count = n->o.pool_max_txs;
    cfg.mempool.sender_max_count = PC_MAX(1u, n->o.pool_max_txs / 64);
  }
  cfg.n_workers = n->o.verify_workers;
  cfg.on_verified = node_sig_note;
  cfg.on_verified_ctx = n;
  cfg.on_refused = pool_refused_later;
  cfg.on_refused_ctx = n;
  for (unsigned i = 0; i < PC_TXPOOL_MAX_WORKERS; i++)
    cfg.worker_cores[i] = n->o.verify_cores && i < n->o.verify_workers ? n->o.verify_cores[i] : -1;
  pc_tx_state_view_t view = {.ctx = s, .account_nonce = view_nonce, .tx_executed = view_executed};
  pc_txpool_transport_t tp = {.ctx = s, .broadcast = tp_broadcast, .recv = tp_recv};
  s->pool = pc_txpool_create(&cfg, &view, &tp);
  s->cap = n->cp.batch_bytes;
  s->buf = malloc(s->cap);
  return s->pool && s->buf ? 0 : PC_ERR_CONFIG;
}

static void cut_forget(pool_t *s, uint64_t h, const uint8_t *decided, size_t dlen) {
  for (cutrec_t **pp = &s->cuts; *pp;) {
    cutrec_t *c = *pp;
    if (c->h != h) {
      pp = &c->next;
      continue;
    }
    bool same = decided && c->len == dlen && (dlen == 0 || memcmp(c->batch, decided, dlen) == 0);
    if (!same && c->len) pc_mempool_release(pc_txpool_mempool(s->pool), c->batch, c->len);
    *pp = c->next;
    free(c->batch);
    free(c);
  }
}

/* Records the batch answered for height h (len 0: an empty one, kept under
 * PBFT only); NULL when out of memory. */
static cutrec_t *cut_record(pool_t *s, uint64_t h, const uint8_t *batch, size_t len) {
  cutrec_t *c = malloc(sizeof *c);
  uint8_t *copy = c && len ? malloc(len) : NULL;
  if (!c || (len && !copy)) {
    free(c);
    return NULL;
  }
  if (len) memcpy(copy, batch, len);
  *c = (cutrec_t){.next = s->cuts, .h = h, .batch = copy, .len = len};
  s->cuts = c;
  return c;
}

static cutrec_t *cut_find(const pool_t *s, uint64_t h) {
  for (cutrec_t *c = s->cuts; c; c = c->next)
    if (c->h == h) return c;
  return NULL;
}

/* Bucket owners change with the epoch: a sender the previous owner cut
 * for a height of the previous epoch may still sit in that undecided
 * batch, and the new owner would cut it again — two copies decided, the
 * second failing as used (and counted and indexed as a second execution).
 * So a height of a new epoch gets a cut only once every height of the
 * earlier epochs is decided here; until then it gets an empty batch. PBFT
 * has one owner (the primary) in every epoch. */
static bool earlier_epochs_decided(const pool_t *s, uint64_t h) {
  const node_cons_params_t *cp = &s->n->cp;
  if (cp->protocol == PC_PROTO_PBFT) return true;
  return pc_txpool_epoch_of(s->decided_h + 1, cp->checkpoint_interval) ==
         pc_txpool_epoch_of(h, cp->checkpoint_interval);
}

/* PBFT's primary cuts every sender, and a view change makes another
 * replica primary while the old primary's batches for lower heights are
 * still undecided — the new primary re-proposes them from prepared
 * certificates, without this stage. Cutting the same senders for a higher
 * height would decide two copies (seen once in CI: 2009 transactions
 * executed of 1985 submitted, the copies failing as used). So under PBFT a
 * height gets a cut only when every undecided height below it was
 * answered by this stage (a cut or an empty batch, both recorded); until
 * the others are decided it gets an empty batch. In a stable view the
 * primary answered every height itself and nothing changes. */
static bool lower_heights_answered_here(const pool_t *s, uint64_t h) {
  if (s->n->cp.protocol != PC_PROTO_PBFT) return true;
  for (uint64_t x = s->decided_h + 1; x < h; x++)
    if (!cut_find(s, x)) return false;
  return true;
}

static uint64_t min_cut(const pool_t *s) {
  uint64_t h = UINT64_MAX;
  for (const cutrec_t *c = s->cuts; c; c = c->next)
    if (c->h < h) h = c->h;
  return h;
}

/* Hands consensus the batch for height h (stamped with the wall clock:
 * consensus measures batch-to-decision latency from it). */
static void send_batch(pc_node_t *n, uint64_t h, const uint8_t *batch, size_t len) {
  node_msg_t *b = node_msg_new(NM_BATCH, 0, h, batch, len, NULL, 0);
  if (!b) return;
  b->b = pc_wall_us();
  node_q_push(&n->pool2cons, b);
}

static unsigned pool_poll(void *p, uint64_t now) {
  pool_t *s = p;
  pc_node_t *n = s->n;
  unsigned work = 0;
  node_q_flush(&n->pool2net);
  node_q_flush(&n->pool2cons);
  node_msg_t *m;
  for (unsigned k = 0; k < 512 && (m = node_q_pop(&n->client2pool)) != NULL; k++, work++) {
    uint16_t origin = m->a ? PC_ORIGIN_CLIENT_VERIFIED : PC_ORIGIN_CLIENT;
    pc_hash_t h;
    pc_txpool_reason_t why = PC_TXR_BAD_FORMAT;
    int rc = pc_txpool_submit(s->pool, m->data, m->len, origin, &h, &why);
    if (rc != 0) {
      s->rejected++;
      note_refusal(n, &h, rc, why);
    }
    free(m);
  }
  work += pc_txpool_poll(s->pool, now);
  atomic_store_explicit(&n->pool_full, pc_txpool_backpressure(s->pool), memory_order_relaxed);
  for (unsigned k = 0; k < 256 && (m = node_q_pop(&n->cons2pool)) != NULL; k++, work++) {
    if (m->kind == NM_NEED_BATCH) {
      /* asked again for a height it already cut: the same batch (see the
       * batch rule at the top; releasing it here would let its
       * transactions into a second height) */
      cutrec_t *same = cut_find(s, m->a);
      if (same) {
        send_batch(n, m->a, same->batch, same->len);
        free(m);
        continue;
      }
      need_t *nd = malloc(sizeof *nd);
      if (nd) {
        nd->h = m->a;
        nd->since = now;
        nd->next = NULL;
        need_t **pp = &s->need;
        while (*pp) pp = &(*pp)->next;
        *pp = nd;
      }
    } else if (m->kind == NM_POOL_DECIDED) {
      /* decisions come in height order: every cut at or below this height
       * is now settled (kept if decided as cut, else released) */
      for (uint64_t h0 = 0; s->cuts && (h0 = min_cut(s)) < m->a;) cut_forget(s, h0, NULL, 0);
      cut_forget(s, m->a, m->data, m->len);
      if (m->a > s->decided_h) s->decided_h = m->a;
      pc_txpool_decided(s->pool, m->a, m->data, m->len);
      pc_txpool_set_next_height(s->pool, m->a + 1);
    } else if (m->kind == NM_POOL_JUMP) {
      /* state transfer reached height a: every cut at or below it is void,
       * and the decided blocks skipped never reached the pool */
      for (uint64_t h0 = 0; s->cuts && (h0 = min_cut(s)) <= m->a;) cut_forget(s, h0, NULL, 0);
      if (m->a > s->decided_h) s->decided_h = m->a;
      pc_txpool_jumped(s->pool, m->a);
    }
    free(m);
  }
  pc_batch_limits_t lim = {.max_count = n->cp.batch_size, .max_bytes = n->cp.batch_bytes,
                           .max_wait_ns = n->cluster.batch_wait_ns};
  pc_mempool_t *mp = pc_txpool_mempool(s->pool);
  while (s->need) {
    need_t *nd = s->need;
    const uint8_t *out = NULL; /* the batch proposed; NULL = empty */
    size_t out_len = 0;
    cutrec_t *c = cut_find(s, nd->h);
    if (c) { /* asked twice before answering: the batch already cut */
      out = c->batch;
      out_len = c->len;
    } else if (nd->h > s->decided_h && earlier_epochs_decided(s, nd->h) && lower_heights_answered_here(s, nd->h)) {
      /* else a late request, or an epoch boundary not yet decided: an
       * empty batch, no cut */
      bool force = now - nd->since >= n->cluster.batch_wait_ns;
      uint64_t epoch = pc_txpool_epoch_of(nd->h, n->cp.checkpoint_interval);
      pc_writer_t w;
      pc_writer_init(&w, s->buf, s->cap);
      int rc = pc_mempool_cut(mp, epoch, nd->h, &lim, now, force, &w);
      if (rc == PC_ERR_AGAIN) break;
      if (rc > 0) {
        /* kept until the height settles; without the record the cut could
         * never settle, so it is undone and an empty batch proposed */
        const cutrec_t *rec = cut_record(s, nd->h, s->buf, w.len);
        if (rec) {
          out = rec->batch;
          out_len = rec->len;
        } else {
          pc_mempool_release(mp, s->buf, w.len);
        }
      } /* rc < 0 (overflow): an empty batch rather than a stall */
    }
    if (!c && !out && nd->h > s->decided_h && s->n->cp.protocol == PC_PROTO_PBFT) {
      /* PBFT: an empty answer is recorded too (asked again: empty again),
       * so the heights above it still count as answered here */
      (void)cut_record(s, nd->h, NULL, 0);
    }
    send_batch(n, nd->h, out, out_len);
    s->need = nd->next;
    free(nd);
    work++;
  }
  return work;
}

static void pool_hk(void *p, uint64_t now) {
  (void)now;
  pool_t *s = p;
  pc_txpool_stats_t ts;
  pc_txpool_stats(s->pool, &ts);
  node_pool_note_stats(s->n, ts.gossip_bad_batches, ts.pool.senders_in_flight);
  uint64_t rej = 0;
  for (int i = 0; i < PC_TXR_COUNT; i++) rej += ts.rejected[i];
  pthread_mutex_lock(&s->n->st_mu);
  s->n->st.submitted = ts.submitted;
  s->n->st.admitted = ts.admitted;
  s->n->st.pool_rejected = rej;
  s->n->st.pool_count = ts.pool.count;
  pthread_mutex_unlock(&s->n->st_mu);
}

static void pool_fini(void *p) {
  pool_t *s = p;
  pc_txpool_destroy(s->pool);
  s->pool = NULL;
  while (s->need) {
    need_t *nd = s->need;
    s->need = nd->next;
    free(nd);
  }
  while (s->cuts) {
    cutrec_t *c = s->cuts;
    s->cuts = c->next;
    free(c->batch);
    free(c);
  }
  free(s->buf);
  s->buf = NULL;
}

void *node_pool_new(pc_node_t *n) {
  pool_t *s = calloc(1, sizeof *s);
  if (s) s->n = n;
  return s;
}

void node_pool_free(void *p) { free(p); }

pc_stage_def_t node_pool_stage(void *p) {
  return (pc_stage_def_t){.name = "pool", .ctx = p, .init = pool_init, .poll = pool_poll,
                          .housekeeping = pool_hk, .fini = pool_fini};
}
