/* loopback.c — an in-process stand-in for the dataplane: n endpoints, each
 * with a bounded inbox (a multi-producer / single-consumer rte_ring of
 * message pointers, in plain memory). broadcast copies a batch into every
 * other inbox; an inbox that is full drops the copy (and broadcast reports
 * PC_ERR_FULL), like a congested link. Used by tests to run several pools
 * in one process; the node binds pc_txpool_transport_t to the dataplane. */
#include <rte_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txpool/txpool.h"

#define INBOX_SIZE 1024

typedef struct {
  uint16_t from;
  uint32_t len;
  uint8_t bytes[];
} lmsg_t;

typedef struct {
  struct pc_txpool_loopback *hub;
  uint16_t id;
  struct rte_ring *inbox;
} endpoint_t;

struct pc_txpool_loopback {
  uint16_t n;
  endpoint_t *eps;
};

static int lb_broadcast(void *ctx, const uint8_t *batch, size_t len) {
  endpoint_t *ep = ctx;
  int rc = 0;
  for (uint16_t j = 0; j < ep->hub->n; j++) {
    if (j == ep->id) continue;
    lmsg_t *m = malloc(sizeof *m + len);
    if (!m) return PC_ERR_NOMEM;
    m->from = ep->id;
    m->len = (uint32_t)len;
    memcpy(m->bytes, batch, len);
    if (rte_ring_mp_enqueue(ep->hub->eps[j].inbox, m) != 0) {
      free(m);
      rc = PC_ERR_FULL;
    }
  }
  return rc;
}

static int lb_recv(void *ctx, uint16_t *from, uint8_t *buf, size_t cap) {
  endpoint_t *ep = ctx;
  void *p;
  if (rte_ring_sc_dequeue(ep->inbox, &p) != 0) return 0;
  lmsg_t *m = p;
  int rc = m->len <= cap ? (int)m->len : PC_ERR_OVERFLOW;
  if (rc > 0) memcpy(buf, m->bytes, m->len);
  *from = m->from;
  free(m);
  return rc;
}

pc_txpool_loopback_t *pc_txpool_loopback_create(uint16_t n) {
  pc_txpool_loopback_t *lb = calloc(1, sizeof *lb);
  if (!lb || !n || !(lb->eps = calloc(n, sizeof *lb->eps))) goto fail;
  lb->n = n;
  ssize_t sz = rte_ring_get_memsize(INBOX_SIZE);
  for (uint16_t i = 0; i < n; i++) {
    endpoint_t *ep = &lb->eps[i];
    ep->hub = lb;
    ep->id = i;
    ep->inbox = sz > 0 ? aligned_alloc(64, ((size_t)sz + 63) & ~(size_t)63) : NULL;
    char name[32];
    snprintf(name, sizeof name, "txlb%u", i);
    if (!ep->inbox || rte_ring_init(ep->inbox, name, INBOX_SIZE, RING_F_SC_DEQ) < 0) goto fail;
  }
  return lb;
fail:
  PC_ERROR("txpool loopback: cannot create %u endpoints", n);
  pc_txpool_loopback_destroy(lb);
  return NULL;
}

pc_txpool_transport_t pc_txpool_loopback_transport(pc_txpool_loopback_t *lb, uint16_t i) {
  pc_txpool_transport_t t = {.ctx = &lb->eps[i], .broadcast = lb_broadcast, .recv = lb_recv};
  return t;
}

void pc_txpool_loopback_destroy(pc_txpool_loopback_t *lb) {
  if (!lb) return;
  for (uint16_t i = 0; lb->eps && i < lb->n; i++) {
    void *p;
    while (lb->eps[i].inbox && rte_ring_sc_dequeue(lb->eps[i].inbox, &p) == 0) free(p);
    free(lb->eps[i].inbox);
  }
  free(lb->eps);
  free(lb);
}
