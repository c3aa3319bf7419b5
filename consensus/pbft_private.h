/* pbft_private.h — PBFT internals shared by pbft*.c and its tests.
 *
 * The protocol, its messages and its records are specified at the top of
 * the file that encodes them: messages in pbft_msg.c, persisted records in
 * pbft_log.c; the state machine in pbft.c (normal case), pbft_view.c (view
 * change), pbft_checkpoint.c (checkpoints, watermarks, garbage collection).
 * The argument is in PROTOCOL-PBFT.md.
 *
 * Threads: like every protocol instance, used by one thread at a time.
 */
#ifndef PC_PBFT_PRIVATE_H
#define PC_PBFT_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "consensus/consensus.h"
#include "consensus/stable_claims_private.h"

/* Message types in PBFT's range (consensus.h: 0x40–0x5f). */
enum {
  PC_MSG_PBFT_PRE_PREPARE = 0x40,
  PC_MSG_PBFT_PREPARE = 0x41,
  PC_MSG_PBFT_COMMIT = 0x42,
  PC_MSG_PBFT_VIEW_CHANGE = 0x43,
  PC_MSG_PBFT_NEW_VIEW = 0x44,
  PC_MSG_PBFT_DEC_REQ = 0x45,
  PC_MSG_PBFT_STABLE = 0x46, /* answer about a height whose DECISION is gone: the stable checkpoint */
};

/* ------------------------------------------------------------ messages */

/* A decoded PRE-PREPARE; batch points into the message. */
typedef struct {
  uint8_t sig[PC_SIG_SIZE]; /* the primary's prepare vote on (seq, view, block id) */
  pc_block_t block;
  const uint8_t *batch;
  size_t batch_len;
} pc_pbft_pp_t;

/* A decoded VIEW-CHANGE. stable_cert is caller storage (needed only when
 * has_stable); entries is a view of the prepared entries, each
 * 91-byte block ‖ certificate, walked with pc_pbft_vc_next. */
typedef struct {
  pc_msg_hdr_t hdr;
  uint64_t stable_h; /* hdr.height − 1 */
  bool has_stable;
  pc_hash_t root, manifest;
  pc_cert_t *stable_cert;
  unsigned count;
  const uint8_t *entries;
  size_t entries_len;
} pc_pbft_vc_t;

/* A prepared entry of a VIEW-CHANGE (encode side). */
typedef struct {
  pc_block_t block;
  const pc_cert_t *cert;
} pc_pbft_prepared_t;

/* A re-issued pre-prepare in a NEW-VIEW. */
typedef struct {
  uint64_t seq;
  pc_block_t block;
  uint8_t sig[PC_SIG_SIZE];
} pc_pbft_reissue_t;

/* A decoded NEW-VIEW: views into the message. */
typedef struct {
  pc_msg_hdr_t hdr;
  unsigned vc_count;
  const uint8_t *vcs; /* vc_count × (u32 len ‖ VIEW-CHANGE message) */
  size_t vcs_len;
  unsigned o_count;
  const uint8_t *os; /* o_count × (u64 seq ‖ 91 block ‖ 64 sig) */
  size_t os_len;
} pc_pbft_nv_t;

void pc_pbft_pp_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const pc_block_t *b, const uint8_t *batch,
                       size_t batch_len, const uint8_t sig[PC_SIG_SIZE]);
/* pc_pbft_pp_decode decodes the body after the header (r on it). Checks:
 * proposal format, round = view, proposer = sender, empty justification,
 * block height / chain = header's, well-formed batch ≤ max_bytes. */
int pc_pbft_pp_decode(pc_reader_t *r, const pc_msg_hdr_t *hd, size_t max_bytes, pc_pbft_pp_t *out);

void pc_pbft_vote_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const pc_hash_t *id,
                         const uint8_t sig[PC_SIG_SIZE]);
int pc_pbft_vote_decode(pc_reader_t *r, pc_hash_t *id, uint8_t sig[PC_SIG_SIZE]);

/* pc_pbft_vc_encode writes a whole VIEW-CHANGE (header height = stable_h
 * + 1, round = view) and signs it. stable_cert may be NULL iff stable_h = 0. */
void pc_pbft_vc_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, uint64_t stable_h, const pc_hash_t *root,
                       const pc_hash_t *manifest, const pc_cert_t *stable_cert, const pc_pbft_prepared_t *p,
                       unsigned count, const pc_signer_t *s);
/* pc_pbft_vc_decode checks a whole VIEW-CHANGE's structure (not its
 * signatures): header (from may be PC_MSG_ANY_SENDER), view ≥ 1, stable
 * proof present iff stable_h > 0 and well formed (PBFT, CHECKPOINT kind,
 * height, digest = pc_checkpoint_digest, ≥ q signers over n), entries
 * strictly increasing in (stable_h, stable_h + L], each a PBFT PREPARE
 * certificate with height = block height, view < the VC's, digest = block
 * id, ≥ q signers over n; trailing signature present. tmp is scratch. */
int pc_pbft_vc_decode(const uint8_t *m, size_t len, uint64_t chain_id, uint16_t n, uint16_t from, unsigned q,
                      uint64_t L, pc_pbft_vc_t *out, pc_cert_t *tmp);
/* pc_pbft_vc_next reads the next entry of a decoded VIEW-CHANGE (r inited
 * on entries); 0 or PC_ERR_*. */
int pc_pbft_vc_next(pc_reader_t *r, pc_block_t *b, pc_cert_t *c);

void pc_pbft_nv_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const uint8_t *const *vcs,
                       const size_t *vc_lens, unsigned vc_count, const pc_pbft_reissue_t *o, unsigned o_count,
                       const pc_signer_t *s);
/* pc_pbft_nv_decode checks the NEW-VIEW's outer structure: counts, lengths,
 * 1 ≤ vc_count ≤ n, trailing signature space. Contents are checked by the
 * protocol (pbft_view.c). */
int pc_pbft_nv_decode(const uint8_t *m, size_t len, uint64_t chain_id, uint16_t n, uint16_t from,
                      pc_pbft_nv_t *out);

/* A decoded STABLE (0x46): the checkpoint S = hdr.height; cert is caller
 * storage. */
typedef struct {
  pc_hash_t root, manifest, chain; /* chain = chain hash at S (not certified) */
  pc_cert_t *cert;
} pc_pbft_stable_t;
/* pc_pbft_stable_encode writes a whole STABLE message (type and round
 * forced: 0x46, 0; header height = S = c->height). */
void pc_pbft_stable_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const pc_hash_t *root,
                           const pc_hash_t *manifest, const pc_hash_t *chain, const pc_cert_t *c);
/* pc_pbft_stable_decode decodes the body left in r and checks its
 * structure (not the signatures): round 0, S a multiple of K, a PBFT
 * CHECKPOINT certificate for (S, round 0) whose digest is
 * pc_checkpoint_digest(S, root, manifest), with ≥ q signers over n;
 * nothing trailing. Rejections counted (PC_DEC_CONSENSUS). */
int pc_pbft_stable_decode(pc_reader_t *r, const pc_msg_hdr_t *hd, uint16_t n, unsigned q, uint64_t K,
                          pc_pbft_stable_t *out);

/* ------------------------------------------------------------ state */

#define PBFT_MAX_BLOCKS 4  /* candidate blocks kept per sequence number */
#define PBFT_MAX_TALLIES 8 /* (view, phase, block) vote tallies per sequence number */
#define PBFT_CKPT_SLOTS 8  /* checkpoint tallies in progress */
#define PBFT_DEC_RING 512  /* decided heights kept to answer DECISION requests */
#define PBFT_ROOT_RING 512 /* execution roots remembered */
#define PBFT_VCACHE 256    /* ids of certificates already verified */
#define PBFT_MAX_SHIFT 6   /* view timeout doubles at most 2^6 times */
#define PBFT_CATCHUP 16    /* DEC-REQs in flight while catching up */
#define PBFT_CHAIN_RING 8  /* chain hashes at the last checkpoint heights (STABLE answers) */

typedef struct {
  bool used;
  bool has_batch;
  bool persisted; /* a BLOCK record was emitted for it */
  pc_hash_t id;
  pc_block_t block;
  uint8_t *batch;
  size_t batch_len;
} pbft_blk_t;

typedef struct {
  bool used;
  uint32_t view;
  uint8_t phase;
  pc_hash_t id;
  unsigned count;
  uint8_t bitmap[PC_MAX_REPLICAS / 8];
  uint8_t (*sigs)[PC_SIG_SIZE]; /* n slots, by replica id */
} pbft_tally_t;

/* State of one sequence number in the log window. */
typedef struct {
  uint64_t seq; /* 0 = unused */
  /* pre-prepare accepted in view pp_view */
  bool pp;
  uint32_t pp_view;
  pc_hash_t pp_id;
  /* my prepare vote (the primary's is inside its pre-prepare) */
  bool pvoted;
  uint32_t pvote_view;
  pc_hash_t pvote_id;
  uint8_t pvote_sig[PC_SIG_SIZE];
  /* my commit vote */
  bool cvoted;
  uint32_t cvote_view;
  pc_hash_t cvote_id;
  uint8_t cvote_sig[PC_SIG_SIZE];
  /* highest-view prepared certificate and its block */
  pc_cert_t *prep_cert; /* NULL = not prepared */
  pc_block_t prep_block;
  /* decision */
  bool decided;
  pc_hash_t dec_id;
  pc_cert_t *dec_cert;
  /* primary */
  bool need_batch;
  uint32_t need_view;
  bool want_block;
  pc_hash_t want_id;
  uint64_t want_at; /* no new BLOCK_REQ before */
  pbft_blk_t blocks[PBFT_MAX_BLOCKS];
  pbft_tally_t tallies[PBFT_MAX_TALLIES];
} pbft_slot_t;

typedef struct {
  bool used;
  uint64_t h;
  pc_hash_t digest, root, manifest;
  unsigned count;
  uint8_t bitmap[PC_MAX_REPLICAS / 8];
  uint8_t (*sigs)[PC_SIG_SIZE];
} pbft_ckpt_t;

typedef struct {
  uint64_t h;
  uint8_t *msg; /* DECISION message */
  size_t len;
} pbft_dec_t;

typedef struct pbft {
  const pc_consensus_ops_t *ops; /* must stay first */
  pc_consensus_config_t cfg;
  pc_consensus_io_t io;
  unsigned n, f, q, W, D, K;
  uint64_t L; /* log size: sequence numbers in (low, low + L] */
  uint64_t now;
  bool started, restoring, halted;
  uint64_t persist_seq;
  /* view */
  uint32_t view;
  bool active;           /* view's NEW-VIEW accepted (or view 0) */
  unsigned vc_attempts;  /* view changes since the last decision */
  uint64_t vc_deadline;  /* 0 = timer not armed */
  uint64_t vc_resend_at; /* waiting for NEW-VIEW: re-send my VIEW-CHANGE then */
  uint8_t **vc_msg;      /* per sender: latest VIEW-CHANGE */
  size_t *vc_len;
  uint32_t *vc_view;
  uint8_t *nv_msg; /* the NEW-VIEW that installed `view` (forwarded to late replicas) */
  size_t nv_len;
  uint32_t nv_view;
  /* log */
  uint64_t next;        /* lowest undecided sequence number */
  uint64_t max_issued;  /* NEW-VIEW: sequence numbers ≤ this are re-issued, primary proposes above */
  pc_hash_t chain_hash; /* chain hash of next − 1 */
  pbft_slot_t *slots;   /* L slots, seq % L */
  pbft_dec_t dec[PBFT_DEC_RING];
  struct {
    uint64_t h;
    pc_hash_t root;
  } roots[PBFT_ROOT_RING];
  uint64_t last_executed;
  uint64_t *answered; /* per sender: highest stale height answered with a DECISION */
  uint64_t seen_high; /* highest sequence number known decided elsewhere (catch-up target) */
  uint64_t req_at;    /* next DEC-REQ retry time */
  uint16_t req_peer;
  uint64_t req_hi;    /* highest sequence number asked for by DEC-REQ since the last retry */
  /* checkpoints */
  uint64_t stable_h;
  pc_hash_t stable_root, stable_manifest;
  pc_cert_t *stable_cert;
  pbft_ckpt_t ckpts[PBFT_CKPT_SLOTS];
  struct {
    uint64_t h;
    pc_hash_t chain;
  } ckchain[PBFT_CHAIN_RING]; /* chain hash at checkpoint heights decided (or jumped to) here */
  uint64_t *stable_sent;      /* per peer: the stable checkpoint last sent it in a STABLE */
  uint64_t *stable_sent_at;   /* per peer: when */
  /* catching up by state transfer: STABLE answers for one checkpoint */
  pc_claims_t claims;
  uint64_t jt_req_at;                  /* last DEC-REQ broadcast for the f+1 answers */
  uint64_t jump_h;                     /* a transfer to this checkpoint is under way (0 = none) */
  pc_hash_t jump_chain, jump_root;
  /* misc */
  pc_hash_t vcache[PBFT_VCACHE];
  unsigned vcache_pos;
  pc_consensus_stats_t st;
  pc_cert_t *tmp_cert, *tmp_cert2;
  uint8_t *buf;
  size_t buf_cap;
  uint8_t *rbuf; /* second scratch, for records */
  size_t rbuf_cap;
} pbft_t;

#define PBFT_MUT(s, m) (((s)->cfg.test_mutants & (m)) != 0)

/* pbft.c */
uint16_t pc_pbft_primary(uint32_t view, uint16_t n);
void pbft_act(pbft_t *s, const pc_cons_action_t *a);
void pbft_send(pbft_t *s, uint16_t to, const uint8_t *m, size_t len);
void pbft_broadcast(pbft_t *s, const uint8_t *m, size_t len);
void pbft_persist(pbft_t *s, const uint8_t *rec, size_t len);
bool pbft_scratch(pbft_t *s, pc_writer_t *w, size_t need);
bool pbft_rscratch(pbft_t *s, pc_writer_t *w, size_t need);
pc_msg_hdr_t pbft_hdr(const pbft_t *s, uint8_t type, uint64_t h, uint32_t view);
pbft_slot_t *pbft_slot(pbft_t *s, uint64_t seq);
uint64_t pbft_base(const pbft_t *s);
void pbft_slot_release(pbft_t *s, pbft_slot_t *x);
pbft_blk_t *pbft_blk_find(pbft_slot_t *x, const pc_hash_t *id);
pbft_blk_t *pbft_blk_add(pbft_t *s, pbft_slot_t *x, const pc_block_t *b, const uint8_t *batch, size_t len,
                         bool has_batch);
int pbft_tally_add(pbft_t *s, pbft_slot_t *x, uint32_t view, uint8_t phase, const pc_hash_t *id, uint16_t who,
                   const uint8_t sig[PC_SIG_SIZE], pbft_tally_t **out);
bool pbft_tally_voted(const pbft_slot_t *x, uint32_t view, uint8_t phase, uint16_t who);
void pbft_tally_cert(const pbft_t *s, const pbft_tally_t *t, uint8_t kind, uint64_t seq, pc_cert_t *c);
bool pbft_root_of(const pbft_t *s, uint64_t h, pc_hash_t *out);
bool pbft_vcache_has(const pbft_t *s, const pc_hash_t *id);
void pbft_vcache_add(pbft_t *s, const pc_hash_t *id);
int pbft_cert_check(pbft_t *s, const pc_cert_t *c, uint8_t kind);
void pbft_null_block(const pbft_t *s, uint64_t seq, uint32_t view, pc_block_t *b);
void pbft_try_progress(pbft_t *s, pbft_slot_t *x);
void pbft_emit_decisions(pbft_t *s);
void pbft_kick_all(pbft_t *s);
void pbft_request_block(pbft_t *s, pbft_slot_t *x, const pc_hash_t *id, int to);
uint64_t pbft_timeout(const pbft_t *s);
/* pbft_answer_decided sends `to` the DECISION of h, or when it is no longer
 * kept the STABLE of the stable checkpoint (once per checkpoint and peer
 * unless force). */
void pbft_answer_decided(pbft_t *s, uint16_t to, uint64_t h, bool force);
/* pbft_catch_up asks `to` for the decisions this replica lacks (DEC-REQs,
 * up to PBFT_CATCHUP in flight, within the log); no-op when not behind. */
void pbft_catch_up(pbft_t *s, uint16_t to);
void pbft_ckchain_note(pbft_t *s, uint64_t h, const pc_hash_t *chain);
bool pbft_ckchain_get(const pbft_t *s, uint64_t h, pc_hash_t *out);
/* pbft_jump moves the log to h + 1 once the certified state of h is
 * installed (BASE record; also replayed by restore). */
void pbft_jump(pbft_t *s, uint64_t h, const pc_hash_t *chain, const pc_hash_t *root);
/* pbft_on_stable: a STABLE answer (pbft_checkpoint.c). */
int pbft_on_stable(pbft_t *s, const pc_msg_hdr_t *hd, pc_reader_t *r);

/* pbft_view.c */
void pbft_start_view_change(pbft_t *s, uint32_t v);
void pbft_arm_vc_timer(pbft_t *s);
int pbft_on_view_change(pbft_t *s, uint16_t from, const uint8_t *m, size_t len);
int pbft_on_new_view(pbft_t *s, uint16_t from, const uint8_t *m, size_t len);
/* pc_pbft_new_view_set computes the pre-prepares a NEW-VIEW for `view`
 * must re-issue from the given decoded VIEW-CHANGEs (already checked): the
 * highest stable checkpoint min_s, and for every seq in (min_s, max_s] the
 * block of the highest-view prepared certificate, or a null block. o has
 * room for L entries; returns the count (sigs left zero) or PC_ERR_*. */
int pbft_new_view_set(pbft_t *s, uint32_t view, const pc_pbft_vc_t *vcs, unsigned k, uint64_t *min_s,
                      pc_pbft_reissue_t *o, unsigned *o_count, unsigned *min_s_vc);

/* pbft_checkpoint.c */
void pbft_checkpoint_executed(pbft_t *s, uint64_t h, const pc_hash_t *root, const pc_hash_t *manifest);
int pbft_on_checkpoint(pbft_t *s, const pc_msg_hdr_t *hd, pc_reader_t *r);
void pbft_set_stable(pbft_t *s, uint64_t h, const pc_hash_t *root, const pc_hash_t *manifest,
                     const pc_cert_t *cert, bool persist);
void pbft_gc(pbft_t *s);

/* pbft_log.c: records */
enum {
  PBFT_REC_VIEW = 1,
  PBFT_REC_BLOCK = 2,
  PBFT_REC_PREPARE = 3,
  PBFT_REC_COMMIT = 4,
  PBFT_REC_DECIDED = 5,
  PBFT_REC_STABLE = 6,
  PBFT_REC_NEWVIEW = 7,
  PBFT_REC_BASE = 8
};
void pbft_rec_view(pbft_t *s, uint32_t view, const uint8_t *vc, size_t vc_len);
void pbft_rec_newview(pbft_t *s, uint32_t view, uint64_t max_s);
void pbft_rec_block(pbft_t *s, pbft_blk_t *b);
void pbft_rec_prepare(pbft_t *s, uint64_t seq, uint32_t view, const pc_block_t *b,
                      const uint8_t sig[PC_SIG_SIZE]);
void pbft_rec_commit(pbft_t *s, uint64_t seq, uint32_t view, const pc_hash_t *id,
                     const uint8_t sig[PC_SIG_SIZE], const pc_cert_t *prepared);
void pbft_rec_decided(pbft_t *s, uint64_t seq, const uint8_t *msg, size_t len);
void pbft_rec_stable(pbft_t *s, uint64_t h, const pc_hash_t *root, const pc_hash_t *manifest,
                     const pc_cert_t *c);
void pbft_rec_base(pbft_t *s, uint64_t h, const pc_hash_t *chain, const pc_hash_t *root);
int pbft_restore(pc_consensus_t *c, const uint8_t *rec, size_t len);
void pbft_dec_store(pbft_t *s, uint64_t h, uint8_t *msg, size_t len);

#endif /* PC_PBFT_PRIVATE_H */
