/* fuzz_proposal.c — the proposal decoder. A proposal that decodes must
 * re-encode to the same bytes, its views must lie inside the input, and
 * its batch must be well formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pc_proposal_t p;
  if (pc_proposal_decode(data, size, &p) != 0) return 0;
  if (p.justification < data || p.justification + p.justification_len > data + size) __builtin_trap();
  if (p.batch < data || p.batch + p.batch_len > data + size) __builtin_trap();
  if (pc_batch_count(p.batch, p.batch_len) < 0) __builtin_trap();
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  pc_writer_t w;
  pc_writer_init(&w, buf, size);
  pc_proposal_encode(&w, &p);
  if (pc_writer_finish(&w) || w.len != size || memcmp(buf, data, size)) __builtin_trap();
  free(buf);
  return 0;
}
