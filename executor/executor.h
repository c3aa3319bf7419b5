/* executor.h — task-parallel smart-contract executor.
 *
 * Four parts, in the order a reader meets them:
 *
 *  1. The contract ABI (PC_CONTRACT_ABI_VERSION). A contract is native C: a
 *     name and a table of methods. A method gets a context and its argument
 *     bytes and returns a status. Everything it does to the world goes through
 *     the context's host table (get/put/delete on its own keys, events, the
 *     output, explicit charges), so a plugin needs no symbol from the node:
 *     it includes this header and nothing else. The ABI structs below are
 *     frozen for a given version; a change bumps the version.
 *
 *  2. The state interface the executor reads from and hands its write batch
 *     to (pc_exec_state_t), with an in-memory implementation for tests and
 *     benchmarks (pc_memstate_*). The node binds it to storage/.
 *
 *  3. The executor: contract registry (built-ins and plugins), schedulers,
 *     worker pool; one call per block produces receipts in block order, one
 *     write batch and the execution root.
 *
 *  4. Receipt encoding and roots.
 *
 * State key space. A contract sees only its own keys. Contract key k of
 * contract c is stored in the state under
 *
 *     u8 len(c) ‖ c ‖ k            (len(c) in 1..PC_TX_NAME_MAX)
 *
 * and the executor's own keys use a zero first byte, which no contract name
 * can produce:
 *
 *     0x00 ‖ "nonce" ‖ sender(32)  → u64 LE: the sender's next nonce
 *
 * Budget. Each transaction has a budget (pc_exec_config_t.tx_budget units).
 * Charges are fixed by this header, never by time: PC_COST_TX_BASE + one unit
 * per argument byte up front; PC_COST_ACCESS per get/put/delete plus one unit
 * per key and value byte moved; PC_COST_EVENT per event plus its bytes; one
 * unit per output byte; and whatever the contract charges itself. A charge
 * that would pass the budget aborts the transaction (PC_TX_OUT_OF_BUDGET,
 * budget_used = the budget).
 *
 * Every non-OK receipt status leaves the state exactly as it was: neither the
 * transaction's writes nor its nonce are applied (its receipt is still part
 * of the receipts root).
 */
#ifndef PC_EXECUTOR_H
#define PC_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "storage/storage.h"
#include "common/tx.h"

/* =================================================================== ABI */

#define PC_CONTRACT_ABI_VERSION 1u

/* Limits a contract sees (a call past them aborts with PC_TX_LIMIT). */
/* contract key bytes, 1..223: the state key (1 + name + key) must fit storage's PC_STATE_KEY_MAX */
#define PC_EXEC_KEY_MAX (PC_STATE_KEY_MAX - 1 - PC_TX_NAME_MAX)
#define PC_EXEC_VALUE_MAX (64u << 10) /* value bytes */
#define PC_EXEC_OUTPUT_MAX (4u << 10) /* output bytes */
#define PC_EXEC_EVENT_MAX 1024u       /* bytes per event */
#define PC_EXEC_EVENTS_MAX 16u        /* events per transaction */
#define PC_EXEC_METHODS_MAX 64u       /* methods per contract */
#define PC_EXEC_CONTRACTS_MAX 64u     /* registered contracts */

/* Budget charges (units). */
#define PC_COST_TX_BASE 200u
#define PC_COST_ACCESS 100u
#define PC_COST_EVENT 100u

/* What a method returns. Any other value is treated as PC_CONTRACT_FAIL. */
enum {
  PC_CONTRACT_OK = 0,       /* commit the writes */
  PC_CONTRACT_FAIL = 1,     /* application-level refusal (balance, ACL, ...) */
  PC_CONTRACT_BAD_ARGS = 2, /* arguments malformed */
};

typedef struct pc_contract_ctx pc_contract_ctx_t;

/* The host table. Every function may be called only from inside the method
 * it was handed to, on that thread. Once the transaction is aborted (access
 * violation, budget, limit) every call returns PC_ERR_STATE and does
 * nothing; the method should return promptly (its return value is then
 * ignored). */
typedef struct pc_contract_host {
  /* get: *val and *len view the value of key (valid until the method returns);
   * 0, PC_ERR_NOT_FOUND, or PC_ERR_STATE when aborted. Needs the key in the
   * declared read or write set when the transaction declares. */
  int (*get)(pc_contract_ctx_t *c, const void *key, size_t klen, const uint8_t **val, size_t *len);
  /* put: set key to a copy of val (len ≤ PC_EXEC_VALUE_MAX); 0 or PC_ERR_STATE.
   * Needs the key in the declared write set when the transaction declares. */
  int (*put)(pc_contract_ctx_t *c, const void *key, size_t klen, const void *val, size_t len);
  /* del: remove key (no error if absent); 0 or PC_ERR_STATE. As put. */
  int (*del)(pc_contract_ctx_t *c, const void *key, size_t klen);
  /* emit: append an event (a copy of data); 0 or PC_ERR_STATE. */
  int (*emit)(pc_contract_ctx_t *c, const void *data, size_t len);
  /* output: replace the receipt's output with a copy of data; 0 or PC_ERR_STATE. */
  int (*output)(pc_contract_ctx_t *c, const void *data, size_t len);
  /* charge: charge units of budget for the contract's own work; 0 or PC_ERR_STATE. */
  int (*charge)(pc_contract_ctx_t *c, uint64_t units);
} pc_contract_host_t;

/* The context a method receives. Read-only for the method. */
struct pc_contract_ctx {
  uint32_t abi_version;           /* PC_CONTRACT_ABI_VERSION */
  const pc_contract_host_t *host; /* the functions above */
  const uint8_t *caller;          /* 32-byte Ed25519 key of the sender */
  uint64_t height;                /* block height */
  uint64_t time_us;               /* block time, µs since the epoch */
  const char *contract;           /* this contract's name */
  const char *method;             /* the method called */
};

/* A method. Must be deterministic: a function of args, ctx fields and what
 * get returns — no clock, no randomness, no global mutable state. It may run
 * several times for one transaction (speculation) and on any worker thread,
 * concurrently with other methods. */
typedef int (*pc_contract_method_fn)(pc_contract_ctx_t *ctx, const uint8_t *args, size_t args_len);

typedef struct {
  const char *name; /* 1..PC_TX_NAME_MAX bytes of [a-z0-9_.-] */
  pc_contract_method_fn fn;
} pc_contract_method_t;

typedef struct {
  uint32_t abi_version; /* PC_CONTRACT_ABI_VERSION */
  const char *name;     /* 1..PC_TX_NAME_MAX bytes of [a-z0-9_.-], unique */
  uint32_t n_methods;   /* 1..PC_EXEC_METHODS_MAX, names unique */
  const pc_contract_method_t *methods;
} pc_contract_def_t;

/* A plugin (shared object) exports exactly these two symbols:
 *   const uint32_t pc_contract_abi_version = PC_CONTRACT_ABI_VERSION;
 *   const pc_contract_def_t *pc_contract_get(void);
 * The definition it returns must live as long as the library. */
#define PC_CONTRACT_SYM_ABI "pc_contract_abi_version"
#define PC_CONTRACT_SYM_GET "pc_contract_get"
typedef const pc_contract_def_t *(*pc_contract_get_fn)(void);

/* ================================================================= state */

/* One write of a batch: key (a state key, see the top of this file) and
 * either a value or a deletion. */
typedef struct {
  const uint8_t *key;
  const uint8_t *val; /* NULL when del */
  uint32_t klen;
  uint32_t vlen;
  bool del;
} pc_write_t;

/* A block's write batch: unique keys in ascending order (memcmp over the
 * common length, then shorter first). Owned by the executor; valid until the
 * next pc_exec_run. */
typedef struct {
  const pc_write_t *w;
  size_t n;
} pc_write_batch_t;

/* The state the executor needs. get is called concurrently from every
 * worker thread while a block runs and must read the base version (the
 * state before the block); the view it returns need only stay valid until
 * pc_exec_run returns (the executor copies what it keeps). Workers are
 * registered liburcu (memb) readers and run each block inside
 * rcu_read_lock(), so get may return views of an RCU-published version;
 * serial blocks call get on the thread calling pc_exec_run, which must then
 * be a registered reader inside a read section itself if the binding needs
 * it. apply is called once per block from the thread that called
 * pc_exec_commit, with no get running; it applies the batch as the next
 * version and returns that version's root. */
typedef struct {
  void *self;
  /* get: 0 (found), PC_ERR_NOT_FOUND, or another PC_ERR_* (fatal for the block). */
  int (*get)(void *self, const uint8_t *key, size_t klen, const uint8_t **val, size_t *vlen);
  /* apply: 0 or PC_ERR_*; *root = the new state root. */
  int (*apply)(void *self, const pc_write_batch_t *batch, pc_hash_t *root);
} pc_exec_state_t;

/* The node's binding of pc_exec_state_t to storage/'s state. Reads go to
 * `base`, which the caller sets to the version a block executes on and
 * keeps valid (inside its RCU read section) through pc_exec_run; apply
 * turns the block's write batch into one state batch, commits and
 * publishes it. The returned interface points at b, which must outlive it. */
typedef struct {
  pc_state_t *state;
  const pc_state_version_t *base;
} pc_exec_storage_t;
pc_exec_state_t pc_exec_state_storage(pc_exec_storage_t *b);

/* pc_exec_state_key writes the state key of contract key k into out (cap ≥
 * 1 + PC_TX_NAME_MAX + PC_EXEC_KEY_MAX covers every key) and returns its
 * length, or PC_ERR_INVALID / PC_ERR_OVERFLOW. Any thread. */
int pc_exec_state_key(uint8_t *out, size_t cap, const char *contract, const void *k, size_t klen);
/* pc_exec_nonce_key writes the 38-byte nonce key of sender into out. */
#define PC_EXEC_NONCE_KEY_LEN 38
void pc_exec_nonce_key(uint8_t out[PC_EXEC_NONCE_KEY_LEN], const uint8_t sender[32]);

/* The block clock (DESIGN.md: block time = max(block timestamp, previous
 * block time + 1 µs)): state key 0x00 "time" holds, as u64 LE µs, the block
 * time of the last block that applied a transaction. A block's contracts
 * see max(its timestamp, that + 1); a block with an OK transaction stores
 * it (one that applies nothing changes nothing, the clock included). It
 * lives in the state, so a restart, a state transfer and a replay all
 * continue it. */
#define PC_EXEC_TIME_KEY "\0time"
#define PC_EXEC_TIME_KEY_LEN 5

/* In-memory state for tests and benchmarks: a hash map whose root is
 *   BLAKE2b-256("parachain/memstate" ‖ 0 ‖ for each live key in batch order:
 *               u32 klen ‖ key ‖ u32 vlen ‖ value)
 * — slow for big states (sorts on every apply) but deterministic, so two
 * states with equal contents have equal roots. Single writer; concurrent
 * get is safe while no apply or put runs. */
typedef struct pc_memstate pc_memstate_t;
pc_memstate_t *pc_memstate_create(void);
void pc_memstate_destroy(pc_memstate_t *m);
/* pc_memstate_put sets a raw state key directly (genesis, test setup). */
int pc_memstate_put(pc_memstate_t *m, const void *key, size_t klen, const void *val, size_t vlen);
/* pc_memstate_get reads a raw state key: 0 or PC_ERR_NOT_FOUND. */
int pc_memstate_get(pc_memstate_t *m, const void *key, size_t klen, const uint8_t **val, size_t *vlen);
/* pc_memstate_root computes the current root. */
void pc_memstate_root(pc_memstate_t *m, pc_hash_t *out);
/* pc_memstate_iface returns the pc_exec_state_t bound to m. */
pc_exec_state_t pc_memstate_iface(pc_memstate_t *m);
/* pc_memstate_count returns the number of live keys. */
size_t pc_memstate_count(pc_memstate_t *m);

/* ============================================================== executor */

/* Receipt status (u8 on the wire). */
typedef enum {
  PC_TX_OK = 0,
  PC_TX_FAILED = 1,           /* the method refused (PC_CONTRACT_FAIL or other) */
  PC_TX_BAD_ARGS = 2,         /* the method found its arguments malformed */
  PC_TX_ACCESS_VIOLATION = 3, /* touched a key outside its declared sets */
  PC_TX_OUT_OF_BUDGET = 4,    /* a charge passed the budget */
  PC_TX_LIMIT = 5,            /* a key, value, output or event over its limit */
  PC_TX_UNKNOWN_CONTRACT = 6,
  PC_TX_UNKNOWN_METHOD = 7,
  PC_TX_BAD_NONCE = 8, /* nonce ≠ the sender's next nonce (old or gap) */
  PC_TX_DUPLICATE = 9, /* same transaction hash earlier in this block */
  PC_TX_EXPIRED = 10,  /* block height > expiry height */
  PC_TX_STATUS_COUNT
} pc_tx_status_t;

/* pc_tx_status_name returns a stable lower-case name for a status. */
const char *pc_tx_status_name(int status);

typedef struct {
  const uint8_t *p;
  uint32_t len;
} pc_bytes_t;

/* A receipt. Views into executor memory, valid until the next pc_exec_run. */
typedef struct {
  uint8_t status;
  uint64_t budget_used;
  pc_bytes_t output;
  uint16_t n_events;
  const pc_bytes_t *events;
} pc_receipt_t;

typedef enum {
  PC_SCHED_SERIAL = 0, /* reference: one thread, block order */
  PC_SCHED_TASKSET,    /* connected components of the declared-key conflict graph */
  PC_SCHED_DAG,        /* per-transaction dependencies from declared sets */
  PC_SCHED_OPTIMISTIC, /* speculative multi-version execution, ordered validation */
  PC_SCHED_AUTO,       /* DAG when everything declares, else optimistic */
  PC_SCHED_COUNT
} pc_sched_t;

const char *pc_sched_name(pc_sched_t s);

#define PC_EXEC_WORKERS_MAX 64

typedef struct {
  pc_sched_t sched;
  unsigned n_workers; /* 1..PC_EXEC_WORKERS_MAX */
  /* cores[i]: OS index of the PU worker i is pinned to (the core map's exec
   * cores); several workers may share one. NULL = pin worker i to PU
   * i mod (PUs of the machine). */
  const int *cores;
  uint64_t tx_budget; /* per transaction; 0 = PC_EXEC_DEFAULT_BUDGET */
  /* no_fallback: run the chosen scheduler even when it cannot pay (tests). */
  bool no_fallback;
  /* min_parallel_tx_ns: when the transactions of the recent blocks cost
   * less than this each (measured CPU time, smoothed), a block runs
   * serially: the ~1 µs per transaction a parallel scheduler adds cannot
   * pay. Such a block checks its own first transactions (~3% of it): if
   * they cost over twice this, it drops its serial start and runs in
   * parallel. 0 = PC_EXEC_DEFAULT_MIN_PARALLEL_NS. The choice never
   * changes a result (every scheduler equals serial), only the speed. */
  uint32_t min_parallel_tx_ns;
  /* no_pin: leave workers unpinned (memory still bound to their core's
   * NUMA node). Only for shared development machines, where a pinned
   * worker cannot flee a core other processes crowd; production pins. */
  bool no_pin;
} pc_exec_config_t;

#define PC_EXEC_DEFAULT_BUDGET 1000000u
#define PC_EXEC_DEFAULT_MIN_PARALLEL_NS 3000u

/* Per-block inputs. */
typedef struct {
  uint64_t height;
  uint64_t time_us;   /* the proposer's timestamp; contracts see the block clock (above) */
  const pc_tx_t *txs; /* decoded transactions in block order */
  size_t n_txs;
} pc_exec_block_t;

/* What one block produced. Views valid until the next pc_exec_run. */
typedef struct {
  const pc_receipt_t *receipts; /* n_txs, block order */
  size_t n_receipts;
  pc_write_batch_t batch;
  pc_hash_t receipts_root;
  pc_hash_t state_root; /* set by pc_exec_commit */
  pc_hash_t exec_root;  /* set by pc_exec_commit */
  pc_sched_t ran;       /* the scheduler that actually ran (after fallback) */
} pc_exec_result_t;

/* Counters (observability only; they never feed a result). */
typedef struct {
  uint64_t blocks, txs;
  uint64_t fallbacks;    /* blocks run serially by a parallel scheduler */
  uint64_t reexecutions; /* optimistic re-executions */
  uint64_t steals;       /* tasks taken from another worker's queue */
} pc_exec_stats_t;

typedef struct pc_executor pc_executor_t;

/* pc_exec_create validates cfg, registers the built-in contracts (token,
 * kv, counter, compute), loads the hwloc topology and starts the workers,
 * each pinned to its core with its memory bound to that core's NUMA node.
 * Returns NULL and logs on a bad config (core not in the topology, zero or
 * too many workers) or when a thread cannot start. */
pc_executor_t *pc_exec_create(const pc_exec_config_t *cfg);

/* pc_exec_destroy stops and joins the workers and frees everything,
 * unloading plugins. No pc_exec_run may be in progress. NULL is a no-op. */
void pc_exec_destroy(pc_executor_t *e);

/* pc_exec_register adds a contract (def must outlive e). Before the first
 * block only, from the owning thread. PC_ERR_EXISTS for a duplicate name,
 * PC_ERR_VERSION for another ABI version, PC_ERR_INVALID for a bad
 * definition, PC_ERR_FULL past PC_EXEC_CONTRACTS_MAX. */
int pc_exec_register(pc_executor_t *e, const pc_contract_def_t *def);

/* pc_exec_plugin_hash computes the BLAKE2b-256 of a file (what the cluster
 * file pins). 0 or PC_ERR_IO. */
int pc_exec_plugin_hash(const char *path, pc_hash_t *out);

/* pc_exec_load_plugin loads one plugin. The file is opened once, hashed and
 * compared with *pin before it is mapped from the same open file, so the
 * code that runs is the code that was hashed. Errors (each logged with the
 * path and what to do): PC_ERR_IO (cannot open), PC_ERR_CHECKSUM (hash ≠
 * pin), PC_ERR_INVALID (not a loadable object, or a bad definition),
 * PC_ERR_NOT_FOUND (a required symbol missing), PC_ERR_VERSION (ABI version),
 * PC_ERR_EXISTS (contract name already registered). Nothing is registered on
 * error. Plugins are trusted code: they run in the replica's address space. */
int pc_exec_load_plugin(pc_executor_t *e, const char *path, const pc_hash_t *pin);

/* A pin from the cluster file: a plugin file name (no directory) and hash. */
typedef struct {
  const char *file;
  pc_hash_t hash;
} pc_exec_plugin_pin_t;

/* pc_exec_load_plugin_dir loads every "*.so" of dir in name order. Every
 * file must have a pin and every pin a file (else PC_ERR_CONFIG); the first
 * error stops the load and is returned — the node refuses to start on it.
 * Plugins loaded before the error stay registered. */
int pc_exec_load_plugin_dir(pc_executor_t *e, const char *dir, const pc_exec_plugin_pin_t *pins,
                            size_t n_pins);

/* pc_exec_run executes one block against state (its base version) and
 * fills *out: receipts in block order, the write batch and the receipts
 * root; out->state_root and exec_root stay zero until pc_exec_commit. The
 * result equals serial execution in block order, byte for byte, whatever the
 * scheduler and worker count. One caller thread at a time; blocks until the
 * workers are done. Returns 0, or PC_ERR_* when state->get fails (the block
 * produced nothing) or memory runs out. Invalidates the previous result. */
int pc_exec_run(pc_executor_t *e, const pc_exec_state_t *state, const pc_exec_block_t *blk,
                pc_exec_result_t *out);

/* A filter on the decoded transactions of a batch: false drops the
 * transaction from the block. It must give the same answer on every
 * replica (e.g. "the signature verifies", however it is found out). */
typedef bool (*pc_exec_tx_filter_t)(void *ctx, const pc_tx_t *tx);

/* pc_exec_run_batch decodes the transactions of a decided batch (common/
 * block.h format) and runs them as block `height` with pc_exec_run. A
 * transaction that does not decode, or that filter (NULL = none) refuses,
 * is skipped — the same on every replica and in every replay, so the node
 * and the ledger tool execute alike; out->n_receipts says how many ran.
 * The batch must stay valid until pc_exec_commit. A batch that is not a
 * well-formed sequence (consensus refuses those, so only a bug gets here)
 * runs as an empty block, likewise everywhere. Returns as pc_exec_run. */
int pc_exec_run_batch(pc_executor_t *e, const pc_exec_state_t *state, uint64_t height, uint64_t time_us,
                      const uint8_t *batch, size_t len, pc_exec_tx_filter_t filter, void *filter_ctx,
                      pc_exec_result_t *out);
/* pc_exec_batch_txs gives the transactions the last pc_exec_run_batch
 * decoded and ran, in block order — as many as its result's n_receipts
 * (so a caller that needs them, e.g. for receipts, does not decode the
 * batch a second time). Owned by the executor; their byte views point into
 * that batch. Valid until the next pc_exec_run_batch or pc_exec_destroy;
 * same thread as pc_exec_run_batch. */
const pc_tx_t *pc_exec_batch_txs(const pc_executor_t *e);

/* pc_exec_commit hands out->batch to state->apply and sets out->state_root
 * and out->exec_root = pc_hash_pair("parachain/exec-root", state root,
 * receipts root). Same thread as pc_exec_run; 0 or apply's error. */
int pc_exec_commit(pc_executor_t *e, const pc_exec_state_t *state, pc_exec_result_t *out);

/* pc_exec_stats copies the counters. Any thread (relaxed reads). */
void pc_exec_stats(const pc_executor_t *e, pc_exec_stats_t *out);

/* Why the last block ran serially when a parallel scheduler was chosen. */
typedef enum {
  PC_EXEC_WHY_NONE = 0,  /* it did not: the chosen scheduler ran */
  PC_EXEC_WHY_TINY,      /* one worker, or fewer than 4 transactions per worker */
  PC_EXEC_WHY_CHEAP,     /* measured cost per transaction below min_parallel_tx_ns */
  PC_EXEC_WHY_COOLDOWN,  /* one of the few blocks after a block that could not pay */
  PC_EXEC_WHY_CONFLICT,  /* this block's task set / DAG critical path was most of it */
  PC_EXEC_WHY_MV_FULL,   /* the multi-version table filled up: redone serially */
  PC_EXEC_WHY_COUNT
} pc_exec_why_t;

/* Where the last block's time went (observability and benchmarks only;
 * never feeds a result). Times in ns: wall times on the calling thread,
 * CPU times per thread (CLOCK_THREAD_CPUTIME_ID). */
typedef struct {
  pc_sched_t ran;
  pc_exec_why_t why_serial;
  bool probed;             /* a cheap-looking block whose first transactions proved costly:
                              its serial start was dropped and it ran in parallel */
  uint32_t n_exec;         /* transactions executed (past the static checks) */
  uint64_t prepare_ns;     /* static admission and declared keys (wall) */
  uint64_t analysis_ns;    /* scheduler set-up on the caller before workers start (wall) */
  uint64_t parallel_ns;    /* workers running (wall; 0 for a serial block) */
  uint64_t serial_ns;      /* transactions run on the calling thread (wall) */
  uint64_t output_ns;      /* merge of the writes, batch and receipts root (wall) */
  uint64_t caller_cpu_ns;  /* calling thread's CPU over the whole pc_exec_run */
  unsigned n_workers;
  uint32_t worker_txs[PC_EXEC_WORKERS_MAX];    /* executions per worker (re-executions count) */
  uint64_t worker_cpu_ns[PC_EXEC_WORKERS_MAX]; /* each worker's CPU inside the block's job */
} pc_exec_profile_t;

/* pc_exec_last_profile copies the profile of the last pc_exec_run. Same
 * thread as pc_exec_run. */
void pc_exec_last_profile(const pc_executor_t *e, pc_exec_profile_t *out);

/* pc_exec_why_name names a pc_exec_why_t ("none", "tiny", "cheap",
 * "cooldown", "conflict", "mv_full"). */
const char *pc_exec_why_name(pc_exec_why_t w);

/* pc_exec_n_workers returns the number of worker threads. */
unsigned pc_exec_n_workers(const pc_executor_t *e);

/* ============================================================== receipts
 *
 * Receipt encoding (what the receipts root commits to), little-endian:
 *   1       status
 *   8       budget_used
 *   4 + O   output        u32 length ≤ PC_EXEC_OUTPUT_MAX, bytes
 *   2       n_events      ≤ PC_EXEC_EVENTS_MAX
 *   n × (4 + E)           u32 length ≤ PC_EXEC_EVENT_MAX, bytes
 *
 * leaf(i)        = pc_hash_tagged("parachain/receipt", encoding of receipt i)
 * receipts root  = binary Merkle tree over the leaves in block order:
 *                  node = pc_hash_pair("parachain/receipts-node", left, right),
 *                  an odd last node is carried up unchanged;
 *                  no receipts: pc_hash_tagged("parachain/receipts-empty", "", 0).
 * execution root = pc_hash_pair("parachain/exec-root", state root, receipts root)
 */

/* pc_receipt_encode writes r's encoding; returns its length or PC_ERR_OVERFLOW. */
int pc_receipt_encode(const pc_receipt_t *r, uint8_t *out, size_t cap);
/* pc_receipt_decode parses exactly len bytes; views point into buf, events
 * into the caller's array ev[PC_EXEC_EVENTS_MAX]. 0 or PC_ERR_* counted
 * under PC_DEC_CONTRACT. */
int pc_receipt_decode(const uint8_t *buf, size_t len, pc_receipt_t *r, pc_bytes_t *ev);
/* pc_receipts_root computes the root of n receipts. 0 or PC_ERR_NOMEM. */
int pc_receipts_root(const pc_receipt_t *r, size_t n, pc_hash_t *out);

/* ==================================================== built-in contracts
 *
 * Arguments are little-endian; every method rejects trailing bytes with
 * PC_CONTRACT_BAD_ARGS.
 *
 * "token"   keys: "admin" → 32-byte admin key; "b" ‖ account(32) → u64 balance
 *   init()                       first caller becomes admin (FAIL if set)
 *   mint(to[32], amount u64)     admin only; FAIL on overflow
 *   transfer(to[32], amount u64) FAIL when the balance is short; emits
 *                                "transfer" ‖ from ‖ to ‖ amount
 *   balance(who[32])             output: u64
 * "kv"      keys: "e" ‖ name → owner(32) ‖ value
 *   put(u16 n, name[n], value…)  creates or (owner only) replaces; FAIL otherwise
 *   get(name…)                   output: value; FAIL when absent
 *   del(name…)                   owner only; FAIL otherwise
 * "counter" key: "n" → u64 (one hot key)
 *   add(delta u64)               wraps; output: the new value
 *   get()                        output: u64
 * "compute" no keys
 *   run(iters u32, seed[32])     iters rounds of BLAKE2b-256 over the seed;
 *                                charges iters units; output: the hash
 */
#define PC_TOKEN_BALANCE_KEY_LEN 33
/* pc_token_balance_key writes "b" ‖ account (the token's contract key). */
void pc_token_balance_key(uint8_t out[PC_TOKEN_BALANCE_KEY_LEN], const uint8_t account[32]);

#endif /* PC_EXECUTOR_H */
