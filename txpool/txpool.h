/* txpool.h — verify stage, mempool with proposer buckets, dissemination and
 * the execution-time replay check.
 *
 * A replica's pool stage owns one pc_txpool_t. Everything that reaches it
 * (client transactions from the gateway, batches from peers) goes through
 * pc_txpool_submit: decode, cheap checks (chain, expiry, nonce, duplicate,
 * room), then — only for a transaction hash never seen before — one
 * signature verification on a verify worker. A verified transaction enters
 * the mempool; one that came from a client is also queued for broadcast to
 * every other replica. A peer's transactions are verified here again, like
 * any other, and never re-broadcast.
 *
 * Threads: every pc_txpool_* and pc_mempool_* call is made by one thread,
 * the pool stage's (no locks anywhere). The verify workers are private
 * threads of the pool; they talk to it only through one single-producer /
 * single-consumer rte_ring pair each. pc_txpool_exec_check,
 * pc_txpool_bucket_of and pc_txpool_bucket_owner are pure, any thread.
 *
 * The client library (key files, building and signing transactions) is the
 * second public header of this module: txpool/client.h.
 *
 * ------------------------------------------------------------- buckets
 * Buckets are keyed by the sender, not by the transaction hash:
 *   bucket(sender) = le32(BLAKE2b-256("parachain/bucket" ‖ 0 ‖ sender)[0..4]) mod n_buckets
 *   owner(epoch, bucket) = (bucket + epoch) mod n_replicas
 * where epoch counts stable checkpoints. A sender's whole nonce chain thus
 * sits in one proposer's buckets, so a proposer can put nonces n, n+1, ...
 * into one batch; with hash-keyed buckets consecutive nonces would belong
 * to different proposers whose heights execute in an order nobody chose,
 * and most of them would fail the nonce check. Every transaction still has
 * exactly one owner per epoch, which is what keeps it out of two in-flight
 * heights. Voters never check ownership (a re-proposal may come from a
 * round whose proposer owned other buckets).
 *
 * The epoch of a height is fixed by the height alone (pc_txpool_epoch_of):
 * epoch(h) = (h − 1) div K for checkpoint interval K, so heights K+1..2K
 * are epoch 1, i.e. ownership rotates after each checkpoint height and
 * every replica agrees on the owner of a bucket at a height whatever its
 * own progress. Across an epoch boundary the old owner may still have a
 * sender in an undecided batch (a height ≤ the checkpoint) when the new
 * owner cuts it for a height above: both copies would be decided, the
 * later failing as used. The caller prevents it by cutting a height of a
 * new epoch only once every earlier height is decided (node/node_pool.c,
 * earlier_epochs_decided).
 *
 * ---------------------------------------------- per-sender cut rule
 * A replica may have several cuts outstanding (batches it cut for heights
 * not yet decided), but a sender with a transaction in one of them is not
 * cut again until that cut settles: decided as cut (its transactions leave
 * the pool, pc_mempool_remove_decided) or decided otherwise / voided (they
 * become cuttable again, pc_mempool_release). So each transaction is in at
 * most one outstanding cut, a sender's transactions in one, and every cut
 * starts at the sender's next nonce: when a height is decided with another
 * block, the released nonces come back in order and no later height holds
 * a successor of theirs. pc_mempool_in_flight says how many of a sender's
 * transactions are outstanding.
 */
#ifndef PC_TXPOOL_H
#define PC_TXPOOL_H

#include "common/tx.h"

/* ----------------------------------------------------- rejection reasons */

typedef enum {
  PC_TXR_BAD_FORMAT = 0, /* pc_tx_decode failed */
  PC_TXR_BAD_SIGNATURE,  /* pc_tx_verify failed */
  PC_TXR_WRONG_CHAIN,    /* chain id is not this cluster's */
  PC_TXR_EXPIRED,        /* expiry height below the next height */
  PC_TXR_NONCE_USED,     /* nonce below the sender's next nonce, or taken by another pooled tx */
  PC_TXR_TOO_LARGE,      /* encoding above PC_TX_MAX */
  PC_TXR_DUPLICATE,      /* this exact transaction was seen before */
  PC_TXR_NONCE_GAP,      /* nonce too far ahead of the sender's next nonce */
  PC_TXR_SENDER_QUOTA,   /* the sender holds its full share of the pool */
  PC_TXR_POOL_FULL,      /* the pool is full (count or bytes) */
  PC_TXR_BUSY,           /* every verify queue is full: backpressure */
  PC_TXR_COUNT
} pc_txpool_reason_t;

/* pc_txpool_reason_name returns a stable lower-case name ("bad_format", ...). */
const char *pc_txpool_reason_name(pc_txpool_reason_t r);

/* ------------------------------------------------ execution-time check */

/* A read-only view of executed state, supplied by the caller. */
typedef struct {
  void *ctx;
  /* next nonce the account of sender may use (0 for an unknown account) */
  uint64_t (*account_nonce)(void *ctx, const uint8_t sender[PC_TX_PUBKEY_SIZE]);
  /* whether a transaction with this hash has already executed */
  bool (*tx_executed)(void *ctx, const pc_hash_t *hash);
} pc_tx_state_view_t;

/* pc_txpool_exec_check decides whether tx may execute in a block of
 * height `height` against the state `view` shows: PC_ERR_DUPLICATE (its
 * hash already executed), PC_ERR_EXPIRED (expiry_height ≠ 0 and < height),
 * PC_ERR_NONCE (nonce ≠ the account's next nonce), else 0. Pure: reads only
 * the view; the executor calls it in block order, updating its view after
 * each transaction, so nothing executes twice. Any thread. */
int pc_txpool_exec_check(const pc_tx_t *tx, uint64_t height, const pc_tx_state_view_t *view);

/* ------------------------------------------------------------- buckets */

/* pc_txpool_bucket_of returns the bucket of a sender (see above). Pure. */
uint32_t pc_txpool_bucket_of(const uint8_t sender[PC_TX_PUBKEY_SIZE], uint32_t n_buckets);
/* pc_txpool_bucket_owner returns the replica that owns `bucket` during
 * checkpoint epoch `epoch`. Pure. */
uint16_t pc_txpool_bucket_owner(uint64_t epoch, uint32_t bucket, uint16_t n_replicas);
/* pc_txpool_epoch_of returns the checkpoint epoch of `height` for a
 * checkpoint every `interval` heights: (height − 1) div interval, so the
 * epoch moves on right after each checkpoint height; 0 when interval is 0
 * (no checkpoints: no rotation) or height is 0. Pure. */
uint64_t pc_txpool_epoch_of(uint64_t height, uint32_t interval);

/* ------------------------------------------------------------- mempool */

typedef struct {
  uint32_t max_count;        /* transactions held, all senders */
  uint64_t max_bytes;        /* encoded bytes held, all senders */
  uint32_t sender_max_count; /* per-sender share (fairness); ≤ gap_limit + 1 in effect */
  uint64_t sender_max_bytes;
  uint32_t gap_limit;        /* a nonce may be at most next nonce + gap_limit, ≤ 4096 */
  uint32_t max_senders;      /* sender records kept (empty ones are recycled); 0 = 2 × max_count */
  uint32_t n_buckets;        /* ≥ n_replicas */
  uint16_t n_replicas;
  uint16_t self; /* this replica's id */
  uint8_t high_water_pct; /* backpressure above this fill, 1..100 */
} pc_mempool_cfg_t;

typedef struct {
  uint32_t count;
  uint64_t bytes;
  uint32_t senders;   /* sender records held */
  uint32_t cut;       /* transactions in batches not yet decided */
  uint32_t senders_in_flight; /* senders with a transaction in such a batch (not cut again meanwhile) */
  uint64_t skipped_in_flight; /* times a cut passed over an owned sender because it was in flight */
  uint64_t inserted;  /* since creation */
  uint64_t removed_decided;
  uint64_t evicted_expired;
  uint64_t evicted_superseded; /* nonce used by a decided transaction */
} pc_mempool_stats_t;

typedef struct pc_mempool pc_mempool_t;

/* pc_mempool_cfg_default fills cfg for a cluster of n replicas, this one
 * being self: 100k transactions, 256 MiB, 1/64 of it per sender, gap 32,
 * 64 buckets per replica, backpressure at 90 %. */
void pc_mempool_cfg_default(pc_mempool_cfg_t *cfg, uint16_t n_replicas, uint16_t self);

/* pc_mempool_create makes an empty pool. `view` (may be NULL: every new
 * sender starts at nonce 0) gives the next nonce of a sender the pool has
 * no record of; it is called on the pool thread and must be safe there.
 * Returns NULL and logs on a bad config or no memory. */
pc_mempool_t *pc_mempool_create(const pc_mempool_cfg_t *cfg, const pc_tx_state_view_t *view);
/* pc_mempool_destroy frees the pool and every transaction it holds. */
void pc_mempool_destroy(pc_mempool_t *mp);

/* pc_mempool_check says whether tx (decoded; signature not needed) would be
 * admitted now: 0 or PC_ERR_* with *why set (DUPLICATE, NONCE_USED,
 * NONCE_GAP, SENDER_QUOTA, POOL_FULL). Changes nothing except possibly
 * creating the sender's record. Used before spending a verification. */
int pc_mempool_check(pc_mempool_t *mp, const pc_tx_t *tx, pc_txpool_reason_t *why);

/* pc_mempool_insert admits a decoded, signature-verified transaction,
 * copying its bytes, after the checks of pc_mempool_check. A transaction
 * whose predecessor nonce is missing is held (not cut) until it arrives.
 * Returns 0 or the error of pc_mempool_check; now_ns is the arrival time
 * used for the batch wait. */
int pc_mempool_insert(pc_mempool_t *mp, const pc_tx_t *tx, uint64_t now_ns, pc_txpool_reason_t *why);

/* pc_mempool_contains says whether a transaction with this hash is held. */
bool pc_mempool_contains(const pc_mempool_t *mp, const pc_hash_t *hash);

/* pc_mempool_next_nonce returns the next nonce of sender as the pool knows
 * it (after every decided block it was told about). */
uint64_t pc_mempool_next_nonce(pc_mempool_t *mp, const uint8_t sender[PC_TX_PUBKEY_SIZE]);

typedef struct {
  uint32_t max_count;   /* transactions in the batch */
  uint64_t max_bytes;   /* batch bytes (each tx costs 4 + its length) */
  uint64_t max_wait_ns; /* cut anyway once the oldest candidate waited this long */
} pc_batch_limits_t;

/* pc_mempool_cut appends to w (pc_batch_append) a batch for `height` taken
 * only from the buckets this replica owns in checkpoint epoch `epoch`
 * (normally pc_txpool_epoch_of(height, K)) and only from senders with
 * nothing in flight (the per-sender cut rule above): for each sender, its
 * consecutive nonces from its next nonce, skipping nothing (a gap ends the
 * sender's run), stopping at a transaction expired at `height`; senders
 * are served in turn, a few nonces each per pass. Cut transactions stay in
 * the pool (marked, their sender in flight) until decided
 * (pc_mempool_remove_decided) or released (pc_mempool_release); the
 * caller must settle every cut it made one of these two ways, or its
 * senders are never cut again. Unless force
 * is set, returns PC_ERR_AGAIN and changes nothing while the batch is below
 * max_count and max_bytes and its oldest candidate has waited less than
 * max_wait_ns. Returns the number of transactions appended (0 possible
 * with force), or PC_ERR_OVERFLOW if w ran out of room (nothing marked). */
int pc_mempool_cut(pc_mempool_t *mp, uint64_t epoch, uint64_t height, const pc_batch_limits_t *lim, uint64_t now_ns,
                   bool force, pc_writer_t *w);

/* pc_mempool_release makes the transactions of a batch this replica cut
 * cuttable again (their height decided another block, or the batch was
 * never proposed); a sender with no other transaction outstanding leaves
 * the in-flight set, and its next cut starts again at its next nonce.
 * Unknown, uncut or malformed entries are skipped. Returns how many were
 * released. */
int pc_mempool_release(pc_mempool_t *mp, const uint8_t *batch, size_t len);

/* pc_mempool_in_flight returns how many of sender's pooled transactions
 * are in an outstanding cut (0: the sender may be cut). */
uint32_t pc_mempool_in_flight(pc_mempool_t *mp, const uint8_t sender[PC_TX_PUBKEY_SIZE]);

/* pc_mempool_resync re-reads the next nonce of every pooled sender from
 * the view (after state transfer skipped decided blocks the pool never
 * saw), evicting the transactions whose nonce is now used (counted as
 * superseded, marked ones too), and forgets the records of senders with
 * nothing pooled so their next look-up asks the view. Without a view it
 * only forgets those records. Returns how many transactions left. */
int pc_mempool_resync(pc_mempool_t *mp);

/* pc_mempool_remove_decided removes every transaction of a decided batch
 * (whoever proposed it), advances each sender's next nonce past the nonces
 * it used, and evicts the sender's pooled transactions whose nonce is now
 * used (superseded). Returns how many pooled transactions left, or
 * PC_ERR_INVALID for a malformed batch (processed up to the damage). */
int pc_mempool_remove_decided(pc_mempool_t *mp, const uint8_t *batch, size_t len);

/* pc_mempool_evict_expired evicts transactions with expiry_height ≠ 0 and
 * < next_height, and everything of the same sender after them (they can no
 * longer execute in order). O(pool size): call once per decided height or
 * less often. Returns how many left. */
int pc_mempool_evict_expired(pc_mempool_t *mp, uint64_t next_height);

/* pc_mempool_fill_pct returns max(count fill, bytes fill) in percent. */
unsigned pc_mempool_fill_pct(const pc_mempool_t *mp);
/* pc_mempool_backpressure says whether the fill is above the high-water
 * mark: the gateway should stop admitting (or slow) client transactions. */
bool pc_mempool_backpressure(const pc_mempool_t *mp);
void pc_mempool_stats(const pc_mempool_t *mp, pc_mempool_stats_t *st);

/* ------------------------------------------------------- dissemination */

/* The transport the pool broadcasts and receives batches through (the
 * node binds it to the dataplane; pc_txpool_loopback_* gives an in-process
 * one for tests). A batch is in the format of common/block.h (u32 length,
 * transaction bytes, repeated). Both calls are made on the pool thread. */
typedef struct {
  void *ctx;
  /* broadcast sends one batch to every other replica; 0, or PC_ERR_AGAIN
   * (try again later: the pool keeps the batch), or another PC_ERR_* (the
   * batch is dropped and counted). The callee copies what it keeps. */
  int (*broadcast)(void *ctx, const uint8_t *batch, size_t len);
  /* recv copies one received batch into buf[0..cap) and sets *from; returns
   * its length, 0 when nothing is waiting, or PC_ERR_* (the batch is lost). */
  int (*recv)(void *ctx, uint16_t *from, uint8_t *buf, size_t cap);
} pc_txpool_transport_t;

typedef struct pc_txpool_loopback pc_txpool_loopback_t;

/* pc_txpool_loopback_create makes an in-process hub for n endpoints, each
 * with a bounded inbox (lock-free multi-producer rte_ring). NULL on error. */
pc_txpool_loopback_t *pc_txpool_loopback_create(uint16_t n);
/* pc_txpool_loopback_transport returns endpoint i's transport: broadcast
 * copies the batch into every other endpoint's inbox; recv takes from i's. */
pc_txpool_transport_t pc_txpool_loopback_transport(pc_txpool_loopback_t *lb, uint16_t i);
/* pc_txpool_loopback_destroy frees the hub and any batch still queued. */
void pc_txpool_loopback_destroy(pc_txpool_loopback_t *lb);

/* ---------------------------------------------------------------- pool */

#define PC_TXPOOL_MAX_WORKERS 64
#define PC_ORIGIN_CLIENT 0xffffu /* origin of a transaction from this replica's gateway */
/* A client transaction whose signature this replica's own gateway already
 * verified (it answers bad signatures synchronously): admitted as
 * PC_ORIGIN_CLIENT without a second verification, so each signature is
 * still checked once per replica. Never accepted from a peer. */
#define PC_ORIGIN_CLIENT_VERIFIED 0xfffeu

typedef struct {
  uint64_t chain_id;
  pc_mempool_cfg_t mempool;
  unsigned n_workers;            /* verify threads; 0 = verify inline in pc_txpool_submit */
  int worker_cores[PC_TXPOOL_MAX_WORKERS]; /* OS core id per worker, -1 = not pinned */
  unsigned ring_size;            /* per worker queue, power of two ≥ 64 */
  uint32_t seen_max;             /* hashes remembered for dedup; 0 = 4 × mempool.max_count */
  uint32_t gossip_max_count;     /* client transactions per broadcast batch */
  uint32_t gossip_max_bytes;     /* bytes per broadcast batch, ≤ PC_BATCH_MAX */
  uint64_t gossip_max_wait_ns;   /* broadcast a partial batch after this long */
  /* on_verified (may be NULL): called on the pool thread with the hash of
   * every transaction whose signature this replica found valid (here or,
   * for PC_ORIGIN_CLIENT_VERIFIED, in its gateway), so the execution stage
   * can skip checking it again. */
  void (*on_verified)(void *ctx, const pc_hash_t *hash);
  void *on_verified_ctx;
  /* on_refused (may be NULL): called on the pool thread when a transaction
   * that pc_txpool_submit had accepted (queued to a verify worker) is
   * refused once its result comes back — bad signature, or the mempool
   * refused it — with its origin, the PC_ERR_* and the reason; what
   * pc_txpool_submit refuses itself, it reports through its return. */
  void (*on_refused)(void *ctx, const pc_hash_t *hash, uint16_t origin, int err, pc_txpool_reason_t why);
  void *on_refused_ctx;
} pc_txpool_cfg_t;

typedef struct {
  uint64_t submitted;          /* pc_txpool_submit calls and peer transactions */
  uint64_t verified;           /* signature verifications done: the verify-once counter */
  uint64_t admitted;           /* entered the mempool */
  uint64_t rejected[PC_TXR_COUNT];
  uint64_t gossip_batches_sent, gossip_txs_sent, gossip_batches_dropped;
  uint64_t gossip_txs_received, gossip_bad_batches;
  uint64_t decided_invalid;    /* decided transactions whose signature failed: no nonce moved */
  uint32_t verify_inflight; /* queued to workers, results not yet taken */
  uint64_t worker_cpu_ns;   /* CPU time the verify workers used so far (0 inline):
                             * verified / worker CPU time is the rate per verify core */
  uint64_t worker_sleeps;   /* times an idle verify worker blocked until woken */
  uint64_t pool_waits;      /* times pc_txpool_wait blocked the pool thread */
  pc_mempool_stats_t pool;
} pc_txpool_stats_t;

typedef struct pc_txpool pc_txpool_t;

/* pc_txpool_cfg_default: mempool defaults, no workers (inline), rings of
 * 1024, batches of 256 transactions / 1 MiB / 2 ms. */
void pc_txpool_cfg_default(pc_txpool_cfg_t *cfg, uint64_t chain_id, uint16_t n_replicas, uint16_t self);

/* pc_txpool_create makes the pool and starts its verify workers, each
 * pinned with hwloc to its core (a pinning failure is a warning). view: as
 * for pc_mempool_create; transport may be NULL (no dissemination). Both
 * are copied; their ctx must outlive the pool. Returns NULL and logs. */
pc_txpool_t *pc_txpool_create(const pc_txpool_cfg_t *cfg, const pc_tx_state_view_t *view,
                              const pc_txpool_transport_t *transport);
/* pc_txpool_destroy stops and joins the workers and frees everything. */
void pc_txpool_destroy(pc_txpool_t *pool);

/* pc_txpool_submit takes one encoded transaction from origin
 * (PC_ORIGIN_CLIENT, PC_ORIGIN_CLIENT_VERIFIED or a peer's replica id); the bytes are copied. Returns
 * 0 when it was queued for verification (or, with no workers, verified and
 * admitted), else a PC_ERR_* with the reason counted (and stored in *why
 * if not NULL): a hash seen before is rejected as a duplicate and never
 * verified again. hash (may be NULL) receives the transaction hash when
 * the transaction decoded. */
int pc_txpool_submit(pc_txpool_t *pool, const void *raw, size_t len, uint16_t origin, pc_hash_t *hash,
                     pc_txpool_reason_t *why);

/* pc_txpool_poll does one pass of the stage: takes verification results
 * into the mempool, receives peers' batches, and broadcasts the pending
 * client batch if it is full or old. Returns the number of items handled
 * (0 = idle). */
unsigned pc_txpool_poll(pc_txpool_t *pool, uint64_t now_ns);

/* pc_txpool_flush broadcasts the pending client batch now, if any.
 * Returns 0 or the transport's error. */
int pc_txpool_flush(pc_txpool_t *pool);

/* pc_txpool_wait blocks the pool thread (the only caller allowed) until a
 * verify worker has half a ring of results for pc_txpool_poll, or results
 * and no request left, or timeout_ns elapsed — without spinning: the
 * worker wakes it. Take every result when it returns (pc_txpool_poll
 * until it returns 0): it waits for a half ring again. Returns true when
 * the condition holds (or it was woken for it), false at once when
 * nothing is queued to a worker (nothing could wake it), and false when
 * the timeout elapsed. Peers' batches (the transport) do not wake it:
 * callers that also receive keep the timeout short. */
bool pc_txpool_wait(pc_txpool_t *pool, uint64_t timeout_ns);

/* pc_txpool_drain polls until no verification is outstanding (tests,
 * shutdown), blocking in pc_txpool_wait between polls. */
void pc_txpool_drain(pc_txpool_t *pool);

/* pc_txpool_set_next_height tells the pool the lowest height a new
 * transaction could still be decided in (admission rejects transactions
 * expired there). Starts at 1. */
void pc_txpool_set_next_height(pc_txpool_t *pool, uint64_t next_height);

/* pc_txpool_decided reports a decided batch at `height`: its transactions
 * leave the pool (they are remembered as seen), senders' nonces advance,
 * and transactions expired at height + 1 are evicted. A transaction whose
 * signature does not verify (checked here if this pool never saw it;
 * execution skips it too) moves no nonce and is counted in
 * decided_invalid. 0, PC_ERR_INVALID or PC_ERR_NOMEM. */
int pc_txpool_decided(pc_txpool_t *pool, uint64_t height, const uint8_t *batch, size_t len);

/* pc_txpool_jumped reports that state transfer installed the state of
 * `height` (the pool never saw the decided blocks it skipped): the next
 * height moves past it, every pooled sender's next nonce is re-read from
 * the view (pc_mempool_resync) and expired transactions are evicted. The
 * caller first releases its cuts for heights ≤ height. Returns how many
 * transactions left the pool. */
int pc_txpool_jumped(pc_txpool_t *pool, uint64_t height);

/* pc_txpool_backpressure says whether the gateway should hold back client
 * transactions: the mempool is above its high-water mark or the verify
 * queues are more than three quarters full. */
bool pc_txpool_backpressure(const pc_txpool_t *pool);

/* pc_txpool_mempool gives the pool's mempool (for cutting batches). */
pc_mempool_t *pc_txpool_mempool(pc_txpool_t *pool);

/* pc_txpool_stats fills st. The verified counter is read with relaxed
 * loads from the workers' counters: exact once pc_txpool_drain returned. */
void pc_txpool_stats(const pc_txpool_t *pool, pc_txpool_stats_t *st);

/* pc_txpool_worker_stats gives verify worker i's verification count and
 * the CPU time its thread used so far, in ns (the per-core figures behind
 * stats.verified and stats.worker_cpu_ns: the benchmark weighs each
 * worker's work by the bare rate of its own core). Any thread; the count
 * is exact once pc_txpool_drain returned. 0, or PC_ERR_INVALID when i is
 * not a worker. */
int pc_txpool_worker_stats(const pc_txpool_t *pool, unsigned i, uint64_t *verified, uint64_t *cpu_ns);

#endif /* PC_TXPOOL_H */
