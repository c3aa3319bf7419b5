/* node_gw.c — the gateway stage: owns the replica's pc_gw_server_t (the
 * client protocol and the HTTP /metrics and /health port, node/gateway/)
 * and implements its backend:
 *   submit   decode, chain id, already executed (receipt store), nonce
 *            below the account's executed nonce, signature; then
 *            pc_node_submit (PC_ERR_FULL = backpressure, the client
 *            retries). Each refusal is a per-transaction code and a
 *            counter (status gw_*); the pool checks again (gaps, quota,
 *            duplicates in flight) and counts its own refusals.
 *   receipt  from the receipt store (node_rs.c): answered once the block
 *            is durable, executed and h + D is decided with its
 *            certificate; PC_ERR_AGAIN before (the server retries).
 *   query    the retained state version of the height (the state keeps
 *            the newest D + 32 versions; older heights: PC_ERR_NOT_FOUND).
 *   block    the decided header from the receipt store (recent heights).
 *   status   node status + receipt store heights; metrics: every status
 *            counter as a Prometheus row (the server adds its own).
 * Every callback runs on the stage's thread; answer views point into the
 * stage's buffers and stay valid until the next callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/node_int_private.h"
#include "txpool/txpool.h"

typedef struct {
  pc_node_t *n;
  pc_gw_server_t *srv;
  uint8_t *rbuf, *vbuf, *pbuf;
  pc_tx_t tx;
  /* written by the stage's thread; copied into the node status under st_mu */
  uint64_t txs, accepted, bad_format, wrong_chain, bad_signature, nonce_used, duplicate, busy;
  /* bound ports, port | http << 16 (0 = not running); release store by
   * init, acquire load by pc_node_gateway_ports */
  _Atomic uint32_t ports;
  uint64_t last_io_warn;
} gw_t;

void *node_gw_new(pc_node_t *n) {
  gw_t *g = calloc(1, sizeof *g);
  if (g) g->n = n;
  return g;
}

void node_gw_free(void *p) {
  gw_t *g = p;
  if (!g) return;
  pc_gw_server_free(g->srv);
  free(g->rbuf);
  free(g->vbuf);
  free(g->pbuf);
  free(g);
}

int node_gw_ports(void *p, uint16_t *port, uint16_t *http_port) {
  gw_t *g = p;
  uint32_t v = atomic_load_explicit(&g->ports, memory_order_acquire); /* pairs with gw_init's release */
  if (!v) return PC_ERR_STATE;
  if (port) *port = (uint16_t)v;
  if (http_port) *http_port = (uint16_t)(v >> 16);
  return 0;
}

/* ------------------------------------------------------------- backend */

static int be_submit(void *ctx, const uint8_t *raw, size_t len) {
  gw_t *g = ctx;
  pc_node_t *n = g->n;
  g->txs++;
  int rc = pc_tx_decode(raw, len, &g->tx); /* counted under PC_DEC_TX */
  if (rc) {
    g->bad_format++;
    return rc;
  }
  if (g->tx.chain_id != n->cp.chain_id) {
    g->wrong_chain++;
    return pc_reject_note(PC_DEC_TX, PC_ERR_CHAIN);
  }
  if (node_rs_has_tx(n->rs, &g->tx.hash)) {
    g->duplicate++;
    return PC_ERR_DUPLICATE; /* already in an executed block */
  }
  if (g->tx.nonce < node_rs_nonce(n->rs, g->tx.sender)) {
    g->nonce_used++;
    return PC_ERR_NONCE;
  }
  if (node_pool_full(n)) { /* before the Ed25519 check: a full pool would refuse it anyway */
    g->busy++;
    return PC_ERR_FULL;
  }
  if (pc_tx_verify(&g->tx) != 0) {
    g->bad_signature++;
    return pc_reject_note(PC_DEC_TX, PC_ERR_SIGNATURE);
  }
  rc = node_submit(n, raw, len, true); /* the signature was checked just above: once per replica */
  if (rc == PC_ERR_FULL)
    g->busy++;
  else if (rc == 0) {
    g->accepted++;
    node_refused_clear(n->refused, &g->tx.hash); /* the pool judges this submission afresh */
  }
  return rc;
}

static int be_receipt(void *ctx, const pc_hash_t *tx, pc_gw_receipt_ans_t *a) {
  gw_t *g = ctx;
  int rc = node_rs_receipt(g->n->rs, tx, a, g->rbuf, PC_GW_RECEIPT_MAX);
  int code, reason;
  if (rc == PC_ERR_AGAIN && node_refused_get(g->n->refused, tx, &code, &reason)) {
    /* not executed here, and the pool refused it after the SUBMIT was accepted */
    a->tx_status = PC_GW_TX_REJECTED;
    a->why = reason >= 0 && reason < PC_TXR_COUNT ? pc_txpool_reason_name((pc_txpool_reason_t)reason) : "refused";
    return code;
  }
  return rc;
}

/* A WAIT ran out with the hash unknown here: when this replica lacks the
 * receipts of some heights (evicted, or below a restart's snapshot or a
 * state-transfer jump), say so — another replica may hold the receipt. */
static int be_wait_expired(void *ctx, const pc_hash_t *tx, pc_gw_receipt_ans_t *a) {
  gw_t *g = ctx;
  (void)tx;
  uint64_t oldest = node_rs_oldest(g->n->rs);
  if (oldest <= 1) return PC_ERR_TIMEOUT;
  a->tx_status = PC_GW_TX_NOT_HELD;
  a->held_from = oldest;
  a->why = "not held here: ask another replica";
  return PC_ERR_NOT_FOUND;
}

static int be_query(void *ctx, uint64_t height, const uint8_t *key, size_t klen, pc_gw_query_ans_t *a) {
  gw_t *g = ctx;
  return node_rs_query(g->n->rs, height, key, klen, a, g->vbuf, PC_STATE_VALUE_MAX, g->pbuf, PC_STATE_PROOF_MAX);
}

static int be_block(void *ctx, uint64_t height, pc_block_t *b) {
  gw_t *g = ctx;
  return node_rs_block(g->n->rs, height, b);
}

static void be_status(void *ctx, pc_gw_status_t *s) {
  gw_t *g = ctx;
  pc_node_t *n = g->n;
  pc_node_status_t st;
  pc_node_get_status(n, &st);
  uint64_t e, d, p;
  node_rs_heights(n->rs, &e, &d, &p);
  s->chain_id = n->cp.chain_id;
  s->replica = n->cp.id;
  s->n = n->cp.n;
  s->depth = pc_cluster_depth(&n->cluster);
  s->decided_height = st.decided;
  s->executed_height = e < d ? e : d;
  s->provable_height = p;
  s->pool_txs = st.pool_count;
  /* a replica that asked for a state transfer cannot catch up yet (not
   * implemented): it answers, but says it is unhealthy */
  s->healthy = st.state_transfers_asked == 0;
}

#define ROW(nm, hlp, ty, v) \
  do { \
    if (k < cap) rows[k++] = (pc_gw_metric_t){.name = nm, .help = hlp, .type = ty, .value = (double)(v)}; \
  } while (0)

static size_t be_metrics(void *ctx, pc_gw_metric_t *rows, size_t cap) {
  gw_t *g = ctx;
  pc_node_status_t st;
  pc_node_get_status(g->n, &st);
  size_t k = 0;
  ROW("parachain_decided_height", "Highest height decided and appended to the log.", "gauge", st.decided);
  ROW("parachain_executed_height", "Highest height executed.", "gauge", st.executed);
  ROW("parachain_durable_height", "Highest block height durable in the log.", "gauge", st.durable);
  ROW("parachain_txs_executed_total", "Transactions executed.", "counter", st.txs_executed);
  ROW("parachain_txs_ok_total", "Transactions executed with status ok.", "counter", st.txs_ok);
  ROW("parachain_pool_submitted_total", "Transactions offered to the pool (clients and peers).", "counter",
      st.submitted);
  ROW("parachain_pool_admitted_total", "Transactions admitted to the mempool.", "counter", st.admitted);
  ROW("parachain_pool_rejected_total", "Transactions the pool refused.", "counter", st.pool_rejected);
  ROW("parachain_pool_txs", "Transactions waiting in the mempool.", "gauge", st.pool_count);
  ROW("parachain_consensus_msgs_in_total", "Consensus messages received.", "counter", st.cons_msgs_in);
  ROW("parachain_consensus_msgs_out_total", "Consensus messages sent.", "counter", st.cons_msgs_out);
  ROW("parachain_consensus_rejected_total", "Consensus messages rejected.", "counter", st.cons_rejected);
  ROW("parachain_consensus_round_changes_total", "Rounds left (view changes).", "counter", st.round_changes);
  ROW("parachain_consensus_fast_decisions_total", "Heights decided on the fast path.", "counter",
      st.fast_decisions);
  ROW("parachain_consensus_stable_checkpoint", "Highest height with a checkpoint certificate.", "gauge",
      st.stable_checkpoint);
  ROW("parachain_persisted_total", "Consensus records written to the log.", "counter", st.persisted);
  ROW("parachain_held_sends_max", "Most sends held behind the durability barrier.", "gauge", st.held_max);
  ROW("parachain_net_rx_msgs_total", "Messages received from peers.", "counter", st.net_rx_msgs);
  ROW("parachain_net_tx_msgs_total", "Messages sent to peers.", "counter", st.net_tx_msgs);
  ROW("parachain_net_bad_total", "Peer messages dropped as malformed.", "counter", st.net_bad);
  ROW("parachain_net_dropped_unreachable_total",
      "Per-peer message copies dropped: the peer was down and its send buffer full.", "counter",
      st.net_dropped_unreachable);
  ROW("parachain_replayed_heights_total", "Heights re-executed from the log at start.", "counter", st.replayed);
  ROW("parachain_state_transfers_asked_total", "State transfers consensus asked for.", "counter",
      st.state_transfers_asked);
  ROW("parachain_state_transfers_done_total", "State transfers installed and based in the log.", "counter",
      st.state_transfers_done);
  ROW("parachain_exec_signature_checks_total", "Decided transactions whose signature the pool had not checked.",
      "counter", st.sigs_checked_at_exec);
  ROW("parachain_exec_bad_signature_total", "Decided transactions skipped: invalid signature.", "counter",
      st.txs_bad_signature);
  ROW("parachain_gw_txs_total", "Transactions clients submitted to the gateway.", "counter", g->txs);
  ROW("parachain_gw_accepted_total", "Client transactions handed to the pool.", "counter", g->accepted);
  ROW("parachain_gw_bad_format_total", "Client transactions that do not decode.", "counter", g->bad_format);
  ROW("parachain_gw_wrong_chain_total", "Client transactions for another chain.", "counter", g->wrong_chain);
  ROW("parachain_gw_bad_signature_total", "Client transactions with a bad signature.", "counter",
      g->bad_signature);
  ROW("parachain_gw_nonce_used_total", "Client transactions below the sender's executed nonce.", "counter",
      g->nonce_used);
  ROW("parachain_gw_duplicate_total", "Client transactions already executed.", "counter", g->duplicate);
  ROW("parachain_gw_busy_total", "Client transactions refused for backpressure.", "counter", g->busy);
  ROW("parachain_receipts_heights", "Heights held by the receipt store.", "gauge", st.rs_heights);
  ROW("parachain_receipts_bytes", "Bytes held by the receipt store.", "gauge", st.rs_bytes);
  ROW("parachain_receipts_txs", "Transactions indexed by the receipt store.", "gauge", st.rs_txs);
  ROW("parachain_receipts_evicted_total", "Heights evicted from the receipt store.", "counter", st.rs_evicted);
  ROW("parachain_dp_malformed_frames_total", "Dataplane frames dropped as malformed.", "counter", st.dp_malformed);
  ROW("parachain_dp_bad_mac_total", "Dataplane frames whose MAC did not verify.", "counter", st.dp_bad_mac);
  ROW("parachain_dp_replays_total", "Dataplane frames already delivered or buffered.", "counter", st.dp_replays);
  ROW("parachain_dp_stale_epoch_total", "Dataplane frames of another session.", "counter", st.dp_stale_epoch);
  ROW("parachain_dp_out_of_window_total", "Dataplane frames beyond the receive window.", "counter",
      st.dp_out_of_window);
  ROW("parachain_dp_reasm_evictions_total", "Partial messages evicted from reassembly.", "counter",
      st.dp_reasm_evictions);
  ROW("parachain_dp_retransmits_total", "Dataplane frames sent again.", "counter", st.dp_retransmits);
  ROW("parachain_dp_link_down_total", "Peer links seen going down.", "counter", st.dp_link_down);
  ROW("parachain_pool_gossip_bad_batches_total", "Peer transaction batches refused whole.", "counter",
      st.gossip_bad_batches);
  ROW("parachain_pool_senders_in_flight", "Senders with a transaction in a cut batch not yet decided.", "gauge",
      st.senders_in_flight);
  ROW("parachain_pool_refused_noted_total", "Client transactions the pool refused after the gateway accepted them.",
      "counter", st.refused_noted);
  ROW("parachain_gw_wait_rejected_total", "WAITs answered 'rejected' from a remembered pool refusal.", "counter",
      st.refused_answered);
  return k;
}

/* --------------------------------------------------------------- stage */

static int gw_init(void *p) {
  gw_t *g = p;
  pc_node_t *n = g->n;
  g->rbuf = malloc(PC_GW_RECEIPT_MAX);
  g->vbuf = malloc(PC_STATE_VALUE_MAX);
  g->pbuf = malloc(PC_STATE_PROOF_MAX);
  if (!g->rbuf || !g->vbuf || !g->pbuf) return PC_ERR_NOMEM;
  pc_gw_backend_t be = {.ctx = g, .submit = be_submit, .receipt = be_receipt, .wait_expired = be_wait_expired, .query = be_query,
                        .block = be_block, .status = be_status, .metrics = be_metrics};
  g->srv = pc_gw_server_new(&n->o.gw, &be);
  if (!g->srv) {
    PC_ERROR("gateway: cannot listen on %u.%u.%u.%u:%u (see the log line above)", n->o.gw.bind_ip[0],
             n->o.gw.bind_ip[1], n->o.gw.bind_ip[2], n->o.gw.bind_ip[3], n->o.gw.port);
    return PC_ERR_IO;
  }
  uint32_t v = pc_gw_server_port(g->srv) | (uint32_t)(n->o.gw.no_http ? 0 : pc_gw_server_http_port(g->srv)) << 16;
  atomic_store_explicit(&g->ports, v, memory_order_release); /* pairs with node_gw_ports */
  PC_INFO("gateway: listening on port %u (HTTP %u)", (unsigned)(v & 0xffff), (unsigned)(v >> 16));
  return 0;
}

static unsigned gw_poll(void *p, uint64_t now) {
  gw_t *g = p;
  int rc = pc_gw_server_poll(g->srv, 0); /* never block: the thread is shared */
  if (rc < 0) {
    if (now - g->last_io_warn > 1000000000ull) {
      PC_WARN("gateway: poll failed: %s", pc_strerror(rc));
      g->last_io_warn = now;
    }
    return 0;
  }
  return (unsigned)rc;
}

static void gw_hk(void *p, uint64_t now) {
  (void)now;
  gw_t *g = p;
  pc_gw_server_housekeeping(g->srv);
  pc_gw_stats_t gs;
  pc_gw_server_stats(g->srv, &gs);
  pc_node_t *n = g->n;
  pthread_mutex_lock(&n->st_mu);
  n->st.gw_txs = g->txs;
  n->st.gw_accepted = g->accepted;
  n->st.gw_bad_format = g->bad_format;
  n->st.gw_wrong_chain = g->wrong_chain;
  n->st.gw_bad_signature = g->bad_signature;
  n->st.gw_nonce_used = g->nonce_used;
  n->st.gw_duplicate = g->duplicate;
  n->st.gw_busy = g->busy;
  n->st.gw_receipts = gs.receipts;
  n->st.gw_queries = gs.queries;
  n->st.gw_conns = gs.open_conns;
  pthread_mutex_unlock(&n->st_mu);
}

static void gw_fini(void *p) {
  gw_t *g = p;
  atomic_store_explicit(&g->ports, 0, memory_order_release); /* pairs with node_gw_ports */
  pc_gw_server_free(g->srv); /* closes every socket */
  g->srv = NULL;
}

pc_stage_def_t node_gw_stage(void *c) {
  return (pc_stage_def_t){.name = "gateway", .ctx = c, .init = gw_init, .poll = gw_poll, .housekeeping = gw_hk,
                          .fini = gw_fini};
}
