/* node_sig.c — which transaction signatures this replica already checked.
 *
 * Every replica verifies each signature once (DESIGN.md): its pool checks
 * what clients and peers send. But a decided block may carry a transaction
 * this replica's pool never saw — a faulty proposer can put one in that
 * nobody signed — so the store stage must not execute a transaction whose
 * signature it cannot vouch for. The pool reports each hash it found valid
 * (txpool's on_verified, pool thread); the store stage, executing a block,
 * takes the hash out of the set (it executes once) or, when absent, verifies
 * the signature itself and skips the transaction if it fails — the same
 * outcome on every honest replica, since verification is deterministic.
 *
 * The set is a liburcu lock-free hash table (one writer thread, one reader
 * that also deletes; nodes freed after a grace period). It is bounded: past
 * NODE_SIG_MAX entries new hashes are not recorded and the store stage
 * simply verifies those itself (correct, only slower).
 */
#include <stdlib.h>
#include <string.h>
#include <urcu.h>
#include <urcu/rculfhash.h>

#include "common/tx.h"
#include "node/node_int_private.h"

#define NODE_SIG_MAX (1u << 20)

typedef struct {
  struct cds_lfht_node node;
  struct rcu_head rcu;
  pc_hash_t h;
} sig_entry_t;

static unsigned long sig_hash(const pc_hash_t *h) {
  unsigned long v;
  memcpy(&v, h->b, sizeof v); /* already uniform: a BLAKE2b output */
  return v;
}

static int sig_match(struct cds_lfht_node *node, const void *key) {
  return memcmp(caa_container_of(node, sig_entry_t, node)->h.b, key, 32) == 0;
}

static void sig_free(struct rcu_head *r) { free(caa_container_of(r, sig_entry_t, rcu)); }

int node_sig_init(pc_node_t *n) {
  n->sigs = cds_lfht_new(4096, 4096, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
  atomic_init(&n->sigs_count, 0);
  return n->sigs ? 0 : PC_ERR_NOMEM;
}

void node_sig_fini(pc_node_t *n) {
  if (!n->sigs) return;
  /* every stage has stopped: no reader or writer is left */
  struct cds_lfht_iter it;
  struct cds_lfht_node *nd;
  cds_lfht_first(n->sigs, &it);
  while ((nd = cds_lfht_iter_get_node(&it)) != NULL) {
    cds_lfht_next(n->sigs, &it);
    if (cds_lfht_del(n->sigs, nd) == 0) free(caa_container_of(nd, sig_entry_t, node));
  }
  rcu_barrier(); /* the entries node_sig_ok handed to call_rcu are freed */
  cds_lfht_destroy(n->sigs, NULL);
  n->sigs = NULL;
}

void node_sig_note(void *ctx, const pc_hash_t *h) {
  pc_node_t *n = ctx;
  /* relaxed: a soft bound, not a synchronisation */
  if (atomic_load_explicit(&n->sigs_count, memory_order_relaxed) >= NODE_SIG_MAX) return;
  sig_entry_t *e = malloc(sizeof *e);
  if (!e) return;
  e->h = *h;
  cds_lfht_node_init(&e->node);
  rcu_read_lock();
  struct cds_lfht_node *got = cds_lfht_add_unique(n->sigs, sig_hash(h), sig_match, h->b, &e->node);
  rcu_read_unlock();
  if (got != &e->node)
    free(e); /* already there */
  else
    atomic_fetch_add_explicit(&n->sigs_count, 1, memory_order_relaxed);
}

bool node_sig_ok(pc_node_t *n, const pc_tx_t *tx) {
  bool known = false;
  rcu_read_lock();
  struct cds_lfht_iter it;
  cds_lfht_lookup(n->sigs, sig_hash(&tx->hash), sig_match, tx->hash.b, &it);
  struct cds_lfht_node *nd = cds_lfht_iter_get_node(&it);
  if (nd && cds_lfht_del(n->sigs, nd) == 0) {
    known = true;
    atomic_fetch_sub_explicit(&n->sigs_count, 1, memory_order_relaxed);
    call_rcu(&caa_container_of(nd, sig_entry_t, node)->rcu, sig_free);
  }
  rcu_read_unlock();
  if (known) return true;
  pthread_mutex_lock(&n->st_mu);
  n->st.sigs_checked_at_exec++;
  pthread_mutex_unlock(&n->st_mu);
  if (pc_tx_verify(tx) == 0) return true;
  pthread_mutex_lock(&n->st_mu);
  n->st.txs_bad_signature++;
  pthread_mutex_unlock(&n->st_mu);
  return false;
}
