/* transport_loop.c — in-process switch between pc_dp_t objects of one
 * thread, for tests and simulations: each frame is copied into the
 * destination's bounded FIFO, after an optional tamper hook. */
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp_private.h"

typedef struct {
  uint16_t from;
  uint32_t len;
  uint8_t *data;
} lframe_t;

typedef struct {
  lframe_t *q;
  unsigned head, count;
} lqueue_t;

struct pc_dp_loop {
  uint16_t n;
  unsigned qcap;
  lqueue_t *qs;
  pc_dp_tamper_fn tamper;
  void *tamper_user;
};

typedef struct {
  pc_dp_transport_t base;
  pc_dp_loop_t *loop;
  uint16_t self;
  lframe_t taken[64];
  unsigned ntaken;
} loop_t;

pc_dp_loop_t *pc_dp_loop_create(uint16_t n, unsigned qcap) {
  pc_dp_loop_t *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->n = n;
  l->qcap = qcap ? qcap : 1;
  l->qs = calloc(n, sizeof *l->qs);
  if (!l->qs) goto fail;
  for (uint16_t i = 0; i < n; i++)
    if (!(l->qs[i].q = calloc(l->qcap, sizeof(lframe_t)))) goto fail;
  return l;
fail:
  pc_dp_loop_destroy(l);
  return NULL;
}

void pc_dp_loop_destroy(pc_dp_loop_t *l) {
  if (!l) return;
  for (uint16_t i = 0; l->qs && i < l->n; i++) {
    lqueue_t *q = &l->qs[i];
    for (unsigned k = 0; q->q && k < q->count; k++) free(q->q[(q->head + k) % l->qcap].data);
    free(q->q);
  }
  free(l->qs);
  free(l);
}

void pc_dp_loop_tamper(pc_dp_loop_t *l, pc_dp_tamper_fn fn, void *user) {
  l->tamper = fn;
  l->tamper_user = user;
}

int pc_dp_loop_inject(pc_dp_loop_t *l, uint16_t from, uint16_t to, const uint8_t *frame, size_t len) {
  if (to >= l->n || from >= l->n) return PC_ERR_RANGE;
  lqueue_t *q = &l->qs[to];
  if (q->count == l->qcap) return PC_ERR_FULL;
  uint8_t *d = malloc(len ? len : 1);
  if (!d) return PC_ERR_NOMEM;
  memcpy(d, frame, len);
  q->q[(q->head + q->count) % l->qcap] = (lframe_t){from, (uint32_t)len, d};
  q->count++;
  return 0;
}

static unsigned loop_rx(pc_dp_transport_t *t, pc_dp_rx_t *rx, unsigned max) {
  loop_t *lt = (loop_t *)t;
  lqueue_t *q = &lt->loop->qs[lt->self];
  unsigned k = 0;
  if (max > PC_ARRAY_LEN(lt->taken)) max = PC_ARRAY_LEN(lt->taken);
  while (k < max && q->count) {
    lframe_t f = q->q[q->head];
    q->head = (q->head + 1) % lt->loop->qcap;
    q->count--;
    lt->taken[k] = f;
    rx[k].p = f.data;
    rx[k].len = f.len;
    k++;
  }
  lt->ntaken = k;
  return k;
}

static void loop_rx_done(pc_dp_transport_t *t) {
  loop_t *lt = (loop_t *)t;
  for (unsigned i = 0; i < lt->ntaken; i++) free(lt->taken[i].data);
  lt->ntaken = 0;
}

static unsigned loop_tx(pc_dp_transport_t *t, uint16_t peer, uint8_t *const *frames, const uint32_t *lens,
                        unsigned n) {
  loop_t *lt = (loop_t *)t;
  pc_dp_loop_t *l = lt->loop;
  if (peer >= l->n) return 0;
  lqueue_t *q = &l->qs[peer];
  unsigned k = 0;
  for (; k < n; k++) {
    if (q->count == l->qcap) break;
    uint8_t *d = malloc(lens[k] ? lens[k] : 1);
    if (!d) break;
    memcpy(d, frames[k], lens[k]);
    size_t len = lens[k];
    if (l->tamper && !l->tamper(l->tamper_user, lt->self, peer, d, &len)) {
      free(d);
      continue; /* lost on the wire: the sender does not know */
    }
    q->q[(q->head + q->count) % l->qcap] = (lframe_t){lt->self, (uint32_t)len, d};
    q->count++;
  }
  return k;
}

static void loop_hk(pc_dp_transport_t *t, uint64_t now) {
  (void)t;
  (void)now;
}
static bool loop_link_up(pc_dp_transport_t *t, uint16_t peer) {
  (void)t;
  (void)peer;
  return true;
}
static void loop_destroy(pc_dp_transport_t *t) {
  loop_rx_done(t);
  free(t);
}

pc_dp_transport_t *pc_dp_loop_open(const pc_dp_cfg_t *cfg, pc_dp_counters_t *port) {
  if (cfg->loop->n != cfg->n) {
    PC_ERROR("dataplane: loop made for %u replicas, config has %u", cfg->loop->n, cfg->n);
    return NULL;
  }
  loop_t *lt = calloc(1, sizeof *lt);
  if (!lt) return NULL;
  lt->base = (pc_dp_transport_t){loop_rx, loop_rx_done, loop_tx, loop_hk, loop_link_up, loop_destroy, port};
  lt->loop = cfg->loop;
  lt->self = cfg->self;
  return &lt->base;
}
