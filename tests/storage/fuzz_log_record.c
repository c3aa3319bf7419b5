/* fuzz_log_record.c — the log record decoder must reject anything that is
 * not exactly a record, without reading outside the input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "storage/storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t type;
  pc_log_block_t b;
  pc_log_consensus_t c;
  if (pc_log_record_decode(data, size, &type, &b, &c) == 0) {
    /* Views must lie inside the input. */
    if (type == PC_LOG_REC_BLOCK || type == PC_LOG_REC_BASE) { /* same layout */
      if (b.cert_len && (b.cert < data || b.cert + b.cert_len > data + size)) __builtin_trap();
      if (b.block_len && (b.block < data || b.block + b.block_len > data + size)) __builtin_trap();
    } else if (c.payload_len && (c.payload < data || c.payload + c.payload_len > data + size)) {
      __builtin_trap();
    }
  }
  return 0;
}
