/* pool.c — the pool stage: admission, the verify-once cache, the verify
 * workers and client-transaction dissemination (see txpool.h).
 *
 * Verify once. The "seen" set maps a transaction hash to what this replica
 * knows about it: PENDING (queued for verification), GOOD (signature
 * verified), BAD (signature failed) or DECIDED (in a decided block). A
 * signature is verified only when its hash is absent, whatever the origin;
 * a GOOD transaction that did not fit the pool can be resubmitted and goes
 * straight to the mempool without a second verification.
 *
 * Why a single-owner table and not liburcu's cds_lfht: every lookup and
 * insert happens on the pool thread, before a transaction is dispatched to
 * a worker and after its result comes back, so the set never has two
 * threads on it. A lock-free shared table would add RCU read sections and
 * deferred frees for no concurrency at all; the workers see only the
 * messages handed to them through their rings. The table is bounded
 * (seen_max nodes, preallocated, recycled in FIFO order): a hash that falls
 * out of it is still caught before any verification by the mempool's own
 * duplicate check while pooled, and by the nonce check once decided.
 *
 * Workers. One SPSC rte_ring pair per worker (pool → worker requests,
 * worker → pool results), in plain memory (rte_ring_init needs no EAL).
 * The pool never has more than ring capacity requests outstanding per
 * worker, so a worker's result enqueue always fits. A worker spins briefly
 * when idle (a few µs), then blocks on a futex until the pool queues work:
 * an idle verify thread costs nothing, and a busy one pays nothing for
 * being woken.
 *
 * Sleeping without losing a wake-up (both directions use the same
 * pattern). The sleeper reads the futex word, sets its "sleeping" flag,
 * issues a seq_cst fence, then looks at the ring once more and blocks only
 * if it is still empty and the word unchanged. The other side enqueues,
 * issues a seq_cst fence, then reads the flag and, if set, bumps the word
 * and wakes. With a fence on each side at least one of them sees the
 * other's store: either the sleeper sees the new entry, or the waker sees
 * the flag (and a bump between the sleeper's read of the word and its
 * futex wait makes the wait return at once). A worker blocks this way when
 * its request ring is empty; the pool thread blocks in pc_txpool_wait when
 * every result ring is empty, so it does not spin while workers verify.
 * The fast path costs a fence and a load of a line nobody writes while
 * the other side is busy.
 *
 * Cache lines. A worker's fields are grouped by writer: its counters
 * (written by the worker), its sleeping flag (worker, read by the pool
 * after each enqueue), its futex word and stop flag (pool, rarely), the
 * pool's in-flight count (pool thread only), each group on a line of its
 * own, and the array is allocated 64-byte aligned, so neither the pool's
 * per-transaction writes nor the other worker's stores invalidate a line
 * the worker reads.
 */
#include <hwloc.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/block.h"
#include "txpool/txpool.h"

#define BURST 32
#define RECV_BATCH_CAP (4u << 20)
#define RECV_PER_POLL 16

enum { SEEN_FREE = 0, SEEN_PENDING, SEEN_GOOD, SEEN_BAD, SEEN_DECIDED };

typedef struct seen_node {
  struct seen_node *hnext;
  pc_hash_t h;
  uint8_t state;
} seen_node_t;

/* One transaction travelling to a worker and back. tx's views point into
 * raw. Messages of up to MSG_RAW_SMALL bytes are recycled through a free
 * list owned by the pool thread (next_free), so the steady state allocates
 * nothing: with ~1000 messages of ~2.5 KiB in flight per worker, malloc
 * churn made the heap grow and shrink, and the page faults and TLB
 * shoot-downs that follow interrupt the verify cores (the workers share
 * the address space). */
#define MSG_RAW_SMALL 1024

typedef struct vmsg {
  pc_tx_t tx;
  struct vmsg *next_free; /* pool thread, while on the free list */
  uint32_t cap;           /* bytes raw can hold */
  int result;
  uint16_t origin;
  uint8_t raw[];
} vmsg_t;

#define CACHE_LINE 64
#define IDLE_SPINS 256 /* rte_pause rounds (a few µs) before an idle worker blocks */

struct pc_txpool;

typedef struct {
  /* set before the thread starts, then read-only */
  struct rte_ring *in, *out;
  struct pc_txpool *pool;
  hwloc_topology_t topo;
  pthread_t thread;
  int core;
  unsigned id;
  bool started; /* pool thread */
  /* written by the worker once per burst, read by pc_txpool_stats */
  _Alignas(CACHE_LINE) _Atomic uint64_t verified;
  _Atomic uint64_t sleeps; /* times it blocked, idle */
  /* written by the worker when it blocks / wakes, read by the pool after each enqueue */
  _Alignas(CACHE_LINE) _Atomic uint32_t sleeping;
  /* written by the pool to wake or stop the worker: the futex word and the stop flag */
  _Alignas(CACHE_LINE) _Atomic uint32_t wake_seq;
  _Atomic bool stop;
  /* pool thread only */
  _Alignas(CACHE_LINE) unsigned inflight;
} worker_t;

struct pc_txpool {
  pc_txpool_cfg_t cfg;
  pc_tx_state_view_t view;
  pc_txpool_transport_t tp;
  bool has_tp;
  pc_mempool_t *mp;
  uint64_t next_height;
  /* seen set */
  uint8_t sipkey[crypto_shorthash_KEYBYTES];
  seen_node_t **stab;
  uint64_t smask;
  seen_node_t *nodes;
  uint32_t seen_max, seen_head;
  /* workers */
  worker_t *workers;
  unsigned next_worker, ring_cap;
  hwloc_topology_t topo;
  bool topo_loaded;
  /* gossip */
  uint8_t *gbuf;
  pc_writer_t gw;
  uint32_t gcount;
  uint64_t gfirst_ns;
  uint8_t *rbuf;
  vmsg_t *free_msgs; /* recycled messages of MSG_RAW_SMALL bytes (pool thread) */
  /* statistics (pool thread only) */
  uint64_t inline_verified;
  uint64_t pool_waits;
  pc_txpool_stats_t st;
  pc_tx_t scratch;
  /* the pool thread blocked in pc_txpool_wait: its flag (written by the
   * pool, read by the workers after each result burst) and futex word
   * (bumped by a worker that saw the flag); own cache line */
  _Alignas(CACHE_LINE) _Atomic uint32_t res_waiting;
  _Atomic uint32_t res_seq;
};

/* ----------------------------------------------------------- seen set */

static uint64_t seen_index(const pc_txpool_t *p, const pc_hash_t *h) {
  uint8_t out[crypto_shorthash_BYTES];
  crypto_shorthash(out, h->b, PC_HASH_SIZE, p->sipkey);
  return pc_load_le64(out) & p->smask;
}

static seen_node_t *seen_find(const pc_txpool_t *p, const pc_hash_t *h) {
  for (seen_node_t *n = p->stab[seen_index(p, h)]; n; n = n->hnext)
    if (pc_hash_equal(&n->h, h)) return n;
  return NULL;
}

/* Sets h's state, adding it (and recycling the oldest node) if absent. */
static void seen_set(pc_txpool_t *p, const pc_hash_t *h, uint8_t state) {
  seen_node_t *n = seen_find(p, h);
  if (n) {
    n->state = state;
    return;
  }
  n = &p->nodes[p->seen_head];
  p->seen_head = (p->seen_head + 1) % p->seen_max;
  if (n->state != SEEN_FREE) {
    seen_node_t **pp = &p->stab[seen_index(p, &n->h)];
    while (*pp != n) pp = &(*pp)->hnext;
    *pp = n->hnext;
  }
  n->h = *h;
  n->state = state;
  seen_node_t **head = &p->stab[seen_index(p, h)];
  n->hnext = *head;
  *head = n;
}

/* Forgets h (its node stays in the FIFO, unlinked, until recycled). */
static void seen_del(pc_txpool_t *p, const pc_hash_t *h) {
  seen_node_t **pp = &p->stab[seen_index(p, h)];
  while (*pp && !pc_hash_equal(&(*pp)->h, h)) pp = &(*pp)->hnext;
  if (!*pp) return;
  seen_node_t *n = *pp;
  *pp = n->hnext;
  n->state = SEEN_FREE;
}

/* ------------------------------------------------------------ workers */

/* Blocks until *word differs from val (or a wake-up, or timeout_ns if not
 * 0). Spurious returns are fine: every caller re-checks its condition. */
static void futex_wait(_Atomic uint32_t *word, uint32_t val, uint64_t timeout_ns) {
  struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000ull), .tv_nsec = (long)(timeout_ns % 1000000000ull)};
  syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, timeout_ns ? &ts : NULL, NULL, 0);
}

/* Bumps *word and wakes every thread blocked on it. */
static void futex_bump_wake(_Atomic uint32_t *word) {
  /* release: pairs with the sleeper's acquire load of the word (what was
   * enqueued before the bump is visible once it sees the new value) */
  atomic_fetch_add_explicit(word, 1, memory_order_release);
  syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Pool thread, after queueing to w: wakes it if it is blocked (see the
 * comment at the top). */
static void wake_worker(worker_t *w) {
  /* seq_cst fence: pairs with the one in worker_idle (enqueue before the
   * flag load here, flag store before the ring check there) */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&w->sleeping, memory_order_relaxed)) futex_bump_wake(&w->wake_seq);
}

/* Worker, request ring empty: spins IDLE_SPINS rounds, then blocks until
 * the pool queues work or stops it. */
static void worker_idle(worker_t *w, unsigned *idle) {
  if ((*idle)++ < IDLE_SPINS) {
    rte_pause();
    return;
  }
  *idle = 0;
  /* acquire: pairs with the release bump in futex_bump_wake */
  uint32_t seq = atomic_load_explicit(&w->wake_seq, memory_order_acquire);
  atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
  /* seq_cst fence: pairs with the one in wake_worker */
  atomic_thread_fence(memory_order_seq_cst);
  /* relaxed stop: the bump in stop_workers comes after its store */
  if (rte_ring_count(w->in) == 0 && !atomic_load_explicit(&w->stop, memory_order_relaxed)) {
    /* relaxed: a statistic, read by pc_txpool_stats */
    atomic_fetch_add_explicit(&w->sleeps, 1, memory_order_relaxed);
    futex_wait(&w->wake_seq, seq, 0);
  }
  atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

/* Worker, after a result burst: wakes the pool thread if it is blocked in
 * pc_txpool_wait and this worker is ready (worker_ready). */
static void wake_pool(struct pc_txpool *p, const worker_t *w);

static void *worker_main(void *arg) {
  worker_t *w = arg;
  if (w->core >= 0) {
    hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(w->topo, (unsigned)w->core);
    if (!pu || hwloc_set_cpubind(w->topo, pu->cpuset, HWLOC_CPUBIND_THREAD) < 0)
      PC_WARN("txpool: verify worker %u: cannot pin to core %d; running unpinned", w->id, w->core);
  }
  void *ptrs[BURST];
  unsigned idle = 0;
  /* acquire: pairs with the release store in stop_workers */
  while (!atomic_load_explicit(&w->stop, memory_order_acquire)) {
    unsigned n = rte_ring_sc_dequeue_burst(w->in, ptrs, BURST, NULL);
    if (!n) {
      worker_idle(w, &idle);
      continue;
    }
    idle = 0;
    for (unsigned i = 0; i < n; i++) {
      vmsg_t *m = ptrs[i];
      m->result = pc_tx_verify(&m->tx);
    }
    /* relaxed: a statistic; the ring enqueue below (release) publishes it
     * to the pool together with the results it counts */
    atomic_fetch_add_explicit(&w->verified, n, memory_order_relaxed);
    unsigned done = 0;
    while (done < n) {
      done += rte_ring_sp_enqueue_burst(w->out, ptrs + done, n - done, NULL);
      if (done < n) rte_pause(); /* cannot happen: inflight ≤ capacity */
    }
    wake_pool(w->pool, w);
  }
  return NULL;
}

static struct rte_ring *ring_new(const char *name, unsigned size) {
  ssize_t sz = rte_ring_get_memsize(size);
  if (sz < 0) return NULL;
  size_t bytes = ((size_t)sz + 63) & ~(size_t)63;
  struct rte_ring *r = aligned_alloc(64, bytes);
  if (!r) return NULL;
  if (rte_ring_init(r, name, size, RING_F_SP_ENQ | RING_F_SC_DEQ) < 0) {
    free(r);
    return NULL;
  }
  return r;
}

static vmsg_t *msg_get(pc_txpool_t *p, size_t len) {
  if (len <= MSG_RAW_SMALL && p->free_msgs) {
    vmsg_t *m = p->free_msgs;
    p->free_msgs = m->next_free;
    return m;
  }
  size_t cap = len <= MSG_RAW_SMALL ? MSG_RAW_SMALL : len;
  vmsg_t *m = malloc(sizeof *m + cap);
  if (m) m->cap = (uint32_t)cap;
  return m;
}

static void msg_put(pc_txpool_t *p, vmsg_t *m) {
  if (m->cap != MSG_RAW_SMALL) {
    free(m);
    return;
  }
  m->next_free = p->free_msgs;
  p->free_msgs = m;
}

static void free_ring_msgs(struct rte_ring *r) {
  void *m;
  while (r && rte_ring_sc_dequeue(r, &m) == 0) free(m);
}

/* --------------------------------------------------------- lifecycle */

void pc_txpool_cfg_default(pc_txpool_cfg_t *cfg, uint64_t chain_id, uint16_t n_replicas, uint16_t self) {
  memset(cfg, 0, sizeof *cfg);
  cfg->chain_id = chain_id;
  pc_mempool_cfg_default(&cfg->mempool, n_replicas, self);
  for (unsigned i = 0; i < PC_TXPOOL_MAX_WORKERS; i++) cfg->worker_cores[i] = -1;
  cfg->ring_size = 1024;
  cfg->gossip_max_count = 256;
  cfg->gossip_max_bytes = 1u << 20;
  cfg->gossip_max_wait_ns = 2000000;
}

static void stop_workers(pc_txpool_t *p) {
  if (!p->workers) return;
  for (unsigned i = 0; i < p->cfg.n_workers; i++) {
    worker_t *w = &p->workers[i];
    /* release: pairs with the worker's acquire load of stop */
    atomic_store_explicit(&w->stop, true, memory_order_release);
    futex_bump_wake(&w->wake_seq); /* after the store: a blocked worker wakes and sees it */
    if (w->started) pthread_join(w->thread, NULL);
    w->started = false;
    free_ring_msgs(w->in);
    free_ring_msgs(w->out);
    free(w->in);
    free(w->out);
    w->in = w->out = NULL;
  }
}

void pc_txpool_destroy(pc_txpool_t *p) {
  if (!p) return;
  stop_workers(p);
  free(p->workers);
  for (vmsg_t *m = p->free_msgs, *next; m; m = next) {
    next = m->next_free;
    free(m);
  }
  if (p->topo_loaded) hwloc_topology_destroy(p->topo);
  pc_mempool_destroy(p->mp);
  free(p->stab);
  free(p->nodes);
  free(p->gbuf);
  free(p->rbuf);
  free(p);
}

pc_txpool_t *pc_txpool_create(const pc_txpool_cfg_t *cfg, const pc_tx_state_view_t *view,
                              const pc_txpool_transport_t *transport) {
  if (cfg->n_workers > PC_TXPOOL_MAX_WORKERS || cfg->ring_size < 64 || (cfg->ring_size & (cfg->ring_size - 1)) ||
      !cfg->gossip_max_count || cfg->gossip_max_bytes < PC_TX_MAX + 4 || cfg->gossip_max_bytes > RECV_BATCH_CAP) {
    PC_ERROR("txpool: invalid configuration (n_workers ≤ %d, ring_size a power of two ≥ 64, "
             "gossip_max_count ≥ 1, gossip_max_bytes in [%u, %u])",
             PC_TXPOOL_MAX_WORKERS, PC_TX_MAX + 4, RECV_BATCH_CAP);
    return NULL;
  }
  /* aligned: res_waiting / res_seq keep a cache line of their own */
  pc_txpool_t *p = aligned_alloc(CACHE_LINE, (sizeof *p + CACHE_LINE - 1) & ~(size_t)(CACHE_LINE - 1));
  if (p) memset(p, 0, sizeof *p);
  if (!p) {
    PC_ERROR("txpool: out of memory");
    return NULL;
  }
  p->cfg = *cfg;
  p->next_height = 1;
  if (view) p->view = *view;
  if (transport) {
    p->tp = *transport;
    p->has_tp = true;
  }
  p->mp = pc_mempool_create(&cfg->mempool, view);
  if (!p->mp) goto fail;
  randombytes_buf(p->sipkey, sizeof p->sipkey);
  p->seen_max = cfg->seen_max ? cfg->seen_max : 4 * cfg->mempool.max_count;
  uint64_t sz = 1;
  while (sz < p->seen_max) sz <<= 1;
  p->smask = sz - 1;
  p->stab = calloc(sz, sizeof *p->stab);
  p->nodes = calloc(p->seen_max, sizeof *p->nodes);
  p->gbuf = malloc(cfg->gossip_max_bytes);
  if (!p->stab || !p->nodes || !p->gbuf) goto nomem;
  pc_writer_init(&p->gw, p->gbuf, cfg->gossip_max_bytes);
  if (p->has_tp && !(p->rbuf = malloc(RECV_BATCH_CAP))) goto nomem;
  p->ring_cap = cfg->ring_size - 1;
  if (cfg->n_workers) {
    bool pin = false;
    for (unsigned i = 0; i < cfg->n_workers; i++) pin |= cfg->worker_cores[i] >= 0;
    if (pin) {
      if (hwloc_topology_init(&p->topo) == 0 && hwloc_topology_load(p->topo) == 0)
        p->topo_loaded = true;
      else
        PC_WARN("txpool: hwloc topology unavailable; verify workers run unpinned");
    }
    /* 64-byte aligned (calloc is not), so the per-writer groups of
     * worker_t really are on separate lines; sizeof is a multiple of 64 */
    p->workers = aligned_alloc(CACHE_LINE, cfg->n_workers * sizeof *p->workers);
    if (!p->workers) goto nomem;
    memset(p->workers, 0, cfg->n_workers * sizeof *p->workers);
    for (unsigned i = 0; i < cfg->n_workers; i++) {
      worker_t *w = &p->workers[i];
      char name[32];
      snprintf(name, sizeof name, "txv%u.in", i);
      w->in = ring_new(name, cfg->ring_size);
      snprintf(name, sizeof name, "txv%u.out", i);
      w->out = ring_new(name, cfg->ring_size);
      if (!w->in || !w->out) goto nomem;
      w->id = i;
      w->pool = p;
      w->core = p->topo_loaded ? cfg->worker_cores[i] : -1;
      w->topo = p->topo;
      atomic_init(&w->verified, 0);
      atomic_init(&w->sleeps, 0);
      atomic_init(&w->sleeping, 0);
      atomic_init(&w->wake_seq, 0);
      atomic_init(&w->stop, false);
      if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        PC_ERROR("txpool: cannot start verify worker %u", i);
        goto fail;
      }
      w->started = true;
      snprintf(name, sizeof name, "pc-txverify%u", i); /* for top / perf; at most 15 characters */
      pthread_setname_np(w->thread, name);
    }
  }
  return p;
nomem:
  PC_ERROR("txpool: out of memory");
fail:
  pc_txpool_destroy(p);
  return NULL;
}

/* ------------------------------------------------------------ gossip */

int pc_txpool_flush(pc_txpool_t *p) {
  if (!p->gcount || !p->has_tp) return 0;
  int rc = p->tp.broadcast(p->tp.ctx, p->gbuf, p->gw.len);
  if (rc == PC_ERR_AGAIN) return rc;
  if (rc < 0) {
    p->st.gossip_batches_dropped++;
  } else {
    p->st.gossip_batches_sent++;
    p->st.gossip_txs_sent += p->gcount;
  }
  pc_writer_init(&p->gw, p->gbuf, p->cfg.gossip_max_bytes);
  p->gcount = 0;
  return rc < 0 ? rc : 0;
}

static void gossip_add(pc_txpool_t *p, const uint8_t *raw, size_t len, uint64_t now) {
  if (!p->has_tp) return;
  if (p->gw.len + 4 + len > p->cfg.gossip_max_bytes && pc_txpool_flush(p) == PC_ERR_AGAIN) {
    p->st.gossip_batches_dropped++; /* transport stalled and batch full: this tx is not sent */
    return;
  }
  if (!p->gcount) p->gfirst_ns = now;
  pc_batch_append(&p->gw, raw, len);
  p->gcount++;
  if (p->gcount >= p->cfg.gossip_max_count) pc_txpool_flush(p);
}

/* --------------------------------------------------------- admission */

static int reject(pc_txpool_t *p, pc_txpool_reason_t r, int err, pc_txpool_reason_t *why) {
  p->st.rejected[r]++;
  if (why) *why = r;
  return err;
}

/* Admits a verified transaction into the mempool (and gossip). */
static int admit(pc_txpool_t *p, const pc_tx_t *tx, uint16_t origin, uint64_t now, pc_txpool_reason_t *why) {
  pc_txpool_reason_t r;
  int err = pc_mempool_insert(p->mp, tx, now, &r);
  if (err) return reject(p, r, err, why);
  p->st.admitted++;
  if (origin == PC_ORIGIN_CLIENT) gossip_add(p, tx->raw, tx->raw_len, now);
  return 0;
}

/* Takes a verification result on the pool thread. */
static int finish(pc_txpool_t *p, const pc_tx_t *tx, int result, uint16_t origin, uint64_t now,
                  pc_txpool_reason_t *why) {
  seen_set(p, &tx->hash, result == 0 ? SEEN_GOOD : SEEN_BAD);
  if (result != 0) return reject(p, PC_TXR_BAD_SIGNATURE, PC_ERR_SIGNATURE, why);
  if (p->cfg.on_verified) p->cfg.on_verified(p->cfg.on_verified_ctx, &tx->hash);
  return admit(p, tx, origin, now, why);
}

static void finish_msg(pc_txpool_t *p, vmsg_t *m, uint64_t now) {
  pc_txpool_reason_t why;
  int err = finish(p, &m->tx, m->result, m->origin, now, &why);
  if (err && p->cfg.on_refused) p->cfg.on_refused(p->cfg.on_refused_ctx, &m->tx.hash, m->origin, err, why);
  msg_put(p, m);
}

/* Points the views of a copied pc_tx_t at the copy of its bytes. */
static void rebase(pc_tx_t *tx, const uint8_t *from, uint8_t *to) {
#define REBASE(ptr) ((ptr) ? to + ((const uint8_t *)(ptr) - from) : NULL)
  tx->args = REBASE(tx->args);
  for (uint16_t i = 0; i < tx->n_reads; i++) tx->reads[i].p = REBASE(tx->reads[i].p);
  for (uint16_t i = 0; i < tx->n_writes; i++) tx->writes[i].p = REBASE(tx->writes[i].p);
  tx->raw = to;
#undef REBASE
}

int pc_txpool_submit(pc_txpool_t *p, const void *raw, size_t len, uint16_t origin, pc_hash_t *hash,
                     pc_txpool_reason_t *why) {
  bool preverified = origin == PC_ORIGIN_CLIENT_VERIFIED;
  if (preverified) origin = PC_ORIGIN_CLIENT;
  p->st.submitted++;
  pc_tx_t *tx = &p->scratch;
  int err = pc_tx_decode(raw, len, tx);
  if (err) return reject(p, err == PC_ERR_TOO_LARGE ? PC_TXR_TOO_LARGE : PC_TXR_BAD_FORMAT, err, why);
  if (hash) *hash = tx->hash;
  if (tx->chain_id != p->cfg.chain_id) return reject(p, PC_TXR_WRONG_CHAIN, PC_ERR_CHAIN, why);
  if (tx->expiry_height && tx->expiry_height < p->next_height) return reject(p, PC_TXR_EXPIRED, PC_ERR_EXPIRED, why);
  seen_node_t *s = seen_find(p, &tx->hash);
  if (s) {
    if (s->state == SEEN_BAD) return reject(p, PC_TXR_BAD_SIGNATURE, PC_ERR_SIGNATURE, why);
    if (s->state == SEEN_GOOD && !pc_mempool_contains(p->mp, &tx->hash))
      return admit(p, tx, origin, pc_now_ns(), why); /* verified before, did not fit then */
    return reject(p, PC_TXR_DUPLICATE, PC_ERR_DUPLICATE, why);
  }
  pc_txpool_reason_t r;
  err = pc_mempool_check(p->mp, tx, &r);
  if (err) return reject(p, r, err, why);

  if (preverified) /* our own gateway verified it: not again */
    return finish(p, tx, 0, origin, pc_now_ns(), why);

  worker_t *w = NULL;
  for (unsigned k = 0; k < p->cfg.n_workers; k++) {
    worker_t *c = &p->workers[(p->next_worker + k) % p->cfg.n_workers];
    if (c->inflight < p->ring_cap) {
      w = c;
      p->next_worker = (p->next_worker + k + 1) % p->cfg.n_workers;
      break;
    }
  }
  if (!w && !p->cfg.n_workers) { /* no workers: verify here, in place */
    p->inline_verified++;
    return finish(p, tx, pc_tx_verify(tx), origin, pc_now_ns(), why);
  }
  if (!w) return reject(p, PC_TXR_BUSY, PC_ERR_AGAIN, why);

  vmsg_t *m = msg_get(p, len);
  if (!m) return reject(p, PC_TXR_BUSY, PC_ERR_NOMEM, why);
  memcpy(m->raw, raw, len);
  m->tx = *tx;
  rebase(&m->tx, raw, m->raw);
  m->origin = origin;
  seen_set(p, &tx->hash, SEEN_PENDING);
  void *ptr = m;
  /* the enqueue (release) publishes m's contents to the worker's dequeue (acquire) */
  if (rte_ring_sp_enqueue_burst(w->in, &ptr, 1, NULL) != 1) { /* cannot happen: inflight < capacity */
    msg_put(p, m);
    seen_del(p, &tx->hash);
    return reject(p, PC_TXR_BUSY, PC_ERR_AGAIN, why);
  }
  w->inflight++;
  wake_worker(w);
  return 0;
}

/* --------------------------------------------------------------- poll */

unsigned pc_txpool_poll(pc_txpool_t *p, uint64_t now) {
  unsigned handled = 0;
  void *ptrs[BURST];
  for (unsigned i = 0; i < p->cfg.n_workers; i++) {
    worker_t *w = &p->workers[i];
    unsigned n = rte_ring_sc_dequeue_burst(w->out, ptrs, BURST, NULL);
    w->inflight -= n;
    for (unsigned k = 0; k < n; k++) finish_msg(p, ptrs[k], now);
    handled += n;
  }
  for (unsigned b = 0; p->has_tp && p->tp.recv && b < RECV_PER_POLL; b++) {
    uint16_t from = 0;
    int len = p->tp.recv(p->tp.ctx, &from, p->rbuf, RECV_BATCH_CAP);
    if (len == 0) break;
    handled++;
    if (len < 0 || pc_batch_count(p->rbuf, (size_t)len) < 0 || from >= PC_ORIGIN_CLIENT_VERIFIED) {
      p->st.gossip_bad_batches++;
      pc_reject_note(PC_DEC_OTHER, len < 0 ? len : PC_ERR_INVALID);
      continue;
    }
    size_t pos = 0, n;
    const uint8_t *t;
    while ((t = pc_batch_next(p->rbuf, (size_t)len, &pos, &n))) {
      p->st.gossip_txs_received++;
      pc_txpool_submit(p, t, n, from, NULL, NULL);
    }
  }
  if (p->gcount && (now - p->gfirst_ns >= p->cfg.gossip_max_wait_ns || p->gcount >= p->cfg.gossip_max_count)) {
    pc_txpool_flush(p);
    handled++;
  }
  return handled;
}

static unsigned inflight(const pc_txpool_t *p) {
  unsigned n = 0;
  for (unsigned i = 0; i < p->cfg.n_workers; i++) n += p->workers[i].inflight;
  return n;
}

/* What pc_txpool_wait waits for, per worker: half a ring of results, or
 * results and no request left. So a pool thread that takes every result
 * when it wakes (and refills the ring) wakes about twice per ring
 * (~1000 transactions) rather than once per result burst: each futex
 * wake-up costs the worker a system call. While the pool sleeps a
 * worker's results only grow and its requests only shrink, so the
 * condition comes true at the latest when it finished its requests. */
static bool worker_ready(const pc_txpool_t *p, const worker_t *w) {
  unsigned out = rte_ring_count(w->out);
  return out && (out >= p->ring_cap / 2 || rte_ring_count(w->in) == 0);
}

static bool results_ready(const pc_txpool_t *p) {
  for (unsigned i = 0; i < p->cfg.n_workers; i++)
    if (worker_ready(p, &p->workers[i])) return true;
  return false;
}

static void wake_pool(pc_txpool_t *p, const worker_t *w) {
  /* seq_cst fence: pairs with the one in pc_txpool_wait (results enqueued
   * before the flag load here, flag store before the ring check there) */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&p->res_waiting, memory_order_relaxed) && worker_ready(p, w))
    futex_bump_wake(&p->res_seq);
}

bool pc_txpool_wait(pc_txpool_t *p, uint64_t timeout_ns) {
  if (!inflight(p)) return false;
  if (results_ready(p)) return true;
  uint64_t deadline = pc_now_ns() + timeout_ns;
  for (;;) {
    /* acquire: pairs with the release bump in futex_bump_wake */
    uint32_t seq = atomic_load_explicit(&p->res_seq, memory_order_acquire);
    atomic_store_explicit(&p->res_waiting, 1, memory_order_relaxed);
    /* seq_cst fence: pairs with the one in wake_pool */
    atomic_thread_fence(memory_order_seq_cst);
    bool ready = results_ready(p);
    uint64_t now = pc_now_ns();
    if (!ready && now < deadline) {
      p->pool_waits++;
      futex_wait(&p->res_seq, seq, deadline - now);
    }
    atomic_store_explicit(&p->res_waiting, 0, memory_order_relaxed);
    /* woken by a bump (or the results are there): done; a spurious
     * return goes round again until the deadline */
    if (ready || atomic_load_explicit(&p->res_seq, memory_order_acquire) != seq || results_ready(p)) return true;
    if (pc_now_ns() >= deadline) return false;
  }
}

void pc_txpool_drain(pc_txpool_t *p) {
  while (inflight(p))
    if (!pc_txpool_poll(p, pc_now_ns())) pc_txpool_wait(p, 10000000); /* 10 ms: gossip timers still run */
}

/* ------------------------------------------------------------ blocks */

void pc_txpool_set_next_height(pc_txpool_t *p, uint64_t next_height) { p->next_height = next_height; }

/* Whether a decided transaction's signature is valid: known if this pool
 * checked it (or its own gateway did), else checked here, once — the
 * on_verified callback then spares the node's store stage a second check.
 * Undecodable ones count as invalid (execution skips them too). */
static bool decided_tx_valid(pc_txpool_t *p, const uint8_t *t, size_t n, const pc_hash_t *h) {
  seen_node_t *s = seen_find(p, h);
  if (s && (s->state == SEEN_GOOD || s->state == SEEN_DECIDED)) return true;
  if (s && s->state == SEEN_BAD) return false;
  pc_tx_t *tx = &p->scratch;
  if (pc_tx_decode(t, n, tx) != 0) return false;
  p->inline_verified++;
  if (pc_tx_verify(tx) != 0) return false;
  if (p->cfg.on_verified) p->cfg.on_verified(p->cfg.on_verified_ctx, h);
  return true;
}

int pc_txpool_decided(pc_txpool_t *p, uint64_t height, const uint8_t *batch, size_t len) {
  /* A decided transaction whose signature does not verify is skipped by
   * execution; it must not move its sender's nonce here either, or a
   * faulty proposer could lock any sender out with one forged transaction
   * (the pool would refuse the sender's real next nonce as used). Such
   * transactions are left out of the batch the mempool settles. */
  size_t pos = 0, n, bad = 0;
  const uint8_t *t;
  uint8_t *copy = NULL; /* the batch without its invalid transactions, made at the first one */
  pc_writer_t w;
  while ((t = pc_batch_next(batch, len, &pos, &n))) {
    pc_hash_t h;
    pc_tx_hash_bytes(&h, t, n);
    bool ok = decided_tx_valid(p, t, n, &h);
    seen_set(p, &h, ok ? SEEN_DECIDED : SEEN_BAD);
    if (!ok && !bad++) {
      if (!(copy = malloc(len))) return PC_ERR_NOMEM;
      pc_writer_init(&w, copy, len);
      size_t before = 0, m;
      const uint8_t *u;
      while ((u = pc_batch_next(batch, len, &before, &m)) && u != t) pc_batch_append(&w, u, m);
    } else if (ok && bad) {
      pc_batch_append(&w, t, n);
    }
  }
  const uint8_t *settle = batch;
  size_t settle_len = len;
  if (bad) {
    settle = copy;
    settle_len = w.len;
    p->st.decided_invalid += bad;
  }
  int rc = pc_mempool_remove_decided(p->mp, settle, settle_len);
  free(copy);
  if (height + 1 > p->next_height) p->next_height = height + 1;
  pc_mempool_evict_expired(p->mp, p->next_height);
  return rc < 0 ? rc : 0;
}

int pc_txpool_jumped(pc_txpool_t *p, uint64_t height) {
  if (height + 1 > p->next_height) p->next_height = height + 1;
  int left = pc_mempool_resync(p->mp);
  int ev = pc_mempool_evict_expired(p->mp, p->next_height);
  return (left < 0 ? 0 : left) + (ev < 0 ? 0 : ev);
}

/* ------------------------------------------------------------- state */

bool pc_txpool_backpressure(const pc_txpool_t *p) {
  if (pc_mempool_backpressure(p->mp)) return true;
  return p->cfg.n_workers && inflight(p) * 4 > p->ring_cap * p->cfg.n_workers * 3;
}

pc_mempool_t *pc_txpool_mempool(pc_txpool_t *p) { return p->mp; }

static uint64_t thread_cpu_ns(pthread_t t) {
  clockid_t clock;
  struct timespec ts;
  if (pthread_getcpuclockid(t, &clock) != 0 || clock_gettime(clock, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int pc_txpool_worker_stats(const pc_txpool_t *p, unsigned i, uint64_t *verified, uint64_t *cpu_ns) {
  if (i >= p->cfg.n_workers) return PC_ERR_INVALID;
  /* relaxed: exact once the results it counts were dequeued (see worker_main) */
  *verified = atomic_load_explicit(&p->workers[i].verified, memory_order_relaxed);
  *cpu_ns = thread_cpu_ns(p->workers[i].thread);
  return 0;
}

void pc_txpool_stats(const pc_txpool_t *p, pc_txpool_stats_t *st) {
  *st = p->st;
  st->verified = p->inline_verified;
  for (unsigned i = 0; i < p->cfg.n_workers; i++)
    /* relaxed: exact once the results it counts were dequeued (see worker_main) */
    st->verified += atomic_load_explicit(&p->workers[i].verified, memory_order_relaxed);
  st->verify_inflight = inflight(p);
  st->pool_waits = p->pool_waits;
  st->worker_sleeps = 0;
  for (unsigned i = 0; i < p->cfg.n_workers; i++)
    /* relaxed: a statistic */
    st->worker_sleeps += atomic_load_explicit(&p->workers[i].sleeps, memory_order_relaxed);
  st->worker_cpu_ns = 0;
  for (unsigned i = 0; i < p->cfg.n_workers; i++) st->worker_cpu_ns += thread_cpu_ns(p->workers[i].thread);
  pc_mempool_stats(p->mp, &st->pool);
}
