/* gw_server.c — the gateway stage: one epoll loop serving the binary
 * protocol (gw_codec.c) and a tiny HTTP/1.0 endpoint (/metrics, /health).
 *
 * One thread owns the server. Connections are slots in an array; epoll's
 * data word is the slot index + 2 (0 and 1 are the two listeners). A
 * connection is closed on: a frame whose length exceeds max_frame, a
 * malformed request (after an ERROR answer), a frame not whole within
 * request_timeout (slow clients), idleness, or an output backlog above
 * max_out (a client that does not read).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "node/gateway/gateway.h"

#define HTTP_MAX_CONNS 64
#define HTTP_REQ_MAX 4096
#define RETRY_NS 200000000ull /* pending WAITs are retried at least this often */
#define FOLLOW_BURST 64 /* BLOCK answers per follower per housekeeping */

typedef struct {
  uint32_t id;
  pc_hash_t hash;
  uint64_t deadline_ns;
} gw_wait_t;

typedef struct {
  int fd;
  bool http;
  bool closing; /* close once the output is flushed */
  bool want_out;
  uint8_t *rbuf;
  size_t rlen, rcap;
  uint8_t *wbuf;
  size_t wlen, woff, wcap;
  uint64_t last_ns;        /* last byte in or out */
  uint64_t frame_start_ns; /* first byte of the partial frame in rbuf */
  gw_wait_t *waits;
  size_t n_waits, cap_waits;
  bool follow;
  uint32_t follow_id;
  uint64_t follow_next;
} gw_conn_t;

struct pc_gw_server {
  pc_gw_config_t cfg;
  pc_gw_backend_t be;
  int ep, lfd, hfd;
  uint16_t port, http_port;
  gw_conn_t **conns;
  size_t n_slots;
  unsigned n_bin, n_http;
  uint8_t *scratch;
  size_t scratch_cap;
  pc_gw_receipt_ans_t *ra;
  pc_gw_query_ans_t *qa;
  pc_gw_request_t *req;
  uint64_t last_provable;
  bool have_provable;
  uint64_t last_retry_ns;
  pc_gw_stats_t st;
};

void pc_gw_config_defaults(pc_gw_config_t *c) {
  memset(c, 0, sizeof *c);
  c->bind_ip[0] = 127;
  c->bind_ip[3] = 1;
  c->max_frame = PC_GW_FRAME_DEFAULT_MAX;
  c->max_conns = 1024;
  c->max_waits = 4096;
  c->max_follows = 1;
  c->max_out = 16u << 20;
  c->request_timeout_ns = 5000000000ull;
  c->idle_timeout_ns = 300000000000ull;
}

static int listen_on(const uint8_t ip[4], uint16_t port, uint16_t *bound) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  memcpy(&a.sin_addr, ip, 4);
  socklen_t al = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 256) || getsockname(fd, (struct sockaddr *)&a, &al)) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  *bound = ntohs(a.sin_port);
  return fd;
}

pc_gw_server_t *pc_gw_server_new(const pc_gw_config_t *cfg, const pc_gw_backend_t *be) {
  if (!cfg || !be || !be->submit || !be->receipt || !be->query || !be->block || !be->status) {
    PC_ERROR("gateway: backend incomplete (submit, receipt, query, block and status are required)");
    return NULL;
  }
  if (cfg->max_frame < PC_GW_FRAME_MIN_MAX || cfg->max_conns == 0 || cfg->max_waits == 0 ||
      cfg->request_timeout_ns == 0 || cfg->idle_timeout_ns == 0 || cfg->max_out < (1u << 16)) {
    PC_ERROR("gateway: bad config (max_frame >= %u, max_conns/max_waits/timeouts > 0, max_out >= 64 KiB)",
             PC_GW_FRAME_MIN_MAX);
    return NULL;
  }
  pc_gw_server_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cfg = *cfg;
  s->be = *be;
  s->ep = s->lfd = s->hfd = -1;
  s->n_slots = cfg->max_conns + HTTP_MAX_CONNS;
  s->conns = calloc(s->n_slots, sizeof *s->conns);
  s->scratch_cap = (size_t)PC_GW_ANSWER_MAX + 4;
  s->scratch = malloc(s->scratch_cap);
  s->ra = calloc(1, sizeof *s->ra);
  s->qa = calloc(1, sizeof *s->qa);
  s->req = calloc(1, sizeof *s->req);
  if (!s->conns || !s->scratch || !s->ra || !s->qa || !s->req) goto fail;
  s->ep = epoll_create1(EPOLL_CLOEXEC);
  if (s->ep < 0) goto fail;
  s->lfd = listen_on(cfg->bind_ip, cfg->port, &s->port);
  if (s->lfd < 0) {
    PC_ERROR("gateway: cannot listen on %u.%u.%u.%u:%u: %s", cfg->bind_ip[0], cfg->bind_ip[1], cfg->bind_ip[2],
             cfg->bind_ip[3], cfg->port, strerror(errno));
    goto fail;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
  if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev)) goto fail;
  if (!cfg->no_http) {
    s->hfd = listen_on(cfg->bind_ip, cfg->http_port, &s->http_port);
    if (s->hfd < 0) {
      PC_ERROR("gateway: cannot listen (HTTP) on port %u: %s", cfg->http_port, strerror(errno));
      goto fail;
    }
    ev.data.u64 = 1;
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->hfd, &ev)) goto fail;
  }
  return s;
fail:
  pc_gw_server_free(s);
  return NULL;
}

static void conn_close(pc_gw_server_t *s, size_t slot) {
  gw_conn_t *c = s->conns[slot];
  if (!c) return;
  close(c->fd); /* also leaves the epoll set */
  if (c->http)
    s->n_http--;
  else
    s->n_bin--;
  s->st.pending_waits -= c->n_waits;
  free(c->rbuf);
  free(c->wbuf);
  free(c->waits);
  free(c);
  s->conns[slot] = NULL;
  s->st.closed++;
}

void pc_gw_server_free(pc_gw_server_t *s) {
  if (!s) return;
  if (s->conns)
    for (size_t i = 0; i < s->n_slots; i++) conn_close(s, i);
  if (s->lfd >= 0) close(s->lfd);
  if (s->hfd >= 0) close(s->hfd);
  if (s->ep >= 0) close(s->ep);
  free(s->conns);
  free(s->scratch);
  free(s->ra);
  free(s->qa);
  free(s->req);
  free(s);
}

uint16_t pc_gw_server_port(const pc_gw_server_t *s) { return s->port; }
uint16_t pc_gw_server_http_port(const pc_gw_server_t *s) { return s->http_port; }

void pc_gw_server_stats(const pc_gw_server_t *s, pc_gw_stats_t *out) {
  *out = s->st;
  out->open_conns = s->n_bin + s->n_http;
}

static void set_out_interest(pc_gw_server_t *s, size_t slot, bool want) {
  gw_conn_t *c = s->conns[slot];
  if (c->want_out == want) return;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0), .data.u64 = slot + 2};
  if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->want_out = want;
}

/* flush writes what the socket takes; returns false when the connection
 * was closed. */
static bool flush(pc_gw_server_t *s, size_t slot) {
  gw_conn_t *c = s->conns[slot];
  while (c->woff < c->wlen) {
    ssize_t k = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (k <= 0) {
      conn_close(s, slot);
      return false;
    }
    c->woff += (size_t)k;
    c->last_ns = pc_now_ns();
  }
  if (c->woff == c->wlen) {
    c->woff = c->wlen = 0;
    if (c->closing) {
      conn_close(s, slot);
      return false;
    }
  }
  set_out_interest(s, slot, c->wlen > 0);
  return true;
}

/* queue appends bytes to the output; false when the backlog is over
 * max_out (the connection is then closed) or memory ran out. */
static bool queue(pc_gw_server_t *s, size_t slot, const void *p, size_t n) {
  gw_conn_t *c = s->conns[slot];
  if (c->woff > 0 && c->woff == c->wlen) c->woff = c->wlen = 0;
  if (c->wlen - c->woff + n > s->cfg.max_out) {
    PC_WARN("gateway: client output backlog above %zu bytes, closing", s->cfg.max_out);
    conn_close(s, slot);
    return false;
  }
  if (c->wlen + n > c->wcap) {
    if (c->woff) {
      memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
      c->wlen -= c->woff;
      c->woff = 0;
    }
    if (c->wlen + n > c->wcap) {
      size_t nc = c->wcap ? c->wcap : 4096;
      while (nc < c->wlen + n) nc *= 2;
      uint8_t *nb = realloc(c->wbuf, nc);
      if (!nb) {
        conn_close(s, slot);
        return false;
      }
      c->wbuf = nb;
      c->wcap = nc;
    }
  }
  memcpy(c->wbuf + c->wlen, p, n);
  c->wlen += n;
  return true;
}

static bool send_frame(pc_gw_server_t *s, size_t slot, long n) {
  if (n < 0) {
    PC_WARN("gateway: cannot encode an answer: %s", pc_strerror((int)n));
    long m = pc_gw_enc_error_rsp(s->scratch, s->scratch_cap, 0, (int)n, "answer too large to encode");
    if (m < 0) return true;
    n = m;
  }
  return queue(s, slot, s->scratch, (size_t)n);
}

static bool send_error(pc_gw_server_t *s, size_t slot, uint32_t id, int code, const char *msg) {
  return send_frame(s, slot, pc_gw_enc_error_rsp(s->scratch, s->scratch_cap, id, code, msg));
}

/* ------------------------------------------------------------ requests */

static bool answer_wait(pc_gw_server_t *s, size_t slot, uint32_t id, int rc) {
  if (rc == 0) s->st.receipts++;
  if (rc != 0 && s->ra->tx_status) { /* the backend says why there is no receipt */
    s->st.tx_statuses++;
    return send_frame(s, slot,
                      pc_gw_enc_txstatus_rsp(s->scratch, s->scratch_cap, id, rc, s->ra->tx_status, s->ra->held_from,
                                             s->ra->why));
  }
  return send_frame(s, slot, pc_gw_enc_receipt_rsp(s->scratch, s->scratch_cap, id, rc, s->ra));
}

/* The backend's answer to a WAIT (tx_status cleared first). */
static int ask_receipt(pc_gw_server_t *s, const pc_hash_t *h) {
  s->ra->tx_status = 0;
  s->ra->held_from = 0;
  s->ra->why = NULL;
  return s->be.receipt(s->be.ctx, h, s->ra);
}

/* A WAIT ran out: the backend may say why (NOT_HELD), else TIMEOUT. */
static int expired(pc_gw_server_t *s, const pc_hash_t *h) {
  s->ra->tx_status = 0;
  s->ra->held_from = 0;
  s->ra->why = NULL;
  if (!s->be.wait_expired) return PC_ERR_TIMEOUT;
  int rc = s->be.wait_expired(s->be.ctx, h, s->ra);
  if (rc == 0 || rc == PC_ERR_AGAIN) rc = PC_ERR_TIMEOUT;
  if (rc == PC_ERR_TIMEOUT) s->ra->tx_status = 0;
  return rc;
}

static bool handle_request(pc_gw_server_t *s, size_t slot, const uint8_t *frame, size_t len) {
  gw_conn_t *c = s->conns[slot];
  pc_gw_request_t *q = s->req;
  int rc = pc_gw_request_decode(frame, len, s->cfg.max_frame, q);
  s->st.requests++;
  if (rc) {
    s->st.bad_requests++;
    uint32_t id = len >= PC_GW_HDR_SIZE ? pc_load_le32(frame + 5) : 0;
    c->closing = true;
    return send_error(s, slot, id, rc, "malformed request; closing");
  }
  switch (q->type) {
  case PC_GW_REQ_SUBMIT: {
    static int codes[PC_GW_SUBMIT_MAX]; /* server thread only */
    for (unsigned i = 0; i < q->n_txs; i++) {
      codes[i] = s->be.submit(s->be.ctx, q->txs[i], q->tx_lens[i]);
      if (codes[i] > 0) codes[i] = PC_ERR_INVALID;
      if (codes[i])
        s->st.rejected_txs++;
      else
        s->st.submitted_txs++;
    }
    return send_frame(s, slot, pc_gw_enc_submit_rsp(s->scratch, s->scratch_cap, q->id, codes, q->n_txs));
  }
  case PC_GW_REQ_WAIT: {
    rc = ask_receipt(s, &q->tx_hash);
    if (rc != PC_ERR_AGAIN) return answer_wait(s, slot, q->id, rc);
    if (q->timeout_ms == 0) return answer_wait(s, slot, q->id, expired(s, &q->tx_hash));
    if (c->n_waits >= s->cfg.max_waits) return send_error(s, slot, q->id, PC_ERR_FULL, "too many pending waits");
    if (c->n_waits == c->cap_waits) {
      size_t nc = c->cap_waits ? c->cap_waits * 2 : 16;
      gw_wait_t *nw = realloc(c->waits, nc * sizeof *nw);
      if (!nw) return send_error(s, slot, q->id, PC_ERR_NOMEM, "out of memory");
      c->waits = nw;
      c->cap_waits = nc;
    }
    c->waits[c->n_waits++] =
        (gw_wait_t){.id = q->id, .hash = q->tx_hash, .deadline_ns = pc_now_ns() + (uint64_t)q->timeout_ms * 1000000ull};
    s->st.pending_waits++;
    return true;
  }
  case PC_GW_REQ_QUERY:
    s->st.queries++;
    rc = s->be.query(s->be.ctx, q->height, q->key, q->key_len, s->qa);
    return send_frame(s, slot, pc_gw_enc_query_rsp(s->scratch, s->scratch_cap, q->id, rc, s->qa));
  case PC_GW_REQ_STATUS: {
    pc_gw_status_t st;
    memset(&st, 0, sizeof st);
    s->be.status(s->be.ctx, &st);
    return send_frame(s, slot, pc_gw_enc_status_rsp(s->scratch, s->scratch_cap, q->id, &st));
  }
  case PC_GW_REQ_FOLLOW: {
    if (c->follow) return send_error(s, slot, q->id, PC_ERR_FULL, "already following");
    pc_gw_status_t st;
    memset(&st, 0, sizeof st);
    s->be.status(s->be.ctx, &st);
    c->follow = true;
    c->follow_id = q->id;
    c->follow_next = q->from_height ? q->from_height : st.decided_height + 1;
    return true;
  }
  default:
    return true; /* the decoder accepts no other type */
  }
}

/* ---------------------------------------------------------------- HTTP */

static void buf_printf(char **b, size_t *len, size_t *cap, bool *oom, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void buf_printf(char **b, size_t *len, size_t *cap, bool *oom, const char *fmt, ...) {
  if (*oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(*b ? *b + *len : NULL, *b ? *cap - *len : 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
      *oom = true;
      return;
    }
    if (*b && *len + (size_t)k < *cap) {
      *len += (size_t)k;
      return;
    }
    size_t nc = *cap ? *cap * 2 : 8192;
    while (nc < *len + (size_t)k + 1) nc *= 2;
    char *nb = realloc(*b, nc);
    if (!nb) {
      *oom = true;
      return;
    }
    *b = nb;
    *cap = nc;
  }
}

static bool metric_name_ok(const char *n) {
  if (!n || !*n) return false;
  for (const char *p = n; *p; p++) {
    bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':';
    if (!alpha && !(p > n && *p >= '0' && *p <= '9')) return false;
  }
  return true;
}

static void metric_row(char **b, size_t *len, size_t *cap, bool *oom, const pc_gw_metric_t *m) {
  if (!metric_name_ok(m->name) || !m->type || (strcmp(m->type, "counter") && strcmp(m->type, "gauge"))) {
    PC_WARN("gateway: metric row '%s' skipped (bad name or type)", m->name ? m->name : "(null)");
    return;
  }
  buf_printf(b, len, cap, oom, "# HELP %s ", m->name);
  for (const char *p = m->help ? m->help : ""; *p; p++) {
    if (*p == '\\')
      buf_printf(b, len, cap, oom, "\\\\");
    else if (*p == '\n')
      buf_printf(b, len, cap, oom, "\\n");
    else
      buf_printf(b, len, cap, oom, "%c", *p);
  }
  buf_printf(b, len, cap, oom, "\n# TYPE %s %s\n", m->name, m->type);
  double v = m->value;
  if (v != v)
    buf_printf(b, len, cap, oom, "%s NaN\n", m->name);
  else if (v > 1.7976931348623157e308)
    buf_printf(b, len, cap, oom, "%s +Inf\n", m->name);
  else if (v < -1.7976931348623157e308)
    buf_printf(b, len, cap, oom, "%s -Inf\n", m->name);
  else
    buf_printf(b, len, cap, oom, "%s %.17g\n", m->name, v);
}

static char *metrics_text(pc_gw_server_t *s, size_t *out_len) {
  char *b = NULL;
  size_t len = 0, cap = 0;
  bool oom = false;
  const pc_gw_metric_t own[] = {
      {"parachain_gateway_connections_accepted_total", "Client connections accepted.", "counter",
       (double)s->st.accepted},
      {"parachain_gateway_connections_refused_total", "Client connections refused (limit reached).", "counter",
       (double)s->st.refused_conns},
      {"parachain_gateway_connections_open", "Client connections open (binary and HTTP).", "gauge",
       (double)(s->n_bin + s->n_http)},
      {"parachain_gateway_timeouts_total", "Connections closed for slowness or idleness.", "counter",
       (double)s->st.timeouts},
      {"parachain_gateway_oversized_frames_total", "Connections closed for an oversized frame.", "counter",
       (double)s->st.oversized},
      {"parachain_gateway_requests_total", "Requests received.", "counter", (double)s->st.requests},
      {"parachain_gateway_bad_requests_total", "Malformed requests.", "counter", (double)s->st.bad_requests},
      {"parachain_gateway_request_rejections_total", "Gateway decoder rejections (PC_DEC_GATEWAY).", "counter",
       (double)pc_reject_count(PC_DEC_GATEWAY, 1)},
      {"parachain_gateway_txs_admitted_total", "Transactions admitted.", "counter", (double)s->st.submitted_txs},
      {"parachain_gateway_txs_rejected_total", "Transactions rejected at submission.", "counter",
       (double)s->st.rejected_txs},
      {"parachain_gateway_receipts_total", "Receipts returned with a proof.", "counter", (double)s->st.receipts},
      {"parachain_gateway_tx_statuses_total", "WAITs answered without a receipt: rejected or not held here.",
       "counter", (double)s->st.tx_statuses},
      {"parachain_gateway_queries_total", "Key queries answered.", "counter", (double)s->st.queries},
      {"parachain_gateway_waits_pending", "Receipt waits pending.", "gauge", (double)s->st.pending_waits},
      {"parachain_gateway_http_requests_total", "HTTP requests.", "counter", (double)s->st.http_requests},
  };
  for (size_t i = 0; i < PC_ARRAY_LEN(own); i++) metric_row(&b, &len, &cap, &oom, &own[i]);
  if (s->be.metrics) {
    pc_gw_metric_t rows[256];
    size_t n = s->be.metrics(s->be.ctx, rows, PC_ARRAY_LEN(rows));
    if (n > PC_ARRAY_LEN(rows)) n = PC_ARRAY_LEN(rows);
    for (size_t i = 0; i < n; i++) metric_row(&b, &len, &cap, &oom, &rows[i]);
  }
  if (oom) {
    free(b);
    return NULL;
  }
  *out_len = len;
  return b;
}

static void http_reply(pc_gw_server_t *s, size_t slot, const char *status, const char *ctype, const char *body,
                       size_t blen) {
  char hdr[256];
  int k = snprintf(hdr, sizeof hdr, "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                   status, ctype, blen);
  s->conns[slot]->closing = true;
  if (!queue(s, slot, hdr, (size_t)k)) return;
  if (blen) queue(s, slot, body, blen);
}

static void handle_http(pc_gw_server_t *s, size_t slot) {
  gw_conn_t *c = s->conns[slot];
  s->st.http_requests++;
  const char *r = (const char *)c->rbuf;
  const char *path = NULL;
  size_t plen = 0;
  if (c->rlen > 4 && memcmp(r, "GET ", 4) == 0) {
    path = r + 4;
    const char *e = memchr(path, ' ', c->rlen - 4);
    if (e) plen = (size_t)(e - path);
  }
  const char *text = "text/plain; charset=utf-8";
  if (!path || !plen) {
    http_reply(s, slot, "405 Method Not Allowed", text, "only GET /metrics and GET /health\n", 34);
  } else if (plen == 8 && memcmp(path, "/metrics", 8) == 0) {
    size_t ml = 0;
    char *m = metrics_text(s, &ml);
    if (!m)
      http_reply(s, slot, "500 Internal Server Error", text, "out of memory\n", 14);
    else
      http_reply(s, slot, "200 OK", "text/plain; version=0.0.4; charset=utf-8", m, ml);
    free(m);
  } else if (plen == 7 && memcmp(path, "/health", 7) == 0) {
    pc_gw_status_t st;
    memset(&st, 0, sizeof st);
    s->be.status(s->be.ctx, &st);
    if (st.healthy)
      http_reply(s, slot, "200 OK", text, "ok\n", 3);
    else
      http_reply(s, slot, "503 Service Unavailable", text, "unhealthy\n", 10);
  } else {
    http_reply(s, slot, "404 Not Found", text, "not found\n", 10);
  }
  c = s->conns[slot];
  if (c) c->rlen = 0;
}

/* ----------------------------------------------------------------- I/O */

static void on_accept(pc_gw_server_t *s, bool http) {
  for (;;) {
    int fd = accept4(http ? s->hfd : s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return; /* EAGAIN, or EMFILE and friends: try again on the next event */
    }
    bool full = http ? s->n_http >= HTTP_MAX_CONNS : s->n_bin >= s->cfg.max_conns;
    size_t slot = s->n_slots;
    if (!full)
      for (size_t i = 0; i < s->n_slots; i++)
        if (!s->conns[i]) {
          slot = i;
          break;
        }
    gw_conn_t *c = slot < s->n_slots ? calloc(1, sizeof *c) : NULL;
    if (!c) {
      s->st.refused_conns++;
      close(fd);
      continue;
    }
    int one = 1;
    if (!http) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->http = http;
    c->last_ns = pc_now_ns();
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = slot + 2};
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev)) {
      close(fd);
      free(c);
      s->st.refused_conns++;
      continue;
    }
    s->conns[slot] = c;
    if (http)
      s->n_http++;
    else
      s->n_bin++;
    s->st.accepted++;
  }
}

static bool ensure_rcap(gw_conn_t *c, size_t need) {
  if (c->rcap >= need) return true;
  size_t nc = c->rcap ? c->rcap : 4096;
  while (nc < need) nc *= 2;
  uint8_t *nb = realloc(c->rbuf, nc);
  if (!nb) return false;
  c->rbuf = nb;
  c->rcap = nc;
  return true;
}

/* consume handles every whole frame in rbuf; false if the connection closed. */
static bool consume(pc_gw_server_t *s, size_t slot) {
  gw_conn_t *c = s->conns[slot];
  size_t off = 0;
  while (!c->closing && c->rlen - off >= 4) {
    long fl = pc_gw_frame_length(c->rbuf + off, c->rlen - off, s->cfg.max_frame);
    if (fl < 0) {
      if (fl == PC_ERR_TOO_LARGE) s->st.oversized++;
      s->st.bad_requests++;
      conn_close(s, slot);
      return false;
    }
    if (c->rlen - off < (size_t)fl) break;
    if (!handle_request(s, slot, c->rbuf + off, (size_t)fl)) return false;
    off += (size_t)fl;
  }
  if (off) {
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
  }
  c->frame_start_ns = c->rlen ? (off || !c->frame_start_ns ? pc_now_ns() : c->frame_start_ns) : 0;
  return flush(s, slot);
}

static void on_readable(pc_gw_server_t *s, size_t slot) {
  gw_conn_t *c = s->conns[slot];
  for (int rounds = 0; rounds < 16; rounds++) {
    size_t want;
    if (c->http) {
      want = HTTP_REQ_MAX - c->rlen;
      if (!ensure_rcap(c, HTTP_REQ_MAX + 1)) {
        conn_close(s, slot);
        return;
      }
    } else {
      size_t need = 4096;
      if (c->rlen >= 4) { /* size only; consume() judges (and counts) the length */
        uint32_t l = pc_load_le32(c->rbuf);
        if (l <= s->cfg.max_frame && (size_t)l + 4 > need) need = (size_t)l + 4;
      }
      if (!ensure_rcap(c, need)) {
        conn_close(s, slot);
        return;
      }
      want = c->rcap - c->rlen;
    }
    if (want == 0 || c->closing) break;
    ssize_t k = recv(c->fd, c->rbuf + c->rlen, want, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (k <= 0) {
      conn_close(s, slot);
      return;
    }
    if (c->rlen == 0) c->frame_start_ns = pc_now_ns();
    c->rlen += (size_t)k;
    c->last_ns = pc_now_ns();
    if (c->http) {
      c->rbuf[c->rlen] = 0;
      if (strstr((char *)c->rbuf, "\r\n\r\n") || strstr((char *)c->rbuf, "\n\n")) {
        handle_http(s, slot);
        if (s->conns[slot]) flush(s, slot);
        return;
      }
      if (c->rlen >= HTTP_REQ_MAX) {
        http_reply(s, slot, "431 Request Header Fields Too Large", "text/plain", "request too large\n", 18);
        if (s->conns[slot]) flush(s, slot);
        return;
      }
    } else if (!consume(s, slot)) {
      return;
    }
  }
}

int pc_gw_server_poll(pc_gw_server_t *s, int timeout_ms) {
  struct epoll_event evs[64];
  int n = epoll_wait(s->ep, evs, (int)PC_ARRAY_LEN(evs), timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : PC_ERR_IO;
  for (int i = 0; i < n; i++) {
    uint64_t d = evs[i].data.u64;
    if (d < 2) {
      on_accept(s, d == 1);
      continue;
    }
    size_t slot = (size_t)(d - 2);
    if (slot >= s->n_slots || !s->conns[slot]) continue;
    if (evs[i].events & EPOLLOUT) {
      if (!flush(s, slot)) continue;
    }
    if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(s, slot);
  }
  return n;
}

/* ------------------------------------------------------- housekeeping */

static void retry_waits(pc_gw_server_t *s, size_t slot, bool progress, uint64_t now) {
  gw_conn_t *c = s->conns[slot];
  size_t i = 0;
  while (i < c->n_waits) {
    gw_wait_t w = c->waits[i];
    int rc = progress ? ask_receipt(s, &w.hash) : PC_ERR_AGAIN;
    if (rc == PC_ERR_AGAIN && now >= w.deadline_ns) rc = expired(s, &w.hash);
    if (rc == PC_ERR_AGAIN) {
      i++;
      continue;
    }
    /* remove first, so a close inside answer_wait counts the rest exactly */
    c->n_waits--;
    memmove(&c->waits[i], &c->waits[i + 1], (c->n_waits - i) * sizeof *c->waits);
    s->st.pending_waits--;
    if (!answer_wait(s, slot, w.id, rc)) return;
  }
}

void pc_gw_server_housekeeping(pc_gw_server_t *s) {
  pc_gw_status_t st;
  memset(&st, 0, sizeof st);
  s->be.status(s->be.ctx, &st);
  uint64_t now = pc_now_ns();
  /* retry waits when the provable height moved, and at least every
   * RETRY_NS anyway (a backend may learn of a receipt without it moving) */
  bool progress = !s->have_provable || st.provable_height != s->last_provable || now - s->last_retry_ns > RETRY_NS;
  if (progress) s->last_retry_ns = now;
  s->last_provable = st.provable_height;
  s->have_provable = true;
  for (size_t slot = 0; slot < s->n_slots; slot++) {
    gw_conn_t *c = s->conns[slot];
    if (!c) continue;
    if (c->rlen > 0 && c->frame_start_ns && now - c->frame_start_ns > s->cfg.request_timeout_ns) {
      s->st.timeouts++;
      conn_close(s, slot);
      continue;
    }
    if (c->rlen == 0 && c->n_waits == 0 && !c->follow && now - c->last_ns > s->cfg.idle_timeout_ns) {
      s->st.timeouts++;
      conn_close(s, slot);
      continue;
    }
    if (c->http) continue;
    if (c->n_waits) {
      retry_waits(s, slot, progress, now);
      if (!s->conns[slot]) continue;
    }
    if (c->follow) {
      pc_block_t b;
      for (unsigned k = 0; k < FOLLOW_BURST && c->follow_next <= st.decided_height; k++) {
        if (c->wlen - c->woff > s->cfg.max_out / 2) break;
        int rc = s->be.block(s->be.ctx, c->follow_next, &b);
        if (rc) break;
        if (!send_frame(s, slot, pc_gw_enc_block_rsp(s->scratch, s->scratch_cap, c->follow_id, c->follow_next, &b)))
          break;
        c->follow_next++;
      }
      if (!s->conns[slot]) continue;
    }
    if (c->wlen > c->woff) flush(s, slot);
  }
}
