/* dp_private.h — what the channel logic (channel.c) and the transports
 * (transport_*.c) share. Not part of the public API. */
#ifndef PC_DP_PRIVATE_H
#define PC_DP_PRIVATE_H

#include "dataplane/dataplane.h"

/* One received ParaChain frame handed up by a transport; p stays valid until
 * the transport's rx_done. */
typedef struct {
  const uint8_t *p;
  uint32_t len;
} pc_dp_rx_t;

/* A transport moves ParaChain frames (header + payload + MAC) to and from
 * peers; wrapping (Ethernet/IPv4/UDP) is its business. All calls come from
 * the stage thread. */
typedef struct pc_dp_transport pc_dp_transport_t;
struct pc_dp_transport {
  /* Receives up to max frames into rx; returns how many. */
  unsigned (*rx_burst)(pc_dp_transport_t *t, pc_dp_rx_t *rx, unsigned max);
  /* Releases the buffers of the last rx_burst. */
  void (*rx_done)(pc_dp_transport_t *t);
  /* Sends frames[0..n) to peer, in order; returns how many were taken (the
   * rest are the caller's to retry). */
  unsigned (*tx_burst)(pc_dp_transport_t *t, uint16_t peer, uint8_t *const *frames, const uint32_t *lens,
                       unsigned n);
  /* Periodic work: link checks, port restarts. */
  void (*housekeeping)(pc_dp_transport_t *t, uint64_t now_ns);
  /* Whether the link towards peer is believed up (transports without a link
   * notion return true). */
  bool (*link_up)(pc_dp_transport_t *t, uint16_t peer);
  void (*destroy)(pc_dp_transport_t *t);
  /* Port-level counters, owned by the pc_dp_t (ring_full, link, malformed L2). */
  pc_dp_counters_t *port;
};

pc_dp_transport_t *pc_dp_udp_open(const pc_dp_cfg_t *cfg, pc_dp_counters_t *port);
pc_dp_transport_t *pc_dp_loop_open(const pc_dp_cfg_t *cfg, pc_dp_counters_t *port);
pc_dp_transport_t *pc_dp_dpdk_open(const pc_dp_cfg_t *cfg, pc_dp_counters_t *port);

/* pc_dp_dpdk_wait_rx, DPDK transport only: waits up to max_ns for the RX
 * interrupt of the single port (cfg.dpdk_port) when its driver has one.
 * Returns 1 when the interrupt ended the wait, 0 when max_ns passed,
 * PC_ERR_UNSUPPORTED when the port has no RX interrupt (memif, af_packet,
 * ring, null) or cannot wait now (down or restarting): the caller sleeps.
 * Counts rx_intr_waits / rx_intr_wakeups in the port counters. Stage
 * thread.
 *
 * A function rather than an optional op in pc_dp_transport_t: the UDP and
 * loop transports fill that struct positionally, so a new member would
 * have to be added there too (-Wmissing-field-initializers) while only
 * this transport has interrupts; pc_dp_wait dispatches on cfg.kind, as
 * housekeeping does for pc_dp_telemetry_publish. */
int pc_dp_dpdk_wait_rx(pc_dp_transport_t *t, uint64_t max_ns);

/* Accessors for the transports (channel.c). */
uint16_t pc_dp_n(const pc_dp_t *dp);
uint16_t pc_dp_self(const pc_dp_t *dp);
/* pc_dp_telemetry_publish copies dp's counters for the telemetry thread
 * (no-op unless pc_dp_telemetry_register succeeded). Stage thread. */
void pc_dp_telemetry_publish(const pc_dp_t *dp);

#endif
