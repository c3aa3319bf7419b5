/* fuzz_receipt — pc_receipt_decode on arbitrary bytes: never crashes, and
 * whatever it accepts re-encodes to exactly the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "executor/executor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pc_receipt_t r;
  pc_bytes_t ev[PC_EXEC_EVENTS_MAX];
  if (pc_receipt_decode(data, size, &r, ev) != 0) return 0;
  uint8_t *out = malloc(size ? size : 1);
  int n = pc_receipt_encode(&r, out, size);
  if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0) abort();
  free(out);
  return 0;
}
