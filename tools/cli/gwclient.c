/* gwclient.c — gateway client connection and proof verification. */
#include "tools/cli/gwclient.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "executor/executor.h"
#include "storage/storage.h"

/* --------------------------------------------------------- verification */

void pc_gw_trust_from_cluster(pc_gw_trust_t *t, const pc_cluster_t *c) {
  memset(t, 0, sizeof *t);
  t->chain_id = c->chain_id;
  t->n = c->n;
  t->q = pc_cluster_quorum(c);
  t->depth = pc_cluster_depth(c);
  for (unsigned i = 0; i < c->n; i++) memcpy(t->keys[i], c->replicas[i].pubkey, PC_PUBKEY_SIZE);
}

int pc_gw_verify_certified(const pc_gw_trust_t *t, const pc_gw_certified_t *cb, uint64_t height,
                           const pc_hash_t *exec_root) {
  const pc_block_t *h = &cb->header;
  const pc_cert_t *c = &cb->cert;
  if (h->chain_id != t->chain_id || c->chain_id != t->chain_id) return PC_ERR_CHAIN;
  if (h->height != height || c->height != height) return PC_ERR_RANGE;
  if (!pc_hash_equal(&h->exec_root, exec_root)) return PC_ERR_CHECKSUM;
  pc_hash_t id;
  pc_block_id(h, &id);
  if (!pc_hash_equal(&id, &c->digest)) return PC_ERR_CHECKSUM;
  unsigned need;
  if (c->kind == PC_CERT_COMMIT)
    need = t->q;
  else if (c->kind == PC_CERT_FAST)
    need = t->n;
  else
    return PC_ERR_INVALID;
  if (c->n != t->n) return PC_ERR_RANGE;
  return pc_cert_verify(c, t->chain_id, (const uint8_t(*)[PC_PUBKEY_SIZE])t->keys, t->n, need);
}

int pc_gw_verify_receipt(const pc_gw_trust_t *t, const pc_gw_receipt_ans_t *a) {
  pc_receipt_t rc;
  static _Thread_local pc_bytes_t ev[PC_EXEC_EVENTS_MAX];
  int e = pc_receipt_decode(a->receipt, a->receipt_len, &rc, ev);
  if (e) return e;
  pc_hash_t rroot, xroot;
  e = pc_gw_receipt_root_from_branch(a->receipt, a->receipt_len, a->index, a->count, a->branch, a->n_branch, &rroot);
  if (e) return e;
  pc_hash_pair(&xroot, "parachain/exec-root", &a->state_root, &rroot);
  return pc_gw_verify_certified(t, &a->cb, a->height + t->depth, &xroot);
}

int pc_gw_verify_query(const pc_gw_trust_t *t, const void *key, size_t klen, const pc_gw_query_ans_t *a) {
  static const uint8_t empty[1];
  int e = pc_state_proof_verify(&a->state_root, key, klen, a->present ? (a->value ? a->value : empty) : NULL,
                                a->present ? a->value_len : 0, a->proof, a->proof_len);
  if (e) return e;
  pc_hash_t xroot;
  pc_hash_pair(&xroot, "parachain/exec-root", &a->state_root, &a->receipts_root);
  return pc_gw_verify_certified(t, &a->cb, a->height + t->depth, &xroot);
}

int pc_gw_state_key(uint8_t *out, size_t cap, const char *contract, const void *k, size_t klen) {
  size_t cl = contract ? strlen(contract) : 0;
  if (!pc_tx_name_valid(contract, cl) || (klen && !k)) return PC_ERR_INVALID;
  if (1 + cl + klen > cap) return PC_ERR_OVERFLOW;
  out[0] = (uint8_t)cl;
  memcpy(out + 1, contract, cl);
  if (klen) memcpy(out + 1 + cl, k, klen);
  return (int)(1 + cl + klen);
}

/* ----------------------------------------------------------- connection */

struct pc_gwc {
  int fd;
  uint32_t next_id;
  uint8_t *buf;
  size_t len, cap;
  size_t consumed; /* bytes of the last returned frame, dropped on the next recv */
};

pc_gwc_t *pc_gwc_connect(const char *host, uint16_t port, int timeout_ms) {
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
  char ps[8];
  snprintf(ps, sizeof ps, "%u", port);
  int e = getaddrinfo(host, ps, &hints, &res);
  if (e || !res) {
    PC_ERROR("gateway client: cannot resolve %s: %s", host, gai_strerror(e));
    return NULL;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    return NULL;
  }
  int rc = connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc && errno == EINPROGRESS) {
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (poll(&p, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
      rc = 0;
    else
      errno = soerr ? soerr : ETIMEDOUT;
  }
  if (rc) {
    PC_ERROR("gateway client: cannot connect to %s:%u: %s", host, port, strerror(errno));
    close(fd);
    return NULL;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  pc_gwc_t *c = calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    return NULL;
  }
  c->fd = fd;
  c->next_id = 1;
  return c;
}

void pc_gwc_close(pc_gwc_t *c) {
  if (!c) return;
  close(c->fd);
  free(c->buf);
  free(c);
}

int pc_gwc_fd(const pc_gwc_t *c) { return c->fd; }
uint32_t pc_gwc_next_id(pc_gwc_t *c) { return c->next_id++; }

static int remaining_ms(uint64_t deadline, int timeout_ms) {
  if (timeout_ms < 0) return -1;
  uint64_t now = pc_now_ns();
  return now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
}

int pc_gwc_send(pc_gwc_t *c, const uint8_t *frame, size_t len, int timeout_ms) {
  uint64_t deadline = pc_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000ull;
  size_t off = 0;
  while (off < len) {
    ssize_t k = send(c->fd, frame + off, len - off, MSG_NOSIGNAL);
    if (k > 0) {
      off += (size_t)k;
      continue;
    }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd p = {.fd = c->fd, .events = POLLOUT};
      int ms = remaining_ms(deadline, timeout_ms);
      if (ms == 0 || poll(&p, 1, ms) == 0) return PC_ERR_TIMEOUT;
      continue;
    }
    return PC_ERR_IO;
  }
  return 0;
}

static long whole_frame(const pc_gwc_t *c) {
  if (c->len - c->consumed < 4) return 0;
  long fl = pc_gw_frame_length(c->buf + c->consumed, c->len - c->consumed, PC_GW_ANSWER_MAX);
  if (fl < 0) return fl;
  return c->len - c->consumed >= (size_t)fl ? fl : 0;
}

bool pc_gwc_pending(const pc_gwc_t *c) { return whole_frame(c) > 0; }

int pc_gwc_recv(pc_gwc_t *c, int timeout_ms, pc_gw_response_t *r) {
  if (c->consumed) {
    memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
    c->len -= c->consumed;
    c->consumed = 0;
  }
  uint64_t deadline = pc_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000ull;
  for (;;) {
    long fl = whole_frame(c);
    if (fl < 0) return (int)fl;
    if (fl > 0) {
      c->consumed = (size_t)fl;
      return pc_gw_response_decode(c->buf, (size_t)fl, PC_GW_ANSWER_MAX, r);
    }
    size_t need = 65536;
    if (c->len >= 4) need = PC_MAX(need, (size_t)pc_load_le32(c->buf) + 4);
    if (c->cap < need) {
      uint8_t *nb = realloc(c->buf, need);
      if (!nb) return PC_ERR_NOMEM;
      c->buf = nb;
      c->cap = need;
    }
    ssize_t k = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (k > 0) {
      c->len += (size_t)k;
      continue;
    }
    if (k == 0) return PC_ERR_IO;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return PC_ERR_IO;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int ms = remaining_ms(deadline, timeout_ms);
    if (ms == 0) return PC_ERR_TIMEOUT;
    int pr = poll(&p, 1, ms);
    if (pr == 0) return PC_ERR_TIMEOUT;
    if (pr < 0 && errno != EINTR) return PC_ERR_IO;
  }
}

/* round_trip sends frame and reads answers until the one with id. */
static int round_trip(pc_gwc_t *c, const uint8_t *frame, long len, uint32_t id, int timeout_ms,
                      pc_gw_response_t *r) {
  if (len < 0) return (int)len;
  int rc = pc_gwc_send(c, frame, (size_t)len, timeout_ms);
  if (rc) return rc;
  uint64_t deadline = pc_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000ull;
  for (;;) {
    rc = pc_gwc_recv(c, remaining_ms(deadline, timeout_ms), r);
    if (rc) return rc;
    if (r->id != id) continue;
    if (r->type == PC_GW_RSP_ERROR) return r->code ? r->code : PC_ERR_INVALID;
    return 0;
  }
}

int pc_gwc_submit(pc_gwc_t *c, const uint8_t *const *txs, const uint32_t *lens, unsigned n, int *codes,
                  int timeout_ms, pc_gw_response_t *r) {
  size_t cap = 64;
  for (unsigned i = 0; i < n; i++) cap += 4 + lens[i];
  uint8_t *f = malloc(cap);
  if (!f) return PC_ERR_NOMEM;
  uint32_t id = pc_gwc_next_id(c);
  long fl = pc_gw_enc_submit(f, cap, id, txs, lens, n);
  int rc = round_trip(c, f, fl, id, timeout_ms, r);
  free(f);
  if (rc) return rc;
  if (r->type != PC_GW_RSP_SUBMIT || r->n_codes != n) return PC_ERR_INVALID;
  for (unsigned i = 0; i < n; i++) codes[i] = r->codes[i];
  return 0;
}

int pc_gwc_wait(pc_gwc_t *c, const pc_hash_t *tx_hash, uint32_t wait_ms, const pc_gw_trust_t *t,
                pc_gw_response_t *r) {
  uint8_t f[64];
  uint32_t id = pc_gwc_next_id(c);
  r->type = 0; /* no stale TXSTATUS for pc_gwc_wait_text */
  int rc = round_trip(c, f, pc_gw_enc_wait(f, sizeof f, id, tx_hash, wait_ms), id, (int)wait_ms + 10000, r);
  if (rc) return rc;
  if (r->type == PC_GW_RSP_TXSTATUS) return r->code; /* rejected / not held here: r->tx_status, r->msg */
  if (r->type != PC_GW_RSP_RECEIPT) return PC_ERR_INVALID;
  if (r->code) return r->code;
  return t ? pc_gw_verify_receipt(t, &r->receipt) : 0;
}

int pc_gwc_query(pc_gwc_t *c, uint64_t height, const void *key, size_t klen, int timeout_ms,
                 const pc_gw_trust_t *t, pc_gw_response_t *r) {
  uint8_t f[PC_GW_KEY_MAX + 64];
  uint32_t id = pc_gwc_next_id(c);
  int rc = round_trip(c, f, pc_gw_enc_query(f, sizeof f, id, height, key, klen), id, timeout_ms, r);
  if (rc) return rc;
  if (r->type != PC_GW_RSP_QUERY) return PC_ERR_INVALID;
  if (r->code) return r->code;
  if (height && r->query.height != height) return PC_ERR_RANGE;
  return t ? pc_gw_verify_query(t, key, klen, &r->query) : 0;
}

int pc_gwc_status(pc_gwc_t *c, int timeout_ms, pc_gw_status_t *out, pc_gw_response_t *r) {
  uint8_t f[32];
  uint32_t id = pc_gwc_next_id(c);
  int rc = round_trip(c, f, pc_gw_enc_status(f, sizeof f, id), id, timeout_ms, r);
  if (rc) return rc;
  if (r->type != PC_GW_RSP_STATUS) return PC_ERR_INVALID;
  *out = r->status;
  return 0;
}

int pc_gwc_follow(pc_gwc_t *c, uint64_t from_height, uint32_t *id) {
  uint8_t f[32];
  *id = pc_gwc_next_id(c);
  long fl = pc_gw_enc_follow(f, sizeof f, *id, from_height);
  if (fl < 0) return (int)fl;
  return pc_gwc_send(c, f, (size_t)fl, 5000);
}

const char *pc_gwc_wait_text(int rc, const pc_gw_response_t *r, char *out, size_t cap) {
  if (rc && r && r->type == PC_GW_RSP_TXSTATUS && r->tx_status == PC_GW_TX_REJECTED)
    snprintf(out, cap, "rejected: %s (%s)", r->msg[0] ? r->msg : "refused", pc_strerror(rc));
  else if (rc && r && r->type == PC_GW_RSP_TXSTATUS && r->tx_status == PC_GW_TX_NOT_HELD)
    snprintf(out, cap, "not held here (receipts from height %llu): ask another replica",
             (unsigned long long)r->held_from);
  else
    snprintf(out, cap, "%s", pc_strerror(rc));
  return out;
}
