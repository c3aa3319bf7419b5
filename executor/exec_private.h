/* exec_private.h — executor internals shared by its .c files. */
#ifndef PC_EXEC_PRIVATE_H
#define PC_EXEC_PRIVATE_H

#include <hwloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <urcu/lfstack.h>

#include "executor/executor.h"

#define PC_CACHE_LINE 64
/* state keys: PC_STATE_KEY_MAX from storage/storage.h (1 + PC_TX_NAME_MAX + PC_EXEC_KEY_MAX) */

/* ------------------------------------------------------------- key hash */

/* exec_keyhash: keyed SipHash (libsodium crypto_shorthash) with a random
 * per-process key. Only hash-table layout depends on it, never a result, so
 * replicas may differ; the random key keeps client-chosen keys from
 * colliding on purpose. */
uint64_t exec_keyhash(const void *k, size_t n);

/* ---------------------------------------------------------------- arena
 *
 * A bump allocator made of chunks, reset (not freed) between blocks. A
 * worker's chunks come from hwloc_alloc_membind on the worker's NUMA node
 * (falling back to malloc when the OS refuses), and are first touched by
 * the worker itself. One thread per arena. */
typedef struct arena_chunk {
  struct arena_chunk *next;
  size_t size, used;
  bool hw; /* from hwloc_alloc_membind (free with hwloc_free) */
  _Alignas(16) uint8_t data[];
} arena_chunk_t;

typedef struct {
  arena_chunk_t *head, *cur;
  hwloc_topology_t topo; /* NULL: plain malloc */
  hwloc_nodeset_t nodeset;
} pc_arena_t;

void arena_init(pc_arena_t *a, hwloc_topology_t topo, hwloc_const_nodeset_t nodeset);
void arena_fini(pc_arena_t *a);
void arena_reset(pc_arena_t *a);
/* arena_alloc returns 16-byte aligned memory or NULL (logged). */
void *arena_alloc(pc_arena_t *a, size_t n);
void *arena_dup(pc_arena_t *a, const void *p, size_t n);

/* ---------------------------------------------------------------- kvmap
 *
 * Single-threaded open-addressing map of byte keys to byte values (or
 * tombstones), with its own byte store. Used for a transaction's write set,
 * the serial overlay, duplicate detection and the in-memory state. */
typedef struct {
  uint64_t h;
  void *aux;           /* caller's pointer (the MV entry of a write) */
  uint32_t koff, klen; /* in buf */
  uint32_t voff, vlen, vcap;
  uint8_t used, del;
} kv_slot_t;

typedef struct {
  kv_slot_t *slots;
  uint32_t cap, n; /* power of two; live + tombstoned entries */
  uint32_t *order; /* slot indices in insertion order (n of them) */
  uint8_t *buf;
  size_t blen, bcap;
} pc_kvmap_t;

int kvmap_init(pc_kvmap_t *m, uint32_t cap);
void kvmap_fini(pc_kvmap_t *m);
void kvmap_clear(pc_kvmap_t *m);
kv_slot_t *kvmap_find(const pc_kvmap_t *m, const void *k, size_t kl, uint64_t h);
/* kvmap_put inserts or replaces; returns the slot or NULL on NOMEM. */
kv_slot_t *kvmap_put(pc_kvmap_t *m, const void *k, size_t kl, uint64_t h, const void *v, size_t vl, bool del);
static inline const uint8_t *kv_key(const pc_kvmap_t *m, const kv_slot_t *s) { return m->buf + s->koff; }
static inline const uint8_t *kv_val(const pc_kvmap_t *m, const kv_slot_t *s) { return m->buf + s->voff; }
/* kvmap_sorted returns n slot pointers in batch key order (malloc'd array
 * in *out, caller frees) or PC_ERR_NOMEM. */
int kvmap_sorted(const pc_kvmap_t *m, kv_slot_t ***out, size_t *n);
/* key order used by batches: memcmp over the common length, shorter first. */
int exec_key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl);

/* ------------------------------------------------------------- MV store
 *
 * Per-block multi-version store: one entry per state key touched in the
 * block, each holding the versions written by transactions (index,
 * incarnation). A reader at index i sees the highest version below i, or
 * the base state. The key index is an insert-only open-addressing table of
 * entry pointers (CAS into empty slots); nothing is removed during a block
 * and the table is wiped between blocks when no worker runs. That is why it
 * is not liburcu's cds_lfht: its RCU read sections and deferred frees buy
 * nothing for an insert-only per-block table, and would require every
 * thread that reads it (the caller included) to be a registered RCU reader.
 * When the table passes 3/4 full the insert fails and the block is re-run
 * serially (the next block gets a larger table). */
typedef struct {
  uint32_t idx, inc;
  const uint8_t *val;
  uint32_t vlen;
  uint8_t del;
} mv_ver_t;

#define MV_NONE UINT32_MAX /* "no version below me": the base state */

typedef struct mv_entry {
  atomic_uint lock; /* spin lock over nver/cap/v (held a few dozen instructions) */
  uint32_t nver, cap;
  mv_ver_t *v;    /* ascending idx */
  int32_t last_w; /* build time: last declared writer so far (-1) */
  uint32_t id;    /* build time: dense id for union-find */
  uint64_t h;
  uint16_t klen;
  uint8_t key[];
} mv_entry_t;

typedef struct {
  _Atomic(mv_entry_t *) *slots;
  uint32_t mask;
  atomic_uint count;
  uint32_t limit;
} mv_table_t;

int mv_table_init(mv_table_t *t, uint32_t cap);
void mv_table_fini(mv_table_t *t);
/* mv_table_prepare clears and sizes the table for at least `keys` keys. */
int mv_table_prepare(mv_table_t *t, uint32_t keys);
/* mv_get finds or inserts the entry for key; NULL when the table is full or
 * the arena is exhausted. Any thread. */
mv_entry_t *mv_get(mv_table_t *t, pc_arena_t *a, const uint8_t *k, size_t kl, uint64_t h);
/* mv_read copies the highest version below idx into *out; false if none. */
bool mv_read(mv_entry_t *e, uint32_t idx, mv_ver_t *out);
/* mv_write inserts or replaces the version of idx; false on NOMEM. */
bool mv_write(mv_entry_t *e, pc_arena_t *a, const mv_ver_t *ver);
/* mv_remove drops the version of idx if present. */
void mv_remove(mv_entry_t *e, uint32_t idx);

/* ---------------------------------------------------------- transactions */

typedef struct {
  const uint8_t *sk; /* state key */
  mv_entry_t *e;     /* MV entry (DAG / task sets), else NULL */
  uint16_t sklen;
  uint8_t write;
} dkey_t;

typedef struct {
  const uint8_t *key, *val;
  mv_entry_t *e;
  uint32_t klen, vlen;
  uint8_t del;
} wrec_t;

typedef struct {
  mv_entry_t *e;
  uint32_t idx, inc; /* version seen (idx MV_NONE = base) */
} rrec_t;

enum { TX_PENDING = 0, TX_EXECUTING, TX_EXECUTED };

typedef struct txrec {
  const pc_tx_t *tx;
  const pc_contract_def_t *contract;
  pc_contract_method_fn fn;
  uint8_t pre_status; /* static status, or 0xff = to execute */
  /* declared keys (state keys), reads then writes; the nonce key apart */
  dkey_t *dk;
  uint32_t n_dk;
  uint8_t nonce_key[PC_EXEC_NONCE_KEY_LEN];
  mv_entry_t *nonce_e;
  /* result of the latest incarnation */
  uint8_t status;
  uint64_t used;
  pc_bytes_t out;
  pc_bytes_t *ev;
  uint16_t n_ev;
  wrec_t *w;
  uint32_t n_w;
  rrec_t *r;
  uint32_t n_r;
  uint32_t inc;
  pc_hash_t leaf; /* receipts-root leaf of this result */
  /* scheduling */
  atomic_uint pending;     /* DAG: unfinished predecessors */
  atomic_uint state;       /* optimistic: TX_* */
  uint32_t dep_off, n_dep; /* DAG: dependents in blockctx.deps */
  struct cds_lfs_node qnode;
} txrec_t;

/* Per-thread scratch for executing one transaction at a time. */
typedef struct {
  pc_kvmap_t writes;
  rrec_t *reads;
  uint32_t n_reads, cap_reads;
  uint8_t out[PC_EXEC_OUTPUT_MAX];
  uint32_t out_len;
  uint8_t evbuf[PC_EXEC_EVENTS_MAX * PC_EXEC_EVENT_MAX];
  uint32_t ev_off[PC_EXEC_EVENTS_MAX], ev_len[PC_EXEC_EVENTS_MAX];
  uint32_t n_ev, ev_used;
  pc_arena_t *arena;
} exec_scratch_t;

int scratch_init(exec_scratch_t *s, pc_arena_t *a);
void scratch_fini(exec_scratch_t *s);

enum { MODE_SERIAL = 0, MODE_DECLARED, MODE_SPECULATIVE };

/* A component (task set): txs in block order. */
typedef struct {
  uint32_t off, n;
  struct cds_lfs_node qnode;
} comp_t;

typedef struct blockctx {
  struct pc_executor *e;
  const pc_exec_state_t *state;
  const pc_exec_block_t *blk;
  uint64_t time_us; /* the block clock: what contracts see (executor.h) */
  txrec_t *tx;
  uint32_t n;
  uint32_t n_exec;     /* txs without a static status */
  pc_kvmap_t *overlay; /* serial */
  mv_table_t *mv;
  /* DAG */
  uint32_t *deps;
  /* task sets */
  comp_t *comps;
  uint32_t n_comps;
  uint32_t *comp_tx;
  /* progress */
  _Alignas(PC_CACHE_LINE) atomic_uint done;
  _Alignas(PC_CACHE_LINE) atomic_uint next_spec;
  _Alignas(PC_CACHE_LINE) atomic_uint commit_idx;
  atomic_uint commit_lock;
  atomic_bool serial_mode;
  _Alignas(PC_CACHE_LINE) atomic_int abort; /* 0 or PC_ERR_* */
  atomic_ulong reexec, steals;
  /* caller-side choices and measurements (caller thread only) */
  bool decl_cool, opt_cool; /* this block is one of the cooldown blocks */
  pc_exec_why_t why;        /* why a parallel scheduler ran it serially */
  /* probe (serial runs chosen by the cost rule): after probe_after executed
   * transactions, sched_serial gives up with SCHED_PROBE_COSTLY when they
   * took more than probe_after × probe_ns of the caller's CPU */
  uint32_t probe_after;
  uint64_t probe_ns;
  uint64_t serial_ns, pool_ns; /* wall time in sched_serial / in pool_run */
} blockctx_t;

/* sched_serial's answer when its probe found the block costly: nothing of
 * its partial run is kept; the caller runs the block again in parallel */
#define SCHED_PROBE_COSTLY 1

/* exec_thread_cpu_ns: the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID). */
uint64_t exec_thread_cpu_ns(void);

/* exec_tx runs transaction i (already past its static checks) in the given
 * mode, leaving its receipt, write list and (speculative) read list in
 * b->tx[i], copied into s->arena. */
void exec_tx(blockctx_t *b, exec_scratch_t *s, uint32_t i, int mode);
/* exec_publish writes tx i's write list into the MV store (incarnation
 * r->inc); false when the MV store is full (b->abort is then set). */
bool exec_publish(blockctx_t *b, exec_scratch_t *s, uint32_t i);

/* exec_receipt_leaf hashes one receipt's encoding (the receipts-root leaf);
 * exec_merkle_root folds leaves in place into the receipts root. */
void exec_receipt_leaf(const pc_receipt_t *r, pc_hash_t *leaf);
int exec_merkle_root(pc_hash_t *leaves, size_t n, pc_hash_t *out);

/* ------------------------------------------------------------ worker pool */

typedef void (*pool_job_fn)(void *arg, unsigned wid);

typedef struct {
  _Alignas(PC_CACHE_LINE) struct __cds_lfs_stack q; /* this worker's task stack */
  _Alignas(PC_CACHE_LINE) pthread_t th;
  struct pc_executor *e;
  unsigned id;
  int core;
  pc_arena_t arena; /* per-block data, rewound before each block */
  pc_arena_t perm;  /* the scratch, kept for the worker's life */
  exec_scratch_t *scratch;
  int init_err;
  /* profile of the current job, written by the worker, read by the caller
   * after pool_run returns (ordered by the pool mutex) */
  uint32_t n_tx;   /* transactions this worker executed */
  uint64_t cpu_ns; /* its CPU time inside the job */
} worker_t;

/* -------------------------------------------------------------- executor */

struct pc_executor {
  pc_exec_config_t cfg;
  int cores[PC_EXEC_WORKERS_MAX];
  hwloc_topology_t topo;
  /* contracts */
  const pc_contract_def_t *contracts[PC_EXEC_CONTRACTS_MAX];
  void *dl[PC_EXEC_CONTRACTS_MAX]; /* dlopen handle or NULL */
  unsigned n_contracts;
  /* caller-side memory */
  pc_arena_t arena;
  exec_scratch_t *scratch;
  pc_kvmap_t overlay, dups;
  mv_table_t mv;
  uint32_t mv_keys_per_tx; /* optimistic sizing hint, grows on overflow */
  unsigned opt_cooldown;   /* blocks to run serially after a costly optimistic one */
  unsigned decl_cooldown;  /* blocks to run serially, unanalysed, after a DAG / task-set fallback */
  uint64_t tx_cost_ns;     /* smoothed CPU ns per executed transaction; 0 = not measured yet */
  uint64_t block_time_us;  /* the running block's clock (block_init copies it) */
  pc_exec_profile_t prof;  /* the last block's */
  pc_write_t *batch;
  size_t batch_cap;
  pc_receipt_t *receipts;
  size_t receipts_cap;
  pc_tx_t *batch_txs; /* pc_exec_run_batch's decoded transactions */
  size_t batch_txs_cap;
  /* pool */
  worker_t *w;
  unsigned n_workers;
  pthread_mutex_t mu;
  pthread_cond_t cv_start, cv_done;
  uint64_t epoch;
  unsigned running;
  bool stop;
  pool_job_fn job;
  void *job_arg;
  /* stats (relaxed; observability only) */
  atomic_ulong st_blocks, st_txs, st_fallbacks, st_reexec, st_steals;
};

/* pool_run runs job(arg, wid) once on every worker and returns when all
 * have returned. Caller thread only. */
void pool_run(struct pc_executor *e, pool_job_fn job, void *arg);
int pool_start(struct pc_executor *e);
void pool_stop(struct pc_executor *e);
/* pool_backoff: idle back-off — spin, then yield, then sleep a little. */
void pool_backoff(unsigned *spins);
/* pool_steal pops a task from another worker's stack (NULL if none). */
struct cds_lfs_node *pool_steal(struct pc_executor *e, unsigned wid);

/* schedulers (sched.c); return 0 or PC_ERR_* (PC_ERR_FULL: re-run serially) */
int sched_serial(blockctx_t *b);
int sched_taskset(blockctx_t *b, bool *fell_back);
int sched_dag(blockctx_t *b, bool *fell_back);
int sched_optimistic(blockctx_t *b, bool *fell_back);

/* built-in contracts (contracts.c) */
extern const pc_contract_def_t pc_builtin_token, pc_builtin_kv, pc_builtin_counter, pc_builtin_compute;

#endif
