/* fuzz_tx.c — libFuzzer target for the transaction decoder. Any input
 * must decode or be rejected with a PC_ERR_* code, never crash; an
 * accepted input re-encodes to exactly its own bytes (structure only: the
 * signature is copied through, not recomputed). */
#include <stdlib.h>
#include <string.h>

#include "common/tx.h"

static pc_tx_t tx;

/* Re-encodes the body (everything before the signature) through the
 * public writer to check the decoder accepts exactly the canonical form. */
static size_t reencode(uint8_t *out, size_t cap) {
  pc_writer_t w;
  pc_writer_init(&w, out, cap);
  pc_put_u8(&w, PC_TX_VERSION);
  pc_put_u64(&w, tx.chain_id);
  pc_put_bytes(&w, tx.sender, PC_TX_PUBKEY_SIZE);
  pc_put_u64(&w, tx.nonce);
  pc_put_u64(&w, tx.expiry_height);
  size_t cl = strlen(tx.contract), ml = strlen(tx.method);
  pc_put_u8(&w, (uint8_t)cl);
  pc_put_bytes(&w, tx.contract, cl);
  pc_put_u8(&w, (uint8_t)ml);
  pc_put_bytes(&w, tx.method, ml);
  pc_put_blob32(&w, tx.args, tx.args_len);
  pc_put_u8(&w, tx.declared);
  if (tx.declared) {
    pc_put_u16(&w, tx.n_reads);
    for (int i = 0; i < tx.n_reads; i++) pc_put_blob16(&w, tx.reads[i].p, tx.reads[i].len);
    pc_put_u16(&w, tx.n_writes);
    for (int i = 0; i < tx.n_writes; i++) pc_put_blob16(&w, tx.writes[i].p, tx.writes[i].len);
  }
  pc_put_bytes(&w, tx.sig, PC_TX_SIG_SIZE);
  if (pc_writer_finish(&w)) abort();
  return w.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t out[PC_TX_MAX];
  int rc = pc_tx_decode(data, size, &tx);
  if (rc > 0 || (rc < 0 && rc != PC_ERR_TRUNCATED && rc != PC_ERR_TRAILING && rc != PC_ERR_VERSION &&
                 rc != PC_ERR_TOO_LARGE && rc != PC_ERR_INVALID && rc != PC_ERR_RANGE))
    abort();
  if (rc == 0) {
    if (pc_tx_encoded_size(&tx) != size) abort();
    size_t n = reencode(out, sizeof out);
    if (n != size || memcmp(out, data, size) != 0) abort();
    pc_hash_t h;
    pc_tx_hash_bytes(&h, data, size);
    if (!pc_hash_equal(&h, &tx.hash)) abort();
    (void)pc_tx_verify(&tx); /* must not crash; almost never verifies */
  }
  return 0;
}
