/* client.h — the client library: key handling and signed transactions.
 *
 * The second public header of txpool/ (the first is txpool.h): what a
 * client, a tool or the load generator needs to produce transactions that
 * a replica accepts. It knows nothing about any contract's argument
 * encoding (that belongs to executor/); arguments are opaque bytes here.
 *
 * Key file format (text, one line, written by pc_client_key_save):
 *   "pc-ed25519-seed:" 64 lower-case hex digits (the 32-byte seed) "\n"
 * The public key is derived from the seed on load, so a file can never hold
 * a mismatched pair. The file is created with mode 0600.
 */
#ifndef PC_TXPOOL_CLIENT_H
#define PC_TXPOOL_CLIENT_H

#include "common/tx.h"

#define PC_CLIENT_SEED_SIZE 32

typedef struct {
  uint8_t pk[PC_TX_PUBKEY_SIZE];
  uint8_t sk[64]; /* libsodium layout: seed ‖ public key */
} pc_client_key_t;

/* pc_client_key_generate makes a fresh random key pair. Returns 0 or
 * PC_ERR_UNSUPPORTED (libsodium failed to initialise). Any thread. */
int pc_client_key_generate(pc_client_key_t *key);

/* pc_client_key_from_seed derives the key pair of a 32-byte seed
 * (deterministic: tests and load generators use it). 0 or PC_ERR_UNSUPPORTED. */
int pc_client_key_from_seed(pc_client_key_t *key, const uint8_t seed[PC_CLIENT_SEED_SIZE]);

/* pc_client_key_save writes key to path (format above, mode 0600, fails
 * with PC_ERR_EXISTS rather than overwrite). 0, PC_ERR_EXISTS or PC_ERR_IO. */
int pc_client_key_save(const pc_client_key_t *key, const char *path);

/* pc_client_key_load reads a key file. 0, PC_ERR_IO (cannot read) or
 * PC_ERR_INVALID (not exactly the format above). */
int pc_client_key_load(pc_client_key_t *key, const char *path);

/* pc_client_key_wipe zeroes a key (sodium_memzero). */
void pc_client_key_wipe(pc_client_key_t *key);

/* Everything a transaction carries apart from sender and signature. */
typedef struct {
  uint64_t chain_id;
  uint64_t nonce;
  uint64_t expiry_height; /* 0 = never */
  const char *contract;   /* NUL-terminated, [a-z0-9_.-]{1,32} */
  const char *method;
  const void *args;
  uint32_t args_len;
  bool declared; /* when true, reads/writes below are carried */
  const pc_tx_key_t *reads;
  uint16_t n_reads;
  const pc_tx_key_t *writes;
  uint16_t n_writes;
} pc_client_tx_t;

/* pc_client_tx_build encodes and signs a transaction from key into
 * out[0..cap). Returns the encoded length, or PC_ERR_INVALID (bad name,
 * NULL pointer), PC_ERR_TOO_LARGE (a limit of tx.h) or PC_ERR_OVERFLOW
 * (cap too small; PC_TX_MAX always suffices). Any thread; pure apart from
 * writing out. If hash is not NULL it receives the transaction hash. */
int pc_client_tx_build(void *out, size_t cap, const pc_client_key_t *key, const pc_client_tx_t *t,
                       pc_hash_t *hash);

#endif /* PC_TXPOOL_CLIENT_H */
