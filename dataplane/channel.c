/* channel.c — per-peer channels: sessions (HELLO, epochs), coalescing and
 * fragmentation, sequencing, selective-repeat acknowledgement and
 * retransmission, reassembly, delivery, counters, the poll loop. The wire
 * rules are in dataplane.h; this file only uses a pc_dp_transport_t. */
#include <sched.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp_private.h"

#define RX_BURST_MAX 64
#define HK_PERIOD_NS 100000ull   /* housekeeping timer */
#define RTX_SCAN_NS 200000ull    /* retransmission scan period */
#define RTO_MAX_NS 200000000ull  /* cap of the doubling timer */

/* A frame, built when its message is sent: pc_dp_send copies the message
 * once, straight into frame payloads (coalesced records, or fragments), so
 * taking a window slot only moves the pointer and the header and MAC are
 * written when it goes out. (Copying whole messages into a queue and then
 * into frames cost a second copy per byte, and fresh 1 MiB mallocs were
 * backed by new pages: faulting them in took 18% of a 1 MiB sender's
 * time.) Frames are recycled through a free list. */
typedef struct frame {
  struct frame *next; /* send queue or free list */
  uint32_t payload_len;
  uint32_t msg_len; /* records (coalesced frame) or message bytes (fragment) */
  uint32_t acct;    /* tx buffer bytes released when acknowledged */
  uint16_t frag_count, frag_index;
  uint8_t data[]; /* frame_size bytes: header space, payload, MAC space */
} frame_t;

#define FREE_FRAMES_BYTES (16u << 20) /* frames kept for reuse per dataplane; more go back to malloc */

/* One window slot: a frame sent and not yet acknowledged. */
typedef struct {
  frame_t *f;
  uint64_t sent_ns;    /* 0: never sent */
  uint64_t sent_order; /* p->sends when this frame was last sent (loss detection) */
  uint64_t rto_ns;
  bool retransmitted;
} tx_slot_t;

/* One frame received out of order. */
typedef struct {
  uint64_t seq; /* 0: empty */
  pc_dp_hdr_t h;
  uint8_t *payload; /* capacity frame_size */
} rx_slot_t;

typedef struct {
  uint8_t tx_key[PC_DP_KEY_SIZE], rx_key[PC_DP_KEY_SIZE];
  uint64_t peer_epoch;  /* 0: unknown */
  bool peer_knows_me;   /* got a MAC-valid frame carrying our epoch */
  bool up;              /* counted up (session established, not timed out) */
  bool hello_due;
  bool ack_pending;
  bool gap_ack; /* a new hole appeared: ACK after the current RX burst */
  uint64_t last_rx_ns, last_tx_ns, last_hello_ns;

  /* tx */
  frame_t *qhead, *qtail; /* frames not yet in the window */
  uint64_t tx_used; /* queued + unacked accounting bytes */
  uint64_t una, next_seq, next_unsent;
  uint64_t high_sacked;
  uint64_t sends;          /* DATA frames sent, retransmissions included */
  uint64_t reported_order; /* highest sent_order among frames the receiver reported holding */
  tx_slot_t *tx;
  uint64_t *sacked; /* bit (seq & mask): the receiver reported seq held (SACK); max(window, 64) bits */
  uint64_t srtt_ns;
  uint64_t rto_ns; /* current timer for new sends; doubles on timeouts */
  uint64_t last_rtx_scan_ns;
  bool rtx_scan_now;
  bool window_full; /* the whole window was sent, more queued (counted once per episode) */

  /* rx */
  uint64_t expected;
  rx_slot_t *rx;
  uint64_t rx_buffered; /* bytes held in rx slots */
  uint64_t rx_high;     /* highest seq ever buffered out of order (holes below it while > expected) */
  uint64_t *held;       /* bit (seq & mask): seq is held in its rx slot; max(window, 64) bits */
  uint8_t *reasm;
  uint32_t reasm_cap; /* allocated size of reasm */
  uint8_t *spare;     /* a finished reassembly buffer kept for the next one */
  uint32_t spare_cap;
  uint32_t reasm_len, reasm_off;
  uint16_t reasm_count, reasm_next;
  uint64_t reasm_last_ns; /* when the partial message last grew */
  bool reasm_stall_noted; /* this partial message was counted as stalled */

  pc_dp_counters_t c;
} peer_t;

struct pc_dp {
  pc_dp_cfg_t cfg;
  uint64_t epoch;
  uint32_t cap; /* payload bytes per frame */
  uint64_t mask;
  pc_dp_deliver_fn deliver;
  void *user;
  pc_dp_transport_t *t;
  peer_t *peers; /* n entries; peers[self] holds the port counters */
  uint64_t next_hk_ns;
  uint64_t next_publish_ns;
  uint64_t drop_rng;
  bool gap_ack; /* some peer's gap_ack is set */
  uint8_t ctl[PC_DP_OVERHEAD + 8 * PC_DP_SACK_WORDS_MAX]; /* scratch for ACK/HELLO frames */
  frame_t *free_frames; /* recycled frames */
  unsigned nfree_frames, max_free_frames;
};

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void pc_dp_cfg_default(pc_dp_cfg_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->kind = PC_DP_KIND_UDP;
  cfg->max_msg = 16u << 20;
  cfg->frame_size = 1472;
  cfg->window = 512;
  cfg->tx_buf_bytes = 0; /* derived in create when 0 */
  cfg->rx_buf_bytes = 0;
  cfg->rto_min_ns = 2000000;
  cfg->hello_ns = 50000000;
  cfg->peer_timeout_ns = 1000000000;
  cfg->reasm_timeout_ns = 10000000000ull;
  strcpy(cfg->memif_dir, "/tmp");
  strcpy(cfg->memif_tag, "pc-memif");
  cfg->mbufs = 4095;
  cfg->burst = 32;
}

int pc_dp_cfg_check(const pc_dp_cfg_t *c) {
#define BAD(...)                                                                             \
  do {                                                                                       \
    PC_ERROR("dataplane config: " __VA_ARGS__);                                              \
    return PC_ERR_CONFIG;                                                                    \
  } while (0)
  if (c->kind != PC_DP_KIND_UDP && c->kind != PC_DP_KIND_DPDK && c->kind != PC_DP_KIND_LOOP)
    BAD("unknown transport kind %d", (int)c->kind);
  if (c->n < 2 || c->n > PC_MAX_REPLICAS) BAD("n = %u, want 2..%d", c->n, PC_MAX_REPLICAS);
  if (c->self >= c->n) BAD("self = %u, want < n = %u", c->self, c->n);
  if (c->frame_size < 256 || c->frame_size > PC_DP_MAX_FRAME)
    BAD("frame_size = %u, want 256..%d", c->frame_size, PC_DP_MAX_FRAME);
  if (c->kind == PC_DP_KIND_DPDK && c->frame_size > PC_DP_DPDK_MAX_FRAME)
    BAD("frame_size = %u: a DPDK port carries at most %d (IPv4 MTU %d)", c->frame_size, PC_DP_DPDK_MAX_FRAME,
        PC_DP_DPDK_MAX_MTU);
  if (c->window < 8 || c->window > 8192 || (c->window & (c->window - 1)))
    BAD("window = %u, want a power of two 8..8192", c->window);
  if (c->max_msg < 1 || c->max_msg > (256u << 20)) BAD("max_msg = %u, want 1..256 MiB", c->max_msg);
  uint64_t fcap = c->frame_size - PC_DP_OVERHEAD - PC_DP_MSG_REC_SIZE;
  if ((uint64_t)c->max_msg > fcap * 65535) BAD("max_msg %u needs more than 65535 fragments of %llu bytes: raise frame_size", c->max_msg, (unsigned long long)fcap);
  if (c->tx_buf_bytes && c->tx_buf_bytes < (uint64_t)c->max_msg + PC_DP_MSG_REC_SIZE)
    BAD("tx_buf_bytes below max_msg: the largest message could never be sent");
  if (c->rx_buf_bytes && c->rx_buf_bytes < (uint64_t)c->max_msg + (uint64_t)c->window * c->frame_size)
    BAD("rx_buf_bytes below max_msg + window x frame_size");
  if (c->rto_min_ns == 0 || c->hello_ns == 0 || c->peer_timeout_ns <= c->hello_ns || c->reasm_timeout_ns == 0)
    BAD("timers: rto_min, hello and reasm timeouts > 0, peer_timeout > hello");
  if (c->kind == PC_DP_KIND_LOOP && !c->loop) BAD("kind loop needs cfg.loop");
  if (c->burst == 0 || c->burst > RX_BURST_MAX) BAD("burst = %u, want 1..%d", c->burst, RX_BURST_MAX);
  if (c->test_rx_drop_ppm > 1000000) BAD("test_rx_drop_ppm above one million");
  return 0;
#undef BAD
}

/* ------------------------------------------------------------- lifecycle */

pc_dp_t *pc_dp_create(const pc_dp_cfg_t *cfg, pc_dp_deliver_fn deliver, void *user) {
  if (pc_crypto_init() != 0) {
    PC_ERROR("dataplane: libsodium init failed");
    return NULL;
  }
  if (!cfg || !deliver || pc_dp_cfg_check(cfg) != 0) return NULL;
  pc_dp_t *dp = calloc(1, sizeof *dp);
  if (!dp) return NULL;
  dp->cfg = *cfg;
  if (!dp->cfg.tx_buf_bytes) dp->cfg.tx_buf_bytes = 2ull * cfg->max_msg + 4096;
  if (!dp->cfg.rx_buf_bytes) dp->cfg.rx_buf_bytes = (uint64_t)cfg->max_msg + (uint64_t)cfg->window * cfg->frame_size;
  dp->cap = cfg->frame_size - PC_DP_OVERHEAD;
  dp->mask = cfg->window - 1;
  dp->max_free_frames = PC_MAX(cfg->window, FREE_FRAMES_BYTES / cfg->frame_size);
  dp->deliver = deliver;
  dp->user = user;
  dp->drop_rng = cfg->test_seed;
  dp->epoch = (pc_wall_us() << 12) | randombytes_uniform(4096);
  if (dp->epoch == 0) dp->epoch = 1;
  dp->peers = calloc(cfg->n, sizeof *dp->peers);
  if (!dp->peers) goto fail;
  for (uint16_t i = 0; i < cfg->n; i++) {
    peer_t *p = &dp->peers[i];
    p->una = p->next_seq = p->next_unsent = 1;
    p->expected = 1;
    p->srtt_ns = cfg->rto_min_ns / 4;
    p->rto_ns = cfg->rto_min_ns;
    p->hello_due = true;
    if (i == cfg->self) continue;
    if (pc_dp_derive_keys(cfg->self, cfg->ed25519_sk, i, cfg->peers[i].ed25519_pk, p->tx_key, p->rx_key) != 0) {
      PC_ERROR("dataplane: cannot derive channel keys with replica %u (bad public key?)", i);
      goto fail;
    }
    p->tx = calloc(cfg->window, sizeof *p->tx);
    p->sacked = calloc(PC_MAX(cfg->window, 64u) / 64, sizeof *p->sacked);
    p->held = calloc(PC_MAX(cfg->window, 64u) / 64, sizeof *p->held);
    p->rx = calloc(cfg->window, sizeof *p->rx);
    if (!p->tx || !p->rx || !p->sacked || !p->held) goto fail;
  }
  pc_dp_counters_t *port = &dp->peers[cfg->self].c;
  switch (cfg->kind) {
  case PC_DP_KIND_UDP: dp->t = pc_dp_udp_open(&dp->cfg, port); break;
  case PC_DP_KIND_LOOP: dp->t = pc_dp_loop_open(&dp->cfg, port); break;
  case PC_DP_KIND_DPDK: dp->t = pc_dp_dpdk_open(&dp->cfg, port); break;
  }
  if (!dp->t) goto fail;
  return dp;
fail:
  PC_ERROR("dataplane: create failed for replica %u", cfg->self);
  pc_dp_destroy(dp);
  return NULL;
}

static frame_t *frame_get(pc_dp_t *dp) {
  frame_t *f = dp->free_frames;
  if (f) {
    dp->free_frames = f->next;
    dp->nfree_frames--;
  } else if (!(f = malloc(sizeof *f + dp->cfg.frame_size))) {
    return NULL;
  }
  f->next = NULL;
  return f;
}

static void frame_put(pc_dp_t *dp, frame_t *f) {
  if (dp->nfree_frames >= dp->max_free_frames) {
    free(f);
    return;
  }
  f->next = dp->free_frames;
  dp->free_frames = f;
  dp->nfree_frames++;
}

/* Frees a list of frames (queue or free list). */
static void frames_free(frame_t *f) {
  for (frame_t *nx; f; f = nx) {
    nx = f->next;
    free(f);
  }
}

static void frames_put(pc_dp_t *dp, frame_t *f) {
  for (frame_t *nx; f; f = nx) {
    nx = f->next;
    frame_put(dp, f);
  }
}

/* The peer restarted: frames in the window (sent to the old session) are
 * dropped and counted, and so is the queued rest of a message the window
 * split; the frames queued after it stay for the new session. */
static void tx_reset(pc_dp_t *dp, peer_t *p) {
  uint64_t dropped = 0;
  for (uint64_t s = p->una; s < p->next_seq; s++) {
    tx_slot_t *t = &p->tx[s & dp->mask];
    dropped += t->f->frag_count == 1 ? t->f->msg_len : (t->f->frag_index + 1u == t->f->frag_count);
    frame_put(dp, t->f);
    t->f = NULL;
  }
  /* The rest of a message whose first fragments were in the window. */
  bool partial = false;
  while (p->qhead && p->qhead->frag_count > 1 && p->qhead->frag_index > 0) {
    frame_t *f = p->qhead;
    p->qhead = f->next;
    frame_put(dp, f);
    partial = true;
  }
  if (!p->qhead) p->qtail = NULL;
  dropped += partial;
  p->tx_used = 0;
  for (frame_t *f = p->qhead; f; f = f->next) p->tx_used += f->acct;
  p->una = p->next_seq = p->next_unsent = 1;
  p->high_sacked = 0;
  p->reported_order = 0;
  memset(p->sacked, 0, PC_MAX(dp->cfg.window, 64u) / 8);
  p->c.tx_dropped_reset += dropped;
}

static void tx_free_queue(peer_t *p) {
  frames_free(p->qhead);
  p->qhead = p->qtail = NULL;
}

#define SPARE_MAX (1u << 20) /* larger buffers go back to the allocator */

/* Returns a buffer of at least len bytes for a new reassembly. */
static uint8_t *reasm_get(peer_t *p, uint32_t len) {
  if (p->spare && p->spare_cap >= len) {
    uint8_t *b = p->spare;
    p->reasm_cap = p->spare_cap;
    p->spare = NULL;
    return b;
  }
  p->reasm_cap = len;
  return malloc(len ? len : 1);
}

/* Gives a reassembly buffer back: kept as the spare when small enough, so
 * a stream of mid-size messages does not map and unmap memory each time. */
static void reasm_put(peer_t *p, uint8_t *b, uint32_t cap) {
  if (cap <= SPARE_MAX && (!p->spare || cap > p->spare_cap)) {
    free(p->spare);
    p->spare = b;
    p->spare_cap = cap;
  } else {
    free(b);
  }
}

/* Why a partial message is dropped. Every fragment the receiver took was
 * acknowledged, so the sender never resends it: a drop loses the message
 * for good. Hence only two reasons exist, and neither is a timer: the peer
 * restarted (the old session's messages are dropped by design), or a key
 * holder sent fragments that do not form one message (a faulty peer). */
typedef enum { EVICT_RESET, EVICT_BAD } evict_why_t;

static void reasm_evict(peer_t *p, uint16_t peer, evict_why_t why) {
  if (!p->reasm) return;
  PC_WARN("dataplane: replica %u: partial message of %u bytes (%u of %u fragments) dropped: %s", peer,
          p->reasm_len, p->reasm_next, p->reasm_count,
          why == EVICT_RESET ? "the peer restarted" : "fragments that do not form one message");
  reasm_put(p, p->reasm, p->reasm_cap);
  p->reasm = NULL;
  p->c.reasm_evictions++;
  if (why == EVICT_RESET)
    p->c.reasm_evict_reset++;
  else
    p->c.reasm_evict_bad++;
}

static void rx_reset(pc_dp_t *dp, peer_t *p, uint16_t peer) {
  for (uint32_t i = 0; i < dp->cfg.window; i++) p->rx[i].seq = 0;
  memset(p->held, 0, PC_MAX(dp->cfg.window, 64u) / 8);
  p->rx_buffered = 0;
  p->rx_high = 0;
  p->gap_ack = false;
  p->expected = 1;
  p->ack_pending = false;
  reasm_evict(p, peer, EVICT_RESET);
}

void pc_dp_destroy(pc_dp_t *dp) {
  if (!dp) return;
  if (dp->t) dp->t->destroy(dp->t);
  if (dp->peers) {
    for (uint16_t i = 0; i < dp->cfg.n; i++) {
      peer_t *p = &dp->peers[i];
      tx_free_queue(p);
      if (p->tx)
        for (uint32_t k = 0; k < dp->cfg.window; k++) free(p->tx[k].f);
      if (p->rx)
        for (uint32_t k = 0; k < dp->cfg.window; k++) free(p->rx[k].payload);
      free(p->tx);
      free(p->sacked);
      free(p->held);
      free(p->rx);
      free(p->reasm);
      free(p->spare);
    }
    free(dp->peers);
  }
  frames_free(dp->free_frames);
  sodium_memzero(dp, sizeof *dp);
  free(dp);
}

uint64_t pc_dp_epoch(const pc_dp_t *dp) { return dp->epoch; }

/* ------------------------------------------------------------------ send */

static bool peer_ok(const pc_dp_t *dp, uint16_t peer) { return peer < dp->cfg.n && peer != dp->cfg.self; }

uint64_t pc_dp_tx_room(const pc_dp_t *dp, uint16_t peer) {
  if (!peer_ok(dp, peer)) return 0;
  const peer_t *p = &dp->peers[peer];
  uint64_t room = dp->cfg.tx_buf_bytes - PC_MIN(p->tx_used, dp->cfg.tx_buf_bytes);
  return room > PC_DP_MSG_REC_SIZE ? room - PC_DP_MSG_REC_SIZE : 0;
}

bool pc_dp_tx_idle(const pc_dp_t *dp) {
  for (uint16_t i = 0; i < dp->cfg.n; i++)
    if (i != dp->cfg.self && dp->peers[i].tx_used) return false;
  return true;
}

static void queue_frame(peer_t *p, frame_t *f) {
  if (p->qtail)
    p->qtail->next = f;
  else
    p->qhead = f;
  p->qtail = f;
}

/* Frames the message into the send queue: a message that fits one frame
 * becomes a record of the queue's last frame when that frame is a
 * coalesced one with room (small messages share frames, so one MAC covers
 * many), a larger one becomes fragments of frame_size - overhead - 4
 * bytes each. */
static int enqueue(pc_dp_t *dp, uint16_t peer, const void *msg, size_t len) {
  peer_t *p = &dp->peers[peer];
  const uint32_t cap = dp->cap, fcap = cap - PC_DP_MSG_REC_SIZE;
  if (len <= fcap) {
    frame_t *f = p->qtail;
    if (!f || f->frag_count != 1 || f->payload_len + len + PC_DP_MSG_REC_SIZE > cap) {
      if (!(f = frame_get(dp))) return PC_ERR_NOMEM;
      f->payload_len = f->msg_len = f->acct = 0;
      f->frag_count = 1;
      f->frag_index = 0;
      queue_frame(p, f);
    }
    uint8_t *rec = f->data + PC_DP_HDR_SIZE + f->payload_len;
    pc_store_le32(rec, (uint32_t)len);
    if (len) memcpy(rec + PC_DP_MSG_REC_SIZE, msg, len);
    f->payload_len += (uint32_t)len + PC_DP_MSG_REC_SIZE;
    f->acct += (uint32_t)len + PC_DP_MSG_REC_SIZE;
    f->msg_len++;
  } else {
    /* All frames first, so a failure queues nothing. */
    uint32_t nfrag = (uint32_t)((len + fcap - 1) / fcap);
    frame_t *head = NULL, **tail = &head;
    for (uint32_t i = 0; i < nfrag; i++) {
      frame_t *f = frame_get(dp);
      if (!f) {
        frames_put(dp, head);
        return PC_ERR_NOMEM;
      }
      *tail = f;
      tail = &f->next;
    }
    const uint8_t *src = msg;
    uint32_t i = 0;
    for (frame_t *f = head, *nx; f; f = nx, i++) {
      nx = f->next;
      f->next = NULL;
      uint32_t off = i * fcap, chunk = (uint32_t)PC_MIN((size_t)fcap, len - off);
      memcpy(f->data + PC_DP_HDR_SIZE, src + off, chunk);
      f->payload_len = chunk;
      f->acct = chunk + (i + 1 == nfrag ? PC_DP_MSG_REC_SIZE : 0);
      f->msg_len = (uint32_t)len;
      f->frag_count = (uint16_t)nfrag;
      f->frag_index = (uint16_t)i;
      queue_frame(p, f);
    }
  }
  p->tx_used += len + PC_DP_MSG_REC_SIZE;
  p->c.tx_msgs++;
  return 0;
}

int pc_dp_send(pc_dp_t *dp, uint16_t peer, const void *msg, size_t len) {
  if (!peer_ok(dp, peer)) return PC_ERR_RANGE;
  if (len > dp->cfg.max_msg) return PC_ERR_TOO_LARGE;
  if (pc_dp_tx_room(dp, peer) < len) {
    dp->peers[peer].c.tx_full++;
    return PC_ERR_FULL;
  }
  return enqueue(dp, peer, msg, len);
}

int pc_dp_broadcast(pc_dp_t *dp, const void *msg, size_t len) {
  if (len > dp->cfg.max_msg) return PC_ERR_TOO_LARGE;
  for (uint16_t i = 0; i < dp->cfg.n; i++)
    if (i != dp->cfg.self && pc_dp_tx_room(dp, i) < len) {
      dp->peers[i].c.tx_full++;
      return PC_ERR_FULL;
    }
  for (uint16_t i = 0; i < dp->cfg.n; i++) {
    if (i == dp->cfg.self) continue;
    int rc = enqueue(dp, i, msg, len);
    if (rc) return rc;
  }
  return 0;
}

/* Window bitmaps, one bit per slot (seq & mask): the sender's "SACKed"
 * and the receiver's "held out of order", so both sides walk a window of
 * thousands of frames 64 seqs at a time on each ACK, not slot by slot. */
static bool bm_get(const pc_dp_t *dp, const uint64_t *bm, uint64_t s) {
  uint64_t i = s & dp->mask;
  return bm[i >> 6] >> (i & 63) & 1;
}
static void bm_set(const pc_dp_t *dp, uint64_t *bm, uint64_t s) {
  uint64_t i = s & dp->mask;
  bm[i >> 6] |= 1ull << (i & 63);
}
static void bm_clr(const pc_dp_t *dp, uint64_t *bm, uint64_t s) {
  uint64_t i = s & dp->mask;
  bm[i >> 6] &= ~(1ull << (i & 63));
}
/* The bits of seqs s .. s+63; window ≥ 64 only (consecutive slots, wrapping). */
static uint64_t bm_get64(const pc_dp_t *dp, const uint64_t *bm, uint64_t s) {
  uint64_t i = s & dp->mask, nw = (dp->mask + 1) >> 6, w = i >> 6, off = i & 63;
  uint64_t lo = bm[w] >> off;
  return off ? lo | bm[(w + 1) & (nw - 1)] << (64 - off) : lo;
}

/* Moves queued frames into free window slots. */
static void fill_window(pc_dp_t *dp, peer_t *p) {
  while (p->qhead && p->next_seq - p->una < dp->cfg.window) {
    tx_slot_t *t = &p->tx[p->next_seq & dp->mask];
    t->f = p->qhead;
    p->qhead = t->f->next;
    if (!p->qhead) p->qtail = NULL;
    t->f->next = NULL;
    t->sent_ns = 0;
    t->rto_ns = 0;
    bm_clr(dp, p->sacked, p->next_seq);
    t->retransmitted = false;
    p->next_seq++;
  }
}

static uint64_t sack_bits(pc_dp_t *dp, const peer_t *p) {
  if (dp->mask >= 127) return bm_get64(dp, p->held, p->expected + 1); /* all in the window */
  uint64_t s = 0;
  for (unsigned i = 0; i < 64; i++) {
    uint64_t q = p->expected + 1 + i;
    const rx_slot_t *r = &p->rx[q & dp->mask];
    if (r->seq == q) s |= 1ull << i;
  }
  return s;
}

/* Whether the receiver holds frames the 64-bit sack field cannot describe,
 * so a bare ACK with SACK words is owed. */
static bool sack_wide_due(const peer_t *p) { return p->rx_buffered && p->rx_high > p->expected + 64; }

/* Writes the SACK words of an ACK (dataplane.h: bit j of word k = seq
 * expected + 65 + 64k + j held) into out; returns their number W, trailing
 * zero words cut. Reads the held bitmap up to rx_high only, so a receiver
 * without holes beyond ack + 64 pays nothing. Words are owed only when
 * rx_high > expected + 64, which needs a window ≥ 128 (rx_high < expected
 * + window), so every seq read maps to its own bit. */
static uint32_t sack_words(pc_dp_t *dp, const peer_t *p, uint8_t *out) {
  if (!sack_wide_due(p)) return 0;
  uint64_t first = p->expected + 65;
  uint64_t last = PC_MIN(p->rx_high, first + 64ull * PC_DP_SACK_WORDS_MAX - 1);
  uint32_t w = 0;
  for (uint64_t base = first; base <= last; base += 64) {
    uint64_t word = bm_get64(dp, p->held, base);
    if (last - base < 63) word &= (2ull << (last - base)) - 1; /* seqs base .. last */
    uint32_t k = (uint32_t)((base - first) / 64);
    pc_store_le64(out + 8 * k, word);
    if (word) w = k + 1;
  }
  return w;
}

static void fill_hdr(pc_dp_t *dp, peer_t *p, uint16_t peer, pc_dp_hdr_t *h, uint8_t type) {
  memset(h, 0, sizeof *h);
  h->type = type;
  h->src = dp->cfg.self;
  h->dst = peer;
  h->frag_count = 1;
  h->snd_epoch = dp->epoch;
  h->rcv_epoch = p->peer_epoch;
  h->ack = p->expected;
  h->sack = p->rx_buffered ? sack_bits(dp, p) : 0;
}

static unsigned tx_out(pc_dp_t *dp, uint16_t peer, uint8_t *const *f, const uint32_t *l, unsigned n,
                       uint64_t now) {
  peer_t *p = &dp->peers[peer];
  unsigned k = dp->t->tx_burst(dp->t, peer, f, l, n);
  for (unsigned i = 0; i < k; i++) p->c.tx_bytes += l[i];
  p->c.tx_frames += k;
  if (k < n) p->c.ring_full += n - k;
  if (k) p->last_tx_ns = now;
  return k;
}

static void send_ctl(pc_dp_t *dp, uint16_t peer, uint8_t type, uint64_t now) {
  peer_t *p = &dp->peers[peer];
  pc_dp_hdr_t h;
  fill_hdr(dp, p, peer, &h, type);
  if (type == PC_DP_ACK) {
    h.msg_len = sack_words(dp, p, dp->ctl + PC_DP_HDR_SIZE);
    h.payload_len = 8 * h.msg_len;
  }
  uint32_t len = (uint32_t)pc_dp_frame_seal(dp->ctl, &h, p->tx_key);
  uint8_t *f = dp->ctl;
  bool taken = tx_out(dp, peer, &f, &len, 1, now) == 1;
  if (type == PC_DP_HELLO) {
    /* Not taken (link down, ring full): retried after hello_ns, not on
     * every poll. */
    p->hello_due = false;
    p->last_hello_ns = now;
    p->c.hellos_tx += taken;
  } else {
    p->c.acks_tx += taken;
  }
  if (taken) p->ack_pending = false;
}

static bool established(const peer_t *p) { return p->peer_epoch != 0 && p->peer_knows_me; }

/* Seals and sends slots seqs[0..n) in order (fast bit i set: seqs[i] is a
 * SACK-proven resend, for the counters); returns how many the transport took. */
static int send_slots(pc_dp_t *dp, uint16_t peer, const uint64_t *seqs, unsigned n, uint64_t fast, uint64_t now) {
  peer_t *p = &dp->peers[peer];
  uint8_t *f[RX_BURST_MAX];
  uint32_t l[RX_BURST_MAX];
  for (unsigned i = 0; i < n; i++) {
    tx_slot_t *t = &p->tx[seqs[i] & dp->mask];
    pc_dp_hdr_t h;
    fill_hdr(dp, p, peer, &h, PC_DP_DATA);
    h.seq = seqs[i];
    h.frag_count = t->f->frag_count;
    h.frag_index = t->f->frag_index;
    h.msg_len = t->f->msg_len;
    h.payload_len = t->f->payload_len;
    l[i] = (uint32_t)pc_dp_frame_seal(t->f->data, &h, p->tx_key);
    f[i] = t->f->data;
  }
  unsigned k = tx_out(dp, peer, f, l, n, now);
  for (unsigned i = 0; i < k; i++) {
    tx_slot_t *t = &p->tx[seqs[i] & dp->mask];
    if (t->sent_ns) {
      p->c.retransmits++;
      if (fast >> i & 1)
        p->c.rtx_fast++;
      else
        p->c.rtx_timer++;
      t->retransmitted = true;
      t->rto_ns = PC_MAX(PC_MIN(t->rto_ns * 2, RTO_MAX_NS), p->rto_ns);
    } else {
      t->rto_ns = p->rto_ns;
    }
    t->sent_ns = now;
    t->sent_order = ++p->sends;
  }
  /* DATA carries the 64-bit sack only: holes further out still need a
   * bare ACK with SACK words. */
  if (k && !sack_wide_due(p)) p->ack_pending = false;
  return (int)k;
}

/* Sends (when due) retransmissions, then new frames, then a bare ACK. */
static unsigned tx_peer(pc_dp_t *dp, uint16_t peer, uint64_t now) {
  peer_t *p = &dp->peers[peer];
  unsigned work = 0, burst = dp->cfg.burst;
  uint64_t seqs[RX_BURST_MAX];
  if (p->hello_due || (!established(p) && now - p->last_hello_ns >= dp->cfg.hello_ns)) {
    send_ctl(dp, peer, PC_DP_HELLO, now);
    work++;
  }
  if (!established(p)) return work;
  /* Retransmissions first: a repair queued behind a window of new frames
   * would hold the receiver's in-order delivery (and our window) for as
   * long as those frames take to drain. */
  bool periodic = now - p->last_rtx_scan_ns >= RTX_SCAN_NS;
  if (p->una < p->next_unsent && (p->rtx_scan_now || periodic)) {
    p->rtx_scan_now = false;
    if (periodic) p->last_rtx_scan_ns = now;
    /* At most one burst per scan, oldest first: a receiver that fell behind
     * (descheduled, queues full) is not buried under copies it may have. */
    unsigned n = 0;
    uint64_t fast = 0;
    /* Up to the highest SACKed seq: the ACK's SACK words describe every
     * frame the receiver holds, so a hole anywhere below it is proven as
     * soon as one ACK after it arrives, and all holes are repaired in the
     * same round trip (version 1 described ack .. ack+64 only and repaired
     * one hole per round trip, the others waiting for their timers). A
     * scan an ACK triggered stops where nothing can be proven lost; the
     * periodic one also runs the timers, but above the highest SACKed seq
     * only for ack .. ack+64 as before: a receiver that was descheduled
     * (no news, not losses) is not sent its whole window again. */
    uint64_t end = periodic ? PC_MIN(p->next_unsent, PC_MAX(p->una + 65, p->high_sacked + 1))
                            : PC_MIN(p->next_unsent, p->high_sacked > 2 ? p->high_sacked - 2 : 0);
    for (uint64_t s = p->una; s < end && n < burst; s++) {
      if (dp->mask >= 63) {
        /* Skip SACKed frames 64 at a time. */
        uint64_t open = ~bm_get64(dp, p->sacked, s);
        if (!open) {
          s += 63;
          continue;
        }
        s += (uint64_t)__builtin_ctzll(open);
        if (s >= end) break;
      } else if (bm_get(dp, p->sacked, s)) {
        continue;
      }
      tx_slot_t *t = &p->tx[s & dp->mask];
      uint64_t age = now - t->sent_ns;
      /* A hole is lost when the receiver reported holding a frame sent at
       * least three sends after this frame's last copy (our links do not
       * reorder; three tolerates a little reordering on real networks):
       * resent at once, and so is a resend that was lost too, one round
       * trip later, not after a timer (a lost resend at the window's edge
       * used to wait 4 RTTs, and the window with it). Otherwise the
       * per-frame timer, doubling per resend. */
      bool lost = t->sent_order + 3 <= p->reported_order;
      if (age >= t->rto_ns) {
        seqs[n++] = s;
      } else if (lost) {
        fast |= 1ull << n;
        seqs[n++] = s;
      }
    }
    if (n) work += (unsigned)send_slots(dp, peer, seqs, n, fast, now);
  }
  fill_window(dp, p);
  while (p->next_unsent < p->next_seq) {
    unsigned n = 0;
    while (n < burst && p->next_unsent + n < p->next_seq) {
      seqs[n] = p->next_unsent + n;
      n++;
    }
    int k = send_slots(dp, peer, seqs, n, 0, now);
    p->next_unsent += (uint64_t)k;
    work += (unsigned)k;
    if ((unsigned)k < n) break;
  }
  /* Blocked on acknowledgements: the whole window sent, more queued. */
  bool wfull = p->qhead && p->next_seq - p->una >= dp->cfg.window && p->next_unsent == p->next_seq;
  if (wfull && !p->window_full) p->c.tx_window_full++;
  p->window_full = wfull;
  if (p->ack_pending) {
    send_ctl(dp, peer, PC_DP_ACK, now);
    work++;
  }
  return work;
}

/* ------------------------------------------------------------------- rx */

/* One RTT sample, from a frame sent once whose reception was reported as
 * soon as it happened: the newest frame of a cumulative ACK that reports no
 * holes (with holes, the cumulative ACK may have waited for a
 * retransmission), or the newest frame an ACK SACKs for the first time (the
 * receiver reports what it buffered in its next ACK) — so the estimate
 * keeps up while holes are open, which under loss is nearly always. There
 * is no timestamp echo in the header; this is Karn's rule plus that. */
static void rtt_sample(pc_dp_t *dp, peer_t *p, const tx_slot_t *t, uint64_t now) {
  if (t->retransmitted || !t->sent_ns || now <= t->sent_ns) return;
  uint64_t rtt = now - t->sent_ns;
  p->srtt_ns = (7 * p->srtt_ns + rtt) / 8;
  p->rto_ns = PC_MAX(dp->cfg.rto_min_ns, 4 * p->srtt_ns);
}

/* Takes one 64-bit SACK word: bit j set = seq s0 + j held by the receiver.
 * Only seqs in [una, next_unsent) count (an ACK older than una would
 * otherwise mark the slot of seq s + window; bits beyond next_unsent
 * report what was never sent). *newest becomes the highest seq SACKed for
 * the first time above every seq SACKed before. */
static void sack_word(pc_dp_t *dp, peer_t *p, uint64_t s0, uint64_t w, uint64_t *newest) {
  if (s0 >= p->next_unsent) return;
  if (s0 + 64 > p->next_unsent) w &= (1ull << (p->next_unsent - s0)) - 1;
  if (s0 < p->una) w = p->una - s0 >= 64 ? 0 : w & ~((1ull << (p->una - s0)) - 1);
  if (w && dp->mask >= 63) w &= ~bm_get64(dp, p->sacked, s0); /* only the news */
  while (w) {
    uint64_t s = s0 + (uint64_t)__builtin_ctzll(w);
    w &= w - 1;
    if (bm_get(dp, p->sacked, s)) continue; /* window < 64 */
    bm_set(dp, p->sacked, s);
    p->reported_order = PC_MAX(p->reported_order, p->tx[s & dp->mask].sent_order);
    if (s > p->high_sacked) {
      *newest = s;
      p->high_sacked = s;
    }
  }
}

/* pl: the payload of an ACK (its msg_len SACK words), NULL otherwise. */
static void on_ack(pc_dp_t *dp, peer_t *p, const pc_dp_hdr_t *h, const uint8_t *pl, uint64_t now) {
  uint64_t a = h->ack;
  uint32_t words = h->type == PC_DP_ACK && pl ? h->msg_len : 0;
  if (a > p->next_unsent) {
    p->c.malformed++; /* acknowledges what was never sent: ignore it */
    return;
  }
  if (a > p->una && h->sack == 0 && words == 0) rtt_sample(dp, p, &p->tx[(a - 1) & dp->mask], now);
  uint64_t newest = 0;
  while (p->una < a) {
    tx_slot_t *t = &p->tx[p->una & dp->mask];
    p->tx_used -= PC_MIN(p->tx_used, t->f->acct);
    p->reported_order = PC_MAX(p->reported_order, t->sent_order);
    frame_put(dp, t->f);
    t->f = NULL;
    p->una++;
  }
  if (h->sack || words) p->rtx_scan_now = true;
  sack_word(dp, p, a + 1, h->sack, &newest);
  for (uint32_t k = 0; k < words; k++) sack_word(dp, p, a + 65 + 64ull * k, pc_load_le64(pl + 8 * k), &newest);
  if (newest) rtt_sample(dp, p, &p->tx[newest & dp->mask], now);
}

/* Delivers one in-order DATA frame. Returns false when the frame could not
 * be taken now (no memory for a new reassembly): the caller must then not
 * move past it, so it stays unacknowledged and the sender resends it. */
static bool deliver_frame(pc_dp_t *dp, uint16_t peer, peer_t *p, const pc_dp_hdr_t *h, const uint8_t *pl,
                          uint64_t now) {
  if (h->frag_count == 1) {
    if (p->reasm) {
      reasm_evict(p, peer, EVICT_BAD); /* the sender never interleaves messages */
      p->c.malformed++;
    }
    size_t pos = 0;
    uint32_t len;
    const uint8_t *m;
    while ((m = pc_dp_msgs_next(pl, h->payload_len, &pos, &len))) {
      p->c.rx_msgs++;
      dp->deliver(dp->user, peer, m, len);
    }
    return true;
  }
  if (h->frag_index == 0) {
    if (h->msg_len > dp->cfg.max_msg) {
      reasm_evict(p, peer, EVICT_BAD);
      p->c.malformed++;
      pc_reject_note(PC_DEC_FRAME, PC_ERR_TOO_LARGE);
      return true;
    }
    if (p->reasm) {
      reasm_evict(p, peer, EVICT_BAD); /* a new message while one is open */
      p->c.malformed++;
    }
    /* On failure the frame is not taken: it stays unacknowledged and the
     * sender resends it. */
    if (!(p->reasm = reasm_get(p, h->msg_len))) {
      p->c.rx_buf_full++;
      return false;
    }
    p->reasm_len = h->msg_len;
    p->reasm_off = 0;
    p->reasm_count = h->frag_count;
    p->reasm_next = 0;
    p->reasm_stall_noted = false;
  } else if (!p->reasm) {
    /* The rest of a message dropped as malformed (a faulty peer) or never
     * started: nothing to add it to. */
    p->c.malformed++;
    return true;
  }
  if (h->frag_index != p->reasm_next || h->frag_count != p->reasm_count || h->msg_len != p->reasm_len ||
      h->payload_len > p->reasm_len - p->reasm_off) {
    reasm_evict(p, peer, EVICT_BAD);
    p->c.malformed++;
    pc_reject_note(PC_DEC_FRAME, PC_ERR_RANGE);
    return true;
  }
  memcpy(p->reasm + p->reasm_off, pl, h->payload_len);
  p->reasm_off += h->payload_len;
  p->reasm_next++;
  p->reasm_last_ns = now;
  if (p->reasm_next == p->reasm_count) {
    uint8_t *m = p->reasm;
    p->reasm = NULL;
    if (p->reasm_off == p->reasm_len) {
      p->c.rx_msgs++;
      dp->deliver(dp->user, peer, m, p->reasm_len);
    } else {
      PC_WARN("dataplane: replica %u: fragmented message of %u bytes ended after %u bytes: dropped", peer,
              p->reasm_len, p->reasm_off);
      p->c.malformed++;
      p->c.reasm_evictions++;
      p->c.reasm_evict_bad++;
      pc_reject_note(PC_DEC_FRAME, PC_ERR_TRUNCATED);
    }
    reasm_put(p, m, p->reasm_cap);
  }
  return true;
}

static void on_data(pc_dp_t *dp, uint16_t peer, peer_t *p, const pc_dp_hdr_t *h, const uint8_t *pl,
                    uint64_t now) {
  p->ack_pending = true;
  if (h->seq < p->expected) {
    p->c.replays++;
    return;
  }
  if (h->seq - p->expected >= dp->cfg.window) {
    p->c.out_of_window++;
    return;
  }
  rx_slot_t *r = &p->rx[h->seq & dp->mask];
  if (h->seq != p->expected) {
    if (r->seq == h->seq) {
      p->c.replays++;
      return;
    }
    uint64_t held = p->rx_buffered + (p->reasm ? p->reasm_len : 0);
    if (held + h->payload_len > dp->cfg.rx_buf_bytes) {
      p->c.rx_buf_full++;
      return;
    }
    if (!r->payload && !(r->payload = malloc(dp->cfg.frame_size))) {
      p->c.rx_buf_full++;
      return;
    }
    /* A new hole (nothing held yet, or a gap above the highest frame
     * held): ACK it after this RX burst, not after the whole poll, so the
     * sender can repair it as soon as possible. */
    if (!p->rx_buffered || h->seq > p->rx_high + 1) {
      p->gap_ack = true;
      dp->gap_ack = true;
    }
    r->seq = h->seq;
    bm_set(dp, p->held, h->seq);
    if (h->seq > p->rx_high) p->rx_high = h->seq;
    r->h = *h;
    memcpy(r->payload, pl, h->payload_len);
    p->rx_buffered += h->payload_len;
    return;
  }
  if (r->seq == h->seq) {
    /* Already buffered (a delivery refused earlier for memory): the copy
     * in the slot is delivered below. */
  } else if (!deliver_frame(dp, peer, p, h, pl, now)) {
    return;
  } else {
    p->expected++;
  }
  for (;;) {
    r = &p->rx[p->expected & dp->mask];
    if (r->seq != p->expected) break;
    if (!deliver_frame(dp, peer, p, &r->h, r->payload, now)) break; /* stays buffered */
    r->seq = 0;
    bm_clr(dp, p->held, p->expected);
    p->rx_buffered -= r->h.payload_len;
    p->expected++;
  }
}

static void mark_up(peer_t *p) {
  if (!p->up && established(p)) {
    p->up = true;
    p->c.link_up++;
  }
}

static void rx_frame(pc_dp_t *dp, const uint8_t *f, uint32_t len, uint64_t now) {
  pc_dp_counters_t *port = &dp->peers[dp->cfg.self].c;
  port->rx_frames++;
  port->rx_bytes += len;
  if (dp->cfg.test_rx_drop_ppm && rng_next(&dp->drop_rng) % 1000000 < dp->cfg.test_rx_drop_ppm) {
    port->test_dropped++;
    return;
  }
  pc_dp_hdr_t h;
  const uint8_t *pl;
  if (pc_dp_frame_parse(f, len, &h, &pl) != 0) {
    port->malformed++;
    return;
  }
  if (h.src >= dp->cfg.n || h.src == dp->cfg.self || h.dst != dp->cfg.self) {
    port->malformed++;
    pc_reject_note(PC_DEC_FRAME, PC_ERR_RANGE);
    return;
  }
  peer_t *p = &dp->peers[h.src];
  if (pc_dp_frame_verify(f, len, p->rx_key) != 0) {
    p->c.bad_mac++;
    return;
  }
  p->c.rx_frames++;
  p->c.rx_bytes += len;
  /* Session rules (dataplane.h, "Sessions"). */
  if (h.snd_epoch < p->peer_epoch) {
    p->c.stale_epoch++;
    return;
  }
  if (h.snd_epoch > p->peer_epoch) {
    if (p->peer_epoch != 0) {
      tx_reset(dp, p);
      rx_reset(dp, p, h.src);
      PC_INFO("dataplane: replica %u restarted (new session)", h.src);
    }
    p->peer_epoch = h.snd_epoch;
    p->peer_knows_me = false;
    p->hello_due = true;
  }
  if (h.rcv_epoch == dp->epoch) {
    p->peer_knows_me = true;
  } else {
    /* The peer does not know our current session: tell it; nothing else
     * from such a frame is trusted. */
    p->hello_due = true;
    if (h.type != PC_DP_HELLO) {
      p->c.stale_epoch++;
      return;
    }
  }
  p->last_rx_ns = now;
  mark_up(p);
  if (h.type == PC_DP_HELLO) {
    p->c.hellos_rx++;
    if (h.rcv_epoch == dp->epoch && established(p)) on_ack(dp, p, &h, NULL, now);
    return;
  }
  on_ack(dp, p, &h, h.type == PC_DP_ACK ? pl : NULL, now);
  if (h.type == PC_DP_DATA) on_data(dp, h.src, p, &h, pl, now);
}

/* ----------------------------------------------------------- poll loop */

void pc_dp_housekeeping(pc_dp_t *dp) {
  uint64_t now = pc_now_ns();
  dp->t->housekeeping(dp->t, now);
  for (uint16_t i = 0; i < dp->cfg.n; i++) {
    if (i == dp->cfg.self) continue;
    peer_t *p = &dp->peers[i];
    if (p->up && (now - p->last_rx_ns > dp->cfg.peer_timeout_ns || !dp->t->link_up(dp->t, i))) {
      p->up = false;
      p->peer_knows_me = false; /* re-handshake before data flows again */
      p->c.link_down++;
      PC_INFO("dataplane: replica %u down", i);
    }
    if (now - p->last_tx_ns >= dp->cfg.hello_ns && now - p->last_hello_ns >= dp->cfg.hello_ns) p->hello_due = true;
    /* A partial message that stopped growing is reported, never dropped:
     * its fragments so far were acknowledged, so the sender will not send
     * them again and only the rest is missing — dropping it would lose the
     * message while both processes live (under load, a descheduled peer or
     * a memif port restart can pause a channel for many seconds; the old
     * timeout eviction then delivered the next message in its place). The
     * buffer stays within max_msg; a restarted peer frees it (rx_reset). */
    if (p->reasm && !p->reasm_stall_noted && now > p->reasm_last_ns &&
        now - p->reasm_last_ns > dp->cfg.reasm_timeout_ns) {
      p->reasm_stall_noted = true;
      p->c.reasm_stalled++;
      PC_WARN("dataplane: replica %u: partial message (%u of %u fragments) got nothing for %llu ms; kept", i,
              p->reasm_next, p->reasm_count, (unsigned long long)((now - p->reasm_last_ns) / 1000000));
    }
  }
  if (dp->cfg.kind == PC_DP_KIND_DPDK && now >= dp->next_publish_ns) {
    pc_dp_telemetry_publish(dp);
    dp->next_publish_ns = now + 10000000; /* telemetry sees counters at most 10 ms old */
  }
}

int pc_dp_poll(pc_dp_t *dp, unsigned budget) {
  pc_dp_rx_t rx[RX_BURST_MAX];
  uint64_t now = pc_now_ns();
  unsigned work = 0;
  unsigned want = PC_MIN(PC_MAX(budget, 1u), (unsigned)dp->cfg.burst);
  while (budget > 0) {
    unsigned k = dp->t->rx_burst(dp->t, rx, PC_MIN(want, budget));
    for (unsigned i = 0; i < k; i++) rx_frame(dp, rx[i].p, rx[i].len, now);
    if (k) dp->t->rx_done(dp->t);
    if (dp->gap_ack) {
      dp->gap_ack = false;
      for (uint16_t i = 0; i < dp->cfg.n; i++) {
        peer_t *p = &dp->peers[i];
        if (i == dp->cfg.self || !p->gap_ack) continue;
        p->gap_ack = false;
        if (established(p)) send_ctl(dp, i, PC_DP_ACK, now);
      }
    }
    work += k;
    budget -= PC_MIN(budget, k ? k : budget);
  }
  for (uint16_t i = 0; i < dp->cfg.n; i++)
    if (i != dp->cfg.self) work += tx_peer(dp, i, now);
  if (now >= dp->next_hk_ns) {
    pc_dp_housekeeping(dp);
    dp->next_hk_ns = now + HK_PERIOD_NS;
  }
  return (int)work;
}

/* The phases of the idle back-off: spins (nothing), pauses or yields here
 * and returns 0; in the sleep phase returns how long to sleep (10 µs
 * growing to 200 µs, so the retransmission and housekeeping timers, run
 * only by pc_dp_poll, stay within 200 µs of due) and lets the caller sleep
 * or wait on the RX interrupt for that long. */
static uint64_t backoff(unsigned idle_polls) {
  if (idle_polls < 64) return 0;
  if (idle_polls < 512) {
#if defined(__x86_64__) || defined(__i386__)
    for (int i = 0; i < 16; i++) __builtin_ia32_pause();
#endif
    return 0;
  }
  if (idle_polls < 1024) {
    sched_yield();
    return 0;
  }
  return PC_MIN(200000ull, 10000ull * ((idle_polls - 1024) / 64 + 1));
}

void pc_dp_idle(unsigned idle_polls) {
  uint64_t ns = backoff(idle_polls);
  if (ns) pc_sleep_ns(ns);
}

int pc_dp_wait(pc_dp_t *dp, uint64_t max_ns) {
  if (dp->cfg.kind != PC_DP_KIND_DPDK) return PC_ERR_UNSUPPORTED; /* UDP and loop: no interrupt */
  return pc_dp_dpdk_wait_rx(dp->t, max_ns);
}

void pc_dp_run(pc_dp_t *dp, const atomic_bool *stop) {
  unsigned idle = 0;
  /* acquire: pairs with the release store of whoever sets *stop */
  while (!atomic_load_explicit(stop, memory_order_acquire)) {
    if (pc_dp_poll(dp, 64) > 0) {
      idle = 0;
      continue;
    }
    uint64_t ns = backoff(++idle);
    if (ns && pc_dp_wait(dp, ns) < 0) pc_sleep_ns(ns);
  }
}

bool pc_dp_peer_up(const pc_dp_t *dp, uint16_t peer) {
  return peer_ok(dp, peer) && dp->peers[peer].up && established(&dp->peers[peer]);
}

int pc_dp_counters(const pc_dp_t *dp, uint16_t peer, pc_dp_counters_t *out) {
  if (peer >= dp->cfg.n) return PC_ERR_RANGE;
  *out = dp->peers[peer].c;
  return 0;
}

uint16_t pc_dp_n(const pc_dp_t *dp) { return dp->cfg.n; }
uint16_t pc_dp_self(const pc_dp_t *dp) { return dp->cfg.self; }
