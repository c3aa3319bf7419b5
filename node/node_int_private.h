/* node_int_private.h — the replica's internals shared by node.c (store stage),
 * node_pool.c (pool stage), node_cons.c (consensus stage) and node_net.c (net stage).
 *
 * The consensus parameters travel in node_cons_params_t, so the stages
 * other than consensus need not include consensus/consensus.h.
 *
 * Messages between stages are heap blocks (node_msg_t) passed by pointer
 * through rte_rings; the consumer frees them.
 */
#ifndef PC_NODE_INT_PRIVATE_H
#define PC_NODE_INT_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <rte_ring.h>

#include "executor/executor.h"
#include "node/gateway/gateway.h"
#include "node/node.h"
#include "storage/storage.h"

/* Wire tag: the first byte of every dataplane message between replicas. */
enum { NODE_TAG_CONSENSUS = 1, NODE_TAG_TXBATCH = 2 };

/* Message kinds between stages. */
enum {
  NM_NET = 1,       /* net → consensus/pool: payload from `peer` (tag stripped); to net: send (peer) or broadcast */
  NM_PERSIST,       /* consensus → store: record a = consensus seq */
  NM_DECIDED,       /* consensus → store: decided block (see node_decided_t in data) */
  NM_NEED_BATCH,    /* consensus → pool: a = height */
  NM_BATCH,         /* pool → consensus: a = height, data = batch, b = wall µs */
  NM_POOL_DECIDED,  /* consensus → pool: a = height, data = batch */
  NM_EXECUTED,      /* store → consensus: a = height, data = 32 root (+ 32 manifest if b = 1) */
  NM_CLIENT_TX,     /* gateway/any → pool */
  /* state transfer (consensus/consensus.h, "driver wiring"; node/README.md) */
  NM_XFER_REQ,      /* consensus → store: MANIFEST_REQ / CHUNK_REQ message (data) from `peer` */
  NM_XFER_REPLY,    /* store → consensus: reply message (data) for `peer`; consensus sends it on */
  NM_XFER_MANIFEST, /* consensus → store: verified manifest bytes (data): begin the install */
  NM_XFER_CHUNK,    /* consensus → store: verified chunk a (data) */
  NM_XFER_DONE,     /* consensus → store: every chunk delivered; a = height,
                     * data = exec root (32) ‖ chain hash (32) ‖ encoded certificate */
  NM_XFER_INSTALLED,/* store → consensus: a = height, b = 1 installed (data = root 32) or 0 failed */
  NM_POOL_JUMP,     /* consensus → pool: a = height reached by state transfer */
};

#define NODE_BROADCAST 0xffffu

typedef struct {
  uint8_t kind;
  uint16_t peer;
  uint64_t a, b;
  size_t len;
  uint8_t data[];
} node_msg_t;

node_msg_t *node_msg_new(uint8_t kind, uint16_t peer, uint64_t a, const void *p1, size_t l1, const void *p2,
                         size_t l2);

/* A ring with a producer-local overflow list, so a full ring never loses a
 * message (the list is drained first, in order). */
typedef struct node_ovf node_ovf_t;
typedef struct {
  struct rte_ring *r;
  node_ovf_t *head, *tail;
  size_t queued;
} node_q_t;

int node_q_init(node_q_t *q, const char *name, unsigned count, bool multi_producer);
void node_q_fini(node_q_t *q);
/* node_q_push enqueues (or parks in the overflow list). Producer thread. */
void node_q_push(node_q_t *q, node_msg_t *m);
/* node_q_flush moves parked messages to the ring. Producer thread. */
void node_q_flush(node_q_t *q);
/* node_q_pop returns the next message or NULL. Consumer thread. */
node_msg_t *node_q_pop(node_q_t *q);

/* Consensus parameters, from the cluster file. */
typedef struct {
  uint8_t protocol, vote_mode;
  bool fast_path;
  uint16_t n, f, id;
  uint64_t chain_id;
  uint64_t fast_wait_ns, collector_wait_ns, round_timeout_ns;
  uint32_t window, checkpoint_interval, batch_size, batch_bytes;
  uint32_t keep_decided; /* 0 = consensus default */
} node_cons_params_t;

/* A recovered consensus record (reassembled). */
typedef struct {
  uint8_t *data;
  size_t len;
} node_rec_t;

#define NODE_HIST 65536u

/* ------------------------------------------------ receipt store (node_rs.c)
 * Per executed height: header, decision certificate, state version and
 * roots, receipts and their leaves; tx hash → (height, index). Written by
 * the store stage only (node_rs_open/publish/set_durable/close, on its
 * thread, registered with liburcu); read by any registered thread
 * (node_rs_receipt/query/block/heights/has_tx/nonce), lock-free under RCU.
 * Bounded: max_heights heights and about max_bytes bytes (the newest D + 2
 * heights always stay). See the top of node_rs.c. */
typedef struct node_rs node_rs_t;
typedef struct {
  uint64_t height;
  const pc_block_t *header;
  const uint8_t *cert; /* encoded decision certificate */
  size_t cert_len;
  uint64_t state_version; /* the state version holding the state after height */
  const pc_hash_t *state_root, *receipts_root;
  size_t count;                    /* receipts = decoded transactions */
  const pc_receipt_t *receipts;
  const pc_tx_t *txs;              /* their transactions (hash used) */
} node_rs_block_t;

node_rs_t *node_rs_new(uint32_t depth, uint32_t max_heights, size_t max_bytes);
void node_rs_free(node_rs_t *rs);
int node_rs_open(node_rs_t *rs, pc_state_t *state);
void node_rs_close(node_rs_t *rs);
int node_rs_publish(node_rs_t *rs, const node_rs_block_t *b);
void node_rs_set_durable(node_rs_t *rs, uint64_t h);
void node_rs_heights(node_rs_t *rs, uint64_t *executed, uint64_t *durable, uint64_t *provable);
int node_rs_receipt(node_rs_t *rs, const pc_hash_t *tx, pc_gw_receipt_ans_t *a, uint8_t *buf, size_t cap);
int node_rs_query(node_rs_t *rs, uint64_t height, const uint8_t *key, size_t klen, pc_gw_query_ans_t *a,
                  uint8_t *vbuf, size_t vcap, uint8_t *pbuf, size_t pcap);
int node_rs_block(node_rs_t *rs, uint64_t height, pc_block_t *b);
bool node_rs_has_tx(node_rs_t *rs, const pc_hash_t *tx);
uint64_t node_rs_nonce(node_rs_t *rs, const uint8_t sender[32]);
void node_rs_stats(node_rs_t *rs, uint64_t *heights, uint64_t *bytes, uint64_t *txs, uint64_t *evicted);
/* node_rs_oldest: the lowest height the store holds (0 = none yet);
 * heights below it were evicted or never held here (below the snapshot a
 * restart loaded, or a state-transfer jump). Advisory (relaxed). */
uint64_t node_rs_oldest(node_rs_t *rs);

/* ------------------------------------------- refused client transactions
 * (node_refused.c) hash → (PC_ERR_* code, txpool reason) of client
 * transactions the pool refused after the gateway accepted them, for
 * WAIT. Writers (note) are serialised by a mutex; any registered thread
 * reads (get, lock-free) or clears (a new accepted SUBMIT of the hash). Bounded: the newest `cap`
 * refusals (0 = NODE_REFUSED_DEFAULT). */
#define NODE_REFUSED_DEFAULT 4096u
typedef struct node_refused node_refused_t;
node_refused_t *node_refused_new(uint32_t cap);
void node_refused_free(node_refused_t *r);
void node_refused_note(node_refused_t *r, const pc_hash_t *h, int code, int reason);
void node_refused_clear(node_refused_t *r, const pc_hash_t *h);
bool node_refused_get(node_refused_t *r, const pc_hash_t *h, int *code, int *reason);
void node_refused_stats(node_refused_t *r, uint64_t *noted, uint64_t *answered);

struct pc_node {
  pc_node_opts_t o;
  /* signatures this replica checked (node_sig.c): pool writes, store takes */
  struct cds_lfht *sigs;
  _Atomic uint64_t sigs_count;
  pc_cluster_t cluster;
  node_cons_params_t cp;

  /* rings (producer → consumer) */
  node_q_t net2cons, net2pool, cons2net, pool2net, cons2store, cons2pool, pool2cons, store2cons, client2pool;

  /* pool → submitters: pc_txpool_backpressure as of the pool stage's last
   * poll (relaxed: a hint; the pool still refuses what it cannot hold) */
  atomic_bool pool_full;

  /* store → consensus: durable consensus seq (release by store, acquire by consensus) */
  _Atomic uint64_t durable_cons_seq;

  /* handed from store init to consensus init (init order) */
  node_rec_t *recs;
  size_t n_recs;
  uint64_t start_executed; /* heights already executed at start */

  /* stage contexts */
  void *store, *cons, *pool, *net, *gw;

  /* receipt store: written by the store stage, read by the gateway stage */
  node_rs_t *rs;
  /* refused client transactions: written by the pool stage, read by the gateway */
  node_refused_t *refused;

  /* status: written by the stages, read by anyone */
  pthread_mutex_t st_mu;
  pc_node_status_t st;
  pc_hash_t *hist_chain, *hist_exec; /* NODE_HIST entries, index h % NODE_HIST */
  uint64_t *hist_h;
};

/* Stage constructors (node_cons.c, node_pool.c, node_net.c, node_gw.c). */
void *node_cons_new(pc_node_t *n);
void node_cons_free(void *c);
pc_stage_def_t node_cons_stage(void *c);
void *node_net_new(pc_node_t *n);
void node_net_free(void *c);
pc_stage_def_t node_net_stage(void *c);
void *node_pool_new(pc_node_t *n);
void node_pool_free(void *c);
pc_stage_def_t node_pool_stage(void *c);
void *node_gw_new(pc_node_t *n);
void node_gw_free(void *c);
pc_stage_def_t node_gw_stage(void *c);
int node_gw_ports(void *c, uint16_t *port, uint16_t *http_port);

/* State-transfer serving (node_cons.c, which may include consensus.h):
 * wrappers around pc_xfer_server_* for the store stage, which owns the
 * server and calls them on its thread only. node_xfer_server_new: NULL
 * (logged) on OOM. node_xfer_serve: 0 with a reply (malloc'd in *out, the
 * caller frees it, length *out_len) or a negative PC_ERR_* (send nothing). */
void *node_xfer_server_new(pc_node_t *n, const char *snap_dir);
void node_xfer_server_free(void *srv);
int node_xfer_serve(void *srv, uint16_t from, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len);

/* node_sig.c: signatures this replica already checked. init/fini around
 * the replica's life; note on the pool thread (txpool on_verified); ok on
 * the store thread for each transaction of a decided block: true when the
 * pool checked it, else it verifies it here (false: skip the transaction). */
int node_sig_init(pc_node_t *n);
void node_sig_fini(pc_node_t *n);
void node_sig_note(void *ctx, const pc_hash_t *h);
bool node_sig_ok(pc_node_t *n, const pc_tx_t *tx);
/* The pool stage's reports (node_refused.c), pool thread:
 * node_pool_refused — a client transaction (PC_ORIGIN_CLIENT[_VERIFIED])
 * that decoded (h = its hash) was refused by pc_txpool_submit or later by
 * its verification: code = the PC_ERR_* returned, reason = the
 * pc_txpool_reason_t; a WAIT for h then answers "rejected: <reason>".
 * node_pool_note_stats — from pc_txpool_stats at each housekeeping:
 * gossip_bad_batches and pool.senders_in_flight, into the node status. */
void node_pool_refused(pc_node_t *n, const pc_hash_t *h, int code, int reason);
void node_pool_note_stats(pc_node_t *n, uint64_t gossip_bad_batches, uint64_t senders_in_flight);

/* node_submit submits like pc_node_submit; verified = the gateway already
 * checked the signature (the pool then does not check it again). */
int node_submit(pc_node_t *n, const void *tx, size_t len, bool verified);

/* node_pool_full: the pool stage's last backpressure verdict (see
 * pc_node_t.pool_full). The gateway asks before it verifies a signature. */
static inline bool node_pool_full(pc_node_t *n) {
  return atomic_load_explicit(&n->pool_full, memory_order_relaxed);
}

#endif /* PC_NODE_INT_PRIVATE_H */
