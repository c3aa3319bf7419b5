/* txexec.c — running one transaction: the contract context (host table),
 * budget and declared-access enforcement, the nonce check, and copying the
 * result out of the thread's scratch. Every scheduler runs transactions
 * through exec_tx; they differ only in where reads come from (the serial
 * overlay or the MV store) and in when results are published. */
#include <stdlib.h>
#include <string.h>

#include "executor/exec_private.h"
#include "txpool/txpool.h"

int pc_exec_state_key(uint8_t *out, size_t cap, const char *contract, const void *k, size_t klen) {
  size_t cl = strlen(contract);
  if (cl == 0 || cl > PC_TX_NAME_MAX || klen > PC_EXEC_KEY_MAX) return PC_ERR_INVALID;
  if (1 + cl + klen > cap) return PC_ERR_OVERFLOW;
  out[0] = (uint8_t)cl;
  memcpy(out + 1, contract, cl);
  if (klen) memcpy(out + 1 + cl, k, klen);
  return (int)(1 + cl + klen);
}

void pc_exec_nonce_key(uint8_t out[PC_EXEC_NONCE_KEY_LEN], const uint8_t sender[32]) {
  out[0] = 0;
  memcpy(out + 1, "nonce", 5);
  memcpy(out + 6, sender, 32);
}

int scratch_init(exec_scratch_t *s, pc_arena_t *a) {
  memset(s, 0, offsetof(exec_scratch_t, out));
  s->out_len = s->n_ev = s->ev_used = 0;
  s->arena = a;
  s->cap_reads = 64;
  s->reads = malloc(sizeof *s->reads * s->cap_reads);
  if (!s->reads) return PC_ERR_NOMEM;
  return kvmap_init(&s->writes, 64);
}

void scratch_fini(exec_scratch_t *s) {
  free(s->reads);
  kvmap_fini(&s->writes);
}

/* -------------------------------------------------------------- context */

typedef struct {
  pc_contract_ctx_t pub; /* first: the method's pointer is ours */
  blockctx_t *b;
  exec_scratch_t *s;
  txrec_t *r;
  uint32_t idx;
  int mode;
  uint64_t budget, used;
  uint8_t abort; /* 0 or the PC_TX_* that stopped the transaction */
  uint8_t sk[PC_STATE_KEY_MAX];
  size_t sklen;
} txctx_t;

static inline txctx_t *TX(pc_contract_ctx_t *c) { return (txctx_t *)c; }

static void tx_abort(txctx_t *t, uint8_t status) {
  if (!t->abort) t->abort = status;
}

static bool tx_charge(txctx_t *t, uint64_t units) {
  if (t->abort) return false;
  if (units > t->budget - t->used) {
    t->used = t->budget;
    tx_abort(t, PC_TX_OUT_OF_BUDGET);
    return false;
  }
  t->used += units;
  return true;
}

/* Maps a contract key to its state key in t->sk and checks the declared
 * sets; returns the dkey (declared) or a placeholder for undeclared txs, or
 * NULL after aborting. */
static const dkey_t k_undeclared = {0};
static const dkey_t *tx_key(txctx_t *t, const void *key, size_t klen, bool write) {
  if (t->abort) return NULL;
  if (klen == 0 || klen > PC_EXEC_KEY_MAX) {
    tx_abort(t, PC_TX_LIMIT);
    return NULL;
  }
  int n = pc_exec_state_key(t->sk, sizeof t->sk, t->pub.contract, key, klen);
  if (n < 0) {
    tx_abort(t, PC_TX_LIMIT);
    return NULL;
  }
  t->sklen = (size_t)n;
  const txrec_t *r = t->r;
  if (!r->tx->declared) return &k_undeclared;
  for (uint32_t i = 0; i < r->n_dk; i++) {
    const dkey_t *d = &r->dk[i];
    if (d->sklen == t->sklen && (!write || d->write) && memcmp(d->sk, t->sk, t->sklen) == 0) return d;
  }
  tx_abort(t, PC_TX_ACCESS_VIOLATION);
  return NULL;
}

static void fatal(blockctx_t *b, int err) {
  int expect = 0;
  /* relaxed: the flag only tells workers to stop; the caller reads it after
   * pool_run, which orders everything */
  atomic_compare_exchange_strong_explicit(&b->abort, &expect, err, memory_order_relaxed,
                                          memory_order_relaxed);
}

/* Reads a state key as seen by transaction idx (local writes excluded).
 * Returns 0 / PC_ERR_NOT_FOUND, or another error after flagging the block. */
static int view_read(txctx_t *t, const uint8_t *sk, size_t sklen, mv_entry_t *e, const uint8_t **val,
                     size_t *vlen) {
  blockctx_t *b = t->b;
  if (t->mode == MODE_SERIAL) {
    kv_slot_t *s = kvmap_find(b->overlay, sk, sklen, exec_keyhash(sk, sklen));
    if (s) {
      if (s->del) return PC_ERR_NOT_FOUND;
      *val = kv_val(b->overlay, s);
      *vlen = s->vlen;
      return 0;
    }
  } else {
    if (!e) {
      e = mv_get(b->mv, t->s->arena, sk, sklen, exec_keyhash(sk, sklen));
      if (!e) {
        fatal(b, PC_ERR_FULL);
        return PC_ERR_FULL;
      }
    }
    mv_ver_t v;
    bool found = mv_read(e, t->idx, &v);
    if (t->mode == MODE_SPECULATIVE) {
      exec_scratch_t *s = t->s;
      if (s->n_reads == s->cap_reads) {
        rrec_t *nr = realloc(s->reads, sizeof *nr * s->cap_reads * 2);
        if (!nr) {
          fatal(b, PC_ERR_NOMEM);
          return PC_ERR_NOMEM;
        }
        s->reads = nr;
        s->cap_reads *= 2;
      }
      s->reads[s->n_reads++] = (rrec_t){.e = e, .idx = found ? v.idx : MV_NONE, .inc = found ? v.inc : 0};
    }
    if (found) {
      if (v.del) return PC_ERR_NOT_FOUND;
      *val = v.val;
      *vlen = v.vlen;
      return 0;
    }
  }
  int rc = b->state->get(b->state->self, sk, sklen, val, vlen);
  if (rc != 0 && rc != PC_ERR_NOT_FOUND) {
    PC_ERROR("executor: state get failed: %s", pc_strerror(rc));
    fatal(b, rc);
  }
  return rc;
}

static int h_get(pc_contract_ctx_t *c, const void *key, size_t klen, const uint8_t **val, size_t *len) {
  txctx_t *t = TX(c);
  *val = NULL;
  *len = 0;
  const dkey_t *d = tx_key(t, key, klen, false);
  if (!d || !tx_charge(t, PC_COST_ACCESS + klen)) return PC_ERR_STATE;
  const uint8_t *v = NULL;
  size_t vl = 0;
  int rc;
  kv_slot_t *s = kvmap_find(&t->s->writes, t->sk, t->sklen, exec_keyhash(t->sk, t->sklen));
  if (s) {
    rc = s->del ? PC_ERR_NOT_FOUND : 0;
    v = kv_val(&t->s->writes, s);
    vl = s->vlen;
  } else {
    rc = view_read(t, t->sk, t->sklen, d->e, &v, &vl);
    if (rc != 0 && rc != PC_ERR_NOT_FOUND) {
      tx_abort(t, PC_TX_FAILED); /* the block is abandoned anyway */
      return PC_ERR_STATE;
    }
  }
  if (rc == PC_ERR_NOT_FOUND) return rc;
  if (!tx_charge(t, vl)) return PC_ERR_STATE;
  *val = v;
  *len = vl;
  return 0;
}

static int tx_write(txctx_t *t, const void *key, size_t klen, const void *val, size_t vlen, bool del) {
  if (!del && vlen > PC_EXEC_VALUE_MAX) {
    tx_abort(t, PC_TX_LIMIT);
    return PC_ERR_STATE;
  }
  const dkey_t *d = tx_key(t, key, klen, true);
  if (!d || !tx_charge(t, PC_COST_ACCESS + klen + vlen)) return PC_ERR_STATE;
  kv_slot_t *s = kvmap_put(&t->s->writes, t->sk, t->sklen, exec_keyhash(t->sk, t->sklen), val, vlen, del);
  if (!s) {
    fatal(t->b, PC_ERR_NOMEM);
    tx_abort(t, PC_TX_FAILED);
    return PC_ERR_STATE;
  }
  s->aux = d->e;
  return 0;
}

static int h_put(pc_contract_ctx_t *c, const void *key, size_t klen, const void *val, size_t len) {
  return tx_write(TX(c), key, klen, val, len, false);
}

static int h_del(pc_contract_ctx_t *c, const void *key, size_t klen) {
  return tx_write(TX(c), key, klen, NULL, 0, true);
}

static int h_emit(pc_contract_ctx_t *c, const void *data, size_t len) {
  txctx_t *t = TX(c);
  exec_scratch_t *s = t->s;
  if (t->abort) return PC_ERR_STATE;
  if (len > PC_EXEC_EVENT_MAX || s->n_ev == PC_EXEC_EVENTS_MAX) {
    tx_abort(t, PC_TX_LIMIT);
    return PC_ERR_STATE;
  }
  if (!tx_charge(t, PC_COST_EVENT + len)) return PC_ERR_STATE;
  if (len) memcpy(s->evbuf + s->ev_used, data, len);
  s->ev_off[s->n_ev] = s->ev_used;
  s->ev_len[s->n_ev++] = (uint32_t)len;
  s->ev_used += (uint32_t)len;
  return 0;
}

static int h_output(pc_contract_ctx_t *c, const void *data, size_t len) {
  txctx_t *t = TX(c);
  if (t->abort) return PC_ERR_STATE;
  if (len > PC_EXEC_OUTPUT_MAX) {
    tx_abort(t, PC_TX_LIMIT);
    return PC_ERR_STATE;
  }
  if (!tx_charge(t, len)) return PC_ERR_STATE;
  if (len) memcpy(t->s->out, data, len);
  t->s->out_len = (uint32_t)len;
  return 0;
}

static int h_charge(pc_contract_ctx_t *c, uint64_t units) {
  return tx_charge(TX(c), units) ? 0 : PC_ERR_STATE;
}

static const pc_contract_host_t g_host = {
    .get = h_get, .put = h_put, .del = h_del, .emit = h_emit, .output = h_output, .charge = h_charge};

/* ------------------------------------------------------------- exec_tx */

/* exec_tx's view for txpool's execution check: the sender's next nonce,
 * read through the transaction's own view of the state (so the schedulers
 * see the read). Duplicates and expiry were settled by the pre-pass. */
typedef struct {
  txctx_t *t;
  uint64_t next;
  bool failed;
} nonce_view_t;

static uint64_t state_nonce(void *ctx, const uint8_t sender[PC_TX_PUBKEY_SIZE]) {
  (void)sender; /* the key was derived from it in the pre-pass */
  nonce_view_t *v = ctx;
  const uint8_t *val;
  size_t vl;
  int rc = view_read(v->t, v->t->r->nonce_key, PC_EXEC_NONCE_KEY_LEN, v->t->r->nonce_e, &val, &vl);
  if (rc != 0 && rc != PC_ERR_NOT_FOUND) v->failed = true;
  v->next = (rc == 0 && vl == 8) ? pc_load_le64(val) : 0;
  return v->next;
}

/* The dynamic admission check, in block order: txpool's
 * pc_txpool_exec_check against the state this transaction sees. */
static uint8_t admit_nonce(txctx_t *t, uint64_t *next) {
  nonce_view_t nv = {.t = t};
  const pc_tx_state_view_t view = {.ctx = &nv, .account_nonce = state_nonce};
  int rc = pc_txpool_exec_check(t->r->tx, t->pub.height, &view);
  *next = nv.next;
  if (nv.failed) return PC_TX_FAILED;
  switch (rc) {
    case 0: return PC_TX_OK;
    case PC_ERR_NONCE: return PC_TX_BAD_NONCE;
    case PC_ERR_EXPIRED: return PC_TX_EXPIRED;
    case PC_ERR_DUPLICATE: return PC_TX_DUPLICATE;
    default: return PC_TX_FAILED;
  }
}

void exec_tx(blockctx_t *b, exec_scratch_t *s, uint32_t i, int mode) {
  txrec_t *r = &b->tx[i];
  const pc_tx_t *tx = r->tx;
  kvmap_clear(&s->writes);
  s->n_reads = 0;
  s->out_len = 0;
  s->n_ev = 0;
  s->ev_used = 0;

  txctx_t t;
  t.pub.abi_version = PC_CONTRACT_ABI_VERSION;
  t.pub.host = &g_host;
  t.pub.caller = tx->sender;
  t.pub.height = b->blk->height;
  t.pub.time_us = b->time_us;
  t.pub.contract = r->contract->name;
  t.pub.method = tx->method;
  t.b = b;
  t.s = s;
  t.r = r;
  t.idx = i;
  t.mode = mode;
  t.budget = b->e->cfg.tx_budget;
  t.used = 0;
  t.abort = 0;

  uint64_t next = 0;
  uint8_t st = admit_nonce(&t, &next);
  if (st == PC_TX_OK) {
    if (tx_charge(&t, PC_COST_TX_BASE + tx->args_len)) {
      int rc = r->fn(&t.pub, tx->args, tx->args_len);
      if (!t.abort)
        st = rc == PC_CONTRACT_OK ? PC_TX_OK : rc == PC_CONTRACT_BAD_ARGS ? PC_TX_BAD_ARGS : PC_TX_FAILED;
    }
    if (t.abort) st = t.abort;
  }
  /* the executor's own write: the next nonce (not charged, not declared) */
  if (st == PC_TX_OK) {
    uint8_t nv[8];
    pc_store_le64(nv, next + 1);
    kv_slot_t *ns = kvmap_put(&s->writes, r->nonce_key, PC_EXEC_NONCE_KEY_LEN,
                              exec_keyhash(r->nonce_key, PC_EXEC_NONCE_KEY_LEN), nv, 8, false);
    if (!ns) {
      fatal(b, PC_ERR_NOMEM);
      st = PC_TX_FAILED;
    } else {
      ns->aux = r->nonce_e;
    }
  }

  /* copy the result out of the scratch into the arena */
  pc_arena_t *a = s->arena;
  r->status = st;
  r->used = st == PC_TX_BAD_NONCE ? 0 : t.used;
  bool keep_out = st == PC_TX_OK || st == PC_TX_FAILED || st == PC_TX_BAD_ARGS;
  r->out.len = keep_out ? s->out_len : 0;
  r->out.p = r->out.len ? arena_dup(a, s->out, s->out_len) : NULL;
  r->n_ev = 0;
  r->ev = NULL;
  r->n_w = 0;
  r->w = NULL;
  if (st == PC_TX_OK && s->n_ev) {
    r->ev = arena_alloc(a, sizeof *r->ev * s->n_ev);
    uint8_t *eb = arena_dup(a, s->evbuf, s->ev_used ? s->ev_used : 1);
    if (!r->ev || !eb) {
      fatal(b, PC_ERR_NOMEM);
      return;
    }
    for (uint32_t k = 0; k < s->n_ev; k++) r->ev[k] = (pc_bytes_t){eb + s->ev_off[k], s->ev_len[k]};
    r->n_ev = (uint16_t)s->n_ev;
  }
  if (st == PC_TX_OK) {
    pc_kvmap_t *m = &s->writes;
    r->w = arena_alloc(a, sizeof *r->w * m->n);
    uint8_t *wb = arena_dup(a, m->buf, m->blen ? m->blen : 1);
    if (!r->w || !wb) {
      fatal(b, PC_ERR_NOMEM);
      return;
    }
    for (uint32_t k = 0; k < m->n; k++) {
      const kv_slot_t *ks = &m->slots[m->order[k]];
      r->w[k] = (wrec_t){.key = wb + ks->koff,
                         .klen = ks->klen,
                         .val = ks->del ? NULL : wb + ks->voff,
                         .vlen = ks->del ? 0 : ks->vlen,
                         .del = ks->del,
                         .e = ks->aux};
    }
    r->n_w = m->n;
  }
  if (mode == MODE_SPECULATIVE) {
    r->r = arena_dup(a, s->reads, sizeof *s->reads * (s->n_reads ? s->n_reads : 1));
    r->n_r = r->r ? s->n_reads : 0;
    if (!r->r) fatal(b, PC_ERR_NOMEM);
  }
  /* the receipt's Merkle leaf, hashed here so workers share that work */
  pc_receipt_t rc = {
      .status = r->status, .budget_used = r->used, .output = r->out, .n_events = r->n_ev, .events = r->ev};
  exec_receipt_leaf(&rc, &r->leaf);
}

bool exec_publish(blockctx_t *b, exec_scratch_t *s, uint32_t i) {
  txrec_t *r = &b->tx[i];
  for (uint32_t k = 0; k < r->n_w; k++) {
    wrec_t *w = &r->w[k];
    if (!w->e) {
      w->e = mv_get(b->mv, s->arena, w->key, w->klen, exec_keyhash(w->key, w->klen));
      if (!w->e) {
        fatal(b, PC_ERR_FULL);
        return false;
      }
    }
    mv_ver_t v = {.idx = i, .inc = r->inc, .val = w->val, .vlen = w->vlen, .del = w->del};
    if (!mv_write(w->e, s->arena, &v)) {
      fatal(b, PC_ERR_NOMEM);
      return false;
    }
  }
  return true;
}

/* ------------------------------------------------------------ receipts */

const char *pc_tx_status_name(int status) {
  static const char *names[PC_TX_STATUS_COUNT] = {
      "ok",     "failed",           "bad_args",       "access_violation", "out_of_budget",
      "limit",  "unknown_contract", "unknown_method", "bad_nonce",        "duplicate",
      "expired"};
  return status >= 0 && status < PC_TX_STATUS_COUNT ? names[status] : "unknown";
}

int pc_receipt_encode(const pc_receipt_t *r, uint8_t *out, size_t cap) {
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  pc_put_u8(&w, r->status);
  pc_put_u64(&w, r->budget_used);
  pc_put_blob32(&w, r->output.p, r->output.len);
  pc_put_u16(&w, r->n_events);
  for (uint16_t i = 0; i < r->n_events; i++) pc_put_blob32(&w, r->events[i].p, r->events[i].len);
  int rc = pc_writer_finish(&w);
  return rc ? rc : (int)w.len;
}

int pc_receipt_decode(const uint8_t *buf, size_t len, pc_receipt_t *r, pc_bytes_t *ev) {
  pc_reader_t rd;
  pc_reader_init(&rd, buf, len);
  memset(r, 0, sizeof *r);
  r->status = pc_get_u8(&rd);
  r->budget_used = pc_get_u64(&rd);
  size_t n;
  r->output.p = pc_get_blob32(&rd, PC_EXEC_OUTPUT_MAX, &n);
  r->output.len = (uint32_t)n;
  r->n_events = pc_get_u16(&rd);
  if (r->n_events > PC_EXEC_EVENTS_MAX) return pc_reject_note(PC_DEC_CONTRACT, PC_ERR_TOO_LARGE);
  for (uint16_t i = 0; i < r->n_events; i++) {
    ev[i].p = pc_get_blob32(&rd, PC_EXEC_EVENT_MAX, &n);
    ev[i].len = (uint32_t)n;
  }
  r->events = ev;
  if (r->status >= PC_TX_STATUS_COUNT) pc_reader_fail(&rd, PC_ERR_RANGE);
  int rc = pc_reader_finish(&rd);
  if (rc) return pc_reject_note(PC_DEC_CONTRACT, rc);
  return 0;
}

void exec_receipt_leaf(const pc_receipt_t *r, pc_hash_t *leaf) {
  /* an encoding is at most this big: status, budget, output, events */
  static _Thread_local uint8_t
      buf[1 + 8 + 4 + PC_EXEC_OUTPUT_MAX + 2 + PC_EXEC_EVENTS_MAX * (4 + PC_EXEC_EVENT_MAX)];
  int len = pc_receipt_encode(r, buf, sizeof buf);
  pc_hash_tagged(leaf, "parachain/receipt", buf, len > 0 ? (size_t)len : 0);
}

int exec_merkle_root(pc_hash_t *lv, size_t n, pc_hash_t *out) {
  if (n == 0) {
    pc_hash_tagged(out, "parachain/receipts-empty", "", 0);
    return 0;
  }
  for (size_t m = n; m > 1; m = (m + 1) / 2) {
    for (size_t i = 0; i < m / 2; i++)
      pc_hash_pair(&lv[i], "parachain/receipts-node", &lv[2 * i], &lv[2 * i + 1]);
    if (m & 1) lv[m / 2] = lv[m - 1];
  }
  *out = lv[0];
  return 0;
}

int pc_receipts_root(const pc_receipt_t *r, size_t n, pc_hash_t *out) {
  pc_hash_t *lv = malloc(sizeof *lv * (n ? n : 1));
  if (!lv) return PC_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) exec_receipt_leaf(&r[i], &lv[i]);
  int rc = exec_merkle_root(lv, n, out);
  free(lv);
  return rc;
}
