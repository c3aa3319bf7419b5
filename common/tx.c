/* tx.c — transaction codec, hash and signature (format in tx.h).
 *
 * The decoder accepts exactly what pc_tx_encode_signed writes and nothing
 * else. Error codes per field:
 *   input longer than PC_TX_MAX                  PC_ERR_TOO_LARGE
 *   input ends inside a field                    PC_ERR_TRUNCATED
 *   version ≠ PC_TX_VERSION                      PC_ERR_VERSION
 *   name length > PC_TX_NAME_MAX                 PC_ERR_TOO_LARGE
 *   name empty or a byte outside [a-z0-9_.-]     PC_ERR_INVALID
 *   args length > PC_TX_ARGS_MAX                 PC_ERR_TOO_LARGE
 *   declared ∉ {0, 1}                            PC_ERR_RANGE
 *   n_reads / n_writes > PC_TX_KEYS_MAX          PC_ERR_TOO_LARGE
 *   key length > PC_TX_KEY_MAX                   PC_ERR_TOO_LARGE
 *   key length 0                                 PC_ERR_INVALID
 *   bytes after the signature                    PC_ERR_TRAILING
 * Every rejection is counted under PC_DEC_TX.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/tx.h"

#define TAG_TX_HASH "parachain/tx"
#define TAG_TX_SIG_LEN (sizeof(PC_TX_SIG_TAG)) /* tag bytes and its NUL */

/* Signed messages up to this size are assembled on the stack; larger ones
 * (rare: big argument blobs) in a heap buffer. */
#define SIGN_STACK_MAX 4096

static bool name_char_ok(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

bool pc_tx_name_valid(const char *s, size_t len) {
  if (len == 0 || len > PC_TX_NAME_MAX) return false;
  for (size_t i = 0; i < len; i++)
    if (!name_char_ok((uint8_t)s[i])) return false;
  return true;
}

/* Reads a u8-length name into out (NUL-terminated); sets the reader's error. */
static void get_name(pc_reader_t *r, char out[PC_TX_NAME_MAX + 1]) {
  out[0] = 0;
  uint8_t n = pc_get_u8(r);
  if (pc_reader_ok(r)) return;
  if (n > PC_TX_NAME_MAX) {
    pc_reader_fail(r, PC_ERR_TOO_LARGE);
    return;
  }
  const uint8_t *p = pc_get_view(r, n);
  if (!p) return;
  if (!pc_tx_name_valid((const char *)p, n)) {
    pc_reader_fail(r, PC_ERR_INVALID);
    return;
  }
  memcpy(out, p, n);
  out[n] = 0;
}

static uint16_t get_keys(pc_reader_t *r, pc_tx_key_t *keys) {
  uint16_t n = pc_get_u16(r);
  if (pc_reader_ok(r)) return 0;
  if (n > PC_TX_KEYS_MAX) {
    pc_reader_fail(r, PC_ERR_TOO_LARGE);
    return 0;
  }
  for (uint16_t i = 0; i < n; i++) {
    size_t len;
    const uint8_t *p = pc_get_blob16(r, PC_TX_KEY_MAX, &len);
    if (!p) return 0;
    if (len == 0) {
      pc_reader_fail(r, PC_ERR_INVALID);
      return 0;
    }
    keys[i].p = p;
    keys[i].len = (uint16_t)len;
  }
  return n;
}

int pc_tx_decode(const void *buf, size_t len, pc_tx_t *tx) {
  memset(tx, 0, offsetof(pc_tx_t, reads));
  tx->raw = buf;
  tx->raw_len = len;
  if (len > PC_TX_MAX) return pc_reject_note(PC_DEC_TX, PC_ERR_TOO_LARGE);
  pc_reader_t r;
  pc_reader_init(&r, buf, len);
  uint8_t version = pc_get_u8(&r);
  if (pc_reader_ok(&r)) return pc_reject_note(PC_DEC_TX, pc_reader_ok(&r));
  if (version != PC_TX_VERSION) return pc_reject_note(PC_DEC_TX, PC_ERR_VERSION);
  tx->chain_id = pc_get_u64(&r);
  pc_get_bytes(&r, tx->sender, PC_TX_PUBKEY_SIZE);
  tx->nonce = pc_get_u64(&r);
  tx->expiry_height = pc_get_u64(&r);
  get_name(&r, tx->contract);
  get_name(&r, tx->method);
  size_t args_len = 0;
  tx->args = pc_get_blob32(&r, PC_TX_ARGS_MAX, &args_len);
  tx->args_len = (uint32_t)args_len;
  uint8_t declared = pc_get_u8(&r);
  if (!pc_reader_ok(&r) && declared > 1) pc_reader_fail(&r, PC_ERR_RANGE);
  tx->declared = declared == 1;
  tx->n_reads = tx->n_writes = 0;
  if (tx->declared && !pc_reader_ok(&r)) {
    tx->n_reads = get_keys(&r, tx->reads);
    tx->n_writes = get_keys(&r, tx->writes);
  }
  pc_get_bytes(&r, tx->sig, PC_TX_SIG_SIZE);
  int err = pc_reader_finish(&r);
  if (err) return pc_reject_note(PC_DEC_TX, err);
  pc_tx_hash_bytes(&tx->hash, buf, len);
  return 0;
}

void pc_tx_hash_bytes(pc_hash_t *out, const void *buf, size_t len) { pc_hash_tagged(out, TAG_TX_HASH, buf, len); }

/* Assembles tag ‖ 0 ‖ body into a stack buffer or, when too big, a heap
 * buffer the caller frees (*heap). Returns NULL only when out of memory. */
static uint8_t *signed_message(uint8_t stack[SIGN_STACK_MAX], uint8_t **heap, const uint8_t *body, size_t len,
                               size_t *msg_len) {
  *msg_len = TAG_TX_SIG_LEN + len;
  uint8_t *m = stack;
  *heap = NULL;
  if (*msg_len > SIGN_STACK_MAX) {
    m = *heap = malloc(*msg_len);
    if (!m) return NULL;
  }
  memcpy(m, PC_TX_SIG_TAG, TAG_TX_SIG_LEN);
  if (len) memcpy(m + TAG_TX_SIG_LEN, body, len);
  return m;
}

int pc_tx_verify(const pc_tx_t *tx) {
  if (!tx->raw || tx->raw_len < PC_TX_SIG_SIZE) return PC_ERR_SIGNATURE;
  uint8_t stack[SIGN_STACK_MAX], *heap;
  size_t mlen;
  const uint8_t *m = signed_message(stack, &heap, tx->raw, tx->raw_len - PC_TX_SIG_SIZE, &mlen);
  if (!m) return PC_ERR_NOMEM;
  int rc = crypto_sign_verify_detached(tx->sig, m, mlen, tx->sender);
  free(heap);
  return rc == 0 ? 0 : PC_ERR_SIGNATURE;
}

static void put_keys(pc_writer_t *w, const pc_tx_key_t *keys, uint16_t n) {
  pc_put_u16(w, n);
  for (uint16_t i = 0; i < n; i++) pc_put_blob16(w, keys[i].p, keys[i].len);
}

static int check_fields(const pc_tx_t *tx) {
  size_t cl = strnlen(tx->contract, PC_TX_NAME_MAX + 1), ml = strnlen(tx->method, PC_TX_NAME_MAX + 1);
  if (cl > PC_TX_NAME_MAX || ml > PC_TX_NAME_MAX) return PC_ERR_TOO_LARGE;
  if (!pc_tx_name_valid(tx->contract, cl) || !pc_tx_name_valid(tx->method, ml)) return PC_ERR_INVALID;
  if (tx->args_len > PC_TX_ARGS_MAX) return PC_ERR_TOO_LARGE;
  if (tx->args_len && !tx->args) return PC_ERR_INVALID;
  if (!tx->declared) return 0;
  if (tx->n_reads > PC_TX_KEYS_MAX || tx->n_writes > PC_TX_KEYS_MAX) return PC_ERR_TOO_LARGE;
  for (int s = 0; s < 2; s++) {
    const pc_tx_key_t *k = s ? tx->writes : tx->reads;
    uint16_t n = s ? tx->n_writes : tx->n_reads;
    for (uint16_t i = 0; i < n; i++) {
      if (k[i].len > PC_TX_KEY_MAX) return PC_ERR_TOO_LARGE;
      if (k[i].len == 0 || !k[i].p) return PC_ERR_INVALID;
    }
  }
  return 0;
}

int pc_tx_encode_signed(void *out, size_t cap, const pc_tx_t *tx, const uint8_t seckey[64]) {
  int err = check_fields(tx);
  if (err) return err;
  /* libsodium's secret key is seed ‖ public key: a mismatch would produce a
   * transaction that never verifies. */
  if (sodium_memcmp(seckey + 32, tx->sender, PC_TX_PUBKEY_SIZE) != 0) return PC_ERR_INVALID;
  size_t total = pc_tx_encoded_size(tx);
  if (total > PC_TX_MAX) return PC_ERR_TOO_LARGE;
  if (total > cap || !out) return PC_ERR_OVERFLOW;
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  pc_put_u8(&w, PC_TX_VERSION);
  pc_put_u64(&w, tx->chain_id);
  pc_put_bytes(&w, tx->sender, PC_TX_PUBKEY_SIZE);
  pc_put_u64(&w, tx->nonce);
  pc_put_u64(&w, tx->expiry_height);
  size_t cl = strlen(tx->contract), ml = strlen(tx->method);
  pc_put_u8(&w, (uint8_t)cl);
  pc_put_bytes(&w, tx->contract, cl);
  pc_put_u8(&w, (uint8_t)ml);
  pc_put_bytes(&w, tx->method, ml);
  pc_put_blob32(&w, tx->args, tx->args_len);
  pc_put_u8(&w, tx->declared ? 1 : 0);
  if (tx->declared) {
    put_keys(&w, tx->reads, tx->n_reads);
    put_keys(&w, tx->writes, tx->n_writes);
  }
  size_t body = w.len;
  uint8_t *sig = pc_writer_reserve(&w, PC_TX_SIG_SIZE);
  if (pc_writer_finish(&w) || !sig) return PC_ERR_OVERFLOW;
  uint8_t stack[SIGN_STACK_MAX], *heap;
  size_t mlen;
  const uint8_t *m = signed_message(stack, &heap, out, body, &mlen);
  if (!m) return PC_ERR_NOMEM;
  crypto_sign_detached(sig, NULL, m, mlen, seckey);
  free(heap);
  return (int)w.len;
}

size_t pc_tx_encoded_size(const pc_tx_t *tx) {
  size_t n = 1 + 8 + PC_TX_PUBKEY_SIZE + 8 + 8 + 1 + strnlen(tx->contract, PC_TX_NAME_MAX + 1) + 1 +
             strnlen(tx->method, PC_TX_NAME_MAX + 1) + 4 + tx->args_len + 1 + PC_TX_SIG_SIZE;
  if (tx->declared) {
    n += 4;
    for (uint16_t i = 0; i < tx->n_reads && i < PC_TX_KEYS_MAX; i++) n += 2 + tx->reads[i].len;
    for (uint16_t i = 0; i < tx->n_writes && i < PC_TX_KEYS_MAX; i++) n += 2 + tx->writes[i].len;
  }
  return n;
}
