/* bench_dataplane — throughput and latency of the dataplane, each figure
 * next to a baseline measured in the same run:
 *
 *   keyed BLAKE2b MAC rate of one core (the per-frame crypto ceiling), and
 *   the same through libsodium's portable code (see portable_mac_mb);
 *   raw memif packet throughput between two processes (no channel logic);
 *   raw kernel-UDP packet throughput, same packets and batches;
 *   messages/s and MB/s through pc_dp over memif, and over kernel UDP, for
 *   256 B, 4 KiB, 64 KiB and 1 MiB messages;
 *   one-way latency percentiles of 64 B messages over memif;
 *   64 KiB throughput over memif with 1% of frames dropped at RX, against
 *   lossless runs alternating with it (median of the ratios).
 *
 * Every measurement runs in two fresh child processes (sender = replica 0,
 * receiver = replica 1, each with its own EAL, --no-huge); the parent only
 * forks and prints. Usage:
 *   bench_dataplane [SECONDS [SECTIONS]]    (-h, --help: usage)
 * SECONDS per run (a positive number up to 86400, default 1.5); SECTIONS a
 * comma list of mac, raw, sizes, jumbo, lat, loss (default all; "jumbo" is
 * the sizes table at 8972-byte frames, an IPv4 MTU of 9000, next to
 * baselines re-measured at that frame size; "loss" alone
 * measures its own lossless 64 KiB runs). A malformed argument is reported
 * on stderr with the usage and exit status 2 before anything runs.
 * Environment: PC_BENCH_SIZES (message sizes of the sizes section, e.g.
 * 65536,1048576), PC_BENCH_LOSS_REPS (lossless/lossy pairs, default 3),
 * PC_BENCH_WINDOW (frames in flight per peer, default 1024), PC_BENCH_FRAME
 * (ParaChain bytes per frame, 512..8972, default 1472). Run by `make bench`
 * (tools/scripts/bench.sh, section d: 1.5 s, 0.8 s with --quick).
 * The raw kernel-UDP baseline (sendmmsg/recvmmsg, same packets and batches
 * as the raw memif one) shows the transports' own ratio beside the
 * channels' memif/UDP ratio, which the one-core MAC bounds on both paths.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "dataplane/dataplane.h"
#include "tools/bench_args.h"

static double secs = 1.5;
/* ParaChain bytes per frame in every figure, baselines included: 1472 (an
 * IPv4 MTU of 1500) unless PC_BENCH_FRAME says otherwise; the jumbo section
 * switches to PC_DP_DPDK_MAX_FRAME (MTU 9000). Children inherit it. */
static uint32_t frame = 1472;
/* Settings from the environment, checked by parse_args before anything
 * starts (see usage()). */
static uint32_t window = 1024;                              /* PC_BENCH_WINDOW */
static size_t sizes[8] = {256, 4096, 65536, 1 << 20}, nsizes = 4; /* PC_BENCH_SIZES */
static int loss_reps = 3;                                   /* PC_BENCH_LOSS_REPS */
static int row_reps = 1;                                    /* PC_BENCH_ROW_REPS */

/* What the closing "targets" lines judge: issue 7's three benchmark
 * targets, from the default (1472-byte) tables of this run. */
static struct {
  size_t n;
  size_t size[8];
  double x_ceil[8];    /* memif channel / min(raw memif, MAC), median of the row's repetitions */
  double memif_udp[8]; /* memif channel / UDP channel */
  double raw_ratio;    /* raw memif / raw UDP packets */
  double lat_ratio;    /* one-way latency p50, UDP / memif */
  double loss_ratio;   /* 1% loss / lossless, median */
} seen;

typedef struct {
  double msgs, bytes, elapsed; /* receiver side */
  double p50, p90, p99, p999;  /* latency, µs */
  double retransmits, rtx_fast, rtx_timer, window_full; /* sender side */
} result_t;

static void keypair(uint16_t i, uint8_t pk[32], uint8_t sk[64]) {
  uint8_t seed[32];
  memset(seed, i + 1, sizeof seed);
  crypto_sign_seed_keypair(pk, sk, seed);
}

static void make_cfg(pc_dp_cfg_t *cfg, pc_dp_kind_t kind, uint16_t self, const char *tag, uint16_t port) {
  pc_dp_cfg_default(cfg);
  cfg->kind = kind;
  cfg->self = self;
  cfg->n = 2;
  for (uint16_t i = 0; i < 2; i++) {
    uint8_t sk[64];
    keypair(i, cfg->peers[i].ed25519_pk, sk);
    if (i == self) memcpy(cfg->ed25519_sk, sk, 64);
    cfg->peers[i].addr.ip = 0x7f000001;
    cfg->peers[i].addr.port = (uint16_t)(port + i);
  }
  snprintf(cfg->memif_tag, sizeof cfg->memif_tag, "%s", tag);
  snprintf(cfg->eal_args, sizeof cfg->eal_args,
           "--no-huge -m 96 --no-shconf --no-pci --file-prefix %s-%u --log-level=*:error -l %u", tag, self, self);
  cfg->window = window;
  cfg->mbufs = 8191;
  cfg->frame_size = frame;
}

/* ------------------------------------------------------------ receiver */

typedef struct {
  uint64_t msgs, bytes, first_ns, last_ns;
  double *lat;
  size_t nlat, cap;
} rstate_t;

static void on_msg(void *user, uint16_t peer, const uint8_t *m, size_t len) {
  (void)peer;
  rstate_t *r = user;
  uint64_t now = pc_now_ns();
  if (!r->msgs) r->first_ns = now;
  r->last_ns = now;
  r->msgs++;
  r->bytes += len;
  if (r->lat && len >= 8 && r->nlat < r->cap) r->lat[r->nlat++] = (double)(now - pc_load_le64(m)) / 1000.0;
}

/* MB/s of ParaChain payload carried by frames_per_s full frames. */
static double payload_mb(double frames_per_s) { return frames_per_s * (frame - PC_DP_OVERHEAD) / 1e6; }

/* Keyed BLAKE2b-128 tags over one full frame per second, on this core,
 * measured for ns nanoseconds. */
static double mac_frames_per_s(uint64_t ns) {
  static uint8_t buf[PC_DP_DPDK_MAX_FRAME];
  uint8_t key[32] = {1}, tag[16];
  uint64_t n = 0, t0 = pc_now_ns();
  while (pc_now_ns() - t0 < ns) {
    for (int i = 0; i < 1000; i++) crypto_generichash(tag, 16, buf, frame, key, 32);
    n += 1000;
  }
  return (double)n / ((double)(pc_now_ns() - t0) / 1e9);
}

/* The same MAC rate through libsodium's portable C code, in MB/s of
 * payload: sodium_init() selects the AVX2 BLAKE2b compression whenever the
 * CPU has AVX2, and a forked child inherits that choice, so this runs a
 * fresh copy of this program (PC_BENCH_PORTABLE_MAC=ns) that measures
 * before any sodium_init(). For this comparison only: the dataplane always
 * initialises libsodium. Returns 0 when the child fails. */
static double portable_mac_mb(uint64_t ns) {
  int fd[2];
  if (pipe(fd) != 0) return 0;
  pid_t c = fork();
  if (c == 0) {
    char v[32];
    snprintf(v, sizeof v, "%llu", (unsigned long long)ns);
    setenv("PC_BENCH_PORTABLE_MAC", v, 1);
    dup2(fd[1], STDOUT_FILENO);
    execl("/proc/self/exe", "bench_dataplane", (char *)NULL);
    _exit(127);
  }
  close(fd[1]);
  char buf[64] = {0};
  ssize_t got = c > 0 ? read(fd[0], buf, sizeof buf - 1) : -1;
  close(fd[0]);
  if (c > 0) waitpid(c, NULL, 0);
  return got > 0 ? atof(buf) : 0;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void run_receiver(pc_dp_kind_t kind, const char *tag, uint16_t port, uint32_t drop_ppm, bool lat,
                         int out) {
  pc_dp_cfg_t cfg;
  make_cfg(&cfg, kind, 1, tag, port);
  cfg.test_rx_drop_ppm = drop_ppm;
  cfg.test_seed = 42;
  rstate_t r = {0};
  if (lat) {
    r.cap = 1 << 20;
    r.lat = malloc(r.cap * sizeof(double));
  }
  pc_dp_t *dp = pc_dp_create(&cfg, on_msg, &r);
  if (!dp) _exit(2);
  uint64_t start = pc_now_ns(), hard = start + (uint64_t)((secs + 20) * 1e9);
  unsigned idle = 0;
  for (;;) {
    uint64_t now = pc_now_ns();
    if (now > hard) break;
    if (r.msgs && now - r.last_ns > 700000000ull) break; /* sender done */
    if (pc_dp_poll(dp, 256) > 0)
      idle = 0;
    else
      pc_dp_idle(++idle);
  }
  result_t res = {0};
  res.msgs = (double)r.msgs;
  res.bytes = (double)r.bytes;
  res.elapsed = (double)(r.last_ns - r.first_ns) / 1e9;
  if (lat && r.nlat) {
    qsort(r.lat, r.nlat, sizeof(double), cmp_d);
    res.p50 = r.lat[r.nlat / 2];
    res.p90 = r.lat[r.nlat * 9 / 10];
    res.p99 = r.lat[r.nlat * 99 / 100];
    res.p999 = r.lat[r.nlat * 999 / 1000];
  }
  pc_dp_counters_t k;
  pc_dp_counters(dp, 0, &k);
  if (write(out, &res, sizeof res) != sizeof res) _exit(3);
  pc_dp_destroy(dp); /* the receiver (memif client) leaves first */
  _exit(0);
}

static void run_sender(pc_dp_kind_t kind, const char *tag, uint16_t port, size_t size, bool lat, int out) {
  pc_dp_cfg_t cfg;
  make_cfg(&cfg, kind, 0, tag, port);
  rstate_t dummy = {0};
  pc_dp_t *dp = pc_dp_create(&cfg, on_msg, &dummy);
  if (!dp) _exit(2);
  uint8_t *buf = calloc(1, size);
  unsigned idle = 0;
  /* wait for the session */
  uint64_t t0 = pc_now_ns();
  while (!pc_dp_peer_up(dp, 1) && pc_now_ns() - t0 < 20000000000ull) {
    pc_dp_poll(dp, 64);
    pc_dp_idle(++idle);
  }
  uint64_t end = pc_now_ns() + (uint64_t)(secs * 1e9);
  uint64_t next = 0;
  while (pc_now_ns() < end) {
    if (lat) {
      uint64_t now = pc_now_ns();
      if (now >= next) {
        pc_store_le64(buf, now);
        if (pc_dp_send(dp, 1, buf, size) == 0) next = now + 20000; /* one every 20 µs */
      }
    } else {
      while (pc_dp_send(dp, 1, buf, size) == 0) {
      }
    }
    pc_dp_poll(dp, 256);
  }
  uint64_t drain = pc_now_ns() + 5000000000ull;
  while (!pc_dp_tx_idle(dp) && pc_now_ns() < drain) pc_dp_poll(dp, 256);
  pc_dp_counters_t k;
  pc_dp_counters(dp, 1, &k);
  result_t res = {0};
  res.retransmits = (double)k.retransmits;
  res.rtx_fast = (double)k.rtx_fast;
  res.rtx_timer = (double)k.rtx_timer;
  res.window_full = (double)k.tx_window_full;
  if (write(out, &res, sizeof res) != sizeof res) _exit(3);
  /* Stay until the receiver has noticed the end (700 ms of silence) and
   * left: the memif server goes last. */
  uint64_t stay = pc_now_ns() + 1500000000ull;
  while (pc_now_ns() < stay) {
    pc_dp_poll(dp, 64);
    pc_dp_idle(100000);
  }
  pc_dp_destroy(dp);
  _exit(0);
}

/* ----------------------------------------------------------- raw memif */

static void raw_child(uint16_t self, const char *tag, int out) {
  char eal[256];
  snprintf(eal, sizeof eal, "x --no-huge -m 96 --no-shconf --no-pci --file-prefix %s-raw%u --log-level=*:error -l %u",
           tag, self, self);
  char *argv[32];
  int argc = 0;
  for (char *s = NULL, *t = strtok_r(eal, " ", &s); t; t = strtok_r(NULL, " ", &s)) argv[argc++] = t;
  if (rte_eal_init(argc, argv) < 0) _exit(2);
  const uint16_t plen = (uint16_t)(frame + PC_DP_L2_SIZE), room = PC_MAX(2048, plen); /* as the dataplane */
  char dev[256];
  snprintf(dev, sizeof dev, "net_memif_raw%u,role=%s,socket=/tmp/%s-raw.sock,id=0,bsize=%u", self,
           self ? "client" : "server", tag, (unsigned)room);
  if (rte_dev_probe(dev) != 0) _exit(2);
  char name[32];
  snprintf(name, sizeof name, "net_memif_raw%u", self);
  uint16_t port;
  if (rte_eth_dev_get_port_by_name(name, &port) != 0) _exit(2);
  struct rte_mempool *mp = rte_pktmbuf_pool_create("raw", 8191, 256, 0, (uint16_t)(RTE_PKTMBUF_HEADROOM + room), 0);
  struct rte_eth_conf conf = {0};
  if (!mp || rte_eth_dev_configure(port, 1, 1, &conf) || rte_eth_rx_queue_setup(port, 0, 1024, 0, NULL, mp) ||
      rte_eth_tx_queue_setup(port, 0, 1024, 0, NULL))
    _exit(2);
  /* Up to 30 s to connect. The client's first connect can come before the
   * server listens ("Failed to connect socket"), and a started client
   * whose connect failed never links: raw memif failed in 3 of 5 runs at a
   * load average of 4-10 with a single start. So the client restarts its
   * port when no link came within 3 s (long enough not to cut a handshake
   * in progress). */
  uint64_t t0 = pc_now_ns();
  struct rte_eth_link l = {0};
  while (!l.link_status && pc_now_ns() - t0 < 30000000000ull) {
    if (rte_eth_dev_start(port) != 0) {
      pc_sleep_ns(100000000);
      continue;
    }
    uint64_t t1 = pc_now_ns();
    do {
      rte_eth_link_get_nowait(port, &l);
      if (!l.link_status) pc_sleep_ns(1000000);
    } while (!l.link_status && (self == 0 || pc_now_ns() - t1 < 3000000000ull) && pc_now_ns() - t0 < 30000000000ull);
    if (!l.link_status && self == 1 && rte_eth_dev_stop(port) != 0) break;
  }
  if (!l.link_status) _exit(4); /* no figure rather than a wrong one */
  struct rte_mbuf *mb[32];
  result_t res = {0};
  if (self == 0) { /* sender */
    uint64_t end = pc_now_ns() + (uint64_t)(secs * 1e9);
    while (pc_now_ns() < end) {
      if (rte_pktmbuf_alloc_bulk(mp, mb, 32) != 0) continue;
      for (int i = 0; i < 32; i++) rte_pktmbuf_append(mb[i], plen);
      uint16_t k = rte_eth_tx_burst(port, 0, mb, 32);
      if (k < 32) rte_pktmbuf_free_bulk(mb + k, 32 - k);
    }
    pc_sleep_ns(1000000000);
  } else {
    uint64_t first = 0, last = 0, pk = 0, by = 0, hard = pc_now_ns() + (uint64_t)((secs + 10) * 1e9);
    for (;;) {
      uint64_t now = pc_now_ns();
      if (now > hard || (pk && now - last > 300000000ull)) break;
      uint16_t k = rte_eth_rx_burst(port, 0, mb, 32);
      if (!k) continue;
      if (!first) first = now;
      last = now;
      pk += k;
      for (uint16_t i = 0; i < k; i++) by += rte_pktmbuf_pkt_len(mb[i]);
      rte_pktmbuf_free_bulk(mb, k);
    }
    res.msgs = (double)pk;
    res.bytes = (double)by;
    res.elapsed = (double)(last - first) / 1e9;
    if (write(out, &res, sizeof res) != sizeof res) _exit(3);
  }
  _exit(0);
}

/* ------------------------------------------------------------- raw UDP */

/* The kernel-UDP counterpart of raw_child: plain sendmmsg/recvmmsg of
 * frame-sized datagrams (the ParaChain part of a memif packet; the kernel
 * adds the same 42 bytes of headers) in batches of 32 between two
 * processes pinned like the memif pair (sender CPU 0, receiver CPU 1),
 * non-blocking and busy-polling like a poll-mode driver, socket buffers of
 * 8 MiB as in transport_udp.c. No channel logic, no MAC. */
static void raw_udp_child(uint16_t self, uint16_t port, int out) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(self, &set);
  (void)sched_setaffinity(0, sizeof set, &set);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int sz = 8 << 20;
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001), .sin_port = htons(port + self)};
  struct sockaddr_in peer = me;
  peer.sin_port = htons(port + !self);
  if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof me) != 0) _exit(2);
  enum { B = 32 };
  const size_t LEN = frame;
  static uint8_t bufs[B][PC_DP_DPDK_MAX_FRAME + 1];
  struct mmsghdr mm[B];
  struct iovec iov[B];
  result_t res = {0};
  if (self == 0) { /* sender */
    pc_sleep_ns(200000000); /* the receiver binds meanwhile */
    uint64_t end = pc_now_ns() + (uint64_t)(secs * 1e9);
    while (pc_now_ns() < end) {
      for (int i = 0; i < B; i++) {
        iov[i] = (struct iovec){bufs[i], LEN};
        mm[i].msg_hdr = (struct msghdr){.msg_name = &peer, .msg_namelen = sizeof peer, .msg_iov = &iov[i], .msg_iovlen = 1};
      }
      (void)sendmmsg(fd, mm, B, MSG_DONTWAIT);
    }
  } else {
    uint64_t first = 0, last = 0, pk = 0, by = 0, hard = pc_now_ns() + (uint64_t)((secs + 10) * 1e9);
    for (;;) {
      uint64_t now = pc_now_ns();
      if (now > hard || (pk && now - last > 300000000ull)) break;
      for (int i = 0; i < B; i++) {
        iov[i] = (struct iovec){bufs[i], LEN + 1};
        mm[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
      }
      int k = recvmmsg(fd, mm, B, MSG_DONTWAIT, NULL);
      if (k <= 0) continue;
      if (!first) first = now;
      last = now;
      pk += (uint64_t)k;
      for (int i = 0; i < k; i++) by += mm[i].msg_len;
    }
    res.msgs = (double)pk;
    res.bytes = (double)by;
    res.elapsed = (double)(last - first) / 1e9;
    if (write(out, &res, sizeof res) != sizeof res) _exit(3);
  }
  close(fd);
  _exit(0);
}

/* ------------------------------------------------------------ supervisor */

static int run_id;

static bool pair(int mode, pc_dp_kind_t kind, size_t size, uint32_t drop, result_t *rx, result_t *tx) {
  char tag[32];
  snprintf(tag, sizeof tag, "pcb-%d-%d", (int)getpid(), run_id++);
  uint16_t port = (uint16_t)(30000 + (getpid() % 1000) * 20 + run_id * 2);
  int pr[2], pt[2];
  if (pipe(pr) || pipe(pt)) return false;
  pid_t r = fork();
  if (r == 0) {
    if (mode == 1) raw_child(1, tag, pr[1]);
    if (mode == 3) raw_udp_child(1, port, pr[1]);
    run_receiver(kind, tag, port, drop, mode == 2, pr[1]);
  }
  pid_t s = fork();
  if (s == 0) {
    if (mode == 1) raw_child(0, tag, pt[1]);
    if (mode == 3) raw_udp_child(0, port, pt[1]);
    run_sender(kind, tag, port, size, mode == 2, pt[1]);
  }
  close(pr[1]);
  close(pt[1]);
  memset(rx, 0, sizeof *rx);
  memset(tx, 0, sizeof *tx);
  bool ok = read(pr[0], rx, sizeof *rx) == sizeof *rx;
  if (mode != 1 && mode != 3) ok = ok && read(pt[0], tx, sizeof *tx) == sizeof *tx;
  int st;
  waitpid(s, &st, 0);
  waitpid(r, &st, 0);
  close(pr[0]);
  close(pt[0]);
  return ok && rx->elapsed > 0;
}

static double mb_s(const result_t *r) { return r->bytes / r->elapsed / 1e6; }
static double m_s(const result_t *r) { return r->msgs / r->elapsed; }

static bool want(const char *only, const char *sec) {
  if (!only) return true;
  size_t n = strlen(sec);
  for (const char *p = only; (p = strstr(p, sec)); p += n)
    if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return true;
  return false;
}

/* ------------------------------------------------------------ baselines */

/* The baselines of one frame size: one core's MAC rate in MB/s of payload,
 * raw memif and raw kernel-UDP packets/s (0: that run failed). */
typedef struct {
  double mac_mb, raw_pps, rawu_pps;
} baselines_t;

/* 1. The MAC ceiling, one core, over full frames; with portable, also
 * libsodium's portable code for comparison. */
static void measure_mac(baselines_t *b, bool portable) {
  double mac_s = mac_frames_per_s(500000000ull);
  b->mac_mb = payload_mb(mac_s); /* payload bytes the MAC rate allows */
  printf("keyed BLAKE2b-128 MAC, one core, %u B frames: %.0f frames/s = %.0f MB/s of payload\n", frame, mac_s,
         b->mac_mb);
  double pm = portable ? portable_mac_mb(500000000ull) : 0;
  if (pm > 0 && b->mac_mb > 0)
    printf("  the same MAC through libsodium's portable C code (sodium_init() %s): %.0f MB/s = %.2fx\n",
           sodium_runtime_has_avx2() ? "selects its AVX2 code on this CPU" : "finds no AVX2 here", pm, pm / b->mac_mb);
}

/* 2. raw memif and raw kernel UDP: packets/s between two processes, same
 * packet size and batch, no channel logic. */
static void measure_raw(baselines_t *b) {
  result_t rx, tx;
  if (pair(1, PC_DP_KIND_DPDK, 0, 0, &rx, &tx)) {
    b->raw_pps = m_s(&rx);
    printf("raw memif, %u B packets, bursts of 32: %.2f Mpps (= %.0f MB/s at our payload per frame)\n",
           frame + PC_DP_L2_SIZE, b->raw_pps / 1e6, payload_mb(b->raw_pps));
  } else {
    printf("raw memif: FAILED\n");
  }
  if (pair(3, PC_DP_KIND_UDP, 0, 0, &rx, &tx)) {
    b->rawu_pps = m_s(&rx);
    printf("raw kernel UDP, %u B datagrams, sendmmsg/recvmmsg of 32: %.2f Mpps (= %.0f MB/s at our payload "
           "per frame)\n",
           frame, b->rawu_pps / 1e6, payload_mb(b->rawu_pps));
  } else {
    printf("raw kernel UDP: FAILED\n");
  }
  if (b->raw_pps > 0 && b->rawu_pps > 0) printf("raw memif / raw UDP = %.2f\n", b->raw_pps / b->rawu_pps);
}

/* 3. Message sizes, memif vs UDP, against min(raw memif, MAC) at this frame
 * size; each row PC_BENCH_ROW_REPS times, printed as the median of each
 * column (and the range of "x ceil" when repeated). Returns the memif MB/s
 * of the 64 KiB row (0 without one); with record, keeps the row medians for
 * the closing "targets" lines. */
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof v[0], cmp_d);
  return n ? v[n / 2] : 0;
}

static double sizes_table(const baselines_t *b, bool record) {
  double raw_mb = payload_mb(b->raw_pps), mb64 = 0;
  double ceiling = raw_mb && raw_mb < b->mac_mb ? raw_mb : b->mac_mb;
  printf("ceiling = min(raw memif, MAC) = %.0f MB/s\n", ceiling);
  /* The two vCPUs' speed drifts with the host within a run, so each row's
   * ceiling re-measures the MAC rate (0.3 s) just before its memif pair
   * and "x ceil" divides by that; the last column shows it. */
  printf("(each row: MAC ceiling re-measured just before its memif pair%s)\n\n",
         row_reps > 1 ? "; every column the median of the row's repetitions" : "");
  printf("%-8s %14s %10s %8s %14s %10s %10s %8s%s\n", "size", "memif msg/s", "MB/s", "x ceil", "udp msg/s", "MB/s",
         "memif/udp", "ceiling", row_reps > 1 ? "   x ceil range" : "");
  for (size_t i = 0; i < nsizes; i++) {
    double mm[15], mb[15], xc[15], um[15], ub[15], mu[15], ce[15];
    int n = 0;
    for (int r = 0; r < row_reps; r++) {
      result_t m, u, tx;
      double row_mac = payload_mb(mac_frames_per_s(300000000ull));
      double row_ceiling = raw_mb && raw_mb < row_mac ? raw_mb : row_mac;
      bool okm = pair(0, PC_DP_KIND_DPDK, sizes[i], 0, &m, &tx);
      bool oku = pair(0, PC_DP_KIND_UDP, sizes[i], 0, &u, &tx);
      if (!okm || !oku || row_ceiling <= 0) continue; /* a failed pair prints as a 0 row below */
      mm[n] = m_s(&m), mb[n] = mb_s(&m), xc[n] = mb_s(&m) / row_ceiling;
      um[n] = m_s(&u), ub[n] = mb_s(&u), mu[n] = mb_s(&m) / mb_s(&u), ce[n] = row_ceiling;
      n++;
    }
    double x = median(xc, n), ratio = median(mu, n), mbm = median(mb, n); /* median sorts: xc[0] is the lowest */
    if (sizes[i] == 65536) mb64 = mbm;
    printf("%-8zu %14.0f %10.1f %8.2f %14.0f %10.1f %10.2f %8.0f", sizes[i], median(mm, n), mbm, x, median(um, n),
           median(ub, n), ratio, median(ce, n));
    if (row_reps > 1) printf("   %.2f-%.2f (%d)", n ? xc[0] : 0, n ? xc[n - 1] : 0, n);
    printf("\n");
    if (record && n && seen.n < 8) {
      seen.size[seen.n] = sizes[i], seen.x_ceil[seen.n] = x, seen.memif_udp[seen.n] = ratio;
      seen.n++;
    }
  }
  if (b->raw_pps > 0 && b->rawu_pps > 0) {
    printf("(transports alone: raw memif / raw UDP = %.2f, same packets)\n", b->raw_pps / b->rawu_pps);
    if (record) seen.raw_ratio = b->raw_pps / b->rawu_pps;
  }
  return mb64;
}

/* The closing lines: each of issue 7's benchmark targets, met or not, from
 * the figures above (the default frame size only). */
static void print_targets(void) {
  if (!seen.n && !seen.loss_ratio && !seen.lat_ratio) return;
  printf("\ntargets (issue 7), from this run:\n");
  if (seen.n) {
    size_t worst = 0;
    printf("  every size >= 0.8x min(raw memif, one-core MAC):");
    for (size_t i = 0; i < seen.n; i++) {
      printf(" %zu B %.2f%s", seen.size[i], seen.x_ceil[i], i + 1 < seen.n ? "," : "");
      if (seen.x_ceil[i] < seen.x_ceil[worst]) worst = i;
    }
    printf(" -> %s", seen.x_ceil[worst] >= 0.8 ? "met" : "NOT met");
    if (seen.x_ceil[worst] < 0.8) printf(" (lowest %.2f at %zu B)", seen.x_ceil[worst], seen.size[worst]);
    printf("\n");
    double lo = seen.memif_udp[0], hi = lo;
    for (size_t i = 1; i < seen.n; i++)
      lo = seen.memif_udp[i] < lo ? seen.memif_udp[i] : lo, hi = seen.memif_udp[i] > hi ? seen.memif_udp[i] : hi;
    printf("  DPDK >= 3x the kernel-UDP fallback: MAC'd channels %.2f-%.2fx -> %s", lo, hi,
           lo >= 3 ? "met" : "NOT met");
    if (seen.raw_ratio > 0)
      printf("; raw transports %.2fx -> %s", seen.raw_ratio, seen.raw_ratio >= 3 ? "met" : "NOT met");
    if (seen.lat_ratio > 0)
      printf("; one-way latency p50 %.2fx lower -> %s", seen.lat_ratio, seen.lat_ratio >= 3 ? "met" : "NOT met");
    printf("\n");
  }
  if (seen.loss_ratio > 0)
    printf("  1%% loss costs <= 10%%: median %.2fx the lossless run -> %s\n", seen.loss_ratio,
           seen.loss_ratio >= 0.9 ? "met" : "NOT met");
}

/* ------------------------------------------------------------ arguments */
static void usage(FILE *f) {
  fprintf(
      f,
      "usage: bench_dataplane [SECONDS [SECTIONS]]\n"
      "Measures memif and UDP channels vs the one-core MAC ceiling and raw memif/UDP, same run; latency, "
      "loss.\n"
      "  SECONDS     seconds per run, a positive number up to 86400 (default 1.5)\n"
      "  SECTIONS    comma list of mac, raw, sizes, jumbo, lat, loss (default all; jumbo = the sizes\n"
      "              table again at 8972-byte frames, an MTU of 9000, with its own baselines)\n"
      "  -h, --help  this text\n"
      "Environment: PC_BENCH_SIZES (message sizes of the sizes section, 1..16777216, up to 8, e.g.\n"
      "65536,1048576), PC_BENCH_ROW_REPS (runs per sizes row, 1..15, default 1: each column prints the\n"
      "median), PC_BENCH_LOSS_REPS (lossless/lossy pairs, 1..15, default 3), PC_BENCH_WINDOW (frames in\n"
      "flight per peer, 8..8192, a power of two, default 1024), PC_BENCH_FRAME (ParaChain bytes per frame,\n"
      "512..8972, default 1472). Ends with issue 7's targets, met or not, from this run's figures.\n"
      "Run by: make bench (tools/scripts/bench.sh, section d: 1.5 s; --quick 0.8 s).\n");
}

/* parse_args sets secs and *only (NULL: every section) or exits: 0 after
 * -h/--help, 2 after a malformed argument. Runs before the EAL or anything
 * else starts. */
static void parse_args(int argc, char **argv, const char **only) {
  static const char *const sections[] = {"mac", "raw", "sizes", "jumbo", "lat", "loss"};
  bench_args_begin("bench_dataplane", usage, argc, argv);
  if (argc > 3) bad_arg("unexpected argument '%s' (takes at most SECONDS and SECTIONS)", argv[3]);
  if (argc > 1) secs = bench_parse_secs(argv[1]);
  const char *fs = getenv("PC_BENCH_FRAME");
  if (fs) frame = (uint32_t)bench_parse_u64("PC_BENCH_FRAME", fs, 512, PC_DP_DPDK_MAX_FRAME);
  const char *ws = getenv("PC_BENCH_WINDOW");
  if (ws) {
    window = (uint32_t)bench_parse_u64("PC_BENCH_WINDOW", ws, 8, 8192);
    if (window & (window - 1)) bad_arg("bad PC_BENCH_WINDOW '%s' (want a power of two from 8 to 8192)", ws);
  }
  const char *ls = getenv("PC_BENCH_LOSS_REPS");
  if (ls) loss_reps = (int)bench_parse_u64("PC_BENCH_LOSS_REPS", ls, 1, 15);
  const char *rr = getenv("PC_BENCH_ROW_REPS");
  if (rr) row_reps = (int)bench_parse_u64("PC_BENCH_ROW_REPS", rr, 1, 15);
  const char *ss = getenv("PC_BENCH_SIZES");
  if (ss) {
    char item[32];
    nsizes = 0;
    for (const char *c = ss;; c += strcspn(c, ",") + 1) {
      size_t n = strcspn(c, ",");
      if (nsizes == 8) bad_arg("bad PC_BENCH_SIZES '%s' (at most 8 sizes)", ss);
      if (n == 0 || n >= sizeof item) bad_arg("bad PC_BENCH_SIZES '%s' (want a comma list of sizes)", ss);
      memcpy(item, c, n);
      item[n] = 0;
      sizes[nsizes++] = (size_t)bench_parse_u64("size in PC_BENCH_SIZES", item, 1, 16u << 20);
      if (!c[n]) break;
    }
  }
  *only = argc > 2 ? argv[2] : NULL;
  if (!*only) return;
  for (const char *p = *only;;) {
    size_t n = strcspn(p, ",");
    bool known = false;
    for (size_t k = 0; k < sizeof sections / sizeof sections[0]; k++)
      known = known || (strlen(sections[k]) == n && !strncmp(p, sections[k], n));
    if (!n) bad_arg("empty section name in '%s' (want a comma list of mac, raw, sizes, jumbo, lat, loss)", *only);
    if (!known)
      bad_arg("unknown section '%.*s' in '%s' (want a comma list of mac, raw, sizes, jumbo, lat, loss)", (int)n, p,
              *only);
    if (!p[n]) break;
    p += n + 1;
  }
}

int main(int argc, char **argv) {
  const char *only;
  parse_args(argc, argv, &only);
  const char *pm = getenv("PC_BENCH_PORTABLE_MAC");
  if (pm) { /* child of portable_mac_mb(): measure before sodium_init() */
    printf("%.1f\n", payload_mb(mac_frames_per_s(strtoull(pm, NULL, 10))));
    return 0;
  }
  pc_crypto_init();
  pc_log_set_level(PC_LOG_WARN);

  baselines_t baselines = {0};
  if (want(only, "mac") || want(only, "sizes")) measure_mac(&baselines, true);
  if (want(only, "raw") || want(only, "sizes")) measure_raw(&baselines);
  double mb64 = want(only, "sizes") ? sizes_table(&baselines, true) : 0;

  /* 3b. the same table with jumbo frames (an IPv4 MTU of 9000), every
   * baseline re-measured at that frame size. */
  if (want(only, "jumbo")) {
    uint32_t keep = frame;
    frame = PC_DP_DPDK_MAX_FRAME;
    printf("\njumbo frames: %u ParaChain bytes per frame (IPv4 MTU %d); baselines re-measured at this size\n", frame,
           PC_DP_DPDK_MAX_MTU);
    baselines_t jumbo = {0};
    measure_mac(&jumbo, false);
    measure_raw(&jumbo);
    (void)sizes_table(&jumbo, false);
    frame = keep;
  }

  /* 4. latency */
  result_t l, lu, tx;
  if (want(only, "lat")) {
    bool okm = pair(2, PC_DP_KIND_DPDK, 64, 0, &l, &tx);
    if (okm)
      printf("\none-way latency, 64 B messages every 20 us over memif: p50 %.1f us, p90 %.1f, p99 %.1f, p99.9 %.1f "
             "(%.0f samples)\n",
             l.p50, l.p90, l.p99, l.p999, l.msgs);
    bool oku = pair(2, PC_DP_KIND_UDP, 64, 0, &lu, &tx);
    if (oku)
      printf("one-way latency, 64 B messages every 20 us over UDP:   p50 %.1f us, p90 %.1f, p99 %.1f, p99.9 %.1f\n",
             lu.p50, lu.p90, lu.p99, lu.p999);
    if (okm && oku && l.p50 > 0) {
      seen.lat_ratio = lu.p50 / l.p50;
      printf("one-way latency p50: UDP / memif = %.2f\n", seen.lat_ratio);
    }
  }

  /* 5. 1% loss: lossless and lossy 64 KiB runs alternate reps times (the
   * sizes table's 64 KiB run counts as the first lossless one); the ratio
   * of record is the median of the per-repetition ratios, so one disturbed
   * run on a shared machine does not decide it. */
  if (want(only, "loss")) {
    double ratios[15];
    int nr = 0;
    printf("\n64 KiB over memif, 1%% of frames dropped at RX, against a lossless run just before:\n");
    for (int i = 0; i < loss_reps; i++) {
      result_t lo, base;
      double mb0 = i == 0 ? mb64 : 0;
      if (mb0 == 0 && pair(0, PC_DP_KIND_DPDK, 65536, 0, &base, &tx)) mb0 = mb_s(&base);
      if (mb0 > 0 && pair(0, PC_DP_KIND_DPDK, 65536, 10000, &lo, &tx)) {
        ratios[nr++] = mb_s(&lo) / mb0;
        printf("  lossless %.1f MB/s, 1%% loss %.1f MB/s = %.2fx (%.0f retransmits: %.0f SACK-proven, %.0f by "
               "timer; window blocked %.0f times)\n",
               mb0, mb_s(&lo), mb_s(&lo) / mb0, tx.retransmits, tx.rtx_fast, tx.rtx_timer, tx.window_full);
      } else {
        printf("  run FAILED\n");
      }
    }
    if (nr) {
      seen.loss_ratio = median(ratios, nr); /* sorts ratios */
      printf("1%% loss: median %.2fx the lossless run over %d repetitions (range %.2f-%.2f)\n", seen.loss_ratio, nr,
             ratios[0], ratios[nr - 1]);
    }
  }
  print_targets();
  /* EAL runtime directories of the children (all named pcb-<pid>-...). */
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf /var/run/dpdk/pcb-%d-* 2>/dev/null", (int)getpid());
  if (system(cmd) != 0) {
    /* best effort */
  }
  return 0;
}
