/* client.c — client keys and transaction building (see client.h). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "txpool/client.h"

#define KEY_PREFIX "pc-ed25519-seed:"

int pc_client_key_from_seed(pc_client_key_t *key, const uint8_t seed[PC_CLIENT_SEED_SIZE]) {
  if (pc_crypto_init() < 0) return PC_ERR_UNSUPPORTED;
  crypto_sign_seed_keypair(key->pk, key->sk, seed);
  return 0;
}

int pc_client_key_generate(pc_client_key_t *key) {
  if (pc_crypto_init() < 0) return PC_ERR_UNSUPPORTED;
  crypto_sign_keypair(key->pk, key->sk);
  return 0;
}

void pc_client_key_wipe(pc_client_key_t *key) { sodium_memzero(key, sizeof *key); }

int pc_client_key_save(const pc_client_key_t *key, const char *path) {
  char line[sizeof KEY_PREFIX + 2 * PC_CLIENT_SEED_SIZE + 2];
  memcpy(line, KEY_PREFIX, sizeof KEY_PREFIX - 1);
  pc_hex_encode(line + sizeof KEY_PREFIX - 1, key->sk, PC_CLIENT_SEED_SIZE);
  size_t n = sizeof KEY_PREFIX - 1 + 2 * PC_CLIENT_SEED_SIZE;
  line[n++] = '\n';
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    PC_ERROR("client key %s: cannot create: %s", path, strerror(e));
    return e == EEXIST ? PC_ERR_EXISTS : PC_ERR_IO;
  }
  ssize_t w = write(fd, line, n);
  int rc = (w == (ssize_t)n && fsync(fd) == 0) ? 0 : PC_ERR_IO;
  if (close(fd) != 0) rc = PC_ERR_IO;
  sodium_memzero(line, sizeof line);
  if (rc) PC_ERROR("client key %s: write failed", path);
  return rc;
}

int pc_client_key_load(pc_client_key_t *key, const char *path) {
  FILE *f = fopen(path, "re");
  if (!f) {
    PC_ERROR("client key %s: cannot open: %s", path, strerror(errno));
    return PC_ERR_IO;
  }
  char buf[160];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  size_t want = sizeof KEY_PREFIX - 1 + 2 * PC_CLIENT_SEED_SIZE;
  int rc = PC_ERR_INVALID;
  uint8_t seed[PC_CLIENT_SEED_SIZE];
  if ((n == want || (n == want + 1 && buf[want] == '\n')) && memcmp(buf, KEY_PREFIX, sizeof KEY_PREFIX - 1) == 0 &&
      pc_hex_decode(seed, sizeof seed, buf + sizeof KEY_PREFIX - 1, 2 * PC_CLIENT_SEED_SIZE) == 0)
    rc = pc_client_key_from_seed(key, seed);
  if (rc == PC_ERR_INVALID) PC_ERROR("client key %s: not a key file (expected \"%s\" and 64 hex digits)", path, KEY_PREFIX);
  sodium_memzero(seed, sizeof seed);
  sodium_memzero(buf, sizeof buf);
  return rc;
}

int pc_client_tx_build(void *out, size_t cap, const pc_client_key_t *key, const pc_client_tx_t *t,
                       pc_hash_t *hash) {
  if (!key || !t || !t->contract || !t->method) return PC_ERR_INVALID;
  size_t cl = strnlen(t->contract, PC_TX_NAME_MAX + 1), ml = strnlen(t->method, PC_TX_NAME_MAX + 1);
  if (cl > PC_TX_NAME_MAX || ml > PC_TX_NAME_MAX) return PC_ERR_TOO_LARGE;
  if (t->declared && (t->n_reads > PC_TX_KEYS_MAX || t->n_writes > PC_TX_KEYS_MAX)) return PC_ERR_TOO_LARGE;
  if (t->declared && ((t->n_reads && !t->reads) || (t->n_writes && !t->writes))) return PC_ERR_INVALID;
  /* pc_tx_t is ~2.5 KiB (fixed key arrays): fine on any thread's stack. */
  pc_tx_t tx;
  memset(&tx, 0, sizeof tx);
  tx.chain_id = t->chain_id;
  memcpy(tx.sender, key->pk, PC_TX_PUBKEY_SIZE);
  tx.nonce = t->nonce;
  tx.expiry_height = t->expiry_height;
  memcpy(tx.contract, t->contract, cl);
  memcpy(tx.method, t->method, ml);
  tx.args = t->args;
  tx.args_len = t->args_len;
  tx.declared = t->declared;
  if (t->declared) {
    tx.n_reads = t->n_reads;
    tx.n_writes = t->n_writes;
    if (t->n_reads) memcpy(tx.reads, t->reads, t->n_reads * sizeof *t->reads);
    if (t->n_writes) memcpy(tx.writes, t->writes, t->n_writes * sizeof *t->writes);
  }
  int len = pc_tx_encode_signed(out, cap, &tx, key->sk);
  if (len > 0 && hash) pc_tx_hash_bytes(hash, out, (size_t)len);
  return len;
}
