/* block.h — the consensus formats every module shares: block, proposal,
 * chain hash and certificate. All integers are little-endian. Encoders and
 * decoders are symmetrical; a decoder accepts exactly what the encoder of
 * the same version writes, and nothing else (no trailing bytes, no unknown
 * enum values, no unused bitmap bits, limits enforced), bumping the
 * rejection counter of its decoder on every error.
 *
 * ---------------------------------------------------------------- block
 * A block fixes what a height decides. It never changes once proposed; a
 * re-proposal in a later round carries the same block. 91 bytes:
 *
 *   off size field        rule
 *   0   1    version      PC_BLOCK_VERSION (1)
 *   1   8    chain_id     the cluster's chain id
 *   9   8    height       ≥ 1
 *   17  2    creator      replica id of the first proposer, < PC_MAX_REPLICAS
 *   19  8    timestamp    creator's wall clock, µs since the Unix epoch
 *   27  32   exec_root    execution root of height − D (all zero while height ≤ D)
 *   59  32   batch_hash   pc_batch_hash() of the batch bytes
 *
 *   block id = BLAKE2b-256("parachain/block" ‖ 0 ‖ the 91 bytes)
 *   chain hash(h) = BLAKE2b-256("parachain/chain" ‖ 0 ‖ block id(h) ‖ chain hash(h−1)),
 *                   chain hash(0) = 32 zero bytes
 *   batch hash = BLAKE2b-256("parachain/batch" ‖ 0 ‖ batch bytes)
 *
 * ------------------------------------------------------------- proposal
 * A proposal carries a block into round `round` at its height:
 *
 *   size      field          rule
 *   1         version        PC_PROPOSAL_VERSION (1)
 *   4         round          any
 *   2         proposer       < PC_MAX_REPLICAS
 *   4 + J     justification  u32 length J ≤ PC_JUSTIFICATION_MAX, opaque to
 *                            this module (consensus defines it; empty in round 0)
 *   91        block          as above
 *   4 + B     batch          u32 length B ≤ PC_BATCH_MAX; batch_hash must match
 *
 * The batch is a sequence of transactions, each a u32 length then the
 * transaction bytes (common/tx.h); this module checks only that the
 * sequence is well formed (pc_batch_count), not the transactions.
 *
 * ---------------------------------------------------------- certificate
 * A certificate is q (or n, for the fast path) signatures on one vote:
 *
 *   size      field       rule
 *   1         version     PC_CERT_VERSION (1)
 *   1         protocol    PC_PROTO_SBFT (1) | PC_PROTO_PBFT (2)
 *   1         kind        pc_cert_kind_t, 1..4
 *   8         chain_id
 *   8         height      ≥ 1
 *   4         round       round (SBFT) or view (PBFT); 0 for checkpoints
 *   32        digest      block id, or the checkpoint digest
 *   2         n           cluster size the bitmap covers, 1..PC_MAX_REPLICAS
 *   ⌈n/8⌉     bitmap      bit i (byte i/8, bit i%8) set = replica i signed;
 *                         bits ≥ n must be 0; at least one bit set
 *   64 × k    signatures  Ed25519, one per set bit, in increasing replica id
 *
 * Each signature is over the vote bytes pc_vote_bytes() builds:
 *   "parachain/vote/v1" ‖ 0 ‖ chain_id u64 ‖ protocol u8 ‖ phase u8 ‖
 *   height u64 ‖ round u32 ‖ digest 32
 * where phase is the vote's phase (pc_vote_phase_t): a FAST and a PREPARE
 * certificate hold prepare votes, a COMMIT certificate commit votes, a
 * CHECKPOINT certificate checkpoint votes. The domain tag, chain id and
 * protocol make a signature useless in any other place.
 */
#ifndef PC_BLOCK_H
#define PC_BLOCK_H

#include "common/common.h"

#define PC_BLOCK_VERSION 1
#define PC_PROPOSAL_VERSION 1
#define PC_CERT_VERSION 1

#define PC_BLOCK_SIZE 91
#define PC_JUSTIFICATION_MAX (4u << 20) /* 4 MiB: q round-changes with certificates at n = 256 */
#define PC_BATCH_MAX (16u << 20)        /* 16 MiB */
#define PC_SIG_SIZE 64
#define PC_PUBKEY_SIZE 32
#define PC_SECKEY_SIZE 64 /* libsodium's Ed25519 secret key (seed ‖ public key) */
#define PC_VOTE_BYTES_SIZE (18 + 8 + 1 + 1 + 8 + 4 + 32)

typedef enum { PC_PROTO_SBFT = 1, PC_PROTO_PBFT = 2 } pc_protocol_t;

typedef enum {
  PC_CERT_PREPARE = 1,   /* q prepare votes: SBFT lock, PBFT prepared certificate */
  PC_CERT_FAST = 2,      /* n prepare votes: SBFT fast-path decision */
  PC_CERT_COMMIT = 3,    /* q commit votes: SBFT slow path, PBFT committed */
  PC_CERT_CHECKPOINT = 4 /* q checkpoint votes on (height, execution root, manifest) */
} pc_cert_kind_t;

typedef enum { PC_PHASE_PREPARE = 1, PC_PHASE_COMMIT = 2, PC_PHASE_CHECKPOINT = 3 } pc_vote_phase_t;

typedef struct {
  uint64_t chain_id;
  uint64_t height;
  uint16_t creator;
  uint64_t timestamp_us;
  pc_hash_t exec_root;
  pc_hash_t batch_hash;
} pc_block_t;

/* A decoded proposal. justification and batch point into the decoded
 * buffer (no copy): they live as long as it does. */
typedef struct {
  uint32_t round;
  uint16_t proposer;
  const uint8_t *justification;
  size_t justification_len;
  pc_block_t block;
  const uint8_t *batch;
  size_t batch_len;
} pc_proposal_t;

typedef struct {
  uint8_t protocol; /* pc_protocol_t */
  uint8_t kind;     /* pc_cert_kind_t */
  uint64_t chain_id;
  uint64_t height;
  uint32_t round;
  pc_hash_t digest;
  uint16_t n;
  uint8_t bitmap[PC_MAX_REPLICAS / 8];
  uint8_t sigs[PC_MAX_REPLICAS][PC_SIG_SIZE]; /* sigs[k] = k-th set bit's signature */
} pc_cert_t;

/* --- block --- */

/* pc_block_encode writes exactly PC_BLOCK_SIZE bytes into w. */
void pc_block_encode(pc_writer_t *w, const pc_block_t *b);
/* pc_block_decode reads one block from r (more may follow); 0 or PC_ERR_*.
 * Counts rejections under PC_DEC_BLOCK. */
int pc_block_decode(pc_reader_t *r, pc_block_t *b);
/* pc_block_id computes the block id (see above). */
void pc_block_id(const pc_block_t *b, pc_hash_t *id);
/* pc_chain_hash computes H(block id ‖ previous chain hash). */
void pc_chain_hash(pc_hash_t *out, const pc_hash_t *block_id, const pc_hash_t *prev_chain_hash);
/* pc_batch_hash hashes batch bytes for pc_block_t.batch_hash. */
void pc_batch_hash(pc_hash_t *out, const void *batch, size_t len);
/* pc_batch_count checks that a batch is a well-formed sequence of
 * length-prefixed transactions and returns how many, or PC_ERR_*. */
int pc_batch_count(const uint8_t *batch, size_t len);
/* pc_batch_next iterates a batch: *pos starts at 0; returns a view of the
 * next transaction (its length in *len) or NULL at the end or on damage. */
const uint8_t *pc_batch_next(const uint8_t *batch, size_t batch_len, size_t *pos, size_t *len);
/* pc_batch_append appends one length-prefixed transaction to a batch writer. */
void pc_batch_append(pc_writer_t *w, const void *tx, size_t len);

/* --- proposal --- */

/* pc_proposal_encode writes the proposal; the caller must have set
 * block.batch_hash = pc_batch_hash(batch). */
void pc_proposal_encode(pc_writer_t *w, const pc_proposal_t *p);
/* pc_proposal_decode decodes a whole buffer (no trailing bytes allowed),
 * checks the limits and that the batch matches block.batch_hash. Views in
 * *p point into buf. Counts rejections under PC_DEC_PROPOSAL. */
int pc_proposal_decode(const void *buf, size_t len, pc_proposal_t *p);

/* --- votes and certificates --- */

/* pc_vote_bytes builds the bytes a vote signature covers (see above) into
 * out, which has room for PC_VOTE_BYTES_SIZE bytes. */
void pc_vote_bytes(uint8_t out[PC_VOTE_BYTES_SIZE], uint64_t chain_id, uint8_t protocol, uint8_t phase,
                   uint64_t height, uint32_t round, const pc_hash_t *digest);
/* pc_cert_phase returns the vote phase a certificate kind holds, or 0. */
uint8_t pc_cert_phase(uint8_t kind);
/* pc_vote_sign signs the vote bytes with an Ed25519 secret key. */
void pc_vote_sign(uint8_t sig[PC_SIG_SIZE], const uint8_t seckey[PC_SECKEY_SIZE], uint64_t chain_id,
                  uint8_t protocol, uint8_t phase, uint64_t height, uint32_t round, const pc_hash_t *digest);
/* pc_vote_verify checks one vote signature; 0 or PC_ERR_SIGNATURE. */
int pc_vote_verify(const uint8_t sig[PC_SIG_SIZE], const uint8_t pubkey[PC_PUBKEY_SIZE], uint64_t chain_id,
                   uint8_t protocol, uint8_t phase, uint64_t height, uint32_t round, const pc_hash_t *digest);

/* pc_cert_init empties a certificate for (protocol, kind, chain, h, r,
 * digest) over a cluster of n replicas. */
void pc_cert_init(pc_cert_t *c, uint8_t protocol, uint8_t kind, uint64_t chain_id, uint64_t height,
                  uint32_t round, const pc_hash_t *digest, uint16_t n);
/* pc_cert_add adds replica i's signature (kept in replica order). Returns
 * 0, PC_ERR_RANGE (i ≥ n) or PC_ERR_DUPLICATE. Does not verify. */
int pc_cert_add(pc_cert_t *c, uint16_t i, const uint8_t sig[PC_SIG_SIZE]);
/* pc_cert_signers returns the number of signers. */
unsigned pc_cert_signers(const pc_cert_t *c);
/* pc_cert_has returns whether replica i signed. */
bool pc_cert_has(const pc_cert_t *c, uint16_t i);
/* pc_cert_encoded_size returns the encoded size of c. */
size_t pc_cert_encoded_size(const pc_cert_t *c);
void pc_cert_encode(pc_writer_t *w, const pc_cert_t *c);
/* pc_cert_decode reads one certificate from r (more may follow); checks the
 * structure only, not the signatures. Counts under PC_DEC_CERT. */
int pc_cert_decode(pc_reader_t *r, pc_cert_t *c);
/* pc_cert_verify checks that c is for chain_id, has at least min_signers
 * signers, all < n_keys, and that every signature verifies under
 * pubkeys[i]. Returns 0, PC_ERR_CHAIN, PC_ERR_QUORUM, PC_ERR_RANGE or
 * PC_ERR_SIGNATURE. Costs one Ed25519 verification per signer: callers
 * cache the result (by pc_cert_id) rather than verify twice. */
int pc_cert_verify(const pc_cert_t *c, uint64_t chain_id, const uint8_t (*pubkeys)[PC_PUBKEY_SIZE],
                   unsigned n_keys, unsigned min_signers);
/* pc_cert_id hashes the encoded certificate, for verification caches. */
void pc_cert_id(const pc_cert_t *c, pc_hash_t *id);

#endif /* PC_BLOCK_H */
