/* xfer.c — the fetching side of chunked state transfer: a pure state
 * machine (no I/O, no clock, no threads) like the protocols. Messages
 * (MANIFEST_REQ / MANIFEST / CHUNK_REQ / CHUNK) are specified in msg.c; the
 * serving side, which reads the snapshot directory, is xfer_serve.c.
 *
 * One transfer at a time, to a checkpoint (h, manifest hash) certified by
 * a CHECKPOINT certificate (the STATE_TRANSFER action gives both):
 *
 * 1. Manifest. One MANIFEST_REQ in flight, to one peer, for the next
 *    missing byte offset; the parts of one manifest all come from the same
 *    peer (a peer change restarts at offset 0), so when the assembled bytes
 *    do not hash to the certified manifest hash that peer alone is to
 *    blame: it is excluded for the rest of the transfer and another is
 *    asked. A matching manifest is decoded with storage's decoder and
 *    handed to the driver (PC_XFER_ACT_MANIFEST) to begin the install.
 * 2. Chunks. Up to `window` CHUNK_REQs in flight, spread round-robin over
 *    the usable peers. Each CHUNK must answer a request made to that very
 *    peer and pass pc_snapshot_chunk_verify (size and hash in the
 *    manifest); a bad one excludes the peer and its outstanding requests go
 *    elsewhere. A verified chunk is handed over at once (PC_XFER_ACT_CHUNK);
 *    nothing is buffered here beyond the manifest.
 * 3. A request unanswered within timeout_ns frees its slot and makes its
 *    peer skip (not excluded: it may merely lack the snapshot or be slow)
 *    for timeout × its consecutive failures (at most 8×); the request is
 *    re-sent to another peer. When every peer is excluded (only possible
 *    with more than f liars, or damaged disks) the exclusions are cleared
 *    and the transfer keeps trying.
 * 4. PC_XFER_ACT_DONE once every chunk was delivered.
 */
#include <stdlib.h>
#include <string.h>

#include "consensus/consensus.h"
#include "storage/storage.h"

_Static_assert(PC_XFER_CHUNK_MAX == PC_SNAPSHOT_CHUNK, "chunk message limit = snapshot chunk size");
_Static_assert(PC_XFER_CHUNKS_MAX == PC_SNAPSHOT_MAX_CHUNKS, "chunk index limit = snapshot chunk count limit");

enum { PH_IDLE = 0, PH_MANIFEST, PH_CHUNKS, PH_DONE };
enum { CH_MISSING = 0, CH_ASKED, CH_HAVE };

typedef struct {
  bool bad;            /* sent bytes that failed verification: excluded */
  uint32_t fails;      /* consecutive timeouts */
  uint64_t skip_until; /* not asked before this time */
  uint32_t inflight;
} peer_t;

typedef struct {
  bool used;
  uint16_t peer;
  uint32_t index;
  uint64_t deadline;
} slot_t;

struct pc_xfer {
  pc_xfer_config_t cfg;
  int phase;
  uint64_t height;
  pc_hash_t want;
  /* manifest phase */
  uint8_t *man;
  uint32_t man_total, man_have;
  slot_t man_req;
  pc_snapshot_manifest_t m;
  bool have_m;
  /* chunk phase */
  uint8_t *state; /* CH_* per chunk */
  uint32_t cursor; /* lowest chunk that may still be missing */
  uint32_t received;
  slot_t *slots;
  peer_t peers[PC_MAX_REPLICAS];
  uint16_t rr;
  pc_xfer_stats_t st;
};

static void emit(pc_xfer_t *x, const pc_xfer_action_t *a) { x->cfg.action(x->cfg.ctx, a); }

pc_xfer_t *pc_xfer_new(const pc_xfer_config_t *cfg) {
  if (!cfg || !cfg->action || cfg->n < 2 || cfg->n > PC_MAX_REPLICAS || cfg->my_id >= cfg->n ||
      cfg->window > PC_XFER_WINDOW_MAX) {
    PC_ERROR("xfer: bad configuration");
    return NULL;
  }
  pc_xfer_t *x = calloc(1, sizeof *x);
  if (!x) {
    PC_ERROR("xfer: out of memory");
    return NULL;
  }
  x->cfg = *cfg;
  if (!x->cfg.window) x->cfg.window = 8;
  if (!x->cfg.timeout_ns) x->cfg.timeout_ns = 500000000ull;
  x->slots = calloc(x->cfg.window, sizeof *x->slots);
  if (!x->slots) {
    free(x);
    PC_ERROR("xfer: out of memory");
    return NULL;
  }
  x->rr = cfg->my_id;
  return x;
}

static void reset(pc_xfer_t *x) {
  free(x->man);
  x->man = NULL;
  free(x->state);
  x->state = NULL;
  if (x->have_m) pc_snapshot_manifest_free(&x->m);
  x->have_m = false;
  x->man_total = x->man_have = 0;
  x->man_req.used = false;
  memset(x->slots, 0, x->cfg.window * sizeof *x->slots);
  memset(x->peers, 0, sizeof x->peers);
  x->cursor = x->received = 0;
  x->phase = PH_IDLE;
}

void pc_xfer_free(pc_xfer_t *x) {
  if (!x) return;
  reset(x);
  free(x->slots);
  free(x);
}

static void send_req(pc_xfer_t *x, uint8_t type, uint16_t to, uint32_t index) {
  uint8_t buf[PC_MSG_HEADER_SIZE + PC_HASH_SIZE + 4];
  pc_writer_t w;
  pc_writer_init(&w, buf, sizeof buf);
  pc_msg_hdr_t h = {.type = type, .sender = x->cfg.my_id, .chain_id = x->cfg.chain_id, .height = x->height};
  pc_msg_xfer_t m = {.manifest = x->want, .index = index};
  pc_msg_xfer_encode(&w, &h, &m);
  x->st.requests++;
  pc_xfer_action_t a = {.kind = PC_XFER_ACT_SEND, .to = to, .data = buf, .len = w.len};
  emit(x, &a);
}

/* pick_peer returns the next usable peer round-robin, or -1. */
static int pick_peer(pc_xfer_t *x, uint64_t now) {
  unsigned bad = 0;
  for (unsigned k = 1; k <= x->cfg.n; k++) {
    uint16_t p = (uint16_t)((x->rr + k) % x->cfg.n);
    if (p == x->cfg.my_id) continue;
    if (x->peers[p].bad) {
      bad++;
      continue;
    }
    if (x->peers[p].skip_until > now) continue;
    x->rr = p;
    return p;
  }
  if (bad == (unsigned)x->cfg.n - 1) {
    PC_WARN("xfer: every peer sent bad data for checkpoint %llu; trying them all again",
            (unsigned long long)x->height);
    for (unsigned p = 0; p < x->cfg.n; p++) x->peers[p].bad = false;
    return pick_peer(x, now);
  }
  return -1;
}

static void ask_manifest(pc_xfer_t *x, uint64_t now) {
  if (x->man_req.used) return;
  int p = pick_peer(x, now);
  if (p < 0) return;
  if (x->man_have > 0 && p != x->man_req.peer) x->man_have = 0; /* one manifest, one peer */
  x->man_req = (slot_t){.used = true, .peer = (uint16_t)p, .index = x->man_have, .deadline = now + x->cfg.timeout_ns};
  send_req(x, PC_MSG_MANIFEST_REQ, (uint16_t)p, x->man_have);
}

static void fill_window(pc_xfer_t *x, uint64_t now) {
  for (uint32_t s = 0; s < x->cfg.window; s++) {
    if (x->slots[s].used) continue;
    while (x->cursor < x->m.chunks && x->state[x->cursor] == CH_HAVE) x->cursor++;
    uint32_t i = x->cursor;
    while (i < x->m.chunks && x->state[i] != CH_MISSING) i++;
    if (i >= x->m.chunks) return;
    int p = pick_peer(x, now);
    if (p < 0) return;
    x->state[i] = CH_ASKED;
    x->slots[s] = (slot_t){.used = true, .peer = (uint16_t)p, .index = i, .deadline = now + x->cfg.timeout_ns};
    x->peers[p].inflight++;
    send_req(x, PC_MSG_CHUNK_REQ, (uint16_t)p, i);
  }
}

static void release_slot(pc_xfer_t *x, slot_t *s) {
  if (x->state[s->index] == CH_ASKED) x->state[s->index] = CH_MISSING;
  x->peers[s->peer].inflight--;
  s->used = false;
}

/* exclude marks a peer that sent bad bytes and frees its chunk requests. */
static void exclude(pc_xfer_t *x, uint16_t p) {
  PC_WARN("xfer: replica %u sent bad state-transfer data for checkpoint %llu: excluded", p,
          (unsigned long long)x->height);
  x->peers[p].bad = true;
  x->st.bad_replies++;
  if (x->phase == PH_CHUNKS)
    for (uint32_t s = 0; s < x->cfg.window; s++)
      if (x->slots[s].used && x->slots[s].peer == p) release_slot(x, &x->slots[s]);
}

int pc_xfer_start(pc_xfer_t *x, uint64_t height, const pc_hash_t *manifest_hash, uint64_t now_ns) {
  if (height == 0 || !manifest_hash) return PC_ERR_INVALID;
  if (x->phase != PH_IDLE && x->phase != PH_DONE && x->height == height && pc_hash_equal(&x->want, manifest_hash))
    return 0; /* already on it */
  reset(x);
  x->height = height;
  x->want = *manifest_hash;
  x->phase = PH_MANIFEST;
  memset(&x->st, 0, sizeof x->st);
  x->st.height = height;
  ask_manifest(x, now_ns);
  return 0;
}

static int on_manifest(pc_xfer_t *x, uint16_t from, const pc_msg_xfer_t *m, uint64_t now) {
  if (x->phase != PH_MANIFEST || !x->man_req.used || x->man_req.peer != from || m->index != x->man_have)
    return PC_ERR_STATE;
  if (x->man_have == 0) {
    /* The first part holds the chunk count: a total that disagrees with
     * it is a lie worth no more parts (manifest layout: storage/snapshot.c). */
    if (m->len >= 76 && m->total != 80ull + 32ull * pc_load_le32(m->data + 72)) {
      exclude(x, from);
      x->man_req.used = false;
      ask_manifest(x, now);
      return pc_cons_reject(PC_ERR_INVALID);
    }
    free(x->man);
    if (!(x->man = malloc(m->total))) return PC_ERR_NOMEM;
    x->man_total = m->total;
  } else if (m->total != x->man_total) {
    exclude(x, from);
    x->man_req.used = false;
    x->man_have = 0;
    ask_manifest(x, now);
    return pc_cons_reject(PC_ERR_INVALID);
  }
  memcpy(x->man + x->man_have, m->data, m->len);
  x->man_have += (uint32_t)m->len;
  x->man_req.used = false;
  x->peers[from].fails = 0;
  x->st.bytes += m->len;
  if (x->man_have < x->man_total) {
    /* stay with this peer for the next part */
    x->man_req = (slot_t){.used = true, .peer = from, .index = x->man_have, .deadline = now + x->cfg.timeout_ns};
    send_req(x, PC_MSG_MANIFEST_REQ, from, x->man_have);
    return 0;
  }
  pc_snapshot_manifest_t d;
  int err = pc_snapshot_manifest_decode(x->man, x->man_total, &d);
  if (!err && (!pc_hash_equal(&d.manifest_hash, &x->want) || d.height != x->height)) {
    pc_snapshot_manifest_free(&d);
    err = PC_ERR_CHECKSUM;
  }
  if (err) {
    exclude(x, from);
    x->man_have = 0;
    ask_manifest(x, now);
    return pc_cons_reject(err == PC_ERR_NOMEM ? err : PC_ERR_CHECKSUM);
  }
  x->m = d;
  x->have_m = true;
  if (!(x->state = calloc(d.chunks, 1))) return PC_ERR_NOMEM;
  x->phase = PH_CHUNKS;
  x->st.chunks = d.chunks;
  pc_xfer_action_t a = {.kind = PC_XFER_ACT_MANIFEST, .to = from, .data = x->man, .len = x->man_total};
  emit(x, &a);
  fill_window(x, now);
  return 0;
}

static int on_chunk(pc_xfer_t *x, uint16_t from, const pc_msg_xfer_t *m, uint64_t now) {
  if (x->phase != PH_CHUNKS) return PC_ERR_STATE;
  slot_t *s = NULL;
  for (uint32_t k = 0; k < x->cfg.window && !s; k++)
    if (x->slots[k].used && x->slots[k].peer == from && x->slots[k].index == m->index) s = &x->slots[k];
  if (!s) return PC_ERR_STATE; /* not asked of this peer (late, duplicate or unsolicited) */
  if (pc_snapshot_chunk_verify(&x->m, m->index, m->data, m->len) != 0) {
    exclude(x, from);
    fill_window(x, now);
    return pc_cons_reject(PC_ERR_CHECKSUM);
  }
  x->state[m->index] = CH_HAVE;
  x->peers[from].inflight--;
  x->peers[from].fails = 0;
  s->used = false;
  x->received++;
  x->st.received = x->received;
  x->st.bytes += m->len;
  pc_xfer_action_t a = {.kind = PC_XFER_ACT_CHUNK, .to = from, .index = m->index, .data = m->data, .len = m->len};
  emit(x, &a);
  if (x->received == x->m.chunks) {
    x->phase = PH_DONE;
    pc_xfer_action_t d = {.kind = PC_XFER_ACT_DONE, .index = x->m.chunks};
    emit(x, &d);
    return 0;
  }
  fill_window(x, now);
  return 0;
}

int pc_xfer_on_message(pc_xfer_t *x, uint16_t from, const uint8_t *msg, size_t len, uint64_t now_ns) {
  pc_reader_t r;
  pc_msg_hdr_t h;
  int err = pc_msg_get_header(&r, msg, len, x->cfg.chain_id, x->cfg.n, from, &h);
  if (!err && h.type != PC_MSG_MANIFEST && h.type != PC_MSG_CHUNK) err = pc_cons_reject(PC_ERR_INVALID);
  pc_msg_xfer_t m;
  if (!err) err = pc_msg_xfer_decode(&r, &h, &m);
  if (err) {
    x->st.rejected++;
    return err;
  }
  if (x->phase == PH_IDLE || x->phase == PH_DONE || h.height != x->height || !pc_hash_equal(&m.manifest, &x->want)) {
    x->st.stale++;
    return PC_ERR_STATE;
  }
  err = h.type == PC_MSG_MANIFEST ? on_manifest(x, from, &m, now_ns) : on_chunk(x, from, &m, now_ns);
  if (err == PC_ERR_STATE) x->st.stale++;
  else if (err) x->st.rejected++;
  return err;
}

static void timed_out(pc_xfer_t *x, uint16_t p, uint64_t now) {
  peer_t *pe = &x->peers[p];
  if (pe->fails < 8) pe->fails++;
  pe->skip_until = now + x->cfg.timeout_ns * pe->fails;
  x->st.timeouts++;
}

void pc_xfer_on_tick(pc_xfer_t *x, uint64_t now_ns) {
  for (unsigned p = 0; p < x->cfg.n; p++)
    if (x->peers[p].skip_until <= now_ns) x->peers[p].skip_until = 0;
  if (x->phase == PH_MANIFEST) {
    if (x->man_req.used && x->man_req.deadline <= now_ns) {
      timed_out(x, x->man_req.peer, now_ns);
      x->man_req.used = false;
    }
    ask_manifest(x, now_ns);
  } else if (x->phase == PH_CHUNKS) {
    for (uint32_t s = 0; s < x->cfg.window; s++) {
      if (x->slots[s].used && x->slots[s].deadline <= now_ns) {
        timed_out(x, x->slots[s].peer, now_ns);
        release_slot(x, &x->slots[s]);
      }
    }
    fill_window(x, now_ns);
  }
}

static uint64_t min_skip(const pc_xfer_t *x) {
  uint64_t d = UINT64_MAX;
  for (unsigned p = 0; p < x->cfg.n; p++)
    if (p != x->cfg.my_id && !x->peers[p].bad && x->peers[p].skip_until) d = PC_MIN(d, x->peers[p].skip_until);
  return d;
}

uint64_t pc_xfer_next_deadline(const pc_xfer_t *x) {
  if (x->phase == PH_MANIFEST) return x->man_req.used ? x->man_req.deadline : min_skip(x);
  if (x->phase != PH_CHUNKS) return UINT64_MAX;
  uint64_t d = UINT64_MAX;
  uint32_t used = 0;
  for (uint32_t s = 0; s < x->cfg.window; s++) {
    if (!x->slots[s].used) continue;
    used++;
    d = PC_MIN(d, x->slots[s].deadline);
  }
  /* Free slots and unasked chunks: waiting for a peer's skip to end. */
  if (used < x->cfg.window && x->received + used < x->m.chunks) d = PC_MIN(d, min_skip(x));
  return d;
}

bool pc_xfer_active(const pc_xfer_t *x) { return x->phase == PH_MANIFEST || x->phase == PH_CHUNKS; }

void pc_xfer_get_stats(const pc_xfer_t *x, pc_xfer_stats_t *out) {
  *out = x->st;
  out->excluded = 0;
  for (unsigned p = 0; p < x->cfg.n; p++) out->excluded += x->peers[p].bad;
}
