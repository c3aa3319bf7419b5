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
  PC_MSG_SBFT_STABLE = 0x25, /* answer about a height below the kept decisions: the stable checkpoint */
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
  uint32_t keep_decided;        /* SBFT and PBFT: DECISIONs kept below a stable checkpoint S: those at or below
                                 * S − max(K, keep_decided) are dropped, and a replica that far behind
                                 * catches up by state transfer (STABLE answers); at most 512 are kept
                                 * in any case. Default 448. */
  uint32_t batch_max_txs;
  uint32_t batch_max_bytes;  /* ≤ PC_BATCH_MAX */
  pc_signer_t signer;
  uint32_t test_mutants;     /* PC_MUTANT_* — tests only */
} pc_consensus_config_t;

/* pc_consensus_config_defaults fills sane defaults for (n, f, my_id):
 * SBFT, broadcast votes, fast path on, Δf = 2 ms, Δc = 5 ms, timeout 50 ms,
 * W = 4, K = 64, keep 448 decisions, batch 1000 txs / 1 MiB. The signer
 * is left empty. */
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
      const pc_hash_t *chain_hash; /* SBFT catch-up: chain hash at height (f+1 agree; for the log's
                                    * base record and the next block's link), else NULL */
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
  uint64_t late;          /* PBFT: well-formed votes about a height decided here and
                           * still in its log, ignored (a slow replica's; not faults) */
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
 * nothing. (PBFT returns 0 for a late vote about a height still in its log
 * and counts it in stats.late instead: a fault-free run rejects nothing.) The buffer is the caller's; the protocol copies what it keeps. */
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

/* State-transfer bodies (types 0x03–0x06; format at the top of msg.c).
 * Limits: a manifest is 76 + 32 × chunks + 4 bytes (storage/snapshot.c),
 * sent in parts of at most PC_XFER_PART_MAX bytes; chunks are at most
 * PC_XFER_CHUNK_MAX bytes (= PC_SNAPSHOT_CHUNK, checked in xfer.c). */
#define PC_XFER_CHUNKS_MAX (1u << 20)
#define PC_XFER_CHUNK_MAX 65536u
#define PC_XFER_MANIFEST_MIN (80u + 32u)
#define PC_XFER_MANIFEST_MAX (80u + 32u * PC_XFER_CHUNKS_MAX)
#define PC_XFER_PART_MAX (1u << 20)

typedef struct {
  pc_hash_t manifest;  /* the certified manifest hash naming the snapshot */
  uint32_t index;      /* MANIFEST_REQ, MANIFEST: byte offset; CHUNK_REQ, CHUNK: chunk index */
  uint32_t total;      /* MANIFEST: whole manifest length */
  const uint8_t *data; /* MANIFEST: the part; CHUNK: the chunk (view into the message) */
  size_t len;
} pc_msg_xfer_t;

/* pc_msg_is_xfer: type is one of the four state-transfer types. The
 * driver routes these to the transfer objects (pc_xfer_*), not to the
 * protocol instance. */
bool pc_msg_is_xfer(uint8_t type);
/* pc_msg_xfer_encode writes a whole state-transfer message of type
 * hdr->type (round forced to 0); the fields of x that the type uses. */
void pc_msg_xfer_encode(pc_writer_t *w, const pc_msg_hdr_t *hdr, const pc_msg_xfer_t *x);
/* pc_msg_xfer_decode decodes the body left in r for hdr->type; every
 * rejection (wrong type, round ≠ 0, truncated, trailing, lengths, bounds;
 * see msg.c) returns a PC_ERR_* counted under PC_DEC_CONSENSUS. x->data
 * points into the message. */
int pc_msg_xfer_decode(pc_reader_t *r, const pc_msg_hdr_t *hdr, pc_msg_xfer_t *x);

/* ------------------------------------------------- state transfer (xfer.c)
 * Fetching side: a pure state machine like the protocols (no I/O, no clock,
 * no threads); one transfer at a time. Algorithm and peer policy: top of
 * xfer.c. Driver contract:
 *   PC_ACT_STATE_TRANSFER(h, root, manifest, cert) from the protocol
 *     → pc_xfer_start(x, h, manifest, now)
 *   MANIFEST / CHUNK messages (pc_msg_is_xfer) → pc_xfer_on_message
 *   timers → pc_xfer_on_tick(now) at pc_xfer_next_deadline
 *   actions: SEND (to a peer), MANIFEST (begin the install with these
 *   bytes), CHUNK (write chunk `index`), DONE (finish the install, load the
 *   state, then pc_consensus_on_transfer_done). Pointers in an action are
 *   valid only during the callback. */
#define PC_XFER_WINDOW_MAX 256

typedef enum {
  PC_XFER_ACT_SEND = 1, /* data/len to replica `to` */
  PC_XFER_ACT_MANIFEST, /* data/len: the manifest, equal to the certified hash; `to` sent it */
  PC_XFER_ACT_CHUNK,    /* chunk `index` (data/len), verified against the manifest; `to` sent it */
  PC_XFER_ACT_DONE,     /* every chunk was delivered (index = number of chunks) */
} pc_xfer_action_kind_t;

typedef struct {
  uint8_t kind; /* pc_xfer_action_kind_t */
  uint16_t to;
  uint32_t index;
  const uint8_t *data;
  size_t len;
} pc_xfer_action_t;

typedef struct {
  uint64_t chain_id;
  uint16_t n, my_id;   /* peers are every replica but my_id */
  uint32_t window;     /* chunk requests in flight, ≤ PC_XFER_WINDOW_MAX; 0 = 8 */
  uint64_t timeout_ns; /* a request unanswered this long skips its peer; 0 = 500 ms */
  void *ctx;
  void (*action)(void *ctx, const pc_xfer_action_t *a);
} pc_xfer_config_t;

typedef struct {
  uint64_t height;     /* target checkpoint */
  uint32_t chunks;     /* in the manifest (0 until it arrived) */
  uint32_t received;   /* chunks delivered */
  uint64_t requests;   /* MANIFEST_REQ + CHUNK_REQ sent */
  uint64_t timeouts;
  uint64_t bad_replies; /* manifests or chunks that failed verification */
  uint64_t rejected;   /* malformed messages */
  uint64_t stale;      /* well-formed but not asked for (late, duplicate, other target) */
  uint64_t bytes;      /* verified payload bytes received */
  uint32_t excluded;   /* peers excluded now */
} pc_xfer_stats_t;

typedef struct pc_xfer pc_xfer_t;

/* pc_xfer_new creates an idle fetcher; cfg is copied. NULL (logged) on a
 * bad config or no memory. One thread at a time (the consensus stage). */
pc_xfer_t *pc_xfer_new(const pc_xfer_config_t *cfg);
/* pc_xfer_free frees it (NULL is fine). */
void pc_xfer_free(pc_xfer_t *x);
/* pc_xfer_start begins fetching checkpoint `height` whose certified
 * manifest hash is manifest_hash (sends the first MANIFEST_REQ). A running
 * transfer to the same target continues; any other is abandoned (the
 * driver aborts its install). 0 or PC_ERR_INVALID. */
int pc_xfer_start(pc_xfer_t *x, uint64_t height, const pc_hash_t *manifest_hash, uint64_t now_ns);
/* pc_xfer_on_message hands in a MANIFEST or CHUNK from authenticated
 * replica `from`. 0 when used; PC_ERR_STATE when well-formed but not asked
 * for (no effect); PC_ERR_CHECKSUM when it fails verification (the peer is
 * excluded); decoding errors as pc_msg_xfer_decode (PC_DEC_CONSENSUS). */
int pc_xfer_on_message(pc_xfer_t *x, uint16_t from, const uint8_t *msg, size_t len, uint64_t now_ns);
/* pc_xfer_on_tick: expire requests, re-ask other peers. */
void pc_xfer_on_tick(pc_xfer_t *x, uint64_t now_ns);
/* pc_xfer_next_deadline: when on_tick is next needed (UINT64_MAX: never). */
uint64_t pc_xfer_next_deadline(const pc_xfer_t *x);
/* pc_xfer_active: a transfer is running (started, not yet DONE). */
bool pc_xfer_active(const pc_xfer_t *x);
void pc_xfer_get_stats(const pc_xfer_t *x, pc_xfer_stats_t *out);

/* Serving side (xfer_serve.c): answers MANIFEST_REQ / CHUNK_REQ from the
 * snapshots in a directory (storage's files), through storage's pc_io_t.
 * It does file I/O, so call it from the store thread (or any thread that
 * may block on disk), never from the consensus stage. One thread at a time
 * per server. */
struct pc_io;
typedef struct pc_xfer_server pc_xfer_server_t;
/* Largest reply pc_xfer_serve writes (a whole MANIFEST part). */
#define PC_XFER_REPLY_MAX (PC_MSG_HEADER_SIZE + PC_HASH_SIZE + 12 + PC_XFER_PART_MAX)
/* pc_xfer_server_new serves snapshots of snap_dir (copied) through io
 * (NULL = pc_io_posix(); must outlive the server). NULL on OOM. */
pc_xfer_server_t *pc_xfer_server_new(uint64_t chain_id, uint16_t n, uint16_t my_id, const char *snap_dir,
                                     const struct pc_io *io);
void pc_xfer_server_free(pc_xfer_server_t *s);
/* pc_xfer_serve answers one request from authenticated replica `from`:
 * 0 with the reply (MANIFEST or CHUNK, to send back to `from`) in out
 * (cap ≥ PC_XFER_REPLY_MAX is always enough) and its length in *out_len;
 * PC_ERR_NOT_FOUND when this replica has no snapshot of that height with
 * that manifest hash (send nothing); PC_ERR_RANGE for an offset or index
 * past the manifest; PC_ERR_IO; decoding errors (PC_DEC_CONSENSUS). */
int pc_xfer_serve(pc_xfer_server_t *s, uint16_t from, const uint8_t *req, size_t len, uint8_t *out, size_t cap,
                  size_t *out_len);

/* CHECKPOINT body: exec root (32) ‖ manifest hash (32) ‖ vote signature
 * (64) over pc_vote_bytes(chain, protocol, PC_PHASE_CHECKPOINT, h, 0,
 * checkpoint digest), digest = pc_checkpoint_digest(h, root, manifest). */
void pc_checkpoint_digest(pc_hash_t *out, uint64_t height, const pc_hash_t *exec_root, const pc_hash_t *manifest);

/* pc_cons_reject counts a rejection (PC_DEC_CONSENSUS) and returns err. */
static inline int pc_cons_reject(int err) { return pc_reject_note(PC_DEC_CONSENSUS, err); }

#endif /* PC_CONSENSUS_H */
