/* sim.c — the deterministic discrete-event consensus simulator (sim.h). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/sim/sim.h"

#define TX_MAGIC 0x54534d49u /* "IMST" */

/* ------------------------------------------------------------ rng */

static uint64_t rnd(uint64_t *st) {
  uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static double rnd01(uint64_t *st) { return (double)(rnd(st) >> 11) / (double)(1ull << 53); }
static uint64_t rnd_range(uint64_t *st, uint64_t lo, uint64_t hi) { return hi <= lo ? lo : lo + rnd(st) % (hi - lo + 1); }

/* ------------------------------------------------------------ stand-in signer
 * sig = keyed BLAKE2b-256(key_id, msg) ‖ 32 zero bytes, key_id derived from
 * the run seed. Replicas only ever get their own signing context, so a
 * Byzantine replica cannot forge another's signature: the simulator checks. */

typedef struct {
  pc_sim_t *sim;
  uint16_t id;
  pc_ed25519_signer_t ed;
} sim_signer_t;

struct pc_sim;
static void fake_key(const pc_sim_t *s, uint16_t id, uint8_t key[32]);

static void fake_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[PC_SIG_SIZE]) {
  sim_signer_t *ss = ctx;
  uint8_t key[32];
  fake_key(ss->sim, ss->id, key);
  memset(sig, 0, PC_SIG_SIZE);
  crypto_generichash(sig, 32, msg, len, key, sizeof key);
}

static int fake_verify(void *ctx, uint16_t signer, const uint8_t *msg, size_t len, const uint8_t sig[PC_SIG_SIZE]) {
  sim_signer_t *ss = ctx;
  uint8_t key[32], want[PC_SIG_SIZE] = {0};
  fake_key(ss->sim, signer, key);
  crypto_generichash(want, 32, msg, len, key, sizeof key);
  return sodium_memcmp(want, sig, PC_SIG_SIZE) == 0 ? 0 : PC_ERR_SIGNATURE;
}

/* ------------------------------------------------------------ events */

enum { EV_DELIVER = 1, EV_TICK, EV_PERSISTED, EV_EXEC, EV_BATCH, EV_CRASH, EV_RESTART, EV_TRANSFER };

typedef struct {
  uint64_t t, seq;
  uint8_t type;
  uint16_t slot, from;
  uint32_t epoch;
  uint64_t arg;
  uint8_t *data;
  size_t len;
} ev_t;

typedef struct {
  uint8_t *data;
  size_t len;
} buf_t;

typedef struct {
  uint64_t barrier;
  int32_t to; /* −1 broadcast */
  buf_t m;
} held_t;

typedef struct {
  uint8_t kind;
  int32_t to;
  uint64_t a, b;
  buf_t m;
  pc_hash_t h1;
} out_t;

typedef struct {
  uint16_t id;
  uint8_t byz;
  bool up;
  uint32_t epoch;
  pc_consensus_t *c;
  sim_signer_t signer;
  pc_signer_t sg;
  uint64_t cpu_free, nic_free, now;
  uint64_t timer_at;
  /* durability */
  buf_t *recs;
  size_t n_recs, cap_recs;
  buf_t *pend;
  uint64_t *pend_seq;
  size_t n_pend, cap_pend;
  uint64_t emitted_seq, durable_seq, persist_busy, sync_start;
  held_t *held;
  size_t n_held, cap_held;
  /* output gathered during one protocol call */
  out_t *out;
  size_t n_out, cap_out;
  /* ledger (survives restarts) */
  uint64_t decided;
  pc_hash_t *ids;   /* [h] block id */
  pc_hash_t *chain; /* [h] chain hash */
  pc_hash_t *roots; /* [h] execution root */
  uint64_t executed;
  size_t cap_h;
  uint64_t tx_counter;
  buf_t sent_ring[16]; /* REPLAY: own old messages */
  unsigned sent_pos;
  pc_consensus_stats_t base_stats; /* counters of earlier incarnations */
} node_t;

struct pc_sim {
  pc_sim_config_t cfg;
  uint16_t n, slots;
  node_t *nd;
  ev_t *heap;
  size_t n_heap, cap_heap;
  uint64_t seq;
  uint64_t rng;
  uint64_t now;
  uint8_t key_seed[32];
  /* global view for checks */
  pc_hash_t *dec_id; /* [h] first honest decision */
  bool *dec_set;
  uint64_t *first_prop; /* [h] first proposal send time */
  uint64_t *first_dec;
  pc_hash_t (*seen_ids)[4]; /* [h] a few proposed block ids (for Byzantine votes) */
  uint8_t *n_seen;
  size_t cap_h;
  pc_sim_result_t *res;
  bool failed;
  /* every vote an honest replica sent: (slot, h, r, phase) -> block id */
  struct vote_ent {
    uint64_t key_h;
    uint32_t r;
    uint16_t slot;
    uint8_t phase, used;
    pc_hash_t id;
  } *votes;
  size_t votes_cap, votes_n;
  /* real crypto */
  uint8_t (*pk)[PC_PUBKEY_SIZE];
  uint8_t (*sk)[PC_SECKEY_SIZE];
};

static void fake_key(const pc_sim_t *s, uint16_t id, uint8_t key[32]) {
  uint8_t in[34];
  memcpy(in, s->key_seed, 32);
  pc_store_le16(in + 32, id);
  crypto_generichash(key, 32, in, sizeof in, NULL, 0);
}

static void fail(pc_sim_t *s, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(pc_sim_t *s, int kind, const char *fmt, ...) {
  if (kind == 0) s->res->agreement_violated = true;
  if (kind == 1) s->res->validity_violated = true;
  if (kind == 2) s->res->liveness_violated = true;
  if (s->failed) return;
  s->failed = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->res->failure, sizeof s->res->failure, fmt, ap);
  va_end(ap);
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return true;
  size_t nc = *cap ? *cap : 16;
  while (nc < need) nc *= 2;
  void *np = realloc(*p, nc * elem);
  if (!np) return false;
  memset((char *)np + *cap * elem, 0, (nc - *cap) * elem);
  *p = np;
  *cap = nc;
  return true;
}

static bool ensure_h(pc_sim_t *s, uint64_t h) {
  size_t need = (size_t)h + 2;
  if (need <= s->cap_h) return true;
  size_t old = s->cap_h, nc = old ? old : 64;
  while (nc < need) nc *= 2;
  s->cap_h = old;
  size_t c1 = old, c2 = old, c3 = old, c4 = old, c5 = old, c6 = old;
  bool ok = grow((void **)&s->dec_id, &c1, nc, sizeof *s->dec_id) && grow((void **)&s->dec_set, &c2, nc, sizeof *s->dec_set) &&
            grow((void **)&s->first_prop, &c3, nc, sizeof *s->first_prop) &&
            grow((void **)&s->first_dec, &c4, nc, sizeof *s->first_dec) &&
            grow((void **)&s->seen_ids, &c5, nc, sizeof *s->seen_ids) && grow((void **)&s->n_seen, &c6, nc, sizeof *s->n_seen);
  if (ok) s->cap_h = nc;
  return ok;
}

static bool node_ensure_h(node_t *d, uint64_t h) {
  size_t need = (size_t)h + 2;
  if (need <= d->cap_h) return true;
  size_t nc = d->cap_h ? d->cap_h : 64;
  while (nc < need) nc *= 2;
  size_t c1 = d->cap_h, c2 = d->cap_h, c3 = d->cap_h;
  bool ok = grow((void **)&d->ids, &c1, nc, sizeof *d->ids) && grow((void **)&d->chain, &c2, nc, sizeof *d->chain) &&
            grow((void **)&d->roots, &c3, nc, sizeof *d->roots);
  if (ok) d->cap_h = nc;
  return ok;
}

/* ------------------------------------------------------------ heap */

static bool ev_less(const ev_t *a, const ev_t *b) { return a->t < b->t || (a->t == b->t && a->seq < b->seq); }

static void push(pc_sim_t *s, ev_t e) {
  if (!grow((void **)&s->heap, &s->cap_heap, s->n_heap + 1, sizeof *s->heap)) {
    free(e.data);
    return;
  }
  e.seq = s->seq++;
  size_t i = s->n_heap++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!ev_less(&e, &s->heap[p])) break;
    s->heap[i] = s->heap[p];
    i = p;
  }
  s->heap[i] = e;
}

static ev_t pop(pc_sim_t *s) {
  ev_t top = s->heap[0];
  ev_t last = s->heap[--s->n_heap];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    const ev_t *cur = &last;
    if (l < s->n_heap && ev_less(&s->heap[l], cur)) {
      m = l;
      cur = &s->heap[l];
    }
    if (r < s->n_heap && ev_less(&s->heap[r], cur)) m = r;
    if (m == i) break;
    s->heap[i] = s->heap[m];
    i = m;
  }
  if (s->n_heap) s->heap[i] = last;
  return top;
}

/* ------------------------------------------------------------ network */

static bool is_honest(const pc_sim_t *s, uint16_t slot) {
  const node_t *d = &s->nd[slot];
  if (d->byz != PC_BYZ_NONE) return false;
  for (uint16_t k = 0; k < s->cfg.n_twins; k++)
    if (s->cfg.twin_of[k] == d->id) return false; /* both twins are one Byzantine identity */
  return true;
}

static bool partitioned(const pc_sim_t *s, uint16_t a, uint16_t b, uint64_t t) {
  for (unsigned i = 0; i < s->cfg.n_part; i++)
    if (t >= s->cfg.part[i].start && t < s->cfg.part[i].end && s->cfg.part[i].side[a] != s->cfg.part[i].side[b])
      return true;
  return false;
}

static void deliver_one(pc_sim_t *s, uint16_t from, uint16_t to, uint64_t depart, const uint8_t *m, size_t len) {
  node_t *src = &s->nd[from];
  uint64_t t = depart;
  pc_sim_msg_t info = {.from = from, .to = to, .from_id = src->id, .to_id = s->nd[to].id, .now = depart, .msg = m,
                       .len = len};
  if (len >= PC_MSG_HEADER_SIZE) {
    info.type = m[1];
    info.height = pc_load_le64(m + 12);
    info.round = pc_load_le32(m + 20);
  }
  uint64_t extra = 0;
  if (s->cfg.filter && s->cfg.filter(s->cfg.filter_ctx, &info, &extra) == PC_SIM_DROP) return;
  bool pre_gst = depart < s->cfg.gst_ns;
  if (pre_gst && partitioned(s, from, to, depart)) return;
  if (pre_gst && s->cfg.loss > 0 && rnd01(&s->rng) < s->cfg.loss) return;
  if (pre_gst && s->cfg.sdelay_prob > 0 && len >= PC_MSG_HEADER_SIZE) {
    uint64_t k = s->cfg.seed ^ ((uint64_t)to << 48) ^ ((uint64_t)info.type << 40) ^ (info.height << 20) ^ info.round;
    uint64_t a = rnd(&k), b = rnd(&k);
    if ((double)(a >> 11) / (double)(1ull << 53) < s->cfg.sdelay_prob) extra += b % (s->cfg.sdelay_max_ns + 1);
  }
  unsigned copies = (pre_gst && s->cfg.dup > 0 && rnd01(&s->rng) < s->cfg.dup) ? 2 : 1;
  for (unsigned c = 0; c < copies; c++) {
    uint64_t lat = rnd_range(&s->rng, s->cfg.lat_min_ns, s->cfg.lat_max_ns);
    if (s->cfg.tail_prob > 0 && rnd01(&s->rng) < s->cfg.tail_prob) lat += rnd_range(&s->rng, 0, s->cfg.tail_ns);
    ev_t e = {.t = t + lat + extra, .type = EV_DELIVER, .slot = to, .from = src->id, .epoch = s->nd[to].epoch};
    e.data = malloc(len ? len : 1);
    if (!e.data) return;
    memcpy(e.data, m, len);
    e.len = len;
    push(s, e);
  }
}

/* Sender NIC serialisation: one departure time for the whole fan-out. */
static uint64_t nic_depart(pc_sim_t *s, node_t *d, uint64_t t, size_t bytes) {
  uint64_t start = t > d->nic_free ? t : d->nic_free;
  uint64_t tx = s->cfg.bandwidth_bps ? (uint64_t)((double)bytes * 8e9 / (double)s->cfg.bandwidth_bps) : 0;
  d->nic_free = start + tx;
  return start + tx;
}

/* ------------------------------------------------------------ Byzantine mutations */

static void note_proposal(pc_sim_t *s, const uint8_t *m, size_t len, uint64_t t) {
  if (len < PC_MSG_HEADER_SIZE) return;
  uint64_t h = pc_load_le64(m + 12);
  if (h > 1u << 20 || !ensure_h(s, h)) return;
  /* latency starts at the first message about h, whatever the protocol */
  if (!s->first_prop[h] && t) s->first_prop[h] = t;
  if (m[1] != PC_MSG_SBFT_PROPOSAL) return;
  pc_proposal_t p;
  int saved = 0;
  (void)saved;
  if (pc_proposal_decode(m + PC_MSG_HEADER_SIZE, len - PC_MSG_HEADER_SIZE, &p)) return;
  pc_hash_t id;
  pc_block_id(&p.block, &id);
  for (unsigned i = 0; i < s->n_seen[h]; i++)
    if (pc_hash_equal(&s->seen_ids[h][i], &id)) return;
  if (s->n_seen[h] < 4) s->seen_ids[h][s->n_seen[h]++] = id;
}

static bool other_id(pc_sim_t *s, uint64_t h, const pc_hash_t *not, pc_hash_t *out) {
  if (h < s->cap_h)
    for (unsigned i = 0; i < s->n_seen[h]; i++)
      if (!pc_hash_equal(&s->seen_ids[h][i], not)) {
        *out = s->seen_ids[h][i];
        return true;
      }
  for (int i = 0; i < PC_HASH_SIZE; i++) out->b[i] = (uint8_t)rnd(&s->rng);
  return false;
}

/* Build the variant of message m a Byzantine sender sends to slot `to`.
 * Returns a malloc'd buffer or NULL to send m unchanged. */
static uint8_t *byz_variant(pc_sim_t *s, node_t *d, uint16_t to, const uint8_t *m, size_t len, size_t *out_len) {
  if (len < PC_MSG_HEADER_SIZE || s->cfg.proto.protocol != PC_PROTO_SBFT) {
    if (d->byz == PC_BYZ_BAD_SIG && len >= 64) {
      uint8_t *v = malloc(len);
      memcpy(v, m, len);
      v[len - 1] ^= 0x5a;
      *out_len = len;
      return v;
    }
    return NULL;
  }
  uint8_t type = m[1];
  uint64_t h = pc_load_le64(m + 12);
  uint32_t r = pc_load_le32(m + 20);
  /* the equivocator picks the variant per send, so a replayed proposal may
   * differ from the first copy a replica got */
  bool odd = d->byz == PC_BYZ_EQUIVOCATE ? (rnd(&s->rng) & 1) != 0 : (to & 1) != 0;
  switch (d->byz) {
  case PC_BYZ_EQUIVOCATE:
    if (type == PC_MSG_SBFT_PROPOSAL && odd) {
      pc_proposal_t p;
      if (pc_proposal_decode(m + PC_MSG_HEADER_SIZE, len - PC_MSG_HEADER_SIZE, &p)) return NULL;
      p.block.timestamp_us += 1 + (uint64_t)(to % 3); /* a different block */
      pc_writer_t w;
      uint8_t *v = malloc(len);
      if (!v) return NULL;
      pc_writer_init(&w, v, len);
      pc_put_bytes(&w, m, PC_MSG_HEADER_SIZE);
      pc_proposal_encode(&w, &p);
      *out_len = w.len;
      note_proposal(s, v, w.len, 0);
      return v;
    }
    if ((type == PC_MSG_SBFT_PREPARE || type == PC_MSG_SBFT_COMMIT) && odd && len == PC_MSG_HEADER_SIZE + 96) {
      pc_hash_t id, alt;
      memcpy(id.b, m + PC_MSG_HEADER_SIZE, 32);
      other_id(s, h, &id, &alt);
      uint8_t *v = malloc(len);
      if (!v) return NULL;
      memcpy(v, m, len);
      memcpy(v + PC_MSG_HEADER_SIZE, alt.b, 32);
      pc_signer_vote_sign(&d->sg, v + PC_MSG_HEADER_SIZE + 32, s->cfg.proto.chain_id, PC_PROTO_SBFT,
                          type == PC_MSG_SBFT_PREPARE ? PC_PHASE_PREPARE : PC_PHASE_COMMIT, h, r, &alt);
      *out_len = len;
      return v;
    }
    if (type == PC_MSG_SBFT_ROUND_CHANGE) goto lying;
    return NULL;
  case PC_BYZ_BAD_SIG: {
    if (len < PC_MSG_HEADER_SIZE + 64) return NULL;
    uint8_t *v = malloc(len);
    if (!v) return NULL;
    memcpy(v, m, len);
    v[len - 1 - (rnd(&s->rng) % 32)] ^= 0x5a; /* the trailing or vote signature, or the batch */
    *out_len = len;
    return v;
  }
  case PC_BYZ_LYING_RC:
  lying:
    if (type == PC_MSG_SBFT_ROUND_CHANGE && r >= 1) {
      /* keep flags' certificate part, replace the vote with a made-up one */
      pc_reader_t rd;
      pc_reader_init(&rd, m + PC_MSG_HEADER_SIZE, len - PC_MSG_HEADER_SIZE - PC_SIG_SIZE);
      uint8_t flags = pc_get_u8(&rd);
      size_t cert_len = 0;
      if (flags & 1) {
        pc_cert_t *c = malloc(sizeof *c);
        if (!c) return NULL;
        size_t before = rd.pos;
        if (pc_cert_decode(&rd, c)) {
          free(c);
          return NULL;
        }
        cert_len = rd.pos - before;
        free(c);
      }
      pc_hash_t id = {0}, alt;
      other_id(s, h, &id, &alt);
      if (odd) other_id(s, h, &alt, &alt);
      size_t nl = PC_MSG_HEADER_SIZE + 1 + cert_len + 4 + 32 + 64 + 64;
      uint8_t *v = malloc(nl);
      if (!v) return NULL;
      pc_writer_t w;
      pc_writer_init(&w, v, nl);
      pc_put_bytes(&w, m, PC_MSG_HEADER_SIZE);
      pc_put_u8(&w, (uint8_t)((flags & 1) | 2));
      pc_put_bytes(&w, m + PC_MSG_HEADER_SIZE + 1, cert_len);
      uint32_t vr = r - 1;
      pc_put_u32(&w, vr);
      pc_put_bytes(&w, alt.b, 32);
      uint8_t sig[PC_SIG_SIZE];
      pc_signer_vote_sign(&d->sg, sig, s->cfg.proto.chain_id, PC_PROTO_SBFT, PC_PHASE_PREPARE, h, vr, &alt);
      pc_put_bytes(&w, sig, PC_SIG_SIZE);
      pc_msg_sign_finish(&w, &d->sg);
      *out_len = w.len;
      return v;
    }
    return NULL;
  default: return NULL;
  }
}

static size_t vote_slot(const pc_sim_t *s, uint16_t slot, uint64_t h, uint32_t r, uint8_t phase) {
  uint64_t k = h * 0x9e3779b97f4a7c15ull ^ ((uint64_t)r << 20) ^ ((uint64_t)slot << 4) ^ phase;
  k ^= k >> 29;
  k *= 0xbf58476d1ce4e5b9ull;
  k ^= k >> 32;
  return (size_t)(k & (s->votes_cap - 1));
}

static struct vote_ent *vote_find(pc_sim_t *s, uint16_t slot, uint64_t h, uint32_t r, uint8_t phase) {
  for (size_t i = vote_slot(s, slot, h, r, phase);; i = (i + 1) & (s->votes_cap - 1)) {
    struct vote_ent *e = &s->votes[i];
    if (!e->used || (e->slot == slot && e->key_h == h && e->r == r && e->phase == phase)) return e;
  }
}

/* Check: an honest replica never signs two different votes of one phase
 * for one (h, r) — across restarts too. */
static void note_vote(pc_sim_t *s, uint16_t slot, const uint8_t *m, size_t len) {
  if (!is_honest(s, slot) || len != PC_MSG_HEADER_SIZE + 96) return;
  uint8_t type = m[1];
  if (type != PC_MSG_SBFT_PREPARE && type != PC_MSG_SBFT_COMMIT) return;
  if (s->votes_n * 2 >= s->votes_cap) {
    size_t old = s->votes_cap;
    struct vote_ent *ov = s->votes;
    s->votes_cap = old ? old * 2 : 4096;
    s->votes = calloc(s->votes_cap, sizeof *s->votes);
    if (!s->votes) {
      s->votes = ov;
      s->votes_cap = old;
      return;
    }
    for (size_t i = 0; i < old; i++)
      if (ov[i].used) *vote_find(s, ov[i].slot, ov[i].key_h, ov[i].r, ov[i].phase) = ov[i];
    free(ov);
  }
  uint64_t h = pc_load_le64(m + 12);
  uint32_t r = pc_load_le32(m + 20);
  pc_hash_t id;
  memcpy(id.b, m + PC_MSG_HEADER_SIZE, 32);
  struct vote_ent *e = vote_find(s, slot, h, r, type);
  if (!e->used) {
    *e = (struct vote_ent){.key_h = h, .r = r, .slot = slot, .phase = type, .used = 1, .id = id};
    s->votes_n++;
  } else if (!pc_hash_equal(&e->id, &id)) {
    fail(s, 0, "double vote: honest replica %u signed two %s votes at height %llu round %u", s->nd[slot].id,
         type == PC_MSG_SBFT_PREPARE ? "prepare" : "commit", (unsigned long long)h, r);
  }
}

static void transmit(pc_sim_t *s, uint16_t from_slot, int32_t to_id, const uint8_t *m, size_t len, uint64_t t) {
  node_t *d = &s->nd[from_slot];
  if (d->byz == PC_BYZ_SILENT) return;
  note_proposal(s, m, len, t);
  note_vote(s, from_slot, m, len);
  unsigned fan = 0;
  for (uint16_t k = 0; k < s->slots; k++)
    if (k != from_slot && (to_id < 0 ? s->nd[k].id != d->id : s->nd[k].id == (uint16_t)to_id)) fan++;
  uint64_t depart = nic_depart(s, d, t, len * fan);
  for (uint16_t k = 0; k < s->slots; k++) {
    if (k == from_slot) continue;
    if (to_id < 0 ? s->nd[k].id == d->id : s->nd[k].id != (uint16_t)to_id) continue;
    size_t vl = 0;
    uint8_t *v = d->byz ? byz_variant(s, d, k, m, len, &vl) : NULL;
    deliver_one(s, from_slot, k, depart, v ? v : m, v ? vl : len);
    free(v);
  }
  if (d->byz == PC_BYZ_REPLAY || (d->byz == PC_BYZ_EQUIVOCATE && len >= 2 && m[1] == PC_MSG_SBFT_PROPOSAL)) {
    buf_t *b = &d->sent_ring[d->sent_pos++ % 16];
    free(b->data);
    b->data = malloc(len ? len : 1);
    if (b->data) memcpy(b->data, m, len);
    b->len = b->data ? len : 0;
    buf_t *old = &d->sent_ring[rnd(&s->rng) % 16];
    uint16_t k = (uint16_t)(rnd(&s->rng) % s->slots);
    if (old->data && k != from_slot) {
      size_t vl = 0;
      uint8_t *v = d->byz == PC_BYZ_EQUIVOCATE ? byz_variant(s, d, k, old->data, old->len, &vl) : NULL;
      deliver_one(s, from_slot, k, depart + 1000 + rnd(&s->rng) % (4 * s->cfg.proto.base_timeout_ns),
                  v ? v : old->data, v ? vl : old->len);
      free(v);
    }
  }
  if (d->byz == PC_BYZ_FLOOD) {
    for (int j = 0; j < 3; j++) {
      uint8_t junk[300];
      size_t jl = PC_MSG_HEADER_SIZE + rnd(&s->rng) % 200;
      for (size_t i = 0; i < jl; i++) junk[i] = (uint8_t)rnd(&s->rng);
      pc_msg_hdr_t hh = {.type = (uint8_t)(0x20 + rnd(&s->rng) % 6), .sender = d->id, .chain_id = s->cfg.proto.chain_id,
                         .height = 1 + rnd(&s->rng) % 8, .round = (uint32_t)(rnd(&s->rng) % 4)};
      pc_writer_t w;
      pc_writer_init(&w, junk, sizeof junk);
      pc_msg_put_header(&w, &hh);
      uint16_t k = (uint16_t)(rnd(&s->rng) % s->slots);
      if (k != from_slot) deliver_one(s, from_slot, k, depart, junk, jl);
    }
  }
}

/* ------------------------------------------------------------ protocol glue */

static void on_action(void *ctx, const pc_cons_action_t *a) {
  node_t *d = ctx;
  if (!grow((void **)&d->out, &d->cap_out, d->n_out + 1, sizeof *d->out)) return;
  out_t *o = &d->out[d->n_out++];
  memset(o, 0, sizeof *o);
  o->kind = a->kind;
  const uint8_t *data = NULL;
  size_t len = 0;
  switch (a->kind) {
  case PC_ACT_SEND:
  case PC_ACT_BROADCAST:
    o->to = a->kind == PC_ACT_SEND ? a->u.msg.to : -1;
    data = a->u.msg.data;
    len = a->u.msg.len;
    break;
  case PC_ACT_PERSIST:
    o->a = a->u.persist.seq;
    data = a->u.persist.data;
    len = a->u.persist.len;
    break;
  case PC_ACT_DECIDE: {
    /* keep what the checks need: a DECISION-like copy */
    o->a = a->u.decide.height;
    pc_msg_hdr_t h = {.type = PC_MSG_DECISION, .sender = d->id, .chain_id = a->u.decide.block->chain_id,
                      .height = a->u.decide.height, .round = a->u.decide.cert->round};
    pc_msg_decision_t dd = {.block = *a->u.decide.block, .batch = a->u.decide.batch,
                            .batch_len = a->u.decide.batch_len, .cert = (pc_cert_t *)a->u.decide.cert};
    size_t need = PC_MSG_HEADER_SIZE + PC_BLOCK_SIZE + 4 + dd.batch_len + pc_cert_encoded_size(dd.cert);
    o->m.data = malloc(need);
    if (o->m.data) {
      pc_writer_t w;
      pc_writer_init(&w, o->m.data, need);
      pc_msg_decision_encode(&w, &h, &dd);
      o->m.len = w.len;
    }
    o->h1 = *a->u.decide.chain_hash;
    return;
  }
  case PC_ACT_NEED_BATCH: o->a = a->u.need_batch.height; return;
  case PC_ACT_STATE_TRANSFER:
    o->a = a->u.transfer.height;
    o->h1 = *a->u.transfer.exec_root;
    return;
  default: return;
  }
  o->m.data = malloc(len ? len : 1);
  if (o->m.data) memcpy(o->m.data, data, len);
  o->m.len = o->m.data ? len : 0;
}

static void check_decision(pc_sim_t *s, uint16_t slot, const out_t *o, uint64_t t) {
  node_t *d = &s->nd[slot];
  uint64_t h = o->a;
  pc_reader_t r;
  pc_msg_hdr_t hd;
  pc_cert_t *cert = malloc(sizeof *cert);
  if (!cert || !o->m.data) {
    free(cert);
    return;
  }
  pc_msg_decision_t dd = {.cert = cert};
  int err = pc_msg_get_header(&r, o->m.data, o->m.len, s->cfg.proto.chain_id, s->n, d->id, &hd);
  if (!err) err = pc_msg_decision_decode(&r, &hd, &dd);
  pc_hash_t id;
  if (err) {
    fail(s, 1, "validity: replica %u decided a malformed block at height %llu (%s)", d->id, (unsigned long long)h,
         pc_strerror(err));
    free(cert);
    return;
  }
  pc_block_id(&dd.block, &id);
  bool honest = is_honest(s, slot);
  if (honest) {
    unsigned min = cert->kind == PC_CERT_FAST ? s->n : pc_quorum(s->n, s->cfg.proto.f);
    if ((s->cfg.proto.test_mutants & PC_MUTANT_QUORUM_2F)) min = 2u * s->cfg.proto.f;
    if (!s->cfg.light_checks && pc_signer_cert_verify(&d->sg, cert, s->cfg.proto.chain_id, s->n, min, NULL))
      fail(s, 1, "validity: replica %u decided height %llu with a bad certificate", d->id, (unsigned long long)h);
    size_t pos = 0, tl;
    const uint8_t *tx;
    while ((tx = pc_batch_next(dd.batch, dd.batch_len, &pos, &tl))) {
      if (tl < 14 || pc_load_le32(tx) != TX_MAGIC || pc_load_le16(tx + 4) >= s->n) {
        fail(s, 1, "validity: replica %u decided a transaction the simulator never made at %llu", d->id,
             (unsigned long long)h);
        break;
      }
    }
    if (h != d->decided + 1 && !(h <= d->decided && pc_hash_equal(&d->ids[h], &id)))
      fail(s, 0, "order: replica %u decided height %llu after %llu", d->id, (unsigned long long)h,
           (unsigned long long)d->decided);
    if (ensure_h(s, h)) {
      if (!s->dec_set[h]) {
        s->dec_set[h] = true;
        s->dec_id[h] = id;
        s->first_dec[h] = t;
      } else if (!pc_hash_equal(&s->dec_id[h], &id)) {
        char a[65], b[65];
        fail(s, 0, "agreement: height %llu decided as %.12s… and %.12s… (replica %u) seed %llu", (unsigned long long)h,
             pc_hash_to_hex(&s->dec_id[h], a), pc_hash_to_hex(&id, b), d->id, (unsigned long long)s->cfg.seed);
      }
    }
  }
  if (h == d->decided + 1 && node_ensure_h(d, h)) {
    d->decided = h;
    d->ids[h] = id;
    d->chain[h] = o->h1;
    s->res->txs_decided += honest ? (uint64_t)(pc_batch_count(dd.batch, dd.batch_len)) : 0;
    if (honest) s->res->decided++;
  }
  free(cert);
}

static void release_held(pc_sim_t *s, uint16_t slot, uint64_t t) {
  node_t *d = &s->nd[slot];
  size_t k = 0;
  for (size_t i = 0; i < d->n_held; i++) {
    held_t *h = &d->held[i];
    if (h->barrier <= d->durable_seq) {
      transmit(s, slot, h->to, h->m.data, h->m.len, t);
      free(h->m.data);
    } else {
      d->held[k++] = *h;
    }
  }
  d->n_held = k;
}

static void schedule_tick(pc_sim_t *s, uint16_t slot) {
  node_t *d = &s->nd[slot];
  if (!d->c) return;
  uint64_t dl = pc_consensus_next_deadline(d->c);
  if (dl == UINT64_MAX) return;
  if (dl < d->now) dl = d->now;
  if (d->timer_at > d->now && d->timer_at <= dl) return; /* an earlier tick is pending */
  d->timer_at = dl;
  push(s, (ev_t){.t = dl, .type = EV_TICK, .slot = slot, .epoch = d->epoch});
}

/* Start a protocol call at time t on a node: returns the time it runs. */
static uint64_t begin(pc_sim_t *s, node_t *d, uint64_t t, pc_consensus_stats_t *before) {
  d->now = t > d->cpu_free ? t : d->cpu_free;
  pc_consensus_get_stats(d->c, before);
  (void)s;
  return d->now;
}

/* Finish a call: charge CPU, then act on the gathered output. */
static void finish(pc_sim_t *s, uint16_t slot, const pc_consensus_stats_t *before) {
  node_t *d = &s->nd[slot];
  pc_consensus_stats_t after;
  pc_consensus_get_stats(d->c, &after);
  uint64_t cost = s->cfg.msg_ns + (after.verifies - before->verifies) * s->cfg.verify_ns +
                  (after.signs - before->signs) * s->cfg.sign_ns;
  uint64_t t = d->now + cost;
  d->cpu_free = t;
  for (size_t i = 0; i < d->n_out; i++) {
    out_t *o = &d->out[i];
    switch (o->kind) {
    case PC_ACT_SEND:
    case PC_ACT_BROADCAST:
      if (d->emitted_seq > d->durable_seq) {
        if (grow((void **)&d->held, &d->cap_held, d->n_held + 1, sizeof *d->held)) {
          d->held[d->n_held++] = (held_t){.barrier = d->emitted_seq, .to = o->to, .m = o->m};
          o->m.data = NULL;
        }
      } else {
        transmit(s, slot, o->to, o->m.data, o->m.len, t);
      }
      break;
    case PC_ACT_PERSIST: {
      if (grow((void **)&d->pend, &d->cap_pend, d->n_pend + 1, sizeof *d->pend)) {
        size_t cap2 = d->cap_pend;
        size_t c = d->n_pend ? d->n_pend : 0;
        (void)c;
        d->pend_seq = realloc(d->pend_seq, cap2 * sizeof *d->pend_seq);
        d->pend[d->n_pend] = o->m;
        d->pend_seq[d->n_pend] = o->a;
        d->n_pend++;
        o->m.data = NULL;
        d->emitted_seq = o->a;
        /* group commit: a record joins the latest sync if it has not
         * started yet, else the next one, which starts when the current
         * one ends (one sync in flight at a time) */
        uint64_t done;
        if (t < d->sync_start) {
          done = d->persist_busy;
        } else {
          d->sync_start = t > d->persist_busy ? t : d->persist_busy;
          d->persist_busy = d->sync_start + s->cfg.persist_ns;
          done = d->persist_busy;
        }
        push(s, (ev_t){.t = done, .type = EV_PERSISTED, .slot = slot, .epoch = d->epoch, .arg = o->a});
      }
      break;
    }
    case PC_ACT_DECIDE:
      check_decision(s, slot, o, t);
      push(s, (ev_t){.t = t, .type = EV_EXEC, .slot = slot, .epoch = d->epoch, .arg = o->a});
      break;
    case PC_ACT_NEED_BATCH: push(s, (ev_t){.t = t, .type = EV_BATCH, .slot = slot, .epoch = d->epoch, .arg = o->a}); break;
    case PC_ACT_STATE_TRANSFER:
      if (is_honest(s, slot)) {
        s->res->transfers++;
        if (d->executed >= o->a && !pc_hash_equal(&d->roots[o->a], &o->h1)) s->res->root_mismatches++;
      }
      {
        ev_t e = {.t = t + 10000000, .type = EV_TRANSFER, .slot = slot, .epoch = d->epoch, .arg = o->a};
        e.data = malloc(PC_HASH_SIZE);
        if (e.data) {
          memcpy(e.data, o->h1.b, PC_HASH_SIZE);
          e.len = PC_HASH_SIZE;
          push(s, e);
        }
      }
      break;
    }
    free(o->m.data);
  }
  d->n_out = 0;
  schedule_tick(s, slot);
}

static int node_boot(pc_sim_t *s, uint16_t slot, uint64_t t) {
  node_t *d = &s->nd[slot];
  pc_consensus_config_t cfg = s->cfg.proto;
  cfg.my_id = d->id;
  cfg.signer = d->sg;
  if (d->byz) cfg.test_mutants = 0; /* mutants are for honest replicas */
  pc_consensus_io_t io = {.ctx = d, .action = on_action};
  d->c = pc_consensus_create(&cfg, &io);
  if (!d->c) return PC_ERR_CONFIG;
  for (size_t i = 0; i < d->n_recs; i++) pc_consensus_restore(d->c, d->recs[i].data, d->recs[i].len);
  /* the ledger survived: report the recent executed heights */
  uint64_t from = d->executed > 4u * cfg.window + 2 ? d->executed - 4u * cfg.window - 2 : 1;
  for (uint64_t h = from; h <= d->executed; h++) pc_consensus_on_executed(d->c, h, &d->roots[h], NULL);
  d->up = true;
  d->emitted_seq = d->durable_seq = 0;
  d->persist_busy = d->sync_start = 0;
  d->timer_at = 0;
  pc_consensus_stats_t before;
  begin(s, d, t, &before);
  if (d->byz != PC_BYZ_SILENT) pc_consensus_start(d->c, d->now);
  finish(s, slot, &before);
  return 0;
}

static void node_crash(pc_sim_t *s, uint16_t slot) {
  node_t *d = &s->nd[slot];
  if (!d->up) return;
  pc_consensus_stats_t st;
  pc_consensus_get_stats(d->c, &st);
  d->base_stats.msgs_sent += st.msgs_sent;
  d->base_stats.bytes_sent += st.bytes_sent;
  d->base_stats.verifies += st.verifies;
  d->base_stats.signs += st.signs;
  d->base_stats.rejected += st.rejected;
  d->base_stats.round_changes += st.round_changes;
  d->base_stats.fast_decisions += st.fast_decisions;
  pc_consensus_destroy(d->c);
  d->c = NULL;
  d->up = false;
  d->epoch++;
  for (size_t i = 0; i < d->n_pend; i++) free(d->pend[i].data); /* not durable: lost */
  d->n_pend = 0;
  for (size_t i = 0; i < d->n_held; i++) free(d->held[i].m.data);
  d->n_held = 0;
  d->cpu_free = d->nic_free = 0;
}

static void exec_height(pc_sim_t *s, uint16_t slot, uint64_t h) {
  node_t *d = &s->nd[slot];
  if (h != d->executed + 1 || h > d->decided) return;
  uint8_t in[64];
  memcpy(in, d->roots[h - 1].b, 32);
  memcpy(in + 32, d->ids[h].b, 32);
  pc_hash_tagged(&d->roots[h], "sim/exec", in, sizeof in);
  d->executed = h;
  pc_consensus_stats_t before;
  begin(s, d, s->now, &before);
  pc_hash_t manifest;
  uint32_t K = s->cfg.proto.checkpoint_interval;
  if (K && h % K == 0) pc_hash_tagged(&manifest, "sim/manifest", d->roots[h].b, PC_HASH_SIZE);
  pc_consensus_on_executed(d->c, h, &d->roots[h], K && h % K == 0 ? &manifest : NULL);
  finish(s, slot, &before);
}

/* sim_transfer_installed models the driver's side of a state transfer to
 * h: the replica received the certified state of h from an honest
 * replica's simulated state (its execution root, which the protocol
 * checked against the certificate, and the chain hash). When the protocol
 * moved its window past what this replica decided (it jumped to h), the
 * simulated ledger continues at h + 1 from there, as the node's log does
 * after a base record. */
static void sim_transfer_installed(pc_sim_t *s, uint16_t slot, uint64_t h, const pc_hash_t *root) {
  node_t *d = &s->nd[slot];
  pc_consensus_stats_t st;
  pc_consensus_get_stats(d->c, &st);
  /* the protocol may already have decided heights above h inside
   * on_transfer_done (their DECIDE actions are checked after this) */
  if (st.last_decided < h || h <= d->decided || !node_ensure_h(d, h)) return;
  const node_t *src = NULL;
  for (uint16_t k = 0; k < s->slots && !src; k++)
    if (k != slot && is_honest(s, k) && s->nd[k].decided >= h && s->nd[k].executed >= h) src = &s->nd[k];
  if (!src || !pc_hash_equal(&src->roots[h], root)) {
    fail(s, 1, "transfer: replica %u installed a state of %llu no honest replica has", d->id,
         (unsigned long long)h);
    return;
  }
  d->decided = h;
  d->executed = h;
  d->ids[h] = src->ids[h];
  d->chain[h] = src->chain[h];
  d->roots[h] = *root;
}

static void make_batch(pc_sim_t *s, uint16_t slot, uint64_t h) {
  node_t *d = &s->nd[slot];
  size_t tx_size = s->cfg.tx_size < 14 ? 14 : s->cfg.tx_size;
  size_t len = (size_t)s->cfg.batch_txs * (4 + tx_size);
  uint8_t *b = malloc(len ? len : 1);
  uint8_t *tx = malloc(tx_size);
  if (!b || !tx) {
    free(b);
    free(tx);
    return;
  }
  pc_writer_t w;
  pc_writer_init(&w, b, len);
  for (uint32_t i = 0; i < s->cfg.batch_txs; i++) {
    memset(tx, 0, tx_size);
    pc_store_le32(tx, TX_MAGIC);
    pc_store_le16(tx + 4, d->id);
    pc_store_le64(tx + 6, ++d->tx_counter);
    pc_batch_append(&w, tx, tx_size);
  }
  pc_consensus_stats_t before;
  begin(s, d, s->now, &before);
  pc_consensus_on_batch(d->c, h, b, w.len, 1700000000000000ull + d->now / 1000);
  finish(s, slot, &before);
  free(b);
  free(tx);
}

/* ------------------------------------------------------------ run */

static void result_totals(pc_sim_t *s) {
  pc_sim_result_t *r = s->res;
  r->min_height = UINT64_MAX;
  r->min_stable_checkpoint = UINT64_MAX;
  r->max_height = 0;
  for (uint16_t k = 0; k < s->slots; k++) {
    node_t *d = &s->nd[k];
    if (!is_honest(s, k)) continue;
    pc_consensus_stats_t st = {0};
    if (d->c) pc_consensus_get_stats(d->c, &st);
    r->msgs += st.msgs_sent + d->base_stats.msgs_sent;
    r->bytes += st.bytes_sent + d->base_stats.bytes_sent;
    r->verifies += st.verifies + d->base_stats.verifies;
    r->signs += st.signs + d->base_stats.signs;
    r->rejected += st.rejected + d->base_stats.rejected;
    r->round_changes += st.round_changes + d->base_stats.round_changes;
    r->fast_decisions += st.fast_decisions + d->base_stats.fast_decisions;
    if (d->decided < r->min_height) r->min_height = d->decided;
    if (st.stable_checkpoint < r->min_stable_checkpoint) r->min_stable_checkpoint = st.stable_checkpoint;
    if (d->decided > r->max_height) r->max_height = d->decided;
  }
  if (r->min_height == UINT64_MAX) r->min_height = 0;
  if (r->min_stable_checkpoint == UINT64_MAX) r->min_stable_checkpoint = 0;
  /* latency: first proposal to first honest decision per height */
  uint64_t *lat = calloc(s->cap_h + 1, sizeof *lat);
  size_t k = 0;
  for (uint64_t h = 1; h < s->cap_h && lat; h++) {
    if (!s->dec_set[h]) continue;
    if (!r->first_decide_ns || s->first_dec[h] < r->first_decide_ns) r->first_decide_ns = s->first_dec[h];
    if (s->first_dec[h] > r->last_decide_ns) r->last_decide_ns = s->first_dec[h];
    if (s->first_prop[h] && s->first_dec[h] >= s->first_prop[h]) lat[k++] = s->first_dec[h] - s->first_prop[h];
  }
  for (size_t i = 1; i < k; i++)
    for (size_t j = i; j > 0 && lat[j - 1] > lat[j]; j--) {
      uint64_t t = lat[j];
      lat[j] = lat[j - 1];
      lat[j - 1] = t;
    }
  if (k) {
    r->lat_p50_ns = lat[k / 2];
    r->lat_p99_ns = lat[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1];
  }
  free(lat);
}

static bool all_done(pc_sim_t *s) {
  for (uint16_t k = 0; k < s->slots; k++)
    if (is_honest(s, k) && s->nd[k].decided < s->cfg.target_height) return false;
  return true;
}

int pc_sim_run(const pc_sim_config_t *cfg, pc_sim_result_t *res) {
  memset(res, 0, sizeof *res);
  if (pc_crypto_init()) return PC_ERR_UNSUPPORTED;
  pc_sim_t *s = calloc(1, sizeof *s);
  if (!s) return PC_ERR_NOMEM;
  s->cfg = *cfg;
  s->res = res;
  s->n = cfg->proto.n;
  s->slots = (uint16_t)(s->n + cfg->n_twins);
  s->rng = cfg->seed * 0x2545f4914f6cdd1dull + 1;
  uint8_t seedb[8];
  pc_store_le64(seedb, cfg->seed);
  crypto_generichash(s->key_seed, 32, seedb, 8, NULL, 0);
  s->nd = calloc(s->slots, sizeof *s->nd);
  int rc = 0;
  if (!s->nd || !ensure_h(s, cfg->target_height + 64)) {
    rc = PC_ERR_NOMEM;
    goto out;
  }
  if (cfg->real_crypto) {
    s->pk = calloc(s->n, sizeof *s->pk);
    s->sk = calloc(s->n, sizeof *s->sk);
    if (!s->pk || !s->sk) {
      rc = PC_ERR_NOMEM;
      goto out;
    }
    for (uint16_t i = 0; i < s->n; i++) {
      uint8_t seed[32];
      pc_hash_t hs;
      uint8_t in[10];
      pc_store_le64(in, cfg->seed);
      pc_store_le16(in + 8, i);
      pc_hash_blake2b(&hs, in, sizeof in);
      memcpy(seed, hs.b, 32);
      crypto_sign_seed_keypair(s->pk[i], s->sk[i], seed);
    }
  }
  for (uint16_t k = 0; k < s->slots; k++) {
    node_t *d = &s->nd[k];
    d->id = k < s->n ? k : cfg->twin_of[k - s->n];
    d->byz = k < s->n ? cfg->byz[k] : PC_BYZ_NONE;
    d->signer.sim = s;
    d->signer.id = d->id;
    if (cfg->real_crypto) d->sg = pc_signer_ed25519(&d->signer.ed, s->sk[d->id], (const uint8_t(*)[PC_PUBKEY_SIZE])s->pk, s->n);
    else d->sg = (pc_signer_t){.ctx = &d->signer, .sign = fake_sign, .verify = fake_verify};
    if (!node_ensure_h(d, cfg->target_height + 64)) {
      rc = PC_ERR_NOMEM;
      goto out;
    }
  }
  for (uint16_t k = 0; k < s->slots; k++)
    if ((rc = node_boot(s, k, 0))) goto out;
  for (unsigned i = 0; i < cfg->n_crash; i++) {
    push(s, (ev_t){.t = cfg->crash[i].at, .type = EV_CRASH, .slot = cfg->crash[i].slot});
    push(s, (ev_t){.t = cfg->crash[i].restart_at, .type = EV_RESTART, .slot = cfg->crash[i].slot});
  }
  uint64_t deadline = cfg->gst_ns + cfg->liveness_bound_ns;
  uint64_t max_events = cfg->max_events ? cfg->max_events : 50000000ull;
  while (s->n_heap && !all_done(s)) {
    ev_t e = pop(s);
    if (e.t > deadline || res->events >= max_events) {
      free(e.data);
      break;
    }
    s->now = e.t;
    res->events++;
    node_t *d = &s->nd[e.slot];
    if (e.type == EV_CRASH) {
      node_crash(s, e.slot);
    } else if (e.type == EV_RESTART) {
      if (!d->up) node_boot(s, e.slot, e.t);
    } else if (!d->up || e.epoch != d->epoch) {
      /* for a crashed or later incarnation: dropped */
    } else if (e.type == EV_DELIVER) {
      pc_consensus_stats_t before;
      begin(s, d, e.t, &before);
      pc_consensus_on_tick(d->c, d->now);
      pc_consensus_on_message(d->c, e.from, e.data, e.len);
      finish(s, e.slot, &before);
    } else if (e.type == EV_TICK) {
      pc_consensus_stats_t before;
      begin(s, d, e.t, &before);
      pc_consensus_on_tick(d->c, d->now);
      finish(s, e.slot, &before);
    } else if (e.type == EV_PERSISTED) {
      /* records up to e.arg are durable */
      size_t k = 0;
      for (size_t i = 0; i < d->n_pend; i++) {
        if (d->pend_seq[i] <= e.arg) {
          if (grow((void **)&d->recs, &d->cap_recs, d->n_recs + 1, sizeof *d->recs)) d->recs[d->n_recs++] = d->pend[i];
          else free(d->pend[i].data);
        } else {
          d->pend[k] = d->pend[i];
          d->pend_seq[k++] = d->pend_seq[i];
        }
      }
      d->n_pend = k;
      if (e.arg > d->durable_seq) d->durable_seq = e.arg;
      pc_consensus_stats_t before;
      begin(s, d, e.t, &before);
      pc_consensus_on_persist_done(d->c, e.arg);
      release_held(s, e.slot, d->now);
      finish(s, e.slot, &before);
    } else if (e.type == EV_EXEC) {
      exec_height(s, e.slot, e.arg);
    } else if (e.type == EV_BATCH) {
      make_batch(s, e.slot, e.arg);
    } else if (e.type == EV_TRANSFER) {
      pc_hash_t root;
      memcpy(root.b, e.data, PC_HASH_SIZE);
      pc_consensus_stats_t before;
      begin(s, d, e.t, &before);
      pc_consensus_on_transfer_done(d->c, e.arg, &root);
      sim_transfer_installed(s, e.slot, e.arg, &root);
      finish(s, e.slot, &before);
    }
    free(e.data);
  }
  res->end_time_ns = s->now;
  if (!all_done(s)) {
    uint64_t lo = UINT64_MAX;
    uint16_t who = 0;
    for (uint16_t k = 0; k < s->slots; k++)
      if (is_honest(s, k) && s->nd[k].decided < lo) {
        lo = s->nd[k].decided;
        who = k;
      }
    fail(s, 2, "liveness: replica %u reached height %llu of %llu by %.3f s (GST %.3f s)", who, (unsigned long long)lo,
         (unsigned long long)cfg->target_height, (double)s->now / 1e9, (double)cfg->gst_ns / 1e9);
  }
  result_totals(s);
  res->ok = !s->failed;
  rc = s->failed ? PC_ERR_STATE : 0;
out:
  if (s->nd)
    for (uint16_t k = 0; k < s->slots; k++) {
      node_t *d = &s->nd[k];
      pc_consensus_destroy(d->c);
      for (size_t i = 0; i < d->n_recs; i++) free(d->recs[i].data);
      for (size_t i = 0; i < d->n_pend; i++) free(d->pend[i].data);
      for (size_t i = 0; i < d->n_held; i++) free(d->held[i].m.data);
      for (int i = 0; i < 16; i++) free(d->sent_ring[i].data);
      free(d->recs);
      free(d->pend);
      free(d->pend_seq);
      free(d->held);
      free(d->out);
      free(d->ids);
      free(d->chain);
      free(d->roots);
    }
  for (size_t i = 0; i < s->n_heap; i++) free(s->heap[i].data);
  free(s->heap);
  free(s->nd);
  free(s->dec_id);
  free(s->dec_set);
  free(s->first_prop);
  free(s->first_dec);
  free(s->seen_ids);
  free(s->n_seen);
  free(s->pk);
  free(s->sk);
  free(s->votes);
  free(s);
  return rc;
}
