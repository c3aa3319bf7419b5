/* transport_dpdk.c — DPDK transport: one memif port per peer (one socket
 * per replica pair, lower id = memif server), frames wrapped in
 * Ethernet+IPv4+UDP, RX/TX bursts, link watching, and DPDK telemetry.
 *
 * EAL: rte_eal_init runs once per process (unless the caller already ran
 * it), with cfg.eal_args (or, if empty,
 * "--no-huge -m 64 --no-shconf --no-pci --file-prefix pc-dp-<pid>-<self>
 * --log-level=*:warning -l <current cpu>"). Ports are hot-plugged with
 * rte_dev_probe("net_memif_pc<self>_<peer>,role=...,socket=<dir>/<tag>-<lo>-<hi>.sock,id=0")
 * so the node needs no --vdev arguments. Alternatively cfg.dpdk_port names
 * one existing ethdev (a NIC by PCI address, or an af_packet / tap / ring /
 * null vdev given in eal_args) that carries the frames of every peer.
 *
 * Peer death (kill -9): the memif control thread notices the closed socket,
 * marks the link down and unmaps the shared regions. In DPDK 22.11 an
 * rx/tx burst already running on the polling thread at that moment reads
 * the unmapped rings and faults. We (1) check the link before every burst
 * and poll only ports whose link is up, which closes most of the window,
 * and (2) run the bursts under a SIGSEGV/SIGBUS guard: a fault inside a
 * burst jumps back, the port is counted down and restarted (stop/start, so
 * a client port reconnects when the server returns). A fault anywhere else
 * is re-raised with the default action.
 *
 * RX interrupts (single port only): the port is configured with
 * intr_conf.rxq; when its driver gives RX queue 0 an interrupt fd (tap,
 * vfio-bound NICs; memif, af_packet, ring and null have none in 22.11) the
 * idle back-off waits on that fd with ppoll, bounded like the sleep it
 * replaces, instead of sleeping (pc_dp_dpdk_wait_rx). We wait on the fd
 * ourselves rather than through rte_epoll_wait, whose timeout is in
 * milliseconds: our waits are 10-200 µs. Otherwise the port is configured
 * again without interrupts and the back-off sleeps, as before.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_alarm.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_telemetry.h>

#include "dataplane/dp_private.h"

#define DP_BURST 64

/* Client retries. A client start that could not even connect its socket
 * (server not listening yet, or gone) is retried every DP_CONNECT_RETRY_NS.
 * A start that connected leaves the memif handshake (HELLO, INIT, regions,
 * rings, CONNECT, CONNECTED: about seven messages, each handled on the EAL
 * interrupt thread of one side) running; it is given DP_HANDSHAKE_WAIT_NS,
 * doubled after each attempt that timed out up to DP_HANDSHAKE_WAIT_MAX_NS,
 * before the port is restarted. Restarting a client in mid-handshake is what
 * broke memif cluster starts on a loaded machine: the handshake took longer
 * than the old fixed 200 ms retry, so every retry cut the connection the
 * previous one had opened, and the server side of such a cut connection can
 * free its control channel twice in DPDK 22.11 ("EAL: Error: Invalid
 * memory", later "PANIC in eal_intr_thread_main(): Error adding fd ...
 * epoll_ctl, Bad file descriptor"), after which it never accepts again. */
#define DP_CONNECT_RETRY_NS 200000000ull
#define DP_HANDSHAKE_WAIT_NS 3000000000ull
#define DP_HANDSHAKE_WAIT_MAX_NS 24000000000ull
/* A gap this long between two link checks means this process did not run
 * (descheduled, machine stalled): the gap is added to a pending handshake's
 * allowance, since the handshake could not progress either and cutting it
 * is what risks the server (above). */
#define DP_STALL_NS 500000000ull

typedef struct {
  uint16_t port_id;
  bool valid;
  bool up;
  bool server;
  char name[64];
  uint64_t start_ns;       /* when the last start finished (atomic, like sock_connected) */
  uint64_t handshake_wait; /* poll thread: how long a connected client handshake may take now */
  uint64_t stalled_ns;     /* poll thread: time this process did not run during the pending handshake */
  int restart_pending;     /* a restart alarm is set (atomic: poll thread sets, EAL interrupt thread clears) */
  int sock_connected;      /* client: the last start connected its socket (atomic: written by whoever ran
                            * the start — port_start before any alarm exists, then the alarm — and read by
                            * the poll thread once restart_pending reads 0, which orders it) */
  unsigned starts;         /* successful starts so far (atomic, ordered like sock_connected): a restart may
                            * give the RX queue a new interrupt fd (vfio drivers make new eventfds) */
} dport_t;

/* The RX interrupt of the single port (see the top of the file); poll
 * thread only. */
typedef struct {
  bool on;        /* the port was started with intr_conf.rxq and its queue 0 has an fd */
  bool arm;       /* rte_eth_dev_rx_intr_enable/disable around each wait; false when the driver has no
                   * such op and its fd signals by itself (tap: the fd is the tap queue itself,
                   * readable while frames wait) */
  int fd;         /* the queue's fd, as of the port's start number gen */
  unsigned gen;   /* dport_t.starts when fd was read */
  unsigned drain; /* bytes to read from fd after a wakeup: 8 for an eventfd (vfio), 4 for a uio
                   * device, 0 otherwise (tap: reading would take a frame) */
} rx_intr_t;

typedef struct {
  pc_dp_transport_t base;
  uint16_t self, n;
  uint32_t frame_size;
  pc_dp_addr_t *addrs;
  dport_t *ports;    /* nports entries */
  uint16_t nports;
  dport_t **by_peer; /* per replica id: the port that reaches it (NULL for self) */
  bool probed;       /* ports are our memif vdevs (removed at destroy) */
  struct rte_mempool *pool;
  struct rte_mbuf *rx_held[DP_BURST];
  unsigned nheld;
  uint8_t *lin;   /* linearised multi-segment frames, DP_BURST × frame */
  uint16_t next_rx; /* round-robin start */
  uint16_t burst;
  uint64_t last_link_ns;
  rx_intr_t intr;
} dpdk_t;

static bool eal_ready;

/* ------------------------------------------------------------ fault guard */

static __thread sigjmp_buf *burst_jmp;
static struct sigaction old_segv, old_bus;
static bool guard_installed;

static void burst_fault(int sig, siginfo_t *si, void *uc) {
  (void)si, (void)uc;
  sigjmp_buf *j = burst_jmp;
  if (j) {
    burst_jmp = NULL;
    siglongjmp(*j, sig);
  }
  /* Not ours: put back whatever handled it before us (the default action,
   * or a sanitizer's reporter) and let the instruction fault again. */
  sigaction(sig, sig == SIGBUS ? &old_bus : &old_segv, NULL);
}

static void guard_install(void) {
  if (guard_installed) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = burst_fault;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &old_segv);
  sigaction(SIGBUS, &sa, &old_bus);
  guard_installed = true;
}

/* Runs one rx (tx == NULL) or tx burst under the fault guard; *faulted is
 * set when the burst faulted. Kept apart so no caller local lives across
 * the sigsetjmp. */
static __attribute__((noinline)) uint16_t guarded_burst(uint16_t port, struct rte_mbuf **mb, uint16_t n,
                                                        bool tx, bool *faulted) {
  sigjmp_buf jb;
  volatile uint16_t got = 0;
  *faulted = false;
  /* No mask save: a syscall per burst otherwise; the handler runs with
   * SA_NODEFER, so the mask is unchanged when it jumps back. */
  if (sigsetjmp(jb, 0) == 0) {
    burst_jmp = &jb;
    got = tx ? rte_eth_tx_burst(port, 0, mb, n) : rte_eth_rx_burst(port, 0, mb, n);
    burst_jmp = NULL;
  } else {
    *faulted = true;
    return 0;
  }
  return got;
}

/* ------------------------------------------------------------- EAL + ports */

/* Whether EAL arguments choose the lcores (-l, -c, --lcores). */
static bool names_lcores(const char *args) {
  for (const char *t = args; *t;) {
    while (*t == ' ') t++;
    if (!strncmp(t, "-l", 2) || !strncmp(t, "-c", 2) || !strncmp(t, "--lcores", 8)) return true;
    while (*t && *t != ' ') t++;
  }
  return false;
}

static int eal_init(const pc_dp_cfg_t *cfg) {
  if (eal_ready) return 0;
  /* Without -l the EAL takes every CPU as an lcore and pins the calling
   * thread to the first: every replica's net stage of a one-machine
   * cluster then shares CPU 0 whatever its core map said. The caller's
   * placement is kept in that case (put back after rte_eal_init). */
  cpu_set_t placed;
  bool keep_placement = cfg->eal_args[0] && !names_lcores(cfg->eal_args) &&
                        pthread_getaffinity_np(pthread_self(), sizeof placed, &placed) == 0;
  char args[640];
  if (cfg->eal_args[0])
    snprintf(args, sizeof args, "%s", cfg->eal_args);
  else
    snprintf(args, sizeof args,
             "--no-huge -m 64 --no-shconf --no-pci --file-prefix pc-dp-%d-%u --log-level=*:warning -l %d",
             (int)getpid(), cfg->self, sched_getcpu() < 0 ? 0 : sched_getcpu());
  char *argv[64];
  int argc = 0;
  argv[argc++] = "parachain-dp";
  for (char *save = NULL, *tok = strtok_r(args, " ", &save); tok && argc < 63; tok = strtok_r(NULL, " ", &save))
    argv[argc++] = tok;
  argv[argc] = NULL;
  int rc = rte_eal_init(argc, argv);
  if (rc < 0 && rte_errno == EALREADY) rc = 0; /* the caller started the EAL itself */
  if (rc < 0) {
    /* The usual cause on a new machine: hugepages (EAL arguments given,
     * without --no-huge), which rte_eal_init reports as a permission or
     * memory error. */
    int e = rte_errno;
    bool huge = cfg->eal_args[0] && !strstr(cfg->eal_args, "--no-huge") && (e == EACCES || e == ENOMEM || e == ENODEV);
    PC_ERROR("dataplane dpdk: rte_eal_init failed: %s (args: %s)%s", rte_strerror(e), cfg->eal_args,
             huge ? "; no usable hugepages? Reserve and mount them (docs/deploy.md, section 3), or add "
                    "'--no-huge -m 256' to [net] eal_args on a test machine"
                  : "");
    return PC_ERR_IO;
  }
  if (keep_placement && pthread_setaffinity_np(pthread_self(), sizeof placed, &placed) != 0)
    PC_WARN("dataplane dpdk: cannot put the stage thread back on its cores after rte_eal_init");
  eal_ready = true;
  return 0;
}

/* A PCI address as DPDK names the device: DDDD:BB:DD.F (hex). */
static bool looks_like_pci(const char *name) {
  unsigned dom, bus, dev, fn;
  char end;
  return sscanf(name, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &end) == 4;
}

/* Warns, saying what it costs, when a port on NUMA node `node` (< 0:
 * unknown, as for vdevs) is polled by a thread allowed on cores of
 * another node; the thread's affinity is the core map's polling cores. */
static void warn_numa(const char *port, int node) {
  cpu_set_t allowed;
  if (node < 0 || pthread_getaffinity_np(pthread_self(), sizeof allowed, &allowed) != 0) return;
  pc_coreset_t cores;
  memset(&cores, 0, sizeof cores);
  for (unsigned c = 0; c < CPU_SETSIZE && c < PC_MAX_CORES; c++)
    if (CPU_ISSET(c, &allowed)) pc_coreset_add(&cores, c);
  pc_topo_t *topo = pc_topo_open(NULL);
  if (!topo) return;
  char msg[512];
  if (pc_coremap_numa_warning(topo, node, &cores, msg, sizeof msg)) PC_WARN("dataplane dpdk: port %s: %s", port, msg);
  pc_topo_close(topo);
}

/* How many bytes to read from an interrupt fd to re-arm it: what the EAL's
 * own Rx interrupt path reads for the fd's kind (eventfd counter, uio
 * interrupt count); 0 for anything else, such as the tap queue fd, which
 * holds frames rather than a counter. */
static unsigned intr_drain_len(int fd) {
  char path[64], target[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof target - 1);
  if (n <= 0) return 0;
  target[n] = 0;
  if (!strcmp(target, "anon_inode:[eventfd]")) return 8;
  if (!strncmp(target, "/dev/uio", 8)) return 4;
  return 0;
}

/* Finds RX queue 0's interrupt fd on started port p (configured with
 * intr_conf.rxq) and how to arm it, into d->intr. 0, or PC_ERR_UNSUPPORTED
 * when the driver has no RX interrupt. */
static int intr_find(dpdk_t *d, dport_t *p) {
  /* Without an interrupt handle the ethdev layer logs "Rx Intr handle
   * unset" at ERR level (null, ring, af_packet): expected here, so that
   * one lookup runs with ethdev logging at CRIT (start-up, once per port). */
  int level = rte_log_get_level((uint32_t)rte_eth_dev_logtype);
  if (level >= 0) (void)rte_log_set_level((uint32_t)rte_eth_dev_logtype, RTE_LOG_CRIT);
  int fd = rte_eth_dev_rx_intr_ctl_q_get_fd(p->port_id, 0);
  if (level >= 0) (void)rte_log_set_level((uint32_t)rte_eth_dev_logtype, (uint32_t)level);
  if (fd < 0) return PC_ERR_UNSUPPORTED;
  int rc = rte_eth_dev_rx_intr_enable(p->port_id, 0);
  if (rc == 0) {
    (void)rte_eth_dev_rx_intr_disable(p->port_id, 0);
  } else if (rc != -ENOTSUP) {
    PC_DEBUG("dataplane dpdk: port %s: rx_intr_enable: %s", p->name, rte_strerror(-rc));
    return PC_ERR_UNSUPPORTED;
  }
  /* starts, relaxed: this thread wrote it (port_start), or the restart
   * alarm did before its release store of restart_pending, which
   * pc_dp_dpdk_wait_rx loaded (acquire) before calling us */
  d->intr = (rx_intr_t){.on = true,
                        .arm = rc == 0,
                        .fd = fd,
                        .drain = intr_drain_len(fd),
                        .gen = __atomic_load_n(&p->starts, __ATOMIC_RELAXED)};
  return 0;
}

static int port_setup(dpdk_t *d, dport_t *p, bool rx_intr) {
  struct rte_eth_conf conf;
  memset(&conf, 0, sizeof conf);
  conf.intr_conf.rxq = rx_intr;
  int rc = rte_eth_dev_configure(p->port_id, 1, 1, &conf);
  if (rc == 0) rc = rte_eth_rx_queue_setup(p->port_id, 0, 1024, (unsigned)rte_socket_id(), NULL, d->pool);
  if (rc == 0) rc = rte_eth_tx_queue_setup(p->port_id, 0, 1024, (unsigned)rte_socket_id(), NULL);
  return rc;
}

/* Configures and starts p; with rx_intr (the single-port path) first with
 * RX interrupts, and if the driver refuses them or gives the queue no
 * interrupt fd, again without (d->intr.on says which; logged once). */
static int port_start(dpdk_t *d, dport_t *p, bool rx_intr) {
  int rc = port_setup(d, p, rx_intr);
  bool started = false;
  if (rx_intr) {
    if (rc == 0 && (rc = rte_eth_dev_start(p->port_id)) == 0) {
      __atomic_store_n(&p->starts, __atomic_load_n(&p->starts, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
      started = intr_find(d, p) == 0;
      if (!started) (void)rte_eth_dev_stop(p->port_id);
    }
    if (started) {
      PC_INFO("dataplane dpdk: port %s: idle waits on its RX interrupt", p->name);
    } else {
      PC_INFO("dataplane dpdk: port %s: no RX interrupt (%s); idle back-off sleeps", p->name,
              rc ? rte_strerror(-rc) : "driver has none");
      rc = port_setup(d, p, false);
    }
  }
  if (rc != 0) {
    PC_ERROR("dataplane dpdk: port %s setup: %s", p->name, rte_strerror(-rc));
    return PC_ERR_IO;
  }
  if (!started) {
    rc = rte_eth_dev_start(p->port_id);
    if (rc == 0)
      __atomic_store_n(&p->starts, __atomic_load_n(&p->starts, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
  }
  if (rc != 0 && p->server) {
    PC_ERROR("dataplane dpdk: port %s start: %s", p->name, rte_strerror(-rc));
    return PC_ERR_IO;
  }
  /* A memif client fails to start while its server is not there yet:
   * link_check retries it. */
  if (rc != 0) PC_DEBUG("dataplane dpdk: %s waits for its server", p->name);
  /* relaxed: no alarm for this port exists yet; this thread reads it back */
  __atomic_store_n(&p->sock_connected, rc == 0, __ATOMIC_RELAXED);
  __atomic_store_n(&p->start_ns, pc_now_ns(), __ATOMIC_RELAXED);
  p->handshake_wait = DP_HANDSHAKE_WAIT_NS;
  warn_numa(p->name, rte_eth_dev_socket_id(p->port_id));
  return 0;
}

/* Stops and starts a port whose link dropped, so a memif client reconnects
 * when its server comes back (the server side simply listens again).
 *
 * The restart runs as an EAL alarm, that is on the EAL interrupt thread —
 * the thread where the memif PMD handles its control channel. When a peer
 * dies, that thread tears the connection down; a dev_stop from the polling
 * thread at the same moment tears it down a second time (DPDK 22.11 frees
 * the control channel twice: "EAL: Error: Invalid memory", then the client
 * never reconnects). One thread for both makes them take turns. */
static void port_restart_alarm(void *arg) {
  dport_t *p = arg;
  (void)rte_eth_dev_stop(p->port_id);
  /* A client whose server is still away fails here; link_check retries. */
  int rc = rte_eth_dev_start(p->port_id);
  if (rc != 0) PC_DEBUG("dataplane dpdk: restart of %s failed", p->name);
  /* relaxed: published by the release store of restart_pending below. The
   * port keeps its configuration (intr_conf.rxq included): a new start
   * number makes pc_dp_dpdk_wait_rx read the queue's fd again. */
  if (rc == 0)
    __atomic_store_n(&p->starts, __atomic_load_n(&p->starts, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
  __atomic_store_n(&p->sock_connected, rc == 0, __ATOMIC_RELAXED);
  __atomic_store_n(&p->start_ns, pc_now_ns(), __ATOMIC_RELAXED);
  /* release: pairs with the acquire load in link_check (and the exchange in
   * port_restart), which then sees sock_connected and the port state */
  __atomic_store_n(&p->restart_pending, 0, __ATOMIC_RELEASE);
}

static void port_restart(dport_t *p) {
  if (__atomic_exchange_n(&p->restart_pending, 1, __ATOMIC_ACQ_REL)) return; /* one at a time */
  if (rte_eal_alarm_set(1, port_restart_alarm, p) != 0) {
    __atomic_store_n(&p->restart_pending, 0, __ATOMIC_RELEASE);
    PC_DEBUG("dataplane dpdk: cannot schedule the restart of %s", p->name);
  }
}

static bool link_is_up(dport_t *p) {
  struct rte_eth_link l;
  if (rte_eth_link_get_nowait(p->port_id, &l) != 0) return false;
  return l.link_status == RTE_ETH_LINK_UP;
}

static void link_check(dpdk_t *d, uint64_t now, uint64_t gap) {
  for (uint16_t i = 0; i < d->nports; i++) {
    dport_t *p = &d->ports[i];
    if (!p->valid) continue;
    bool up = link_is_up(p);
    if (up && !p->up) {
      d->base.port->link_up++;
      PC_INFO("dataplane dpdk: link %s up", p->name);
    } else if (!up && p->up) {
      d->base.port->link_down++;
      PC_INFO("dataplane dpdk: link %s down", p->name);
      if (!p->server) port_restart(p); /* the peer left: the PMD has already dropped the connection */
    } else if (!up && !p->server && !__atomic_load_n(&p->restart_pending, __ATOMIC_ACQUIRE)) {
      /* acquire: pairs with the release store at the end of the alarm;
       * the two relaxed loads below then see what that start wrote */
      bool connected = __atomic_load_n(&p->sock_connected, __ATOMIC_RELAXED);
      uint64_t since = __atomic_load_n(&p->start_ns, __ATOMIC_RELAXED);
      if (gap > DP_STALL_NS) p->stalled_ns += gap;
      uint64_t wait = connected ? p->handshake_wait + p->stalled_ns : DP_CONNECT_RETRY_NS;
      if (now > since && now - since > wait) {
        if (connected) {
          PC_INFO("dataplane dpdk: %s: no memif handshake within %llu ms; reconnecting", p->name,
                  (unsigned long long)(wait / 1000000));
          p->handshake_wait = PC_MIN(2 * p->handshake_wait, DP_HANDSHAKE_WAIT_MAX_NS);
        }
        p->stalled_ns = 0;
        port_restart(p);
      }
    }
    if (up) {
      p->handshake_wait = DP_HANDSHAKE_WAIT_NS;
      p->stalled_ns = 0;
    }
    p->up = up;
  }
}

/* A burst faulted on a port whose peer vanished: count, take the port down,
 * restart it. */
static void burst_faulted(dpdk_t *d, dport_t *p) {
  PC_WARN("dataplane dpdk: fault in a burst on %s (peer closed under us); restarting the port", p->name);
  if (p->up) d->base.port->link_down++;
  p->up = false;
  port_restart(p);
}

/* ---------------------------------------------------------------- rx / tx */

static unsigned dpdk_rx(pc_dp_transport_t *t, pc_dp_rx_t *rx, unsigned max) {
  dpdk_t *d = (dpdk_t *)t;
  if (max > DP_BURST) max = DP_BURST;
  unsigned got = 0;
  d->nheld = 0;
  for (uint16_t k = 0; k < d->nports && got < max; k++) {
    dport_t *p = &d->ports[(d->next_rx + k) % d->nports];
    if (!p->valid || !p->up || !link_is_up(p)) continue;
    struct rte_mbuf **mb = d->rx_held + d->nheld;
    uint16_t want = (uint16_t)PC_MIN(max - got, (unsigned)d->burst);
    bool faulted;
    uint16_t nb = guarded_burst(p->port_id, mb, want, false, &faulted);
    if (faulted) {
      burst_faulted(d, p);
      continue;
    }
    for (uint16_t j = 0; j < nb; j++) {
      struct rte_mbuf *m = mb[j];
      const uint8_t *data;
      size_t len = rte_pktmbuf_pkt_len(m);
      if (m->nb_segs == 1) {
        data = rte_pktmbuf_mtod(m, const uint8_t *);
      } else if (len <= (size_t)d->frame_size + PC_DP_L2_SIZE) {
        uint8_t *dst = d->lin + (size_t)(d->nheld + j) * (d->frame_size + PC_DP_L2_SIZE);
        data = rte_pktmbuf_read(m, 0, (uint32_t)len, dst);
      } else {
        t->port->malformed++;
        pc_reject_note(PC_DEC_FRAME, PC_ERR_TOO_LARGE);
        continue;
      }
      size_t pc_len;
      int off = pc_dp_l2_parse(data, len, &pc_len, NULL);
      if (off < 0) {
        t->port->malformed++;
        continue;
      }
      rx[got].p = data + off;
      rx[got].len = (uint32_t)pc_len;
      got++;
    }
    d->nheld += nb;
  }
  d->next_rx = (uint16_t)((d->next_rx + 1) % d->nports);
  return got;
}

static void dpdk_rx_done(pc_dp_transport_t *t) {
  dpdk_t *d = (dpdk_t *)t;
  if (d->nheld) rte_pktmbuf_free_bulk(d->rx_held, d->nheld);
  d->nheld = 0;
}

static unsigned dpdk_tx(pc_dp_transport_t *t, uint16_t peer, uint8_t *const *frames, const uint32_t *lens,
                        unsigned n) {
  dpdk_t *d = (dpdk_t *)t;
  dport_t *p = d->by_peer[peer];
  if (!p || !p->valid || !p->up || !link_is_up(p)) return 0;
  if (n > DP_BURST) n = DP_BURST;
  struct rte_mbuf *mb[DP_BURST];
  if (rte_pktmbuf_alloc_bulk(d->pool, mb, n) != 0) return 0;
  for (unsigned i = 0; i < n; i++) {
    uint8_t *o = (uint8_t *)rte_pktmbuf_append(mb[i], (uint16_t)(PC_DP_L2_SIZE + lens[i]));
    if (!o) {
      rte_pktmbuf_free_bulk(mb, n);
      return 0;
    }
    pc_dp_l2_write(o, &d->addrs[d->self], &d->addrs[peer], lens[i]);
    memcpy(o + PC_DP_L2_SIZE, frames[i], lens[i]);
  }
  bool faulted;
  uint16_t k = guarded_burst(p->port_id, mb, (uint16_t)n, true, &faulted);
  if (faulted) {
    burst_faulted(d, p);
    return 0; /* the mbufs may be half-owned by the driver: leak them */
  }
  if (k < n) rte_pktmbuf_free_bulk(mb + k, n - k);
  return k;
}

static void dpdk_hk(pc_dp_transport_t *t, uint64_t now) {
  dpdk_t *d = (dpdk_t *)t;
  if (now - d->last_link_ns < 1000000) return; /* link checks once a millisecond */
  uint64_t gap = d->last_link_ns ? now - d->last_link_ns : 0;
  d->last_link_ns = now;
  link_check(d, now, gap);
}

static bool dpdk_link_up(pc_dp_transport_t *t, uint16_t peer) {
  dpdk_t *d = (dpdk_t *)t;
  return peer < d->n && d->by_peer[peer] && d->by_peer[peer]->valid && d->by_peer[peer]->up;
}

int pc_dp_dpdk_wait_rx(pc_dp_transport_t *t, uint64_t max_ns) {
  dpdk_t *d = (dpdk_t *)t;
  if (!d->intr.on) return PC_ERR_UNSUPPORTED;
  dport_t *p = &d->ports[0];
  /* acquire: pairs with the release store at the end of the restart
   * alarm; starts is then the one that start wrote. A port being
   * restarted, or down (dpdk_rx does not poll it, so a tap fd holding
   * frames would wake every wait at once), is not waited on. */
  if (!p->up || __atomic_load_n(&p->restart_pending, __ATOMIC_ACQUIRE)) return PC_ERR_UNSUPPORTED;
  if (__atomic_load_n(&p->starts, __ATOMIC_RELAXED) != d->intr.gen && intr_find(d, p) != 0) {
    d->intr.on = false;
    PC_INFO("dataplane dpdk: port %s: no RX interrupt after its restart; idle back-off sleeps", p->name);
    return PC_ERR_UNSUPPORTED;
  }
  if (d->intr.arm && rte_eth_dev_rx_intr_enable(p->port_id, 0) != 0) return PC_ERR_UNSUPPORTED;
  /* A frame that arrived before the enable may raise no interrupt (an
   * edge already passed, on eventfd-based drivers): the wait then lasts
   * max_ns, as the sleep it replaces did, and the next poll takes the
   * frame. The tap fd is readable as long as frames wait, so there it
   * returns at once; the tap PMD's rx burst reads only after its SIGIO
   * handler has counted the frame, so a wait may also end a few µs before
   * the burst finds it (an empty poll, then another wait that ends at
   * once: rx_intr_wakeups can exceed the frames received). */
  t->port->rx_intr_waits++;
  struct pollfd pfd = {.fd = d->intr.fd, .events = POLLIN};
  struct timespec ts = {.tv_sec = (time_t)(max_ns / 1000000000u), .tv_nsec = (long)(max_ns % 1000000000u)};
  int n = ppoll(&pfd, 1, &ts, NULL);
  int woke = 0;
  if (n > 0 && (pfd.revents & POLLIN)) {
    woke = 1;
    t->port->rx_intr_wakeups++;
    uint64_t count;
    /* the fd is non-blocking (the EAL makes them so) and readable: no wait */
    if (d->intr.drain && read(d->intr.fd, &count, d->intr.drain) < 0 && errno != EAGAIN)
      PC_DEBUG("dataplane dpdk: port %s: reading its RX interrupt fd: %s", p->name, strerror(errno));
  } else if (n > 0) {
    /* POLLERR/POLLHUP/POLLNVAL: the fd would wake every wait at once */
    d->intr.on = false;
    PC_WARN("dataplane dpdk: port %s: RX interrupt fd reports 0x%x; idle back-off sleeps from now on",
            p->name, (unsigned)pfd.revents);
  }
  if (d->intr.arm) (void)rte_eth_dev_rx_intr_disable(p->port_id, 0);
  return woke;
}

static void dpdk_destroy(pc_dp_transport_t *t) {
  dpdk_t *d = (dpdk_t *)t;
  dpdk_rx_done(t);
  for (uint16_t i = 0; d->ports && i < d->nports; i++) {
    dport_t *p = &d->ports[i];
    if (!p->valid) continue;
    (void)rte_eal_alarm_cancel(port_restart_alarm, p); /* waits for one that is running */
    struct rte_eth_dev_info info;
    bool have = d->probed && rte_eth_dev_info_get(p->port_id, &info) == 0 && info.device;
    (void)rte_eth_dev_stop(p->port_id);
    if (!d->probed) continue; /* ports given by the caller stay configured for it */
    (void)rte_eth_dev_close(p->port_id);
    if (have) (void)rte_dev_remove(info.device);
  }
  if (d->pool) rte_mempool_free(d->pool);
  free(d->ports);
  free(d->by_peer);
  free(d->addrs);
  free(d->lin);
  free(d);
}

pc_dp_transport_t *pc_dp_dpdk_open(const pc_dp_cfg_t *cfg, pc_dp_counters_t *port) {
  if (cfg->frame_size > PC_DP_DPDK_MAX_FRAME) { /* pc_dp_cfg_check says so first */
    PC_ERROR("dataplane dpdk: frame_size %u too large for a port (≤ %d)", cfg->frame_size, PC_DP_DPDK_MAX_FRAME);
    return NULL;
  }
  if (eal_init(cfg) != 0) return NULL;
  guard_install();
  dpdk_t *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->base = (pc_dp_transport_t){dpdk_rx, dpdk_rx_done, dpdk_tx, dpdk_hk, dpdk_link_up, dpdk_destroy, port};
  d->self = cfg->self;
  d->n = cfg->n;
  d->frame_size = cfg->frame_size;
  d->burst = cfg->burst;
  d->addrs = calloc(cfg->n, sizeof *d->addrs);
  d->ports = calloc(cfg->n, sizeof *d->ports);
  d->by_peer = calloc(cfg->n, sizeof *d->by_peer);
  d->lin = malloc((size_t)DP_BURST * (cfg->frame_size + PC_DP_L2_SIZE));
  if (!d->addrs || !d->ports || !d->by_peer || !d->lin) goto fail;
  for (uint16_t i = 0; i < cfg->n; i++) d->addrs[i] = cfg->peers[i].addr;
  char pname[64];
  snprintf(pname, sizeof pname, "pcdp_%d_%u", (int)getpid(), cfg->self);
  uint16_t room = (uint16_t)PC_MAX(2048, cfg->frame_size + PC_DP_L2_SIZE);
  d->pool = rte_pktmbuf_pool_create(pname, cfg->mbufs ? cfg->mbufs : 4095, 256, 0,
                                    (uint16_t)(RTE_PKTMBUF_HEADROOM + room), (int)rte_socket_id());
  if (!d->pool) {
    PC_ERROR("dataplane dpdk: mbuf pool: %s", rte_strerror(rte_errno));
    goto fail;
  }
  if (cfg->dpdk_port[0]) {
    /* One existing port (NIC, af_packet, tap, ring, ...) for every peer:
     * frames go to the peer's MAC, the receiver reads the sender from the
     * ParaChain header. */
    dport_t *p = &d->ports[0];
    snprintf(p->name, sizeof p->name, "%s", cfg->dpdk_port);
    if (rte_eth_dev_get_port_by_name(p->name, &p->port_id) != 0) {
      if (looks_like_pci(p->name))
        PC_ERROR("dataplane dpdk: no DPDK port for PCI device %s: %s", p->name,
                 strstr(cfg->eal_args, "--no-pci")
                     ? "[net] eal_args has --no-pci, so the EAL did not look for it: remove it"
                     : "the device is missing or not bound to a DPDK driver (see dpdk-devbind.py --status; bind it "
                       "to vfio-pci: docs/deploy.md, section 4)");
      else
        PC_ERROR("dataplane dpdk: no port named %s (give it to the EAL with --vdev or a PCI address)", p->name);
      goto fail;
    }
    p->valid = true;
    p->server = true; /* never restarted: a NIC link comes back on its own */
    d->nports = 1;
    for (uint16_t i = 0; i < cfg->n; i++)
      if (i != cfg->self) d->by_peer[i] = p;
    /* A frame larger than the port takes would be dropped on every send:
     * refuse to start rather than stall. */
    uint16_t mtu = (uint16_t)(cfg->frame_size + 28);
    struct rte_eth_dev_info info;
    if (mtu > 1500 && rte_eth_dev_info_get(p->port_id, &info) == 0 && info.max_mtu < mtu) {
      PC_ERROR("dataplane dpdk: port %s takes an MTU of at most %u, this frame size needs %u: lower mtu", p->name,
               (unsigned)info.max_mtu, (unsigned)mtu);
      goto fail;
    }
    if (port_start(d, p, true) != 0) goto fail;
    if (mtu > 1500 && rte_eth_dev_set_mtu(p->port_id, mtu) != 0)
      PC_WARN("dataplane dpdk: port %s refuses MTU %u: keep frame_size <= 1472", p->name, mtu);
    (void)rte_eth_promiscuous_enable(p->port_id); /* several replica MACs may share a link */
    return &d->base;
  }
  d->probed = true;
  for (uint16_t i = 0; i < cfg->n; i++) {
    if (i == cfg->self) continue;
    dport_t *p = &d->ports[d->nports];
    uint16_t lo = PC_MIN(i, cfg->self), hi = PC_MAX(i, cfg->self);
    p->server = cfg->self == lo;
    snprintf(p->name, sizeof p->name, "net_memif_pc%u_%u", cfg->self, i);
    char args[320];
    snprintf(args, sizeof args, "%s,role=%s,socket=%s/%s-%u-%u.sock,id=0,bsize=%u", p->name,
             p->server ? "server" : "client", cfg->memif_dir, cfg->memif_tag, lo, hi, (unsigned)room);
    int rc = rte_dev_probe(args);
    if (rc != 0) {
      PC_ERROR("dataplane dpdk: probe %s: %s", args, rte_strerror(-rc));
      goto fail;
    }
    if (rte_eth_dev_get_port_by_name(p->name, &p->port_id) != 0) {
      PC_ERROR("dataplane dpdk: no port named %s after probe", p->name);
      goto fail;
    }
    p->valid = true;
    d->nports++;
    d->by_peer[i] = p;
    if (port_start(d, p, false) != 0) goto fail; /* memif has no RX interrupt in DPDK 22.11 */
  }
  return &d->base;
fail:
  dpdk_destroy(&d->base);
  return NULL;
}

/* -------------------------------------------------------------- telemetry */

/* The telemetry thread must not read counters the stage thread is writing,
 * so the stage thread publishes a copy under a mutex (pc_dp_telemetry_publish
 * is called from housekeeping through the hook below) and the callbacks read
 * that copy. */
static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;
static pc_dp_counters_t *tel_copy; /* n entries */
static uint16_t tel_n, tel_self;
static bool tel_registered;

void pc_dp_telemetry_publish(const pc_dp_t *dp) {
  if (!tel_registered) return;
  pthread_mutex_lock(&tel_lock);
  for (uint16_t i = 0; i < tel_n; i++) pc_dp_counters(dp, i, &tel_copy[i]);
  pthread_mutex_unlock(&tel_lock);
}

static void tel_dict(struct rte_tel_data *d, const pc_dp_counters_t *c) {
#define F(x) rte_tel_data_add_dict_u64(d, #x, c->x)
  F(tx_frames), F(tx_bytes), F(rx_frames), F(rx_bytes), F(tx_msgs), F(rx_msgs), F(malformed), F(bad_mac);
  F(replays), F(stale_epoch), F(out_of_window), F(retransmits), F(rtx_fast), F(rtx_timer), F(tx_window_full);
  F(reasm_evictions), F(reasm_evict_reset);
  F(reasm_evict_bad), F(reasm_stalled), F(rx_buf_full);
  F(tx_full), F(tx_dropped_reset), F(ring_full), F(test_dropped), F(link_down), F(link_up), F(hellos_tx);
  F(hellos_rx), F(acks_tx), F(rx_intr_waits), F(rx_intr_wakeups);
#undef F
}

static int tel_peers(const char *cmd, const char *params, struct rte_tel_data *d) {
  (void)cmd, (void)params;
  rte_tel_data_start_array(d, RTE_TEL_INT_VAL);
  for (uint16_t i = 0; i < tel_n; i++)
    if (i != tel_self) rte_tel_data_add_array_int(d, i);
  return 0;
}

static int tel_peer(const char *cmd, const char *params, struct rte_tel_data *d) {
  (void)cmd;
  if (!params || !*params) return -EINVAL;
  char *end;
  long id = strtol(params, &end, 10);
  if (*end || id < 0 || id >= tel_n || id == tel_self) return -EINVAL;
  rte_tel_data_start_dict(d);
  pthread_mutex_lock(&tel_lock);
  tel_dict(d, &tel_copy[id]);
  pthread_mutex_unlock(&tel_lock);
  return 0;
}

static int tel_port(const char *cmd, const char *params, struct rte_tel_data *d) {
  (void)cmd, (void)params;
  rte_tel_data_start_dict(d);
  pthread_mutex_lock(&tel_lock);
  tel_dict(d, &tel_copy[tel_self]);
  pthread_mutex_unlock(&tel_lock);
  return 0;
}

int pc_dp_telemetry_register(pc_dp_t *dp) {
  if (!eal_ready) return PC_ERR_UNSUPPORTED;
  if (tel_registered) return PC_ERR_STATE;
  tel_n = pc_dp_n(dp);
  tel_self = pc_dp_self(dp);
  tel_copy = calloc(tel_n, sizeof *tel_copy);
  if (!tel_copy) return PC_ERR_NOMEM;
  if (rte_telemetry_register_cmd("/parachain/peers", tel_peers, "Peer replica ids. No parameters") != 0 ||
      rte_telemetry_register_cmd("/parachain/peer", tel_peer,
                                 "Channel counters of one peer. Parameter: replica id") != 0 ||
      rte_telemetry_register_cmd("/parachain/port", tel_port, "Transport-level counters. No parameters") != 0)
    return PC_ERR_STATE;
  tel_registered = true;
  pc_dp_telemetry_publish(dp);
  return 0;
}
