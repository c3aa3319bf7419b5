/* config.c — filling the dataplane configuration from the cluster file. */
#include <string.h>

#include "dataplane/dataplane.h"

int pc_dp_cfg_from_cluster(pc_dp_cfg_t *cfg, const pc_cluster_t *c, uint16_t self, const uint8_t sk[64],
                           pc_dp_kind_t kind) {
  pc_dp_cfg_default(cfg);
  if (c->n < 2 || c->n > PC_MAX_REPLICAS || self >= c->n) {
    PC_ERROR("dataplane config: replica %u of a cluster of %u", self, c->n);
    return PC_ERR_CONFIG;
  }
  cfg->kind = kind;
  cfg->self = self;
  cfg->n = c->n;
  memcpy(cfg->ed25519_sk, sk, 64);
  bool seen[PC_MAX_REPLICAS] = {false};
  for (uint16_t i = 0; i < c->n; i++) {
    const pc_replica_addr_t *r = &c->replicas[i];
    if (r->id >= c->n || seen[r->id]) {
      PC_ERROR("dataplane config: replica entry %u has id %u (ids must be 0..n-1, once each)", i, r->id);
      return PC_ERR_CONFIG;
    }
    seen[r->id] = true;
    pc_dp_peer_cfg_t *p = &cfg->peers[r->id];
    memcpy(p->ed25519_pk, r->pubkey, 32);
    memcpy(p->addr.mac, r->mac, 6);
    p->addr.ip = (uint32_t)r->ip[0] << 24 | (uint32_t)r->ip[1] << 16 | (uint32_t)r->ip[2] << 8 | r->ip[3];
    p->addr.port = r->port;
  }
  if (memcmp(cfg->peers[self].ed25519_pk, sk + 32, 32) != 0) {
    PC_ERROR("dataplane config: the secret key is not replica %u's (public key differs from the cluster file)", self);
    return PC_ERR_CONFIG;
  }
  return 0;
}
