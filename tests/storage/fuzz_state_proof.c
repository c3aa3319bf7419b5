/* fuzz_state_proof.c — proof verification on arbitrary bytes: the first
 * byte picks the key length, the next 32 bytes the root, the rest is the
 * proof. Must never crash; a proof for a random root must not verify. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "storage/storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 + 32) return 0;
  size_t klen = 1 + data[0] % 16;
  pc_hash_t root;
  memcpy(root.b, data + 1, 32);
  const uint8_t *proof = data + 33;
  size_t plen = size - 33;
  const char key[16] = "fuzz-key-0123456";
  (void)pc_state_proof_verify(&root, key, klen, NULL, 0, proof, plen);
  (void)pc_state_proof_verify(&root, key, klen, "v", 1, proof, plen);
  return 0;
}
