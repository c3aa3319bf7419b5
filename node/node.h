/* node.h — the daemon's building blocks: the stage runner and the replica
 * object pc_node_t that wires storage, txpool, executor, consensus and the
 * dataplane together (DESIGN.md, "Data flow").
 *
 * Stage runner. A stage is a small table (name, init, poll once, house-
 * keeping, fini) with a private context. A runner thread runs one or several
 * stages, pinned with hwloc to a core set (a pinning failure is a warning),
 * polling each in turn; when a whole pass did no work it backs off
 * adaptively (spin, then sched_yield, then sleeps growing to ~1 ms) so
 * several replicas share two cores. It stops when the stop flag is set.
 * Stages talk only through rte_ring of message pointers (single-producer /
 * single-consumer), made in plain memory (no EAL needed).
 *
 * Replica. pc_node_create builds a replica from a cluster file, its id, its
 * secret key and a data directory, and returns its stages: net (dataplane
 * rx/tx), pool (verify + mempool + batches), consensus, store (block log,
 * consensus records, state, executor, snapshots). Wiring:
 *   net  → tag byte 1 consensus message → consensus; 2 tx batch → pool
 *   consensus PERSIST → store (log consensus record); the sends emitted
 *     after it are held until the store reports it durable, then released
 *     in order and on_persist_done is called (consensus.h's barrier)
 *   consensus SEND/BROADCAST → net; NEED_BATCH → pool cuts → on_batch
 *   consensus DECIDE → store (block record with certificate) → executor →
 *     state commit → on_executed(h, exec root); the batch → pool (decided
 *     transactions leave the pool)
 * Restart: the store stage opens the log (recovery), loads the latest
 * snapshot and replays the log's blocks above it through the executor; the
 * consensus stage replays every durable consensus record with
 * pc_consensus_restore before pc_consensus_start.
 *
 * Threads: every stage's functions are called by the runner thread it was
 * given to; the stage init functions run on that thread (the store stage is
 * the state's writer thread). The stages of one replica must be started in
 * the order pc_node_stages returns them (store, consensus, pool, net) — the
 * runner does, thread after thread. pc_node_submit and pc_node_get_status
 * may be called by any thread.
 */
#ifndef PC_NODE_H
#define PC_NODE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "common/config.h"
#include "node/gateway/gateway.h"

/* ================================================================ stages */

typedef struct {
  const char *name;
  void *ctx;
  /* init: on the runner thread before the first poll; 0 or PC_ERR_* (the
   * runner then stops every stage of the thread and reports it). */
  int (*init)(void *ctx);
  /* poll: one pass; returns the amount of work done (0 = idle). */
  unsigned (*poll)(void *ctx, uint64_t now_ns);
  /* housekeeping: about every housekeeping period (may be NULL). */
  void (*housekeeping)(void *ctx, uint64_t now_ns);
  /* fini: on the runner thread after the last poll (may be NULL). */
  void (*fini)(void *ctx);
  /* wait (may be NULL): in the sleep phase of the idle back-off, the runner
   * calls the first stage of the thread that has one instead of sleeping:
   * wait up to max_ns for input (e.g. a port's RX interrupt); return ≥ 0
   * when it waited, a negative PC_ERR_* (PC_ERR_UNSUPPORTED) when it could
   * not, and the runner sleeps max_ns. It must not wait longer than max_ns:
   * the thread's other stages are polled only after it returns. */
  int (*wait)(void *ctx, uint64_t max_ns);
} pc_stage_def_t;

#define PC_RUNNER_MAX_STAGES 64
#define PC_RUNNER_MAX_THREADS 16

typedef struct pc_runner pc_runner_t;

/* pc_runner_new makes an empty runner. NULL on OOM. */
pc_runner_t *pc_runner_new(void);
/* pc_runner_add_thread declares a thread with a core set (NULL or empty =
 * not pinned) and returns its index, or PC_ERR_FULL. */
int pc_runner_add_thread(pc_runner_t *r, const pc_coreset_t *cores);
/* pc_runner_add_stage gives stage def (copied) to thread t. 0 or
 * PC_ERR_FULL / PC_ERR_RANGE. */
int pc_runner_add_stage(pc_runner_t *r, int t, const pc_stage_def_t *def);
/* pc_runner_start starts the threads in order; each runs the inits of its
 * stages (in order) before the next thread starts. Returns 0, or the first
 * init error (every thread started so far is stopped and joined). */
int pc_runner_start(pc_runner_t *r);
/* pc_runner_stop sets the stop flag, joins every thread (each runs its
 * stages' fini) and returns. Idempotent. */
void pc_runner_stop(pc_runner_t *r);
/* pc_runner_free stops if needed and frees the runner. */
void pc_runner_free(pc_runner_t *r);
/* pc_runner_run_here runs thread t's stages on the calling thread (no
 * pinning) until *stop is set (acquire load, pairs with the setter's
 * release store): init, poll loop, fini. For tests and single-thread use.
 * Returns 0 or the init error. */
int pc_runner_run_here(pc_runner_t *r, int t, const atomic_bool *stop);
/* pc_runner_idle is the adaptive back-off used between idle passes: spin,
 * yield, then sleep 20 µs doubling to 1 ms. The runner's own loop does the
 * same, except that in the sleep phase it calls the first stage wait hook
 * of the thread (pc_stage_def_t.wait), if any, for the same duration. */
void pc_runner_idle(unsigned idle_passes);

/* ================================================================ replica */

typedef struct pc_node pc_node_t;

typedef enum { PC_NODE_NET_UDP = 1, PC_NODE_NET_DPDK = 2, PC_NODE_NET_LOOP = 3 } pc_node_net_t;

typedef struct {
  const pc_cluster_t *cluster; /* copied */
  uint16_t id;
  uint8_t seckey[64];   /* libsodium Ed25519 secret key of replica id */
  char data_dir[256];   /* log in <dir>/log, snapshots in <dir>/snap */
  uint8_t net;          /* pc_node_net_t */
  void *loop;           /* PC_NODE_NET_LOOP: a pc_dp_loop_t shared by the replicas */
  char eal_args[512];   /* PC_NODE_NET_DPDK */
  char memif_dir[96];
  char memif_tag[32];
  char dpdk_port[64];   /* PC_NODE_NET_DPDK: one existing port for every peer (af_packet, NIC); "" = memif */
  uint32_t max_msg;     /* 0 = the dataplane default */
  /* dataplane tuning ([net] in the node config; 0 = the dataplane default):
   * ParaChain bytes per frame (MTU − 28), frames in flight per peer, send
   * and receive buffer bytes per peer (send: 2 × max_msg when max_msg is
   * set), DPDK mbufs per pool and burst */
  uint32_t frame_size, window, mbufs;
  uint64_t tx_buf_bytes, rx_buf_bytes;
  uint16_t burst;
  uint8_t sched;        /* executor pc_sched_t */
  char plugin_dir[256]; /* contract plugins the cluster pins ("" = none); "<name>.so" each */
  unsigned exec_workers;
  const int *exec_cores; /* NULL = executor default */
  unsigned verify_workers; /* 0 = inline */
  const int *verify_cores; /* OS core per verify worker; NULL = not pinned */
  uint64_t segment_size; /* 0 = default */
  unsigned group_count;
  uint32_t group_time_us;
  /* client gateway (PC_NODE_STAGE_GATEWAY): gw is the server's config
   * (bind address, ports — 0 = ephemeral —, limits, no_http). */
  pc_gw_config_t gw;
  /* receipt store bound: heights kept (0 = 65536) and bytes (0 = 256 MiB) */
  uint32_t receipt_heights;
  uint64_t receipt_bytes;
  /* SBFT keep_decided (consensus.h): DECISIONs kept below the stable
   * checkpoint; a replica further behind catches up by state transfer.
   * 0 = the consensus default (448). Tests set it small. */
  uint32_t keep_decided;
  /* mempool capacity in transactions (0 = the txpool default, 100000);
   * submissions are refused with PC_ERR_FULL above 90% of it */
  uint32_t pool_max_txs;
} pc_node_opts_t;

/* pc_node_opts_default fills opts for replica id of cluster. */
void pc_node_opts_default(pc_node_opts_t *o, const pc_cluster_t *cluster, uint16_t id);

/* pc_node_create validates opts and allocates the replica and its rings;
 * nothing is opened and no thread is started (the stages' inits do that).
 * NULL and logs on error. */
pc_node_t *pc_node_create(const pc_node_opts_t *opts);
/* pc_node_destroy frees the replica; its stages must have been finished
 * (runner stopped). NULL is fine. */
void pc_node_destroy(pc_node_t *n);

enum {
  PC_NODE_STAGE_STORE = 0,
  PC_NODE_STAGE_CONSENSUS,
  PC_NODE_STAGE_POOL,
  PC_NODE_STAGE_NET,
  PC_NODE_STAGES, /* the four stages every replica runs */
  PC_NODE_STAGE_GATEWAY = PC_NODE_STAGES /* optional: the client gateway */
};
/* pc_node_stage returns stage i (PC_NODE_STAGE_*) of the replica.
 * PC_NODE_STAGE_GATEWAY is optional and, when run, starts after the other
 * four (any thread; it only reads what the store stage publishes): its init
 * binds the gateway's sockets (o.gw; an error fails the runner's start),
 * its poll serves them without blocking (timeout 0: it shares its thread
 * and relies on the runner's idle back-off), its housekeeping retries
 * pending WAITs and follows, its fini closes every socket. */
pc_stage_def_t pc_node_stage(pc_node_t *n, int i);

/* pc_node_submit hands one encoded client transaction to the replica's
 * pool stage (copied). Any thread (multi-producer ring). 0, PC_ERR_FULL
 * (backpressure: the ring to the pool is full, or the pool said at its
 * last poll that it is above its high-water mark; retry), PC_ERR_TOO_LARGE
 * or PC_ERR_NOMEM. */
int pc_node_submit(pc_node_t *n, const void *tx, size_t len);

typedef struct {
  uint64_t decided;     /* highest height decided and appended */
  uint64_t executed;    /* highest height executed */
  uint64_t durable;     /* highest block height durable in the log */
  pc_hash_t chain_hash; /* ledger hash at `executed` */
  pc_hash_t exec_root;  /* execution root at `executed` */
  uint64_t txs_executed, txs_ok;
  uint64_t submitted, admitted, pool_rejected, pool_count;
  uint64_t cons_msgs_in, cons_msgs_out, cons_rejected, round_changes, fast_decisions;
  uint64_t persisted, held_max, net_rx_msgs, net_tx_msgs, net_bad;
  /* messages not queued for one peer because its dataplane send buffer was
   * full while it was down (unreachable): it catches up by DECISIONs or
   * state transfer when it returns (node_net.c) */
  uint64_t net_dropped_unreachable;
  uint64_t replayed;    /* heights re-executed from the log at start */
  uint64_t state_transfers_asked;  /* PC_ACT_STATE_TRANSFER actions received */
  uint64_t sigs_checked_at_exec; /* decided transactions whose signature the pool had not checked */
  uint64_t txs_bad_signature;    /* decided transactions skipped: signature invalid */
  uint64_t state_transfers_done;   /* snapshots installed, loaded and based in the log */
  uint64_t stable_checkpoint;      /* consensus: highest height with a checkpoint certificate (0 = none) */
  uint64_t xfer_served;            /* MANIFEST / CHUNK replies sent to peers */
  /* gateway stage (zero without it): transactions offered by clients,
   * handed to the pool, refused by the gateway's checks (by reason),
   * refused for backpressure (PC_ERR_FULL) */
  uint64_t gw_txs, gw_accepted, gw_bad_format, gw_wrong_chain, gw_bad_signature, gw_nonce_used, gw_duplicate,
      gw_busy;
  uint64_t gw_receipts, gw_queries, gw_conns; /* receipts and query answers sent, open connections */
  /* receipt store: heights and bytes held, transactions indexed, heights evicted */
  uint64_t rs_heights, rs_bytes, rs_txs, rs_evicted;
  /* dataplane (pc_dp_counters, summed over the port and every peer): frames
   * dropped by reason — structurally bad (malformed), MAC did not verify
   * (bad_mac), already delivered (replays), another session (stale_epoch),
   * beyond the receive window (out_of_window) — and partial messages
   * evicted from reassembly, retransmitted frames, peer link downs */
  uint64_t dp_malformed, dp_bad_mac, dp_replays, dp_stale_epoch, dp_out_of_window, dp_reasm_evictions,
      dp_retransmits, dp_link_down;
  /* pool (txpool stats, copied by the pool stage; see node_pool_note_stats):
   * peer transaction batches refused whole (gossip_bad_batches), senders
   * with a transaction in a cut batch not yet decided (senders_in_flight) */
  uint64_t gossip_bad_batches, senders_in_flight;
  /* client transactions the pool refused after the gateway accepted them,
   * remembered for WAIT (node_refused_note): noted, and WAITs answered
   * "rejected" */
  uint64_t refused_noted, refused_answered;
} pc_node_status_t;

/* pc_node_get_status copies the latest status. Any thread. */
void pc_node_get_status(pc_node_t *n, pc_node_status_t *st);
/* pc_node_root_at gives the chain hash and execution root of executed
 * height h if still remembered (the last 65536 heights). 0 or
 * PC_ERR_NOT_FOUND. Any thread. */
int pc_node_root_at(pc_node_t *n, uint64_t h, pc_hash_t *chain_hash, pc_hash_t *exec_root);
/* pc_node_gateway_ports gives the gateway's bound ports (binary protocol,
 * HTTP; 0 = none) once its stage's init ran (after pc_runner_start
 * returned). 0 or PC_ERR_STATE (no gateway running). Any thread. */
int pc_node_gateway_ports(pc_node_t *n, uint16_t *port, uint16_t *http_port);

#endif /* PC_NODE_H */
