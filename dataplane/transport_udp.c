/* transport_udp.c — kernel UDP fallback: one non-blocking socket bound to
 * the replica's address, batched with recvmmsg/sendmmsg. Datagrams carry
 * the ParaChain part alone (the kernel adds IPv4/UDP). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dataplane/dp_private.h"

#define UDP_BURST 64

typedef struct {
  pc_dp_transport_t base;
  int fd;
  uint32_t frame_size;
  struct sockaddr_in *addrs; /* per replica */
  uint8_t *rxbuf;            /* UDP_BURST × (frame_size + 1) */
  struct mmsghdr rmsg[UDP_BURST];
  struct iovec riov[UDP_BURST];
  struct mmsghdr smsg[UDP_BURST];
  struct iovec siov[UDP_BURST];
} udp_t;

static unsigned udp_rx(pc_dp_transport_t *t, pc_dp_rx_t *rx, unsigned max) {
  udp_t *u = (udp_t *)t;
  if (max > UDP_BURST) max = UDP_BURST;
  for (unsigned i = 0; i < max; i++) {
    u->riov[i].iov_base = u->rxbuf + (size_t)i * (u->frame_size + 1);
    u->riov[i].iov_len = u->frame_size + 1;
    memset(&u->rmsg[i].msg_hdr, 0, sizeof u->rmsg[i].msg_hdr);
    u->rmsg[i].msg_hdr.msg_iov = &u->riov[i];
    u->rmsg[i].msg_hdr.msg_iovlen = 1;
  }
  int k = recvmmsg(u->fd, u->rmsg, max, MSG_DONTWAIT, NULL);
  if (k <= 0) return 0;
  unsigned out = 0;
  for (int i = 0; i < k; i++) {
    if (u->rmsg[i].msg_len > u->frame_size || (u->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC)) {
      t->port->malformed++;
      pc_reject_note(PC_DEC_FRAME, PC_ERR_TOO_LARGE);
      continue;
    }
    rx[out].p = u->riov[i].iov_base;
    rx[out].len = u->rmsg[i].msg_len;
    out++;
  }
  return out;
}

static void udp_rx_done(pc_dp_transport_t *t) { (void)t; }

static unsigned udp_tx(pc_dp_transport_t *t, uint16_t peer, uint8_t *const *frames, const uint32_t *lens,
                       unsigned n) {
  udp_t *u = (udp_t *)t;
  if (n > UDP_BURST) n = UDP_BURST;
  for (unsigned i = 0; i < n; i++) {
    u->siov[i].iov_base = frames[i];
    u->siov[i].iov_len = lens[i];
    memset(&u->smsg[i].msg_hdr, 0, sizeof u->smsg[i].msg_hdr);
    u->smsg[i].msg_hdr.msg_iov = &u->siov[i];
    u->smsg[i].msg_hdr.msg_iovlen = 1;
    u->smsg[i].msg_hdr.msg_name = &u->addrs[peer];
    u->smsg[i].msg_hdr.msg_namelen = sizeof u->addrs[peer];
  }
  int k = sendmmsg(u->fd, u->smsg, n, MSG_DONTWAIT);
  if (k < 0) {
    /* ECONNREFUSED from an earlier ICMP, EAGAIN when the buffer is full:
     * the frames count as not taken; the channel retries them. */
    return 0;
  }
  return (unsigned)k;
}

static void udp_hk(pc_dp_transport_t *t, uint64_t now) {
  (void)t;
  (void)now;
}
static bool udp_link_up(pc_dp_transport_t *t, uint16_t peer) {
  (void)t;
  (void)peer;
  return true;
}
static void udp_destroy(pc_dp_transport_t *t) {
  udp_t *u = (udp_t *)t;
  if (u->fd >= 0) close(u->fd);
  free(u->addrs);
  free(u->rxbuf);
  free(u);
}

pc_dp_transport_t *pc_dp_udp_open(const pc_dp_cfg_t *cfg, pc_dp_counters_t *port) {
  udp_t *u = calloc(1, sizeof *u);
  if (!u) return NULL;
  u->base = (pc_dp_transport_t){udp_rx, udp_rx_done, udp_tx, udp_hk, udp_link_up, udp_destroy, port};
  u->fd = -1;
  u->frame_size = cfg->frame_size;
  u->addrs = calloc(cfg->n, sizeof *u->addrs);
  u->rxbuf = malloc((size_t)UDP_BURST * (cfg->frame_size + 1));
  if (!u->addrs || !u->rxbuf) goto fail;
  for (uint16_t i = 0; i < cfg->n; i++) {
    u->addrs[i].sin_family = AF_INET;
    u->addrs[i].sin_addr.s_addr = htonl(cfg->peers[i].addr.ip);
    u->addrs[i].sin_port = htons(cfg->peers[i].addr.port);
  }
  u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (u->fd < 0) {
    PC_ERROR("dataplane udp: socket: %s", strerror(errno));
    goto fail;
  }
  int sz = 8 << 20;
  (void)setsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  (void)setsockopt(u->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  if (bind(u->fd, (struct sockaddr *)&u->addrs[cfg->self], sizeof u->addrs[cfg->self]) != 0) {
    PC_ERROR("dataplane udp: bind to port %u: %s", cfg->peers[cfg->self].addr.port, strerror(errno));
    goto fail;
  }
  return &u->base;
fail:
  udp_destroy(&u->base);
  return NULL;
}
