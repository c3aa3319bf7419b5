/* node_refused.c — the client transactions the pool refused after the
 * gateway accepted them, remembered so that a WAIT for one is answered
 * "rejected: <reason>" (a TXSTATUS answer) instead of running out.
 *
 * The pool stage refuses a client transaction asynchronously: the
 * gateway's SUBMIT answer (0) is long gone when the pool finds the pool
 * full, the sender's quota used, its nonce taken by another pooled
 * transaction or too far ahead. The pool stage reports each such refusal
 * with node_pool_refused (writers serialised by a mutex: refusals are
 * rare, and a verify worker may report one too); the gateway thread reads
 * them (node_refused_get) and forgets one when a new SUBMIT of the same
 * bytes is accepted (node_refused_clear), so a resubmission that the pool
 * then admits is not answered "rejected" from its older refusal.
 *
 * Structures (liburcu, default memb flavour; every user thread registered):
 *   - hash → entry: a cds_lfht (lock-free RCU hash table), add_unique; a
 *     refusal of a hash already present updates the entry in place;
 *   - bounded: the entries also sit in a FIFO ring of `cap` slots (under
 *     the writers' mutex); when it is full the oldest entry is removed from the
 *     table (cds_lfht_del) and freed after a grace period (call_rcu), so a
 *     reader inside rcu_read_lock never sees it freed.
 *   - an entry's state is one atomic word: 0 = cleared, else
 *     1 | (u8)(−code) << 8 | reason << 16 (written with release by the
 *     writer or the clearing gateway, read with acquire by readers).
 * Memory: cap × about 100 bytes (cap = 4096 by default).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>
#include <urcu/rculfhash.h>

#include "node/node_int_private.h"

typedef struct {
  struct cds_lfht_node node;
  struct rcu_head rcu;
  pc_hash_t h;
  _Atomic uint32_t state;
} ref_entry_t;

struct node_refused {
  struct cds_lfht *ht;
  pthread_mutex_t mu; /* writers only: ring, and insertion into ht */
  ref_entry_t **ring; /* FIFO of entries, under mu */
  uint32_t cap, head, count;
  _Atomic uint64_t noted, answered; /* relaxed counters */
};

static unsigned long ref_hash(const pc_hash_t *h) {
  unsigned long v;
  memcpy(&v, h->b, sizeof v); /* already uniform: a BLAKE2b output */
  return v;
}

static int ref_match(struct cds_lfht_node *node, const void *key) {
  return memcmp(caa_container_of(node, ref_entry_t, node)->h.b, key, PC_HASH_SIZE) == 0;
}

static void ref_free(struct rcu_head *r) { free(caa_container_of(r, ref_entry_t, rcu)); }

node_refused_t *node_refused_new(uint32_t cap) {
  node_refused_t *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  pthread_mutex_init(&r->mu, NULL);
  r->cap = cap ? cap : NODE_REFUSED_DEFAULT;
  r->ring = calloc(r->cap, sizeof *r->ring);
  r->ht = cds_lfht_new(1024, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
  if (!r->ring || !r->ht) {
    node_refused_free(r);
    return NULL;
  }
  return r;
}

void node_refused_free(node_refused_t *r) {
  if (!r) return;
  if (r->ht) {
    /* no reader or writer is left; entries handed to call_rcu are freed by the barrier */
    for (uint32_t k = 0; k < r->count; k++) {
      ref_entry_t *e = r->ring[(r->head + k) % r->cap];
      if (cds_lfht_del(r->ht, &e->node) == 0) free(e);
    }
    rcu_barrier();
    cds_lfht_destroy(r->ht, NULL);
  }
  free(r->ring);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

static uint32_t pack(int code, int reason) {
  return 1u | (uint32_t)(uint8_t)(-code) << 8 | (uint32_t)(uint8_t)reason << 16;
}

void node_refused_note(node_refused_t *r, const pc_hash_t *h, int code, int reason) {
  if (!r || code >= 0) return;
  uint32_t st = pack(code, reason);
  pthread_mutex_lock(&r->mu);
  rcu_read_lock();
  struct cds_lfht_iter it;
  cds_lfht_lookup(r->ht, ref_hash(h), ref_match, h->b, &it);
  struct cds_lfht_node *nd = cds_lfht_iter_get_node(&it);
  if (nd) { /* refused again: the newest reason */
    atomic_store_explicit(&caa_container_of(nd, ref_entry_t, node)->state, st,
                          memory_order_release); /* pairs with node_refused_get's acquire */
    rcu_read_unlock();
    pthread_mutex_unlock(&r->mu);
    atomic_fetch_add_explicit(&r->noted, 1, memory_order_relaxed);
    return;
  }
  rcu_read_unlock();
  ref_entry_t *e = malloc(sizeof *e);
  if (!e) {
    pthread_mutex_unlock(&r->mu);
    return;
  }
  e->h = *h;
  atomic_init(&e->state, st);
  cds_lfht_node_init(&e->node);
  rcu_read_lock();
  if (r->count == r->cap) { /* the oldest goes */
    ref_entry_t *old = r->ring[r->head];
    r->head = (r->head + 1) % r->cap;
    r->count--;
    if (cds_lfht_del(r->ht, &old->node) == 0) call_rcu(&old->rcu, ref_free);
  }
  /* add_unique publishes the entry (its fields written before, with the
   * table's own ordering); writers are serialised, so it cannot be present */
  struct cds_lfht_node *got = cds_lfht_add_unique(r->ht, ref_hash(h), ref_match, h->b, &e->node);
  rcu_read_unlock();
  if (got != &e->node) {
    pthread_mutex_unlock(&r->mu);
    free(e);
    return;
  }
  r->ring[(r->head + r->count) % r->cap] = e;
  r->count++;
  pthread_mutex_unlock(&r->mu);
  atomic_fetch_add_explicit(&r->noted, 1, memory_order_relaxed);
}

void node_refused_clear(node_refused_t *r, const pc_hash_t *h) {
  if (!r) return;
  rcu_read_lock();
  struct cds_lfht_iter it;
  cds_lfht_lookup(r->ht, ref_hash(h), ref_match, h->b, &it);
  struct cds_lfht_node *nd = cds_lfht_iter_get_node(&it);
  if (nd) /* pairs with node_refused_get's acquire; a later refusal writes it again */
    atomic_store_explicit(&caa_container_of(nd, ref_entry_t, node)->state, 0, memory_order_release);
  rcu_read_unlock();
}

bool node_refused_get(node_refused_t *r, const pc_hash_t *h, int *code, int *reason) {
  if (!r) return false;
  uint32_t st = 0;
  rcu_read_lock();
  struct cds_lfht_iter it;
  cds_lfht_lookup(r->ht, ref_hash(h), ref_match, h->b, &it);
  struct cds_lfht_node *nd = cds_lfht_iter_get_node(&it);
  if (nd) /* pairs with the release stores of note / clear */
    st = atomic_load_explicit(&caa_container_of(nd, ref_entry_t, node)->state, memory_order_acquire);
  rcu_read_unlock();
  if (!(st & 1)) return false;
  if (code) *code = -(int)((st >> 8) & 0xff);
  if (reason) *reason = (int)((st >> 16) & 0xff);
  atomic_fetch_add_explicit(&r->answered, 1, memory_order_relaxed);
  return true;
}

void node_refused_stats(node_refused_t *r, uint64_t *noted, uint64_t *answered) {
  *noted = r ? atomic_load_explicit(&r->noted, memory_order_relaxed) : 0;
  *answered = r ? atomic_load_explicit(&r->answered, memory_order_relaxed) : 0;
}

/* ------------------------------------------------ the pool stage's hooks */

void node_pool_refused(pc_node_t *n, const pc_hash_t *h, int code, int reason) {
  node_refused_note(n->refused, h, code, reason);
}

void node_pool_note_stats(pc_node_t *n, uint64_t gossip_bad_batches, uint64_t senders_in_flight) {
  pthread_mutex_lock(&n->st_mu);
  n->st.gossip_bad_batches = gossip_bad_batches;
  n->st.senders_in_flight = senders_in_flight;
  pthread_mutex_unlock(&n->st_mu);
}
