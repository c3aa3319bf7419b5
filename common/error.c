/* error.c — error strings and per-decoder rejection counters. */
#include <stdatomic.h>

#include "common/common.h"

const char *pc_strerror(int err) {
  switch (err) {
  case PC_OK: return "ok";
  case PC_ERR_INVALID: return "invalid input";
  case PC_ERR_TRUNCATED: return "input truncated";
  case PC_ERR_TRAILING: return "trailing bytes after the end";
  case PC_ERR_OVERFLOW: return "output buffer too small";
  case PC_ERR_TOO_LARGE: return "length or count above its limit";
  case PC_ERR_VERSION: return "unknown format version";
  case PC_ERR_MAGIC: return "wrong magic number";
  case PC_ERR_RANGE: return "value out of range";
  case PC_ERR_NOMEM: return "out of memory";
  case PC_ERR_IO: return "I/O error";
  case PC_ERR_SIGNATURE: return "bad signature or MAC";
  case PC_ERR_CHECKSUM: return "checksum mismatch";
  case PC_ERR_NOT_FOUND: return "not found";
  case PC_ERR_EXISTS: return "already exists";
  case PC_ERR_FULL: return "full";
  case PC_ERR_CONFIG: return "invalid configuration";
  case PC_ERR_CORRUPT: return "stored data is corrupt";
  case PC_ERR_STATE: return "not allowed in the current state";
  case PC_ERR_QUORUM: return "not enough distinct valid signers";
  case PC_ERR_CHAIN: return "wrong chain id";
  case PC_ERR_EXPIRED: return "expired";
  case PC_ERR_NONCE: return "nonce already used or out of order";
  case PC_ERR_AGAIN: return "try again";
  case PC_ERR_DUPLICATE: return "duplicate";
  case PC_ERR_TIMEOUT: return "timed out";
  case PC_ERR_UNSUPPORTED: return "not supported";
  default: return "unknown error";
  }
}

/* [decoder][-err]; index 0 (PC_OK) is unused, codes outside the table land
 * in the PC_ERR_INVALID slot so nothing is lost. Relaxed: pure statistics. */
static _Atomic uint64_t reject_counts[PC_DEC_COUNT][PC_ERR_COUNT];

int pc_reject_note(pc_decoder_t dec, int err) {
  int slot = -err;
  if (slot <= 0 || slot >= PC_ERR_COUNT) slot = -PC_ERR_INVALID;
  if ((unsigned)dec >= PC_DEC_COUNT) dec = PC_DEC_OTHER;
  atomic_fetch_add_explicit(&reject_counts[dec][slot], 1, memory_order_relaxed);
  return err;
}

uint64_t pc_reject_count(pc_decoder_t dec, int err) {
  if ((unsigned)dec >= PC_DEC_COUNT) return 0;
  if (err == 1) {
    uint64_t total = 0;
    for (int i = 1; i < PC_ERR_COUNT; i++)
      total += atomic_load_explicit(&reject_counts[dec][i], memory_order_relaxed);
    return total;
  }
  int slot = -err;
  if (slot <= 0 || slot >= PC_ERR_COUNT) return 0;
  return atomic_load_explicit(&reject_counts[dec][slot], memory_order_relaxed);
}

const char *pc_decoder_name(pc_decoder_t dec) {
  static const char *const names[PC_DEC_COUNT] = {
      "codec",     "block",    "proposal", "cert",     "tx",       "config",   "cluster", "coremap",
      "consensus", "frame",    "log_record", "snapshot", "gateway", "contract", "other"};
  return (unsigned)dec < PC_DEC_COUNT ? names[dec] : "other";
}
