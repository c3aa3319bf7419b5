/* node_net.c — the net stage: owns the replica's pc_dp_t. Sends what the
 * consensus and pool stages queue (first byte = wire tag), and routes each
 * received message by its tag: NODE_TAG_CONSENSUS → consensus stage,
 * NODE_TAG_TXBATCH → pool stage; anything else (empty, unknown tag) is
 * dropped and counted (pc_reject_note(PC_DEC_OTHER), status net_bad).
 *
 * Backpressure: a message waits (stays pending, blocking its source ring)
 * while a peer that is up has no room for it — that peer acknowledges and
 * its buffer drains. A peer that is down (silent longer than the
 * dataplane's peer timeout: crashed, cut off, stopped) whose send buffer is
 * full gets nothing more: its share is dropped and counted
 * (net_dropped_unreachable), so up to f unreachable replicas can never hold
 * back the others (their buffers are bounded; waiting on them would stall
 * the cluster once they filled). The consensus protocols recover what the
 * peer missed when it returns (DECISIONs, or state transfer). */
#include <stdlib.h>
#include <string.h>

#include "dataplane/dataplane.h"
#include "node/node_int_private.h"

typedef struct {
  pc_node_t *n;
  pc_dp_t *dp;
  node_msg_t *pending[2]; /* a message the dataplane refused (PC_ERR_FULL), per source ring */
  uint64_t rx, tx, bad;
  uint64_t dropped_unreachable; /* per peer share of a message, see above */
} net_t;

void *node_net_new(pc_node_t *n) {
  net_t *s = calloc(1, sizeof *s);
  if (s) s->n = n;
  return s;
}

void node_net_free(void *p) { free(p); }

static void deliver(void *user, uint16_t peer, const uint8_t *msg, size_t len) {
  net_t *s = user;
  if (len < 2 || (msg[0] != NODE_TAG_CONSENSUS && msg[0] != NODE_TAG_TXBATCH)) {
    pc_reject_note(PC_DEC_OTHER, PC_ERR_INVALID);
    s->bad++;
    return;
  }
  node_msg_t *m = node_msg_new(NM_NET, peer, 0, msg + 1, len - 1, NULL, 0);
  if (!m) return;
  s->rx++;
  node_q_push(msg[0] == NODE_TAG_CONSENSUS ? &s->n->net2cons : &s->n->net2pool, m);
}

static int net_init(void *p) {
  net_t *s = p;
  pc_node_t *n = s->n;
  pc_dp_cfg_t cfg;
  pc_dp_kind_t kind = n->o.net == PC_NODE_NET_LOOP ? PC_DP_KIND_LOOP
                      : n->o.net == PC_NODE_NET_DPDK ? PC_DP_KIND_DPDK
                                                     : PC_DP_KIND_UDP;
  int rc = pc_dp_cfg_from_cluster(&cfg, &n->cluster, n->o.id, n->o.seckey, kind);
  if (rc) return rc;
  if (n->o.max_msg) {
    cfg.max_msg = n->o.max_msg;
    cfg.tx_buf_bytes = 2ull * cfg.max_msg;
  }
  if (n->o.frame_size) cfg.frame_size = n->o.frame_size;
  if (n->o.window) cfg.window = n->o.window;
  if (n->o.tx_buf_bytes) cfg.tx_buf_bytes = n->o.tx_buf_bytes;
  if (n->o.rx_buf_bytes) cfg.rx_buf_bytes = n->o.rx_buf_bytes;
  if (n->o.mbufs) cfg.mbufs = n->o.mbufs;
  if (n->o.burst) cfg.burst = n->o.burst;
  if (kind == PC_DP_KIND_LOOP) cfg.loop = n->o.loop;
  if (kind == PC_DP_KIND_DPDK) {
    if (n->o.eal_args[0]) snprintf(cfg.eal_args, sizeof cfg.eal_args, "%s", n->o.eal_args);
    if (n->o.memif_dir[0]) snprintf(cfg.memif_dir, sizeof cfg.memif_dir, "%s", n->o.memif_dir);
    if (n->o.memif_tag[0]) snprintf(cfg.memif_tag, sizeof cfg.memif_tag, "%s", n->o.memif_tag);
    if (n->o.dpdk_port[0]) snprintf(cfg.dpdk_port, sizeof cfg.dpdk_port, "%s", n->o.dpdk_port);
  }
  s->dp = pc_dp_create(&cfg, deliver, s);
  return s->dp ? 0 : PC_ERR_CONFIG;
}

/* Whether peer has no room for len bytes: PC_ERR_FULL while it is up
 * (wait for it), 1 when it is down (drop its share), 0 when it has room. */
static int peer_blocked(const net_t *s, uint16_t peer, size_t len) {
  if (pc_dp_tx_room(s->dp, peer) >= len) return 0;
  return pc_dp_peer_up(s->dp, peer) ? PC_ERR_FULL : 1;
}

/* Queues m for its peer, or for every other replica, or returns
 * PC_ERR_FULL having queued nothing (see "Backpressure" above). */
static int send_one(net_t *s, node_msg_t *m) {
  uint16_t n = s->n->cp.n, self = s->n->o.id;
  bool all = m->peer == NODE_BROADCAST;
  bool skip[PC_MAX_REPLICAS] = {false};
  for (uint16_t i = 0; i < n; i++) {
    if (i == self || (!all && i != m->peer)) continue;
    int b = peer_blocked(s, i, m->len);
    if (b == PC_ERR_FULL) return b;
    skip[i] = b == 1;
  }
  int rc = 0;
  for (uint16_t i = 0; i < n; i++) {
    if (i == self || (!all && i != m->peer)) continue;
    if (skip[i]) {
      s->dropped_unreachable++;
      continue;
    }
    int r = pc_dp_send(s->dp, i, m->data, m->len);
    if (r && !rc) rc = r;
  }
  if (rc) s->bad++; /* too large / bad peer / no memory: dropped */
  else s->tx++;
  free(m);
  return 0;
}

static unsigned drain(net_t *s, node_q_t *q, int slot) {
  unsigned work = 0;
  if (s->pending[slot]) {
    if (send_one(s, s->pending[slot]) == PC_ERR_FULL) return 0;
    s->pending[slot] = NULL;
    work++;
  }
  node_msg_t *m;
  for (unsigned k = 0; k < 256 && (m = node_q_pop(q)) != NULL; k++, work++) {
    if (send_one(s, m) == PC_ERR_FULL) {
      s->pending[slot] = m;
      break;
    }
  }
  return work;
}

static unsigned net_poll(void *p, uint64_t now) {
  (void)now;
  net_t *s = p;
  node_q_flush(&s->n->net2cons);
  node_q_flush(&s->n->net2pool);
  unsigned work = drain(s, &s->n->cons2net, 0);
  work += drain(s, &s->n->pool2net, 1);
  work += (unsigned)pc_dp_poll(s->dp, 64);
  return work;
}

static void net_hk(void *p, uint64_t now) {
  (void)now;
  net_t *s = p;
  pc_dp_counters_t sum = {0}, c;
  for (uint16_t i = 0; i < s->n->cp.n; i++) {
    if (!s->dp || pc_dp_counters(s->dp, i, &c) != 0) continue; /* i = self: port-level counters */
    sum.malformed += c.malformed;
    sum.bad_mac += c.bad_mac;
    sum.replays += c.replays;
    sum.stale_epoch += c.stale_epoch;
    sum.out_of_window += c.out_of_window;
    sum.reasm_evictions += c.reasm_evictions;
    sum.retransmits += c.retransmits;
    sum.link_down += c.link_down;
  }
  pthread_mutex_lock(&s->n->st_mu);
  s->n->st.dp_malformed = sum.malformed;
  s->n->st.dp_bad_mac = sum.bad_mac;
  s->n->st.dp_replays = sum.replays;
  s->n->st.dp_stale_epoch = sum.stale_epoch;
  s->n->st.dp_out_of_window = sum.out_of_window;
  s->n->st.dp_reasm_evictions = sum.reasm_evictions;
  s->n->st.dp_retransmits = sum.retransmits;
  s->n->st.dp_link_down = sum.link_down;
  s->n->st.net_rx_msgs = s->rx;
  s->n->st.net_tx_msgs = s->tx;
  s->n->st.net_bad = s->bad;
  s->n->st.net_dropped_unreachable = s->dropped_unreachable;
  pthread_mutex_unlock(&s->n->st_mu);
}

/* In the runner's sleep phase: wait on the port's RX interrupt (DPDK
 * single port with a driver that has one) instead of sleeping; the
 * runner sleeps when this returns PC_ERR_UNSUPPORTED (memif, UDP, loop).
 * Input from the other stages' rings does not end the wait: it lasts no
 * longer than the sleep it replaces. */
static int net_wait(void *p, uint64_t max_ns) {
  net_t *s = p;
  return s->dp ? pc_dp_wait(s->dp, max_ns) : PC_ERR_UNSUPPORTED;
}

static void net_fini(void *p) {
  net_t *s = p;
  /* give queued acknowledgements and data a short chance to leave */
  for (int i = 0; i < 50 && s->dp && !pc_dp_tx_idle(s->dp); i++) {
    pc_dp_poll(s->dp, 64);
    pc_sleep_ns(100000);
  }
  for (int i = 0; i < 2; i++) {
    free(s->pending[i]);
    s->pending[i] = NULL;
  }
  pc_dp_destroy(s->dp);
  s->dp = NULL;
}

pc_stage_def_t node_net_stage(void *c) {
  return (pc_stage_def_t){.name = "net",
                          .ctx = c,
                          .init = net_init,
                          .poll = net_poll,
                          .housekeeping = net_hk,
                          .fini = net_fini,
                          .wait = net_wait};
}
