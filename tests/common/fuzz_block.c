/* fuzz_block.c — the block decoder then the certificate decoder on what
 * follows. Whatever decodes must re-encode to exactly the bytes consumed
 * (the formats are canonical). */
#include <stdint.h>
#include <string.h>

#include "common/block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pc_cert_t cert;
  static uint8_t buf[PC_BLOCK_SIZE + 128 + PC_MAX_REPLICAS * PC_SIG_SIZE];
  static const uint8_t zero_keys[PC_MAX_REPLICAS][PC_PUBKEY_SIZE];
  pc_reader_t r;
  pc_reader_init(&r, data, size);
  pc_block_t b;
  if (pc_block_decode(&r, &b) == 0) {
    pc_writer_t w;
    pc_writer_init(&w, buf, sizeof buf);
    pc_block_encode(&w, &b);
    if (pc_writer_finish(&w) || w.len != PC_BLOCK_SIZE || memcmp(buf, data, PC_BLOCK_SIZE)) __builtin_trap();
    pc_hash_t id;
    pc_block_id(&b, &id);
  } else {
    pc_reader_init(&r, data, size); /* try the whole input as a certificate */
  }
  size_t start = r.pos;
  if (pc_cert_decode(&r, &cert) == 0) {
    size_t used = r.pos - start;
    if (pc_cert_encoded_size(&cert) != used) __builtin_trap();
    pc_writer_t w;
    pc_writer_init(&w, buf, sizeof buf);
    pc_cert_encode(&w, &cert);
    if (pc_writer_finish(&w) || w.len != used || memcmp(buf, data + start, used)) __builtin_trap();
    if (pc_cert_signers(&cert) == 0 || pc_cert_phase(cert.kind) == 0) __builtin_trap();
    /* Cheap: all-zero keys are rejected by libsodium before any curve math. */
    if (pc_cert_verify(&cert, cert.chain_id, zero_keys, cert.n, 1) == 0) __builtin_trap();
  }
  return 0;
}
