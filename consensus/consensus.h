/* consensus.h — the one interface every ordering protocol implements (SBFT,
 * PBFT), the shared message envelope and codec helpers, and the pluggable
 * signer.
 *
 * A protocol instance is a pure state machine: no I/O, no clock reads, no
 * threads, no global state. The driver (the node's consensus stage, or the
 * simulator in consensus/sim/) feeds it events and receives actions through
 * a callback:
 *
 *   events in                          actions out (pc_cons_action_t)
 *   pc_consensus_on_message(from, m)   PC_ACT_SEND to one replica
 *   pc_consensus_on_tick(now)          PC_ACT_BROADCAST to every other replica
 *   pc_consensus_on_batch(h, batch)    PC_ACT_PERSIST a record (see barrier)
 *   pc_consensus_on_executed(h, root)  PC_ACT_DECIDE height h with certificate
 *   pc_consensus_on_persist_done(seq)  PC_ACT_NEED_BATCH for height h
 *   pc_consensus_on_transfer_done(h)   PC_ACT_STATE_TRANSFER to a certified state
 *
 * Threads: an instance is used by one thread at a time (the consensus
 * stage); it never calls back into the driver except through io.action,
 * synchronously, from inside an event call. Pointers inside an action are
 * valid only during that callback: the driver copies what it keeps.
 *
 * Durability barrier (the driver's contract): every PC_ACT_SEND and
 * PC_ACT_BROADCAST emitted after a PC_ACT_PERSIST with sequence s must be
 * held back by the driver until record s (and all earlier ones) is durable;
 * then they are released in emission order and the driver calls
 * pc_consensus_on_persist_done(s). Records are durable in sequence order
 * (the storage log's group commit). A crash loses the records that were not
 * yet durable and every action held behind them. On restart the driver
 * creates a fresh instance and replays every durable record, oldest first,
 * with pc_consensus_restore() before pc_consensus_start(). This is how a
 * protocol acts on a vote, a lock, a round change "only after it is
 * durable" without waiting itself.
 *
 * Time: on_tick gives a monotonic time in ns; the protocol arms its own
 * timers from it and tells the driver when it next needs a tick
 * (pc_consensus_next_deadline). Block timestamps (wall clock, µs) come in
 * with the batch.
 *
 * -------------------------------------------------------- message envelope
 * Every consensus message, of either protocol, starts with the same 24-byte
 * header (little-endian):
 *
 *   off size field     rule
 *   0   1    version   PC_MSG_VERSION (1)
 *   1   1    type      a registered type; ranges: 0x01–0x1f shared by all
 *                      protocols, 0x20–0x3f SBFT, 0x40–0x5f PBFT, rest reserved
 *   2   2    sender    replica id, < n, and equal to the authenticated
 *                      dataplane peer it arrived from
 *   4   8    chain_id  the cluster's chain id
 *   12  8    height    ≥ 1 (SBFT height / PBFT sequence number)
 *   20  4    round     SBFT round, PBFT view; 0 where meaningless
 *   24  ...  body      type-specific, specified in the file that encodes it
 *                      (msg.c for the shared types, sbft_msg.c, pbft*.c)
 *
 * A whole message is at most PC_MSG_MAX bytes. Messages that others must be
 * shown are signed: votes sign pc_vote_bytes() (common/block.h) so they can
 * be gathered into certificates; any other signed message carries, as its
 * last 64 bytes, a signature over
 *   "parachain/msg/v1" ‖ 0 ‖ every preceding byte of the message
 * (the header holds the chain id, the type and thus the protocol, so the
 * domain is fixed). pc_msg_sign_finish / pc_msg_verify_trailing do this.
 *
 * Shared types (0x01–0x1f), bodies in msg.c:
 *   0x01 DECISION      answer for a decided height: block, batch, certificate
 *   0x02 CHECKPOINT    signed checkpoint vote on (h, exec root, manifest hash)
 *   0x03 MANIFEST_REQ  state transfer: ask for the manifest of checkpoint h
 *   0x04 MANIFEST      the manifest (chunk hashes) of checkpoint h
 *   0x05 CHUNK_REQ     ask for chunk i of checkpoint h
 *   0x06 CHUNK         chunk i of checkpoint h
 *   0x07 BLOCK_REQ     ask a signer for a block and its batch by block id
 *   0x08 BLOCK         a block and its batch
 */
#ifndef PC_CONSENSUS_H
#define PC_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/block.h"
#include "common/config.h"
#include "common/common.h"

/* ------------------------------------------------------------ limits */

#define PC_MSG_VERSION 1
#define PC_MSG_HEADER_SIZE 24
#define PC_MSG_MAX (PC_BATCH_MAX + PC_JUSTIFICATION_MAX + 4096)
#define PC_CONS_MAX_WINDOW 64 /* largest W */

/* Message types. Protocols own their range; add new ones in it. */
enum {
  PC_MSG_DECISION = 0x01,
  PC_MSG_CHECKPOINT = 0x02,
  PC_MSG_MANIFEST_REQ = 0x03,
  PC_MSG_MANIFEST = 0x04,
  PC_MSG_CHUNK_REQ = 0x05,
  PC_MSG_CHUNK = 0x06,
  PC_MSG_BLOCK_REQ = 0x07,
  PC_MSG_BLOCK = 0x08,
  PC_MSG_SHARED_LAST = 0x1f,

  PC_MSG_SBFT_FIRST = 0x20,
  PC_MSG_SBFT_PROPOSAL = 0x20,
  PC_MSG_SBFT_PREPARE = 0x21,
  PC_MSG_SBFT_COMMIT = 0x22,
  PC_MSG_SBFT_ROUND_CHANGE = 0x23,
  PC_MSG_SBFT_CERT = 0x24, /* collector's certificate */
  PC_MSG_SBFT_LAST = 0x3f,

  PC_MSG_PBFT_FIRST = 0x40, /* PBFT defines its types in 0x40–0x5f */
  PC_MSG_PBFT_LAST = 0x5f,
};

/* ------------------------------------------------------------ signer */

/* A pluggable signer/verifier. sign() signs `len` bytes as this replica
 * (config.my_id); verify() checks a signature by replica `signer` and
 * returns 0 or PC_ERR_SIGNATURE. Both are called from the protocol's
 * thread only. The real one is Ed25519 (pc_signer_ed25519); the simulator
 * uses a cheap keyed-hash stand-in that it checks itself. */
typedef struct {
  void *ctx;
  void (*sign)(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[PC_SIG_SIZE]);
  int (*verify)(void *ctx, uint16_t signer, const uint8_t *msg, size_t len, const uint8_t sig[PC_SIG_SIZE]);
} pc_signer_t;

/* Ed25519 signer state; the caller owns it and keeps it alive as long as
 * the protocol instance. pubkeys points to n caller-owned keys. */
typedef struct {
  uint8_t seckey[PC_SECKEY_SIZE];
  const uint8_t (*pubkeys)[PC_PUBKEY_SIZE];
  unsigned n;
} pc_ed25519_signer_t;

/* pc_signer_ed25519 fills st and returns a signer that signs with seckey
 * and verifies against pubkeys[signer] (libsodium; pc_crypto_init first).
 * Signatures equal pc_vote_sign's for vote bytes. */
pc_signer_t pc_signer_ed25519(pc_ed25519_signer_t *st, const uint8_t seckey[PC_SECKEY_SIZE],
                              const uint8_t (*pubkeys)[PC_PUBKEY_SIZE], unsigned n);

/* ------------------------------------------------------------ config */

/* pc_vote_mode_t (PC_VOTES_BROADCAST | PC_VOTES_COLLECTOR) comes from
 * common/config.h, so a cluster file's setting passes straight through. */

/* Test-only mutants: each disables one safety rule so the simulator can
 * show that its checks catch the break. NEVER set outside tests; a protocol
 * that does not know a flag ignores it. */
enum {
  PC_MUTANT_NO_LOCK = 1u << 0,          /* proposal rule ignores certificates (B_c) */
  PC_MUTANT_NO_JUSTIFY = 1u << 1,       /* voters accept any justification / none */
  PC_MUTANT_OLD_RC = 1u << 2,           /* justification may reuse earlier-round round-changes */
  PC_MUTANT_VOTE_LEFT_ROUND = 1u << 3,  /* keeps commit-voting in rounds it has left */
  PC_MUTANT_QUORUM_2F = 1u << 4,        /* quorum of 2f instead of q */
  PC_MUTANT_FORGET_ON_RESTART = 1u << 5 /* restore ignores vote and round records */
};

typedef struct {
  uint8_t protocol;   /* PC_PROTO_SBFT | PC_PROTO_PBFT */
  uint16_t n, f;      /* n ≥ 3f+1, n ≤ PC_MAX_REPLICAS */
  uint16_t my_id;     /* < n */
  uint64_t chain_id;
  uint8_t vote_mode;  /* pc_vote_mode_t (SBFT) */
  bool fast_path;     /* SBFT: decide on n prepare votes */
  uint64_t delta_fast_ns;    /* SBFT Δf: wait for the fast path before commit-voting (0 = at once) */
  uint64_t delta_collect_ns; /* SBFT Δc: collector fallback to broadcast */
  uint64_t base_timeout_ns;  /* round / view timeout; doubles per round, resets on a decision */
  uint32_t window;           /* W heights in flight, 1..PC_CONS_MAX_WINDOW; D = 2W */
  uint32_t checkpoint_interval; /* K heights between checkpoints (0 = none) */
  uint32_t batch_max_txs;
  uint32_t batch_max_bytes;  /* ≤ PC_BATCH_MAX */
  pc_signer_t signer;
  uint32_t test_mutants;     /* PC_MUTANT_* — tests only */
} pc_consensus_config_t;

/* pc_consensus_config_defaults fills sane defaults for (n, f, my_id):
 * SBFT, broadcast votes, fast path on, Δf = 2 ms, Δc = 5 ms, timeout 50 ms,
 * W = 4, K = 64, batch 1000 txs / 1 MiB. The signer is left empty. */
void pc_consensus_config_defaults(pc_consensus_config_t *cfg, uint16_t n, uint16_t f, uint16_t my_id);
/* pc_consensus_config_check validates a whole config (n ≥ 3f+1, ids,
 * window, batch limits, signer set); 0 or PC_ERR_CONFIG (logged). */
int pc_consensus_config_check(const pc_consensus_config_t *cfg);
/* pc_quorum returns q = ⌈(n+f+1)/2⌉. */
static inline unsigned pc_quorum(unsigned n, unsigned f) { return (n + f + 2) / 2; }

/* ------------------------------------------------------------ actions */

typedef enum {
  PC_ACT_SEND = 1,       /* u.msg to replica `to` */
  PC_ACT_BROADCAST,      /* u.msg to every replica but this one */
  PC_ACT_PERSIST,        /* u.persist: make durable, then on_persist_done(seq) */
  PC_ACT_DECIDE,         /* u.decide: heights strictly in order 1, 2, 3, ... */
  PC_ACT_NEED_BATCH,     /* u.need_batch: answer with on_batch(height, ...) */
  PC_ACT_STATE_TRANSFER, /* u.transfer: fetch the certified state, then on_transfer_done */
} pc_cons_action_kind_t;

typedef struct {
  uint8_t kind; /* pc_cons_action_kind_t */
  union {
    struct {
      uint16_t to; /* PC_ACT_SEND only */
      const uint8_t *data;
      size_t len;
    } msg;
    struct {
      uint64_t seq; /* 1, 2, 3, ... per instance lifetime (restarts from 1 after restore) */
      const uint8_t *data;
      size_t len;
    } persist;
    struct {
      uint64_t height;
      const pc_block_t *block;
      const pc_hash_t *block_id;
      const pc_hash_t *chain_hash;
      const uint8_t *batch;
      size_t batch_len;
      const pc_cert_t *cert; /* FAST or COMMIT (SBFT), COMMIT (PBFT) */
    } decide;
    struct {
      uint64_t height;
      uint32_t max_txs;
      uint32_t max_bytes;
    } need_batch;
    struct {
      uint64_t height;             /* the certified height to reach */
      const pc_hash_t *exec_root;  /* its certified execution root */
      const pc_hash_t *manifest;   /* snapshot manifest hash (checkpoint) or NULL */
      const pc_cert_t *cert;       /* the certificate that certifies it */
    } transfer;
  } u;
} pc_cons_action_t;

typedef struct {
  void *ctx;
  void (*action)(void *ctx, const pc_cons_action_t *a);
} pc_consensus_io_t;

/* Per-instance counters (never reset). */
typedef struct {
  uint64_t msgs_sent;     /* SEND = 1, BROADCAST = n−1 */
  uint64_t bytes_sent;    /* same weighting */
  uint64_t msgs_received;
  uint64_t rejected;      /* messages refused (malformed, bad signature, stale, ...) */
  uint64_t signs;
  uint64_t verifies;      /* signature verifications actually performed */
  uint64_t decided;       /* heights decided */
  uint64_t fast_decisions;
  uint64_t round_changes; /* rounds / views left on timeout */
  uint64_t last_decided;  /* highest height decided in order */
  uint64_t stable_checkpoint; /* highest height with a checkpoint certificate (0 = none) */
} pc_consensus_stats_t;

/* ------------------------------------------------------------ interface */

typedef struct pc_consensus pc_consensus_t;

/* A protocol is a table of these. Every implementation embeds
 * `const pc_consensus_ops_t *ops` as the FIRST member of its instance
 * struct, so a pc_consensus_t* is a pointer to that member. See
 * consensus/README.md, "How to add a protocol". */
typedef struct {
  const char *name;
  pc_consensus_t *(*create)(const pc_consensus_config_t *cfg, const pc_consensus_io_t *io);
  void (*destroy)(pc_consensus_t *c);
  int (*restore)(pc_consensus_t *c, const uint8_t *rec, size_t len);
  int (*start)(pc_consensus_t *c, uint64_t now_ns);
  int (*on_message)(pc_consensus_t *c, uint16_t from, const uint8_t *msg, size_t len);
  void (*on_tick)(pc_consensus_t *c, uint64_t now_ns);
  int (*on_batch)(pc_consensus_t *c, uint64_t height, const uint8_t *batch, size_t len, uint64_t timestamp_us);
  int (*on_executed)(pc_consensus_t *c, uint64_t height, const pc_hash_t *exec_root, const pc_hash_t *manifest);
  void (*on_persist_done)(pc_consensus_t *c, uint64_t seq);
  int (*on_transfer_done)(pc_consensus_t *c, uint64_t height, const pc_hash_t *exec_root);
  uint64_t (*next_deadline)(const pc_consensus_t *c);
  void (*get_stats)(const pc_consensus_t *c, pc_consensus_stats_t *out);
} pc_consensus_ops_t;

struct pc_consensus {
  const pc_consensus_ops_t *ops;
};

extern const pc_consensus_ops_t pc_sbft_ops;
/* Defined by pbft*.c when present. Weak for everyone but consensus.c
 * (built with PC_HAVE_PBFT when pbft.c exists), whose strong reference
 * makes the static linker pull PBFT in; SBFT still builds alone. */
#ifdef PC_HAVE_PBFT
extern const pc_consensus_ops_t pc_pbft_ops;
#else
extern const pc_consensus_ops_t pc_pbft_ops __attribute__((weak));
#endif

/* pc_consensus_create checks cfg (pc_consensus_config_check) and creates an
 * instance of cfg->protocol that emits actions through io (copied). Returns
 * NULL and logs on a bad config, an unknown or absent protocol, or no
 * memory. The caller owns the instance (pc_consensus_destroy); cfg is
 * copied, the signer's ctx must outlive the instance. */
pc_consensus_t *pc_consensus_create(const pc_consensus_config_t *cfg, const pc_consensus_io_t *io);
/* pc_consensus_destroy frees an instance (NULL is fine). */
void pc_consensus_destroy(pc_consensus_t *c);
/* pc_consensus_restore replays one durable record (the bytes of an earlier
 * PC_ACT_PERSIST), oldest first, before pc_consensus_start. Emits no
 * actions. 0, or PC_ERR_CORRUPT / PC_ERR_STATE (after start). */
int pc_consensus_restore(pc_consensus_t *c, const uint8_t *rec, size_t len);
/* pc_consensus_start begins operation at time now_ns (arms timers, asks for
 * batches, re-sends what a restart must re-send). Once. */
int pc_consensus_start(pc_consensus_t *c, uint64_t now_ns);
/* pc_consensus_on_message hands in one message from authenticated replica
 * `from`. The protocol decodes strictly; a malformed, stale, out-of-window,
 * duplicate or badly signed message returns a PC_ERR_* (counted with
 * pc_reject_note under PC_DEC_CONSENSUS and in stats.rejected) and changes
 * nothing. The buffer is the caller's; the protocol copies what it keeps. */
int pc_consensus_on_message(pc_consensus_t *c, uint16_t from, const uint8_t *msg, size_t len);
/* pc_consensus_on_tick reports the current monotonic time; fires timers. */
void pc_consensus_on_tick(pc_consensus_t *c, uint64_t now_ns);
/* pc_consensus_on_batch answers PC_ACT_NEED_BATCH for `height` with a batch
 * (pc_batch_* format, possibly empty) and the wall clock. The batch is
 * copied. PC_ERR_STATE if the height no longer needs one (ignored). */
int pc_consensus_on_batch(pc_consensus_t *c, uint64_t height, const uint8_t *batch, size_t len,
                          uint64_t timestamp_us);
/* pc_consensus_on_executed reports that decided height `height` executed to
 * exec_root; manifest is the snapshot manifest hash when height is a
 * checkpoint height (multiple of K), else NULL. Heights in order. */
int pc_consensus_on_executed(pc_consensus_t *c, uint64_t height, const pc_hash_t *exec_root,
                             const pc_hash_t *manifest);
/* pc_consensus_on_persist_done: records up to seq are durable. */
void pc_consensus_on_persist_done(pc_consensus_t *c, uint64_t seq);
/* pc_consensus_on_transfer_done: the state transfer asked for reached
 * `height` with exec_root (already checked against the certificate). */
int pc_consensus_on_transfer_done(pc_consensus_t *c, uint64_t height, const pc_hash_t *exec_root);
/* pc_consensus_next_deadline returns the monotonic time of the next timer,
 * or UINT64_MAX when none is armed. */
uint64_t pc_consensus_next_deadline(const pc_consensus_t *c);
void pc_consensus_get_stats(const pc_consensus_t *c, pc_consensus_stats_t *out);

/* -------------------------------------------------- message codec helpers
 * Shared by both protocols (msg.c). */

typedef struct {
  uint8_t type;
  uint16_t sender;
  uint64_t chain_id;
  uint64_t height;
  uint32_t round;
} pc_msg_hdr_t;

/* pc_msg_put_header writes the 24-byte envelope header. */
void pc_msg_put_header(pc_writer_t *w, const pc_msg_hdr_t *h);
/* pc_msg_get_header decodes the header from the start of msg and leaves r
 * on the body. Rejects (PC_DEC_CONSENSUS): truncated, len > PC_MSG_MAX
 * (PC_ERR_TOO_LARGE), version (PC_ERR_VERSION), unregistered type range
 * (PC_ERR_INVALID), chain id ≠ chain_id (PC_ERR_CHAIN), sender ≥ n or
 * sender ≠ from (PC_ERR_RANGE), height 0 (PC_ERR_RANGE). from =
 * PC_MSG_ANY_SENDER skips the sender = from check (for messages relayed
 * inside others, e.g. round-changes in a justification). */
#define PC_MSG_ANY_SENDER 0xffffu
int pc_msg_get_header(pc_reader_t *r, const uint8_t *msg, size_t len, uint64_t chain_id, uint16_t n,
                      uint16_t from, pc_msg_hdr_t *h);
/* pc_msg_sign_finish appends the trailing signature over w's bytes so far
 * (see the envelope). Needs a real buffer (not a measuring writer). */
void pc_msg_sign_finish(pc_writer_t *w, const pc_signer_t *s);
/* pc_msg_verify_trailing checks the last 64 bytes of msg as signer's
 * signature over the rest; 0, PC_ERR_TRUNCATED or PC_ERR_SIGNATURE. */
int pc_msg_verify_trailing(const pc_signer_t *s, uint16_t signer, const uint8_t *msg, size_t len);

/* pc_signer_vote_sign / _verify sign or check pc_vote_bytes(...) with s. */
void pc_signer_vote_sign(const pc_signer_t *s, uint8_t sig[PC_SIG_SIZE], uint64_t chain_id, uint8_t protocol,
                         uint8_t phase, uint64_t height, uint32_t round, const pc_hash_t *digest);
int pc_signer_vote_verify(const pc_signer_t *s, uint16_t signer, const uint8_t sig[PC_SIG_SIZE],
                          uint64_t chain_id, uint8_t protocol, uint8_t phase, uint64_t height, uint32_t round,
                          const pc_hash_t *digest);
/* pc_signer_cert_verify is pc_cert_verify through a pluggable signer: c is
 * for chain_id, over n replicas, has ≥ min_signers signers, every signature
 * verifies. Adds the verifications performed to *verifies if non-NULL. */
int pc_signer_cert_verify(const pc_signer_t *s, const pc_cert_t *c, uint64_t chain_id, uint16_t n,
                          unsigned min_signers, uint64_t *verifies);

/* Shared message bodies (msg.c). Views point into the message. */

/* DECISION body: block (91) ‖ batch (u32 len ‖ bytes) ‖ certificate. */
typedef struct {
  pc_block_t block;
  const uint8_t *batch;
  size_t batch_len;
  pc_cert_t *cert; /* caller-provided storage (pc_cert_t is ~16 KiB) */
} pc_msg_decision_t;
/* pc_msg_decision_encode writes a whole DECISION message (header from hdr,
 * type forced to PC_MSG_DECISION). */
void pc_msg_decision_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const pc_msg_decision_t *d);
/* pc_msg_decision_decode decodes the body left in r (whole rest); checks
 * batch hash, block height/chain = header's, cert height/chain/digest =
 * block's. Structure only, signatures are the caller's job. */
int pc_msg_decision_decode(pc_reader_t *r, const pc_msg_hdr_t *hdr, pc_msg_decision_t *d);

/* BLOCK_REQ body: block id (32). BLOCK body: block (91) ‖ batch (u32 ‖ bytes). */
void pc_msg_block_req_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const pc_hash_t *block_id);
int pc_msg_block_req_decode(pc_reader_t *r, pc_hash_t *block_id);
void pc_msg_block_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const pc_block_t *b, const uint8_t *batch,
                         size_t batch_len);
int pc_msg_block_decode(pc_reader_t *r, const pc_msg_hdr_t *hdr, pc_block_t *b, const uint8_t **batch,
                        size_t *batch_len);

/* CHECKPOINT body: exec root (32) ‖ manifest hash (32) ‖ vote signature
 * (64) over pc_vote_bytes(chain, protocol, PC_PHASE_CHECKPOINT, h, 0,
 * checkpoint digest), digest = pc_checkpoint_digest(h, root, manifest). */
void pc_checkpoint_digest(pc_hash_t *out, uint64_t height, const pc_hash_t *exec_root, const pc_hash_t *manifest);

/* pc_cons_reject counts a rejection (PC_DEC_CONSENSUS) and returns err. */
static inline int pc_cons_reject(int err) { return pc_reject_note(PC_DEC_CONSENSUS, err); }

#endif /* PC_CONSENSUS_H */
