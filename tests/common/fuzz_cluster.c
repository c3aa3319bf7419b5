/* fuzz_cluster.c — the cluster-file loader. A file that loads must encode,
 * and the encoding must load back to the same cluster. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pc_cluster_t a, b;
  static char text[96 * 1024];
  char err[PC_CONF_ERR_MAX];
  if (pc_cluster_parse(&a, "f.conf", (const char *)data, size, err, sizeof err) != 0) {
    if (strncmp(err, "f.conf", 6) != 0) __builtin_trap();
    return 0;
  }
  if (a.n < 1 || a.n < 3u * a.f + 1 || pc_cluster_quorum(&a) > a.n) __builtin_trap();
  int n = pc_cluster_encode(&a, text, sizeof text, err, sizeof err);
  if (n < 0) __builtin_trap();
  if (pc_cluster_parse(&b, "enc", text, (size_t)n, err, sizeof err) != 0) __builtin_trap();
  if (a.chain_id != b.chain_id || a.n != b.n || a.f != b.f || a.window != b.window ||
      a.round_timeout_ns != b.round_timeout_ns || a.batch_bytes != b.batch_bytes ||
      a.n_plugins != b.n_plugins || memcmp(a.replicas, b.replicas, sizeof a.replicas[0] * a.n))
    __builtin_trap();
  return 0;
}
