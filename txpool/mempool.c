/* mempool.c — verified transactions waiting for a block (see txpool.h).
 *
 * Single-threaded by contract (the pool stage's thread), so plain data
 * structures and no locks:
 *   - entries by transaction hash in a chained hash table;
 *   - senders by public key in another; each sender holds its pooled
 *     transactions in a ring of slots indexed by nonce (the window
 *     [next nonce, next nonce + gap_limit] fits the ring, so nonce order
 *     and "is the predecessor here" are O(1));
 *   - senders with transactions sit in the list of their bucket, senders
 *     without in a FIFO from which old records are recycled.
 * Both tables index by keyed SipHash (libsodium crypto_shorthash, random
 * key per pool): clients choose their keys and, by grinding, their
 * transaction hashes, so an unkeyed index could be flooded into one chain.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/block.h"
#include "txpool/txpool.h"

typedef struct sender sender_t;

typedef struct entry {
  struct entry *hnext;
  sender_t *s;
  pc_hash_t hash;
  uint64_t nonce, expiry, arrival_ns;
  uint32_t len;
  bool cut;
  uint8_t raw[];
} entry_t;

struct sender {
  sender_t *hnext;
  sender_t *prev, *next; /* bucket list (count > 0) or empty FIFO (count == 0) */
  uint8_t pk[PC_TX_PUBKEY_SIZE];
  uint64_t base; /* next nonce: every lower one is used by a decided tx */
  uint64_t cursor; /* scratch for pc_mempool_cut */
  uint32_t count;
  uint32_t bucket;
  uint32_t in_flight; /* its entries marked cut (≤ count): > 0 keeps it out of new cuts */
  uint64_t bytes;
  entry_t **slots; /* slot_cap entries, NULL while count == 0 */
};

typedef struct {
  sender_t *head, *tail;
} list_t;

struct pc_mempool {
  pc_mempool_cfg_t cfg;
  pc_tx_state_view_t view;
  bool has_view;
  uint8_t sipkey[crypto_shorthash_KEYBYTES];
  entry_t **etab;
  uint64_t emask;
  sender_t **stab;
  uint64_t smask;
  uint32_t slot_cap, slot_mask;
  list_t *buckets; /* cfg.n_buckets lists */
  list_t empty;
  uint32_t n_senders;
  uint32_t count, cut;
  uint32_t senders_in_flight; /* senders with in_flight > 0 */
  uint64_t skipped_in_flight; /* senders passed over by cuts because they were in flight */
  uint64_t bytes;
  uint64_t inserted, removed_decided, evicted_expired, evicted_superseded;
  /* No pooled transaction expires below this height (a lower bound, made
   * exact by each scan): most calls of pc_mempool_evict_expired return at
   * once instead of visiting every sender. */
  uint64_t min_expiry;
  sender_t **sv; /* scratch: owned senders during a cut (max_count) */
  entry_t **cand; /* scratch: candidates during a cut */
  uint32_t cand_cap;
  uint32_t rr; /* rotates the first sender served by cuts */
};

/* ------------------------------------------------------------ helpers */

static uint64_t siphash(const pc_mempool_t *mp, const void *p, size_t n) {
  uint8_t out[crypto_shorthash_BYTES];
  crypto_shorthash(out, p, n, mp->sipkey);
  return pc_load_le64(out);
}

static uint64_t pow2_at_least(uint64_t n) {
  uint64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

static void list_push(list_t *l, sender_t *s) {
  s->next = NULL;
  s->prev = l->tail;
  if (l->tail)
    l->tail->next = s;
  else
    l->head = s;
  l->tail = s;
}

static void list_del(list_t *l, sender_t *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    l->head = s->next;
  if (s->next)
    s->next->prev = s->prev;
  else
    l->tail = s->prev;
  s->prev = s->next = NULL;
}

static entry_t **entry_link(const pc_mempool_t *mp, const pc_hash_t *h) {
  entry_t **pp = &mp->etab[siphash(mp, h->b, PC_HASH_SIZE) & mp->emask];
  while (*pp && !pc_hash_equal(&(*pp)->hash, h)) pp = &(*pp)->hnext;
  return pp;
}

static sender_t **sender_link(const pc_mempool_t *mp, const uint8_t *pk) {
  sender_t **pp = &mp->stab[siphash(mp, pk, PC_TX_PUBKEY_SIZE) & mp->smask];
  while (*pp && memcmp((*pp)->pk, pk, PC_TX_PUBKEY_SIZE) != 0) pp = &(*pp)->hnext;
  return pp;
}

static entry_t *slot_get(const pc_mempool_t *mp, const sender_t *s, uint64_t nonce) {
  if (!s->slots) return NULL;
  entry_t *e = s->slots[nonce & mp->slot_mask];
  return e && e->nonce == nonce ? e : NULL;
}

/* Finds a sender, or creates its record (next nonce from the view) when
 * create is set, recycling the oldest empty record at the limit. NULL when
 * absent (!create) or every record is in use. */
static sender_t *sender_get(pc_mempool_t *mp, const uint8_t *pk, bool create) {
  sender_t **pp = sender_link(mp, pk);
  if (*pp || !create) return *pp;
  if (mp->n_senders >= mp->cfg.max_senders) {
    sender_t *old = mp->empty.head;
    if (!old) return NULL;
    list_del(&mp->empty, old);
    sender_t **op = sender_link(mp, old->pk);
    *op = old->hnext;
    free(old);
    mp->n_senders--;
    pp = sender_link(mp, pk); /* the chain may have changed */
  }
  sender_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  memcpy(s->pk, pk, PC_TX_PUBKEY_SIZE);
  s->base = mp->has_view && mp->view.account_nonce ? mp->view.account_nonce(mp->view.ctx, pk) : 0;
  s->bucket = pc_txpool_bucket_of(pk, mp->cfg.n_buckets);
  *pp = s;
  mp->n_senders++;
  list_push(&mp->empty, s);
  return s;
}

/* The cut marks: an entry is marked while it sits in a batch this replica
 * cut and has not settled; its sender counts its marked entries. */
static void mark(pc_mempool_t *mp, entry_t *e) {
  e->cut = true;
  mp->cut++;
  if (e->s->in_flight++ == 0) mp->senders_in_flight++;
}

static void unmark(pc_mempool_t *mp, entry_t *e) {
  e->cut = false;
  mp->cut--;
  if (--e->s->in_flight == 0) mp->senders_in_flight--;
}

static void entry_remove(pc_mempool_t *mp, entry_t *e) {
  entry_t **pp = entry_link(mp, &e->hash);
  if (*pp == e) *pp = e->hnext;
  sender_t *s = e->s;
  s->slots[e->nonce & mp->slot_mask] = NULL;
  s->count--;
  s->bytes -= e->len;
  mp->count--;
  mp->bytes -= e->len;
  if (e->cut) unmark(mp, e);
  if (s->count == 0) {
    free(s->slots);
    s->slots = NULL;
    list_del(&mp->buckets[s->bucket], s);
    list_push(&mp->empty, s);
  }
  free(e);
}

/* Advances s's next nonce to `next` and evicts what that makes stale. */
static int sender_advance(pc_mempool_t *mp, sender_t *s, uint64_t next) {
  if (next <= s->base) return 0;
  int evicted = 0;
  if (s->slots && next - s->base < mp->slot_cap) { /* the usual step: visit only the used nonces */
    for (uint64_t nonce = s->base; nonce < next && s->slots; nonce++) {
      entry_t *e = slot_get(mp, s, nonce);
      if (e) {
        entry_remove(mp, e);
        evicted++;
      }
    }
  } else if (s->slots) {
    for (uint32_t i = 0; i < mp->slot_cap && s->slots; i++) {
      entry_t *e = s->slots[i];
      if (e && e->nonce < next) {
        entry_remove(mp, e);
        evicted++;
      }
    }
  }
  s->base = next;
  return evicted;
}

/* ---------------------------------------------------------- lifecycle */

void pc_mempool_cfg_default(pc_mempool_cfg_t *cfg, uint16_t n_replicas, uint16_t self) {
  memset(cfg, 0, sizeof *cfg);
  cfg->max_count = 100000;
  cfg->max_bytes = 256u << 20;
  cfg->sender_max_count = cfg->max_count / 64;
  cfg->sender_max_bytes = cfg->max_bytes / 64;
  cfg->gap_limit = 32;
  cfg->n_replicas = n_replicas ? n_replicas : 1;
  cfg->n_buckets = 64u * cfg->n_replicas;
  cfg->self = self;
  cfg->high_water_pct = 90;
}

pc_mempool_t *pc_mempool_create(const pc_mempool_cfg_t *cfg, const pc_tx_state_view_t *view) {
  if (!cfg->max_count || !cfg->max_bytes || !cfg->sender_max_count || !cfg->sender_max_bytes ||
      cfg->gap_limit > 4096 || !cfg->n_replicas || cfg->self >= cfg->n_replicas ||
      cfg->n_buckets < cfg->n_replicas || !cfg->high_water_pct || cfg->high_water_pct > 100) {
    PC_ERROR("mempool: invalid configuration (need counts > 0, gap_limit ≤ 4096, self < n_replicas ≤ n_buckets, "
             "high_water_pct 1..100)");
    return NULL;
  }
  if (pc_crypto_init() < 0) {
    PC_ERROR("mempool: libsodium failed to initialise");
    return NULL;
  }
  pc_mempool_t *mp = calloc(1, sizeof *mp);
  if (!mp) goto nomem;
  mp->cfg = *cfg;
  if (!mp->cfg.max_senders) mp->cfg.max_senders = 2 * cfg->max_count;
  mp->min_expiry = UINT64_MAX;
  if (view) {
    mp->view = *view;
    mp->has_view = true;
  }
  randombytes_buf(mp->sipkey, sizeof mp->sipkey);
  uint64_t esize = pow2_at_least(cfg->max_count), ssize = pow2_at_least(mp->cfg.max_senders);
  mp->emask = esize - 1;
  mp->smask = ssize - 1;
  mp->slot_cap = (uint32_t)pow2_at_least(cfg->gap_limit + 1u);
  mp->slot_mask = mp->slot_cap - 1;
  mp->etab = calloc(esize, sizeof *mp->etab);
  mp->stab = calloc(ssize, sizeof *mp->stab);
  mp->buckets = calloc(cfg->n_buckets, sizeof *mp->buckets);
  mp->sv = calloc(cfg->max_count, sizeof *mp->sv);
  if (!mp->etab || !mp->stab || !mp->buckets || !mp->sv) goto nomem;
  return mp;
nomem:
  PC_ERROR("mempool: out of memory");
  pc_mempool_destroy(mp);
  return NULL;
}

void pc_mempool_destroy(pc_mempool_t *mp) {
  if (!mp) return;
  if (mp->etab)
    for (uint64_t i = 0; i <= mp->emask; i++)
      for (entry_t *e = mp->etab[i], *n; e; e = n) {
        n = e->hnext;
        free(e);
      }
  if (mp->stab)
    for (uint64_t i = 0; i <= mp->smask; i++)
      for (sender_t *s = mp->stab[i], *n; s; s = n) {
        n = s->hnext;
        free(s->slots);
        free(s);
      }
  free(mp->etab);
  free(mp->stab);
  free(mp->buckets);
  free(mp->sv);
  free(mp->cand);
  free(mp);
}

/* ---------------------------------------------------------- admission */

static int reject(pc_txpool_reason_t *why, pc_txpool_reason_t r, int err) {
  if (why) *why = r;
  return err;
}

static int check(pc_mempool_t *mp, const pc_tx_t *tx, sender_t **out, pc_txpool_reason_t *why) {
  if (*entry_link(mp, &tx->hash)) return reject(why, PC_TXR_DUPLICATE, PC_ERR_DUPLICATE);
  sender_t *s = sender_get(mp, tx->sender, true);
  if (!s) return reject(why, PC_TXR_POOL_FULL, PC_ERR_FULL);
  if (tx->nonce < s->base || slot_get(mp, s, tx->nonce)) return reject(why, PC_TXR_NONCE_USED, PC_ERR_NONCE);
  if (tx->nonce - s->base > mp->cfg.gap_limit) return reject(why, PC_TXR_NONCE_GAP, PC_ERR_NONCE);
  if (s->count >= mp->cfg.sender_max_count || s->bytes + tx->raw_len > mp->cfg.sender_max_bytes)
    return reject(why, PC_TXR_SENDER_QUOTA, PC_ERR_FULL);
  if (mp->count >= mp->cfg.max_count || mp->bytes + tx->raw_len > mp->cfg.max_bytes)
    return reject(why, PC_TXR_POOL_FULL, PC_ERR_FULL);
  *out = s;
  return 0;
}

int pc_mempool_check(pc_mempool_t *mp, const pc_tx_t *tx, pc_txpool_reason_t *why) {
  sender_t *s;
  return check(mp, tx, &s, why);
}

int pc_mempool_insert(pc_mempool_t *mp, const pc_tx_t *tx, uint64_t now_ns, pc_txpool_reason_t *why) {
  sender_t *s;
  int err = check(mp, tx, &s, why);
  if (err) return err;
  if (!s->slots && !(s->slots = calloc(mp->slot_cap, sizeof *s->slots)))
    return reject(why, PC_TXR_POOL_FULL, PC_ERR_NOMEM);
  entry_t *e = malloc(sizeof *e + tx->raw_len);
  if (!e) {
    if (!s->count) {
      free(s->slots);
      s->slots = NULL;
    }
    return reject(why, PC_TXR_POOL_FULL, PC_ERR_NOMEM);
  }
  e->s = s;
  e->hash = tx->hash;
  e->nonce = tx->nonce;
  e->expiry = tx->expiry_height;
  if (e->expiry && e->expiry < mp->min_expiry) mp->min_expiry = e->expiry;
  e->arrival_ns = now_ns;
  e->len = (uint32_t)tx->raw_len;
  e->cut = false;
  memcpy(e->raw, tx->raw, tx->raw_len);
  entry_t **pp = entry_link(mp, &tx->hash);
  e->hnext = NULL;
  *pp = e;
  s->slots[tx->nonce & mp->slot_mask] = e;
  if (s->count++ == 0) {
    list_del(&mp->empty, s);
    list_push(&mp->buckets[s->bucket], s);
  }
  s->bytes += e->len;
  mp->count++;
  mp->bytes += e->len;
  mp->inserted++;
  return 0;
}

bool pc_mempool_contains(const pc_mempool_t *mp, const pc_hash_t *hash) { return *entry_link(mp, hash) != NULL; }

uint64_t pc_mempool_next_nonce(pc_mempool_t *mp, const uint8_t sender[PC_TX_PUBKEY_SIZE]) {
  sender_t *s = sender_get(mp, sender, false);
  if (s) return s->base;
  return mp->has_view && mp->view.account_nonce ? mp->view.account_nonce(mp->view.ctx, sender) : 0;
}

uint32_t pc_mempool_in_flight(pc_mempool_t *mp, const uint8_t sender[PC_TX_PUBKEY_SIZE]) {
  sender_t *s = sender_get(mp, sender, false);
  return s ? s->in_flight : 0;
}

int pc_mempool_resync(pc_mempool_t *mp) {
  /* Records without transactions are dropped: the next look-up asks the
   * view again. */
  for (sender_t *s; (s = mp->empty.head) != NULL;) {
    list_del(&mp->empty, s);
    sender_t **pp = sender_link(mp, s->pk);
    *pp = s->hnext;
    free(s);
    mp->n_senders--;
  }
  if (!mp->has_view || !mp->view.account_nonce) return 0;
  int left = 0;
  for (uint32_t b = 0; b < mp->cfg.n_buckets; b++) {
    for (sender_t *s = mp->buckets[b].head, *next; s; s = next) {
      next = s->next; /* s may move to the empty list: it stays allocated */
      uint64_t v = mp->view.account_nonce(mp->view.ctx, s->pk);
      int ev = sender_advance(mp, s, v);
      mp->evicted_superseded += (uint64_t)ev;
      left += ev;
    }
  }
  return left;
}

/* ---------------------------------------------------------------- cut */

int pc_mempool_cut(pc_mempool_t *mp, uint64_t epoch, uint64_t height, const pc_batch_limits_t *lim, uint64_t now_ns,
                   bool force, pc_writer_t *w) {
  if (lim->max_count > mp->cand_cap) {
    entry_t **c = realloc(mp->cand, lim->max_count * sizeof *c);
    if (!c) return PC_ERR_NOMEM;
    mp->cand = c;
    mp->cand_cap = lim->max_count;
  }
  /* Owned senders with something pooled and nothing in flight (the
   * per-sender cut rule, see txpool.h): a sender's run always starts at
   * its next nonce, so a later height never carries nonces whose
   * predecessors sit in a batch that may still be voided. */
  uint32_t nsv = 0, skipped = 0;
  for (uint32_t b = 0; b < mp->cfg.n_buckets; b++) {
    if (pc_txpool_bucket_owner(epoch, b, mp->cfg.n_replicas) != mp->cfg.self) continue;
    for (sender_t *s = mp->buckets[b].head; s && nsv < mp->cfg.max_count; s = s->next) {
      if (s->in_flight) {
        skipped++;
        continue;
      }
      s->cursor = s->base;
      mp->sv[nsv++] = s;
    }
  }
  /* Serve senders in turn, a few consecutive nonces each per pass, so one
   * sender with a long chain cannot fill the batch alone. */
  const uint32_t per_pass = 4;
  uint32_t n = 0;
  uint64_t bytes = 0, oldest = UINT64_MAX;
  bool limit_hit = false, progress = true;
  uint32_t start = nsv ? mp->rr++ % nsv : 0;
  while (progress && !limit_hit) {
    progress = false;
    for (uint32_t k = 0; k < nsv && !limit_hit; k++) {
      sender_t *s = mp->sv[(start + k) % nsv];
      for (uint32_t taken = 0; taken < per_pass;) {
        entry_t *e = slot_get(mp, s, s->cursor);
        if (!e || (e->expiry && e->expiry < height)) break;
        if (e->cut) break; /* cannot happen: the sender had nothing in flight */
        s->cursor++;
        if (n == lim->max_count || bytes + 4 + e->len > lim->max_bytes) {
          limit_hit = true;
          break;
        }
        mp->cand[n++] = e;
        bytes += 4 + e->len;
        if (e->arrival_ns < oldest) oldest = e->arrival_ns;
        taken++;
        progress = true;
      }
    }
  }
  if (n == lim->max_count) limit_hit = true;
  if (!force && !limit_hit && (n == 0 || now_ns - oldest < lim->max_wait_ns)) return PC_ERR_AGAIN;
  size_t before = w->len;
  for (uint32_t i = 0; i < n; i++) pc_batch_append(w, mp->cand[i]->raw, mp->cand[i]->len);
  if (pc_writer_finish(w)) {
    w->len = before;
    return PC_ERR_OVERFLOW;
  }
  for (uint32_t i = 0; i < n; i++) mark(mp, mp->cand[i]);
  mp->skipped_in_flight += skipped;
  return (int)n;
}

int pc_mempool_release(pc_mempool_t *mp, const uint8_t *batch, size_t len) {
  size_t pos = 0, n;
  const uint8_t *t;
  int released = 0;
  while ((t = pc_batch_next(batch, len, &pos, &n))) {
    pc_hash_t h;
    pc_tx_hash_bytes(&h, t, n);
    entry_t *e = *entry_link(mp, &h);
    if (e && e->cut) {
      unmark(mp, e);
      released++;
    }
  }
  return released;
}

int pc_mempool_remove_decided(pc_mempool_t *mp, const uint8_t *batch, size_t len) {
  static _Thread_local pc_tx_t tx; /* 2.5 KiB: keep it off small stacks */
  size_t pos = 0, n;
  const uint8_t *t;
  int left = 0;
  while ((t = pc_batch_next(batch, len, &pos, &n))) {
    if (pc_tx_decode(t, n, &tx) != 0) continue; /* executes as a failure; nothing pooled matches */
    entry_t *e = *entry_link(mp, &tx.hash);
    if (e) {
      entry_remove(mp, e);
      mp->removed_decided++;
      left++;
    }
    sender_t *s = sender_get(mp, tx.sender, true);
    if (s && tx.nonce < UINT64_MAX) {
      int ev = sender_advance(mp, s, tx.nonce + 1);
      mp->evicted_superseded += (uint64_t)ev;
      left += ev;
    }
  }
  if (pos != len) return PC_ERR_INVALID;
  return left;
}

int pc_mempool_evict_expired(pc_mempool_t *mp, uint64_t next_height) {
  if (mp->min_expiry >= next_height) return 0;
  int left = 0;
  uint64_t min_left = UINT64_MAX;
  for (uint32_t b = 0; b < mp->cfg.n_buckets; b++) {
    for (sender_t *s = mp->buckets[b].head, *next; s; s = next) {
      next = s->next; /* s may move to the empty list below */
      uint64_t first = UINT64_MAX;
      for (uint32_t i = 0; i < mp->slot_cap; i++) {
        entry_t *e = s->slots[i];
        if (!e || !e->expiry) continue;
        if (e->expiry < next_height && e->nonce < first) first = e->nonce;
        if (e->expiry >= next_height && e->expiry < min_left) min_left = e->expiry;
      }
      if (first == UINT64_MAX) continue;
      for (uint32_t i = 0; i < mp->slot_cap && s->slots; i++) {
        entry_t *e = s->slots[i];
        if (e && e->nonce >= first) {
          entry_remove(mp, e);
          mp->evicted_expired++;
          left++;
        }
      }
    }
  }
  mp->min_expiry = min_left; /* may stay low if a kept one was evicted as a successor: harmless */
  return left;
}

/* -------------------------------------------------------------- state */

unsigned pc_mempool_fill_pct(const pc_mempool_t *mp) {
  uint64_t c = (uint64_t)mp->count * 100 / mp->cfg.max_count, b = mp->bytes * 100 / mp->cfg.max_bytes;
  return (unsigned)PC_MAX(c, b);
}

bool pc_mempool_backpressure(const pc_mempool_t *mp) { return pc_mempool_fill_pct(mp) >= mp->cfg.high_water_pct; }

void pc_mempool_stats(const pc_mempool_t *mp, pc_mempool_stats_t *st) {
  st->count = mp->count;
  st->bytes = mp->bytes;
  st->senders = mp->n_senders;
  st->cut = mp->cut;
  st->senders_in_flight = mp->senders_in_flight;
  st->skipped_in_flight = mp->skipped_in_flight;
  st->inserted = mp->inserted;
  st->removed_decided = mp->removed_decided;
  st->evicted_expired = mp->evicted_expired;
  st->evicted_superseded = mp->evicted_superseded;
}
