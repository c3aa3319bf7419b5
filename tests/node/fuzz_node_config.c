/* fuzz_node_config.c — the node config parser on arbitrary bytes: it must
 * either accept (and then every string field is NUL-terminated, every
 * number in its documented range) or fail with PC_ERR_CONFIG and a
 * "name:" error line; never crash or read out of bounds. */
#include <stdlib.h>
#include <string.h>

#include "node/node_private.h"

static pc_node_config_t cfg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[PC_CONF_ERR_MAX];
  int rc = pc_node_config_parse(&cfg, "f.conf", "/base", (const char *)data, size, err, sizeof err);
  if (rc == 0) {
    if (cfg.id >= PC_MAX_REPLICAS || cfg.transport >= PC_NET_COUNT || cfg.scheduler >= PC_NODE_SCHED_COUNT) abort();
    if (cfg.window < 8 || (cfg.window & (cfg.window - 1)) || cfg.tx_buffer < cfg.max_message) abort();
    if (cfg.key[0] != '/' || cfg.cluster[0] != '/' || cfg.data_dir[0] != '/') abort();
    if (strlen(cfg.memif_dir) >= sizeof cfg.memif_dir || strlen(cfg.key) >= sizeof cfg.key) abort();
    if (err[0]) abort();
  } else {
    if (rc != PC_ERR_CONFIG || strncmp(err, "f.conf", 6) != 0) abort();
  }
  return 0;
}
