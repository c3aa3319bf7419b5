/* transport_dpdk.c — placeholder until the DPDK memif transport lands. */
#include "dataplane/dp_private.h"

pc_dp_transport_t *pc_dp_dpdk_open(const pc_dp_cfg_t *cfg, pc_dp_counters_t *port) {
  (void)cfg;
  (void)port;
  PC_ERROR("dataplane: DPDK transport not built yet");
  return NULL;
}

int pc_dp_telemetry_register(pc_dp_t *dp) {
  (void)dp;
  return PC_ERR_UNSUPPORTED;
}
