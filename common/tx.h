/* tx.h — the transaction format. All integers little-endian.
 *
 *   size        field          rule
 *   1           version        PC_TX_VERSION (1)
 *   8           chain_id       must equal the cluster's chain id (checked by the verifier)
 *   32          sender         Ed25519 public key of the signer
 *   8           nonce          per-sender, starts at 0, consecutive
 *   8           expiry_height  0 = never; else invalid in blocks at heights > expiry_height
 *   1 + C       contract       u8 length 1..PC_TX_NAME_MAX, bytes [a-z0-9_.-]
 *   1 + M       method         u8 length 1..PC_TX_NAME_MAX, bytes [a-z0-9_.-]
 *   4 + A       args           u32 length ≤ PC_TX_ARGS_MAX, opaque to this module
 *   1           declared       0 = no declared access (the executor runs it
 *                              optimistically); 1 = read and write sets follow
 *   if declared = 1:
 *     2         n_reads        ≤ PC_TX_KEYS_MAX
 *     n_reads × (2 + K)        u16 length 1..PC_TX_KEY_MAX, then the key
 *     2         n_writes       ≤ PC_TX_KEYS_MAX
 *     n_writes × (2 + K)       as for reads
 *   64          signature      Ed25519 over "parachain/tx/v1" ‖ 0 ‖ every byte above
 *
 * Keys in the declared sets are the contract's own keys (contracts see
 * only their own key space). A write implies the right to read. The whole
 * encoding is at most PC_TX_MAX bytes. Nothing may follow the signature.
 *
 *   tx hash = BLAKE2b-256("parachain/tx" ‖ 0 ‖ the whole encoding, signature included)
 *
 * Decoding (pc_tx_decode) checks structure and limits only; the signature
 * is checked by pc_tx_verify, once per replica (txpool's verify stage).
 */
#ifndef PC_TX_H
#define PC_TX_H

#include "common/common.h"

#define PC_TX_VERSION 1
#define PC_TX_MAX (128u << 10)     /* whole encoding */
#define PC_TX_NAME_MAX 32          /* contract and method names */
#define PC_TX_ARGS_MAX (64u << 10) /* argument bytes */
#define PC_TX_KEYS_MAX 64          /* keys per declared set */
#define PC_TX_KEY_MAX 256          /* bytes per key */
#define PC_TX_SIG_SIZE 64
#define PC_TX_PUBKEY_SIZE 32
#define PC_TX_SIG_TAG "parachain/tx/v1" /* signed with its NUL */
/* Smallest valid encoding: one-byte names, no args, no declared sets. */
#define PC_TX_MIN_SIZE (1 + 8 + PC_TX_PUBKEY_SIZE + 8 + 8 + 2 + 2 + 4 + 1 + PC_TX_SIG_SIZE)

typedef struct {
  const uint8_t *p; /* view into the decoded buffer */
  uint16_t len;
} pc_tx_key_t;

/* A decoded transaction. Views point into the buffer given to
 * pc_tx_decode, which must outlive this struct. */
typedef struct {
  uint64_t chain_id;
  uint8_t sender[PC_TX_PUBKEY_SIZE];
  uint64_t nonce;
  uint64_t expiry_height;
  char contract[PC_TX_NAME_MAX + 1]; /* NUL-terminated copy */
  char method[PC_TX_NAME_MAX + 1];
  const uint8_t *args;
  uint32_t args_len;
  bool declared;
  uint16_t n_reads, n_writes;
  pc_tx_key_t reads[PC_TX_KEYS_MAX];
  pc_tx_key_t writes[PC_TX_KEYS_MAX];
  uint8_t sig[PC_TX_SIG_SIZE];
  const uint8_t *raw; /* the whole encoding */
  size_t raw_len;
  pc_hash_t hash; /* filled by pc_tx_decode */
} pc_tx_t;

/* pc_tx_decode parses exactly len bytes as one transaction, checks every
 * limit and character rule above, and computes tx->hash. Returns 0 or a
 * PC_ERR_* (TRUNCATED, TRAILING, VERSION, TOO_LARGE, INVALID, RANGE),
 * counted under PC_DEC_TX. Does not check the signature or the chain id. */
int pc_tx_decode(const void *buf, size_t len, pc_tx_t *tx);

/* pc_tx_verify checks the Ed25519 signature of a decoded transaction:
 * 0 or PC_ERR_SIGNATURE (PC_ERR_NOMEM if a transaction above 4 KiB cannot
 * get its temporary copy). One libsodium verification (~50 µs). Any thread;
 * pc_crypto_init must have run. */
int pc_tx_verify(const pc_tx_t *tx);

/* pc_tx_hash_bytes computes the hash of an encoded transaction. */
void pc_tx_hash_bytes(pc_hash_t *out, const void *buf, size_t len);

/* pc_tx_encode writes tx (all fields but raw/raw_len/hash) and signs it
 * with seckey, whose public half must equal tx->sender. Returns the
 * encoded length, or PC_ERR_OVERFLOW / PC_ERR_TOO_LARGE / PC_ERR_INVALID.
 * tx->sig is ignored and overwritten in the output. */
int pc_tx_encode_signed(void *out, size_t cap, const pc_tx_t *tx, const uint8_t seckey[64]);

/* pc_tx_encoded_size returns the size pc_tx_encode_signed would write for
 * tx (limits are not checked here). Pure. */
size_t pc_tx_encoded_size(const pc_tx_t *tx);

/* pc_tx_name_valid says whether s[0..len) is a valid contract or method
 * name: 1..PC_TX_NAME_MAX bytes of [a-z0-9_.-]. Pure. */
bool pc_tx_name_valid(const char *s, size_t len);

#endif /* PC_TX_H */
