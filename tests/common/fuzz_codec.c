/* fuzz_codec.c — the reader under arbitrary programs of reads. The first
 * half of the input is a program (one op per byte), the second the data.
 * Checks the reader's contract: it never reads outside its input (ASan),
 * a failed read returns zeros and sets a sticky error, pos ≤ len. */
#include <stdint.h>
#include <string.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t nops = size / 2;
  const uint8_t *ops = data, *in = data + nops;
  size_t in_len = size - nops;
  pc_reader_t r;
  pc_reader_init(&r, in, in_len);
  uint8_t out[300];
  for (size_t i = 0; i < nops; i++) {
    int had = pc_reader_ok(&r);
    size_t n = (size_t)(ops[i] >> 3) * 9; /* 0..279 */
    uint64_t v = 0;
    const uint8_t *view = NULL;
    switch (ops[i] & 7) {
      case 0: v = pc_get_u8(&r); break;
      case 1: v = pc_get_u16(&r); break;
      case 2: v = pc_get_u32(&r); break;
      case 3: v = pc_get_u64(&r); break;
      case 4:
        pc_get_bytes(&r, out, n);
        if (pc_reader_ok(&r))
          for (size_t k = 0; k < n; k++)
            if (out[k]) __builtin_trap(); /* must zero-fill on error */
        break;
      case 5: view = pc_get_view(&r, n); break;
      case 6: view = pc_get_blob16(&r, n, &n); break;
      default: view = pc_get_blob32(&r, n, &n); break;
    }
    if (pc_reader_ok(&r) && v != 0) __builtin_trap();     /* failed reads return 0 */
    if (had && pc_reader_ok(&r) != had) __builtin_trap(); /* the first error sticks */
    if (view && (view < in || view + n > in + in_len)) __builtin_trap();
    if (r.pos > r.len) __builtin_trap();
  }
  (void)pc_reader_finish(&r);
  /* The writer: append the input in random-sized fields to a small buffer. */
  pc_writer_t w;
  pc_writer_init(&w, out, size % sizeof out);
  for (size_t i = 0; i < nops; i++) {
    size_t len_before = w.len;
    bool over_before = w.overflow;
    switch (ops[i] & 3) {
      case 0: pc_put_u16(&w, (uint16_t)i); break;
      case 1: pc_put_u64(&w, i); break;
      case 2: pc_put_blob16(&w, in, PC_MIN(in_len, (size_t)ops[i])); break;
      default: pc_put_bytes(&w, in, PC_MIN(in_len, (size_t)ops[i] / 2)); break;
    }
    if (w.len > w.cap) __builtin_trap();
    if (over_before && w.len != len_before) __builtin_trap(); /* overflow is sticky */
  }
  return 0;
}
