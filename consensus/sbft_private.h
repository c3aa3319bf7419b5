/* sbft_private.h — SBFT internals shared with the tests and the simulator. */
#ifndef PC_SBFT_PRIVATE_H
#define PC_SBFT_PRIVATE_H

#include <stdint.h>

/* pc_sbft_proposer returns the proposer (and collector) of (h, r):
 * BLAKE2b-256(h u64 ‖ r u32) read as a little-endian u64, mod n. */
uint16_t pc_sbft_proposer(uint64_t h, uint32_t r, uint16_t n);

#endif
