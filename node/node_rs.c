/* node_rs.c — the receipt store: what the gateway needs to answer receipts,
 * queries and block headers for the recent heights, published by the store
 * stage (the only writer) after each block executes and read by the
 * gateway stage on another thread.
 *
 * Cross-thread publication (liburcu, default memb flavour):
 *   - one record per executed height (header, encoded decision
 *     certificate, state version and roots, receipt encodings and their
 *     leaf hashes, the transactions' index nodes) lives in a ring of
 *     `cap` slots; a slot holds an RCU-protected pointer
 *     (rcu_assign_pointer by the writer, rcu_dereference by readers);
 *     an evicted record is unpublished and freed with call_rcu, so a
 *     reader inside rcu_read_lock never sees it freed;
 *   - tx hash → (height, index) is a cds_lfht (lock-free RCU hash table);
 *     its nodes are embedded in their height's record and removed
 *     (cds_lfht_del) before the record is handed to call_rcu. A hash seen
 *     in two blocks keeps its first (add_unique);
 *   - the state object (for queries and nonces) is an RCU-protected
 *     pointer, cleared before the store stage frees the state
 *     (pc_state_free waits for readers).
 * Memory bound: at most `cap` heights and about `max_bytes` bytes of
 * records; the oldest heights go first, but the newest D + 2 are always
 * kept (a receipt of h needs the record of h + D). Older receipts answer
 * PC_ERR_NOT_FOUND (the log still has the blocks; reading receipts back
 * from it is not done).
 */
#include <stdlib.h>
#include <string.h>
#include <urcu.h>
#include <urcu/rculfhash.h>

#include "executor/executor.h"
#include "node/gateway/gateway.h"
#include "node/node_int_private.h"
#include "storage/storage.h"

typedef struct rs_txn {
  struct cds_lfht_node node;
  pc_hash_t hash;
  uint64_t h;
  uint32_t idx;
  bool linked;
} rs_txn_t;

typedef struct rs_rec {
  struct rcu_head rcu;
  uint64_t h, state_ver;
  pc_block_t header;
  pc_hash_t state_root, receipts_root;
  uint32_t count, cert_len;
  size_t bytes;
  rs_txn_t *txn;     /* count */
  uint32_t *roff;    /* count + 1 offsets into renc */
  pc_hash_t *leaves; /* count */
  uint8_t *cert;     /* cert_len */
  uint8_t *renc;
} rs_rec_t;

struct node_rs {
  uint32_t depth, cap;
  size_t max_bytes;
  rs_rec_t **slot;          /* cap; RCU-protected pointers */
  struct cds_lfht *ht;      /* RCU-protected pointer; NULL when closed */
  pc_state_t *state;   /* RCU-protected pointer; NULL when closed */
  /* writer (store stage) only */
  uint64_t oldest;          /* lowest held height (0 = none) */
  size_t bytes;
  uint64_t n_txs;
  uint8_t *scratch;
  size_t scratch_cap;
  /* read by anyone: release stores by the writer, acquire loads by readers */
  _Atomic uint64_t newest;  /* highest published height (pairs with the slot's rcu_assign_pointer) */
  _Atomic uint64_t durable; /* highest durable block height of the log */
  _Atomic uint64_t st_heights, st_bytes, st_txs, st_evicted;
  _Atomic uint64_t st_oldest; /* lowest held height (0 = none), for WAIT's "not held here" */
};

node_rs_t *node_rs_new(uint32_t depth, uint32_t max_heights, size_t max_bytes) {
  node_rs_t *rs = calloc(1, sizeof *rs);
  if (!rs) return NULL;
  if (max_heights < depth + 4) max_heights = depth + 4;
  rs->depth = depth;
  rs->cap = max_heights;
  rs->max_bytes = max_bytes;
  rs->slot = calloc(rs->cap, sizeof *rs->slot);
  if (!rs->slot) {
    free(rs);
    return NULL;
  }
  return rs;
}

static void rec_free_cb(struct rcu_head *h) { free(caa_container_of(h, rs_rec_t, rcu)); }

static int txn_match(struct cds_lfht_node *node, const void *key) {
  const rs_txn_t *t = caa_container_of(node, rs_txn_t, node);
  return memcmp(t->hash.b, key, 32) == 0;
}

static unsigned long txn_hash(const pc_hash_t *h) { return (unsigned long)pc_load_le64(h->b); }

/* Writer: unpublish and free (after a grace period) the record of height h. */
static void evict(node_rs_t *rs, uint64_t h) {
  rs_rec_t **sp = &rs->slot[h % rs->cap];
  rs_rec_t *r = *sp; /* the writer's own pointer: no rcu_dereference needed */
  if (!r || r->h != h) return;
  rcu_read_lock();
  for (uint32_t i = 0; i < r->count; i++)
    if (r->txn[i].linked) cds_lfht_del(rs->ht, &r->txn[i].node);
  rcu_read_unlock();
  rcu_assign_pointer(*sp, NULL);
  rs->bytes -= r->bytes;
  rs->n_txs -= r->count;
  call_rcu(&r->rcu, rec_free_cb);
  atomic_fetch_add_explicit(&rs->st_evicted, 1, memory_order_relaxed); /* statistics only */
}

int node_rs_open(node_rs_t *rs, pc_state_t *state) {
  struct cds_lfht *ht = cds_lfht_new(1024, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
  if (!ht) return PC_ERR_NOMEM;
  rs->oldest = 0;
  rs->bytes = 0;
  rs->n_txs = 0;
  atomic_store_explicit(&rs->newest, 0, memory_order_relaxed); /* before the pointers below publish anything */
  atomic_store_explicit(&rs->durable, 0, memory_order_relaxed);
  atomic_store_explicit(&rs->st_oldest, 0, memory_order_relaxed);
  rcu_assign_pointer(rs->ht, ht);
  rcu_assign_pointer(rs->state, state);
  return 0;
}

void node_rs_close(node_rs_t *rs) {
  if (!rs->ht) return;
  rcu_assign_pointer(rs->state, NULL);
  uint64_t newest = atomic_load_explicit(&rs->newest, memory_order_relaxed); /* writer's own value */
  for (uint64_t h = rs->oldest; rs->oldest && h <= newest; h++) evict(rs, h);
  struct cds_lfht *ht = rs->ht;
  rcu_assign_pointer(rs->ht, NULL);
  synchronize_rcu(); /* no reader still holds ht */
  rcu_barrier();     /* every record freed */
  if (cds_lfht_destroy(ht, NULL) != 0) PC_WARN("receipt store: index not empty at close");
  rs->oldest = 0;
  free(rs->scratch);
  rs->scratch = NULL;
  rs->scratch_cap = 0;
  atomic_store_explicit(&rs->newest, 0, memory_order_release);
  atomic_store_explicit(&rs->st_heights, 0, memory_order_relaxed);
  atomic_store_explicit(&rs->st_bytes, 0, memory_order_relaxed);
  atomic_store_explicit(&rs->st_txs, 0, memory_order_relaxed);
}

void node_rs_free(node_rs_t *rs) {
  if (!rs) return;
  /* node_rs_close ran in the store stage's fini; anything left would be a
   * stage that never started (no records then) */
  free(rs->slot);
  free(rs->scratch);
  free(rs);
}

void node_rs_set_durable(node_rs_t *rs, uint64_t h) {
  /* release: pairs with the readers' acquire load (the value only gates answers) */
  atomic_store_explicit(&rs->durable, h, memory_order_release);
}

int node_rs_publish(node_rs_t *rs, const node_rs_block_t *b) {
  if (!rs->ht) return PC_ERR_STATE;
  uint64_t h = b->height;
  uint64_t newest = atomic_load_explicit(&rs->newest, memory_order_relaxed); /* writer's own value */
  if (h <= newest && newest) return 0;                                     /* already published */
  /* encode the receipts into the scratch buffer */
  size_t cnt = b->count, used = 0;
  uint32_t *offs = NULL;
  if (cnt) {
    offs = malloc((cnt + 1) * sizeof *offs);
    if (!offs) return PC_ERR_NOMEM;
  }
  for (size_t i = 0; i < cnt; i++) {
    int k;
    for (;;) {
      k = rs->scratch ? pc_receipt_encode(&b->receipts[i], rs->scratch + used, rs->scratch_cap - used)
                      : PC_ERR_OVERFLOW;
      if (k != PC_ERR_OVERFLOW) break;
      size_t nc = rs->scratch_cap ? rs->scratch_cap * 2 : 65536;
      uint8_t *p = realloc(rs->scratch, nc);
      if (!p) {
        free(offs);
        return PC_ERR_NOMEM;
      }
      rs->scratch = p;
      rs->scratch_cap = nc;
    }
    if (k < 0) {
      free(offs);
      return k;
    }
    offs[i] = (uint32_t)used;
    used += (size_t)k;
  }
  if (cnt) offs[cnt] = (uint32_t)used;
  size_t hdr = (sizeof(rs_rec_t) + 7) & ~(size_t)7;
  size_t sz = hdr + cnt * sizeof(rs_txn_t) + (cnt + 1) * sizeof(uint32_t) + cnt * sizeof(pc_hash_t) + b->cert_len +
              used;
  rs_rec_t *r = malloc(sz);
  if (!r) {
    free(offs);
    return PC_ERR_NOMEM;
  }
  memset(r, 0, sizeof *r);
  uint8_t *p = (uint8_t *)r + hdr;
  r->txn = (rs_txn_t *)p;
  p += cnt * sizeof(rs_txn_t);
  r->roff = (uint32_t *)p;
  p += (cnt + 1) * sizeof(uint32_t);
  r->leaves = (pc_hash_t *)p;
  p += cnt * sizeof(pc_hash_t);
  r->cert = p;
  p += b->cert_len;
  r->renc = p;
  r->h = h;
  r->state_ver = b->state_version;
  r->header = *b->header;
  r->state_root = *b->state_root;
  r->receipts_root = *b->receipts_root;
  r->count = (uint32_t)cnt;
  r->cert_len = (uint32_t)b->cert_len;
  r->bytes = sz;
  if (b->cert_len) memcpy(r->cert, b->cert, b->cert_len);
  if (used) memcpy(r->renc, rs->scratch, used);
  r->roff[0] = 0;
  for (size_t i = 0; i < cnt; i++) {
    r->roff[i + 1] = offs[i + 1];
    pc_hash_tagged(&r->leaves[i], "parachain/receipt", r->renc + offs[i], offs[i + 1] - offs[i]);
    r->txn[i] = (rs_txn_t){.hash = b->txs[i].hash, .h = h, .idx = (uint32_t)i};
    cds_lfht_node_init(&r->txn[i].node);
  }
  free(offs);

  /* make room: the slot's old occupant, then the oldest heights while over
   * budget — but never the newest D + 2 */
  if (newest && h != newest + 1) {
    /* a gap (should not happen: records follow execution order): start over */
    for (uint64_t k = rs->oldest; rs->oldest && k <= newest; k++) evict(rs, k);
    rs->oldest = 0;
  }
  if (!rs->oldest) rs->oldest = h;
  while (rs->oldest < h && (h - rs->oldest >= rs->cap || (rs->bytes + sz > rs->max_bytes &&
                                                          h - rs->oldest > (uint64_t)rs->depth + 2))) {
    evict(rs, rs->oldest);
    rs->oldest++;
  }
  if (h > rs->cap) evict(rs, h - rs->cap); /* the slot is free (no-op unless a gap left it taken) */
  rcu_read_lock();
  for (size_t i = 0; i < cnt; i++) {
    struct cds_lfht_node *got =
        cds_lfht_add_unique(rs->ht, txn_hash(&r->txn[i].hash), txn_match, r->txn[i].hash.b, &r->txn[i].node);
    r->txn[i].linked = got == &r->txn[i].node;
  }
  rcu_read_unlock();
  rs->bytes += sz;
  rs->n_txs += cnt;
  rcu_assign_pointer(rs->slot[h % rs->cap], r);
  /* release: pairs with the readers' acquire load; the record is published first */
  atomic_store_explicit(&rs->newest, h, memory_order_release);
  atomic_store_explicit(&rs->st_heights, h - rs->oldest + 1, memory_order_relaxed); /* statistics only */
  atomic_store_explicit(&rs->st_oldest, rs->oldest, memory_order_relaxed);          /* advisory only */
  atomic_store_explicit(&rs->st_bytes, rs->bytes, memory_order_relaxed);
  atomic_store_explicit(&rs->st_txs, rs->n_txs, memory_order_relaxed);
  return 0;
}

/* ------------------------------------------------------------- readers */

/* Inside rcu_read_lock: the record of height h, or NULL. */
static const rs_rec_t *rec_at(node_rs_t *rs, uint64_t h) {
  if (!h) return NULL;
  const rs_rec_t *r = rcu_dereference(rs->slot[h % rs->cap]);
  return r && r->h == h ? r : NULL;
}

void node_rs_heights(node_rs_t *rs, uint64_t *executed, uint64_t *durable, uint64_t *provable) {
  /* acquire: pair with the writer's release stores */
  uint64_t e = atomic_load_explicit(&rs->newest, memory_order_acquire);
  uint64_t d = atomic_load_explicit(&rs->durable, memory_order_acquire);
  uint64_t p = e > rs->depth ? e - rs->depth : 0;
  if (p > d) p = d;
  if (executed) *executed = e;
  if (durable) *durable = d;
  if (provable) *provable = p;
}

/* Inside rcu_read_lock: the certified block h + D of a provable h. */
static int certified(node_rs_t *rs, uint64_t h, pc_gw_certified_t *cb) {
  uint64_t p;
  node_rs_heights(rs, NULL, NULL, &p);
  if (h > p) return PC_ERR_AGAIN;
  const rs_rec_t *c = rec_at(rs, h + rs->depth);
  if (!c) return PC_ERR_NOT_FOUND;
  cb->header = c->header;
  pc_reader_t rd;
  pc_reader_init(&rd, c->cert, c->cert_len);
  int rc = pc_cert_decode(&rd, &cb->cert);
  if (rc == 0) rc = pc_reader_finish(&rd);
  return rc;
}

int node_rs_receipt(node_rs_t *rs, const pc_hash_t *tx, pc_gw_receipt_ans_t *a, uint8_t *buf, size_t cap) {
  int rc = PC_ERR_AGAIN;
  rcu_read_lock();
  struct cds_lfht *ht = rcu_dereference(rs->ht);
  if (!ht) goto out;
  struct cds_lfht_iter it;
  cds_lfht_lookup(ht, txn_hash(tx), txn_match, tx->b, &it);
  struct cds_lfht_node *nd = cds_lfht_iter_get_node(&it);
  if (!nd) goto out; /* not (yet) in an executed block this store holds */
  const rs_txn_t *t = caa_container_of(nd, rs_txn_t, node);
  /* The writer indexes a record's transactions before it publishes the
   * record (slot, then newest with release): read newest first (acquire),
   * so a height not yet published answers "not yet", and a missing record
   * at or below newest really was evicted. */
  uint64_t newest = atomic_load_explicit(&rs->newest, memory_order_acquire);
  const rs_rec_t *r = rec_at(rs, t->h);
  if (!r) {
    rc = t->h > newest ? PC_ERR_AGAIN : PC_ERR_NOT_FOUND;
    goto out;
  }
  memset(a, 0, sizeof *a);
  rc = certified(rs, t->h, &a->cb);
  if (rc) goto out;
  uint32_t len = r->roff[t->idx + 1] - r->roff[t->idx];
  if (len > cap) {
    rc = PC_ERR_TOO_LARGE;
    goto out;
  }
  memcpy(buf, r->renc + r->roff[t->idx], len);
  int nb = pc_gw_receipt_branch(r->leaves, r->count, t->idx, a->branch);
  if (nb < 0) {
    rc = nb;
    goto out;
  }
  a->height = t->h;
  a->index = t->idx;
  a->count = r->count;
  a->receipt = buf;
  a->receipt_len = len;
  a->n_branch = (uint8_t)nb;
  a->state_root = r->state_root;
  rc = 0;
out:
  rcu_read_unlock();
  return rc;
}

bool node_rs_has_tx(node_rs_t *rs, const pc_hash_t *tx) {
  bool found = false;
  rcu_read_lock();
  struct cds_lfht *ht = rcu_dereference(rs->ht);
  if (ht) {
    struct cds_lfht_iter it;
    cds_lfht_lookup(ht, txn_hash(tx), txn_match, tx->b, &it);
    found = cds_lfht_iter_get_node(&it) != NULL;
  }
  rcu_read_unlock();
  return found;
}

int node_rs_query(node_rs_t *rs, uint64_t height, const uint8_t *key, size_t klen, pc_gw_query_ans_t *a,
                  uint8_t *vbuf, size_t vcap, uint8_t *pbuf, size_t pcap) {
  uint64_t e, p;
  node_rs_heights(rs, &e, NULL, &p);
  if (height == 0) height = p;
  if (height == 0) return PC_ERR_AGAIN;
  if (height > e) return PC_ERR_NOT_FOUND;
  int rc;
  rcu_read_lock();
  pc_state_t *st = rcu_dereference(rs->state);
  const rs_rec_t *r = rec_at(rs, height);
  if (!st || !r) {
    rc = PC_ERR_NOT_FOUND;
    goto out;
  }
  memset(a, 0, sizeof *a);
  rc = certified(rs, height, &a->cb);
  if (rc) goto out;
  const pc_state_version_t *v = pc_state_at(st, r->state_ver);
  if (!v) {
    rc = PC_ERR_NOT_FOUND; /* the state no longer keeps that version */
    goto out;
  }
  const uint8_t *val;
  size_t vlen, plen;
  rc = pc_state_get(v, key, klen, &val, &vlen);
  if (rc == 0) {
    if (vlen > vcap) {
      rc = PC_ERR_TOO_LARGE;
      goto out;
    }
    memcpy(vbuf, val, vlen);
    a->present = true;
    a->value = vbuf;
    a->value_len = (uint32_t)vlen;
  } else if (rc != PC_ERR_NOT_FOUND) {
    goto out;
  }
  rc = pc_state_prove(v, key, klen, pbuf, pcap, &plen);
  if (rc) goto out;
  a->height = height;
  a->proof = pbuf;
  a->proof_len = (uint32_t)plen;
  a->state_root = r->state_root;
  a->receipts_root = r->receipts_root;
out:
  rcu_read_unlock();
  return rc;
}

int node_rs_block(node_rs_t *rs, uint64_t height, pc_block_t *b) {
  int rc = PC_ERR_NOT_FOUND;
  rcu_read_lock();
  const rs_rec_t *r = rec_at(rs, height);
  if (r) {
    *b = r->header;
    rc = 0;
  }
  rcu_read_unlock();
  return rc;
}

uint64_t node_rs_nonce(node_rs_t *rs, const uint8_t sender[32]) {
  uint8_t key[PC_EXEC_NONCE_KEY_LEN];
  pc_exec_nonce_key(key, sender);
  uint64_t v = 0;
  rcu_read_lock();
  pc_state_t *st = rcu_dereference(rs->state);
  const uint8_t *val;
  size_t vlen;
  if (st && pc_state_get(pc_state_current(st), key, sizeof key, &val, &vlen) == 0 && vlen == 8) v = pc_load_le64(val);
  rcu_read_unlock();
  return v;
}

void node_rs_stats(node_rs_t *rs, uint64_t *heights, uint64_t *bytes, uint64_t *txs, uint64_t *evicted) {
  /* relaxed: statistics only */
  *heights = atomic_load_explicit(&rs->st_heights, memory_order_relaxed);
  *bytes = atomic_load_explicit(&rs->st_bytes, memory_order_relaxed);
  *txs = atomic_load_explicit(&rs->st_txs, memory_order_relaxed);
  *evicted = atomic_load_explicit(&rs->st_evicted, memory_order_relaxed);
}

uint64_t node_rs_oldest(node_rs_t *rs) {
  return atomic_load_explicit(&rs->st_oldest, memory_order_relaxed); /* advisory: a WAIT's final answer only */
}
