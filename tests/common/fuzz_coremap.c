/* fuzz_coremap.c — the core-map loader against a fixed synthetic topology
 * (two NUMA nodes, 16 CPUs). A map that loads must encode and load back
 * identically; NUMA warnings must never misbehave. */
#include <stdint.h>
#include <string.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pc_topo_t *t;
  if (!t && !(t = pc_topo_open("pack:2 [numa] core:4 pu:2"))) __builtin_trap();
  pc_coremap_t a, b;
  char err[PC_CONF_ERR_MAX], text[4096], msg[512];
  if (pc_coremap_parse(&a, "f.conf", (const char *)data, size, t, err, sizeof err) != 0) {
    if (strncmp(err, "f.conf", 6) != 0) __builtin_trap();
    return 0;
  }
  for (int s = 0; s < PC_STAGE_COUNT; s++) {
    if (pc_coreset_empty(&a.cores[s])) __builtin_trap();
    (void)pc_coremap_numa_warning(t, s % 3 - 1, &a.cores[s], msg, sizeof msg);
  }
  int n = pc_coremap_encode(&a, text, sizeof text);
  if (n < 0) __builtin_trap();
  if (pc_coremap_parse(&b, "enc", text, (size_t)n, t, err, sizeof err) != 0) __builtin_trap();
  if (memcmp(&a, &b, sizeof a)) __builtin_trap();
  return 0;
}
