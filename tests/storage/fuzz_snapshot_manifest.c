/* fuzz_snapshot_manifest.c — the snapshot manifest decoder on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pc_snapshot_manifest_t m;
  if (pc_snapshot_manifest_decode(data, size, &m) == 0) {
    if (m.chunks == 0 || !m.chunk_hashes) __builtin_trap();
    uint8_t chunk[8] = {0};
    (void)pc_snapshot_chunk_verify(&m, 0, chunk, sizeof chunk);
    pc_snapshot_manifest_free(&m);
  }
  return 0;
}
