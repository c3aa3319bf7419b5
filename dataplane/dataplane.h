/* dataplane.h — per-peer authenticated message channels between replicas,
 * over DPDK ports (memif and other vdevs, or NICs) or kernel UDP.
 *
 * One pc_dp_t is the "net rx / tx" stage of one replica. The caller hands it
 * whole messages (1 byte .. cfg.max_msg, at least 16 MiB allowed) for one
 * peer or for all peers; the dataplane splits, coalesces, MACs, sequences,
 * acknowledges and retransmits, and the receiving side gets every message
 * exactly once, intact, in order per sender, through a callback from
 * pc_dp_poll(). Frames from another session (a restarted process), replays,
 * forgeries and malformed frames are dropped and counted.
 *
 * Threads: a pc_dp_t is single-threaded. pc_dp_send, pc_dp_broadcast,
 * pc_dp_poll, pc_dp_housekeeping and pc_dp_destroy must all be called by the
 * thread that owns the stage (the node hands messages to it through its
 * rings). Different pc_dp_t objects are independent, except that all DPDK
 * ones in a process share the one EAL.
 *
 * ============================================================ wire format
 *
 * On DPDK ports a frame is Ethernet II + IPv4 + UDP, so it routes and can be
 * captured with standard tools (42 bytes, network byte order):
 *
 *   off size field
 *   0   6    destination MAC        peer's configured MAC
 *   6   6    source MAC             own configured MAC
 *   12  2    ethertype              0x0800 (IPv4)
 *   14  1    version/IHL            0x45 (no IP options accepted)
 *   15  1    DSCP/ECN               0
 *   16  2    total length           20 + 8 + ParaChain bytes
 *   18  2    identification         0
 *   20  2    flags/fragment offset  0x4000 (DF; IP fragments are rejected)
 *   22  1    TTL                    64
 *   23  1    protocol               17 (UDP)
 *   24  2    header checksum        RFC 791, verified on receive
 *   26  4    source address         own IPv4
 *   30  4    destination address    peer's IPv4
 *   34  2    UDP source port        own port
 *   36  2    UDP destination port   peer's port
 *   38  2    UDP length             8 + ParaChain bytes
 *   40  2    UDP checksum           0 (the MAC below protects the content)
 *
 * Over the kernel UDP transport the kernel supplies those headers and the
 * datagram payload is the ParaChain part alone. The ParaChain part is
 * little-endian:
 *
 *   off size field        rule
 *   0   4    magic        PC_DP_MAGIC (bytes "PCDP")
 *   4   1    version      PC_DP_VERSION (2; version 1 — the same layout
 *                         but ACKs without SACK words — is rejected)
 *   5   1    type         0 DATA, 1 ACK, 2 HELLO
 *   6   2    src          sender replica id, < n
 *   8   2    dst          receiver replica id, < n, == own id
 *   10  2    frag_count   ≥ 1; 1 for ACK and HELLO
 *   12  2    frag_index   < frag_count
 *   14  2    reserved     0
 *   16  8    snd_epoch    sender's session epoch, ≠ 0
 *   24  8    rcv_epoch    receiver's session epoch as the sender knows it
 *                         (0 = unknown, allowed in HELLO only)
 *   32  8    seq          DATA: channel sequence number, ≥ 1, one per frame;
 *                         ACK/HELLO: 0
 *   40  8    ack          next DATA seq the sender expects from the receiver
 *                         (all below it were received), ≥ 1
 *   48  8    sack         bit i set: seq ack+1+i was received too
 *   56  4    msg_len      DATA, frag_count == 1: number of messages, ≥ 1;
 *                         DATA, frag_count > 1: total length of the one
 *                         message being fragmented, > 0;
 *                         ACK: number W of SACK words in the payload,
 *                         0..PC_DP_SACK_WORDS_MAX (127);  HELLO: 0
 *   60  4    payload_len  bytes that follow; must equal frame length − 80
 *   64  P    payload      frag_count == 1: msg_len records, each u32 length L
 *                         then L bytes, filling P exactly (coalesced
 *                         messages); frag_count > 1: bytes
 *                         [frag_index × F, …) of the message, F being the
 *                         sender's per-frame capacity (every fragment but the
 *                         last is full, so the receiver only checks order and
 *                         the total); HELLO: P = 0;
 *                         ACK: P = 8 × W, the SACK words that extend the
 *                         sack field over the receiver's whole window:
 *                         word k (u64, little-endian) bit j set means seq
 *                         ack + 65 + 64k + j was received too; when W > 0
 *                         the last word is non-zero (the shortest form)
 *   64+P 16  mac          BLAKE2b (crypto_generichash, 16-byte output) keyed
 *                         with the sender→receiver channel key, over bytes
 *                         [0, 64+P)
 *
 * Keys: each replica's Ed25519 key pair is converted to Curve25519
 * (crypto_sign_ed25519_{pk,sk}_to_curve25519); for a pair (a, b) with a < b,
 * a is the crypto_kx *client* and b the *server*; each side MACs what it
 * sends with its kx tx key and checks what it receives with its kx rx key.
 *
 * Sessions: every process start draws an epoch = (wall-clock µs << 12) |
 * 12 random bits, so a restarted process always has a larger epoch. A side
 * sends HELLO (its epoch, the peer's epoch as known or 0) until it receives
 * a MAC-valid frame whose rcv_epoch equals its own epoch; it adopts a peer
 * epoch only from a MAC-valid frame and only if it is larger than the one it
 * knew (so an old HELLO replayed from a previous session is refused). DATA
 * and ACK frames must carry exactly (peer epoch, own epoch), anything else
 * is dropped as stale. A larger peer epoch resets the channel both ways:
 * messages already framed for the old incarnation (sent, unacknowledged)
 * are dropped and counted (tx_dropped_reset), messages still queued are
 * sent in the new session, partial reassembly is evicted, seqs restart at
 * 1. Data flows only while the session is established both ways.
 *
 * Reliability: selective repeat. The sender keeps at most cfg.window frames
 * unacknowledged per peer and retransmits a frame when its timer expires
 * (max(rto_min, 4 × smoothed RTT), doubling per retry) or at once when a
 * frame three or more seqs later is SACKed. A bare ACK's SACK words report
 * every frame the receiver holds out of order (up to ack + 8192), so every
 * hole in the window is known after one round trip and all are repaired
 * together, not one hole per round trip behind the 64 bits of the sack
 * field; the receiver sends a bare ACK whenever it holds frames beyond
 * ack + 64, even when DATA it sends carries the 64-bit sack. The receiver buffers at most cfg.window frames
 * out of order, drops seq below the next expected or already buffered
 * (counted as replays) and beyond the window, and delivers in seq order.
 * Fragments of one message are consecutive seqs; reassembly holds at most
 * one message per peer (≤ cfg.max_msg). Every fragment taken is
 * acknowledged, so a partial message is never dropped while the session
 * lives, however long its next fragment takes (a stall longer than
 * cfg.reasm_timeout_ns is only counted); it is dropped (and counted) when
 * the peer restarts, or when a key holder sends fragments that do not form
 * one message. An in-order frame the receiver cannot take (no memory for a
 * reassembly) is left unacknowledged, never skipped.
 */
#ifndef PC_DATAPLANE_H
#define PC_DATAPLANE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "common/config.h"

/* ------------------------------------------------------------ frame codec */

#define PC_DP_MAGIC 0x50444350u /* "PCDP" little-endian */
#define PC_DP_VERSION 2
#define PC_DP_SACK_WORDS_MAX 127 /* ACK: 64 + 127 × 64 = 8192 seqs, the largest window */
#define PC_DP_HDR_SIZE 64
#define PC_DP_MAC_SIZE 16
#define PC_DP_OVERHEAD (PC_DP_HDR_SIZE + PC_DP_MAC_SIZE)
#define PC_DP_L2_SIZE 42 /* Ethernet + IPv4 + UDP */
#define PC_DP_KEY_SIZE 32
#define PC_DP_MSG_REC_SIZE 4 /* length prefix of a coalesced message */
#define PC_DP_MAX_FRAME 65000 /* ParaChain bytes per frame, upper bound */
/* DPDK ports carry IPv4 packets of at most 9000 bytes (the usual jumbo MTU),
 * so ParaChain bytes per frame there ≤ 9000 − IPv4 − UDP headers. */
#define PC_DP_DPDK_MAX_MTU 9000
#define PC_DP_DPDK_MAX_FRAME (PC_DP_DPDK_MAX_MTU - 28)

typedef enum { PC_DP_DATA = 0, PC_DP_ACK = 1, PC_DP_HELLO = 2 } pc_dp_type_t;

/* The decoded fixed header (all fields as on the wire). */
typedef struct {
  uint8_t type;
  uint16_t src, dst;
  uint16_t frag_count, frag_index;
  uint64_t snd_epoch, rcv_epoch;
  uint64_t seq, ack, sack;
  uint32_t msg_len, payload_len;
} pc_dp_hdr_t;

/* pc_dp_frame_seal writes h's header into buf[0, 64) and the MAC over
 * buf[0, 64 + h->payload_len) after it; the payload must already sit at
 * buf + 64. buf must hold PC_DP_OVERHEAD + payload_len bytes. Returns the
 * frame length. Pure; any thread. Assumes a valid h (the encoder side). */
size_t pc_dp_frame_seal(uint8_t *buf, const pc_dp_hdr_t *h, const uint8_t key[PC_DP_KEY_SIZE]);

/* pc_dp_frame_parse checks the structure of the ParaChain frame p[0, len)
 * (every rule in the table above that needs no key and no channel state)
 * and fills h and *payload (a view into p). Returns 0, or PC_ERR_TRUNCATED
 * (short), PC_ERR_MAGIC, PC_ERR_VERSION, PC_ERR_INVALID (bad type, reserved
 * bits, lengths, coalesced records, ACK SACK words), PC_ERR_RANGE (fragment index/count,
 * epochs, seq), each also counted by pc_reject_note(PC_DEC_FRAME). Pure. */
int pc_dp_frame_parse(const uint8_t *p, size_t len, pc_dp_hdr_t *h, const uint8_t **payload);

/* pc_dp_frame_verify checks the MAC of a frame that parsed; 0 or
 * PC_ERR_SIGNATURE (counted). Constant time in the tag comparison. */
int pc_dp_frame_verify(const uint8_t *p, size_t len, const uint8_t key[PC_DP_KEY_SIZE]);

/* pc_dp_msgs_next iterates the coalesced records of a parsed DATA frame
 * with frag_count == 1: start with *pos = 0; returns a view of the next
 * message and its length in *len, or NULL at the end. Assumes a payload
 * pc_dp_frame_parse accepted. */
const uint8_t *pc_dp_msgs_next(const uint8_t *payload, uint32_t payload_len, size_t *pos, uint32_t *len);

/* Addresses of one end, for the Ethernet/IPv4/UDP wrapper. IPv4 in host
 * order. */
typedef struct {
  uint8_t mac[6];
  uint32_t ip;
  uint16_t port;
} pc_dp_addr_t;

/* pc_dp_l2_write writes the 42-byte Ethernet+IPv4+UDP header for a
 * ParaChain part of pc_len bytes (≤ PC_DP_MAX_FRAME) into out. Pure. */
void pc_dp_l2_write(uint8_t out[PC_DP_L2_SIZE], const pc_dp_addr_t *src, const pc_dp_addr_t *dst,
                    size_t pc_len);

/* pc_dp_l2_parse checks an Ethernet+IPv4+UDP frame (IPv4 without options,
 * UDP, no IP fragment, lengths consistent, header checksum right; Ethernet
 * padding after the IP datagram allowed) and returns the offset of the
 * ParaChain part with its length in *pc_len, and the source address in
 * *src when src is not NULL. Returns a negative PC_ERR_* (counted) on any
 * violation. Pure. */
int pc_dp_l2_parse(const uint8_t *p, size_t len, size_t *pc_len, pc_dp_addr_t *src);

/* pc_dp_derive_keys computes the channel keys between replica self (Ed25519
 * secret key self_sk, 64 bytes as libsodium stores it) and replica peer
 * (public key peer_pk): tx for frames self sends, rx for frames it
 * receives. The lower id is the kx client. Returns 0 or PC_ERR_SIGNATURE
 * (a key that does not convert or a degenerate kx). */
int pc_dp_derive_keys(uint16_t self, const uint8_t self_sk[64], uint16_t peer, const uint8_t peer_pk[32],
                      uint8_t tx[PC_DP_KEY_SIZE], uint8_t rx[PC_DP_KEY_SIZE]);

/* ----------------------------------------------------------- configuration */

typedef enum {
  PC_DP_KIND_UDP = 1,  /* kernel UDP, sendmmsg/recvmmsg, one socket */
  PC_DP_KIND_DPDK = 2, /* DPDK: memif vdevs generated per peer, or given ports */
  PC_DP_KIND_LOOP = 3  /* in-process switch for tests (pc_dp_loop_t) */
} pc_dp_kind_t;

typedef struct {
  uint8_t ed25519_pk[32];
  pc_dp_addr_t addr; /* UDP: ip (127.0.0.1 in tests) + port; DPDK: mac/ip/port in frames */
} pc_dp_peer_cfg_t;

typedef struct pc_dp_loop pc_dp_loop_t;

typedef struct {
  pc_dp_kind_t kind;
  uint16_t self; /* own replica id */
  uint16_t n;    /* replicas, 2..PC_MAX_REPLICAS */
  uint8_t ed25519_sk[64];
  pc_dp_peer_cfg_t peers[PC_MAX_REPLICAS]; /* indexed by replica id, self included */

  uint32_t max_msg;        /* largest message, default 16 MiB, ≤ 256 MiB */
  uint32_t frame_size;     /* ParaChain bytes per frame, 256..PC_DP_MAX_FRAME (DPDK: ..PC_DP_DPDK_MAX_FRAME);
                            * default 1472 (MTU 1500) */
  uint32_t window;         /* frames in flight per peer, power of two 8..8192; default 512 */
  uint64_t tx_buf_bytes;   /* queued + unacked bytes per peer; ≥ max_msg; default 2 × max_msg */
  uint64_t rx_buf_bytes;   /* out-of-order + reassembly bytes per peer; ≥ max_msg + window × frame */
  uint64_t rto_min_ns;     /* retransmission floor, default 2 ms */
  uint64_t hello_ns;       /* HELLO / keepalive period when the peer is silent, default 50 ms */
  uint64_t peer_timeout_ns;/* silence before a peer is counted down, default 1 s */
  uint64_t reasm_timeout_ns; /* a partial message that stops growing this long is reported
                              * (reasm_stalled, logged), never dropped; default 10 s */

  /* DPDK */
  char eal_args[512];  /* space-separated EAL arguments (argv[0] not included) */
  char memif_dir[96];  /* where memif sockets live, default /tmp */
  char memif_tag[32];  /* socket name prefix; one socket per pair: <dir>/<tag>-<lo>-<hi>.sock */
  char dpdk_port[64];  /* if set: use this existing ethdev (NIC, af_packet, tap, ring, null...)
                        * for all peers instead of generated memif ports */
  uint32_t mbufs;      /* mbufs per pool, default 4095 */
  uint16_t burst;      /* RX/TX burst, default 32 */

  /* LOOP */
  pc_dp_loop_t *loop;

  /* Test hook: drop this many frames per million at RX, chosen by a PRNG
   * seeded with test_seed (0 = off). */
  uint32_t test_rx_drop_ppm;
  uint64_t test_seed;
} pc_dp_cfg_t;

/* pc_dp_cfg_default fills cfg with the defaults above (kind UDP, no peers). */
void pc_dp_cfg_default(pc_dp_cfg_t *cfg);

/* pc_dp_cfg_from_cluster fills cfg with the defaults plus what the cluster
 * file gives: n, every replica's public key, MAC, IPv4 and UDP port, for
 * replica self with Ed25519 secret key sk (libsodium's 64-byte form).
 * Returns 0, or PC_ERR_CONFIG (logged) when ids are not 0..n-1 or sk is not
 * self's key. The caller then sets transport details (EAL args, memif
 * directory, buffer sizes) and calls pc_dp_create. */
int pc_dp_cfg_from_cluster(pc_dp_cfg_t *cfg, const pc_cluster_t *c, uint16_t self, const uint8_t sk[64],
                           pc_dp_kind_t kind);

/* pc_dp_cfg_check validates cfg as a whole; 0 or PC_ERR_CONFIG (logged). */
int pc_dp_cfg_check(const pc_dp_cfg_t *cfg);

/* --------------------------------------------------------------- counters */

typedef struct {
  uint64_t tx_frames, tx_bytes, rx_frames, rx_bytes;
  uint64_t tx_msgs, rx_msgs;
  uint64_t malformed;        /* structurally bad frames (and L2 headers) */
  uint64_t bad_mac;          /* MAC did not verify */
  uint64_t replays;          /* DATA seq already delivered or buffered */
  uint64_t stale_epoch;      /* frames for/from another session */
  uint64_t out_of_window;    /* DATA seq beyond the receive window */
  uint64_t retransmits;      /* frames sent again = rtx_fast + rtx_timer */
  uint64_t rtx_fast;         /* ... because a later frame was SACKed (the hole is proven) */
  uint64_t rtx_timer;        /* ... because the frame's timer ran out */
  uint64_t tx_window_full;   /* times the sender had sent its whole window with more queued (blocked on ACKs) */
  uint64_t reasm_evictions;  /* partial messages dropped: reasm_evict_reset + reasm_evict_bad */
  uint64_t reasm_evict_reset;/* ... because the peer restarted (new session epoch) */
  uint64_t reasm_evict_bad;  /* ... because a key holder's fragments did not form one message */
  uint64_t reasm_stalled;    /* partial messages that got no fragment for reasm_timeout_ns (kept) */
  uint64_t rx_buf_full;      /* frames refused for the per-peer rx bound */
  uint64_t tx_full;          /* sends refused by backpressure */
  uint64_t tx_dropped_reset; /* messages dropped because the peer restarted */
  uint64_t ring_full;        /* frames the port/socket did not take */
  uint64_t test_dropped;     /* frames dropped by the loss-injection hook */
  uint64_t link_down, link_up;
  uint64_t hellos_tx, hellos_rx, acks_tx;
  uint64_t rx_intr_waits;   /* port: idle waits on the RX interrupt started (pc_dp_wait) */
  uint64_t rx_intr_wakeups; /* port: ... of which the interrupt ended (not the timeout) */
} pc_dp_counters_t;

/* ------------------------------------------------------------------ API */

typedef struct pc_dp pc_dp_t;

/* Delivery callback: one whole message from peer. msg is valid only during
 * the call. Called from pc_dp_poll on the stage's thread; it may call
 * pc_dp_send. */
typedef void (*pc_dp_deliver_fn)(void *user, uint16_t peer, const uint8_t *msg, size_t len);

/* pc_dp_create validates cfg, derives the pairwise keys, opens the
 * transport (for DPDK: rte_eal_init once per process with cfg.eal_args,
 * then one memif port per peer) and draws the session epoch. Returns NULL
 * (logged) on any failure. The caller owns the result; free with
 * pc_dp_destroy. Calls pc_crypto_init. */
pc_dp_t *pc_dp_create(const pc_dp_cfg_t *cfg, pc_dp_deliver_fn deliver, void *user);

/* pc_dp_send queues a copy of msg[0, len) for peer. Returns 0, PC_ERR_FULL
 * when the peer's send buffer (cfg.tx_buf_bytes) cannot take it now — the
 * visible backpressure: poll and retry —, PC_ERR_TOO_LARGE above max_msg,
 * PC_ERR_RANGE for a bad peer id (or self). Stage thread only. */
int pc_dp_send(pc_dp_t *dp, uint16_t peer, const void *msg, size_t len);

/* pc_dp_broadcast queues msg for every other replica, all or nothing:
 * PC_ERR_FULL (nothing queued) if any peer lacks room. */
int pc_dp_broadcast(pc_dp_t *dp, const void *msg, size_t len);

/* pc_dp_tx_room returns how many message bytes peer's send buffer can take
 * now (0 for a bad id). */
uint64_t pc_dp_tx_room(const pc_dp_t *dp, uint16_t peer);

/* pc_dp_tx_idle returns true when nothing is queued or unacknowledged for
 * any peer (everything sent was acknowledged). */
bool pc_dp_tx_idle(const pc_dp_t *dp);

/* pc_dp_poll receives up to budget frames, delivers completed messages
 * through the callback, sends acknowledgements, queued data and due
 * retransmissions, and runs pc_dp_housekeeping when its timer is due.
 * Returns the amount of work done (0 = idle), never negative. */
int pc_dp_poll(pc_dp_t *dp, unsigned budget);

/* pc_dp_housekeeping runs the timers: retransmissions, HELLO/keepalive,
 * peer-down detection, reassembly eviction, link checks (and restart of a
 * memif client port whose link went down). */
void pc_dp_housekeeping(pc_dp_t *dp);

/* pc_dp_idle is the adaptive back-off between idle polls: call it with the
 * number of consecutive idle polls so far; it spins, then pauses, then
 * sleeps (up to 200 µs), so several replicas can share cores. It knows no
 * port: pc_dp_run waits on the RX interrupt in its sleep phase instead. */
void pc_dp_idle(unsigned idle_polls);

/* pc_dp_wait waits up to max_ns for the port's RX interrupt, where the
 * transport has one (DPDK, cfg.dpdk_port on a driver with RX-queue
 * interrupts: tap, vfio-bound NICs; not memif, af_packet, ring or null).
 * Returns 1 when the interrupt ended the wait (a frame arrived: poll), 0
 * when max_ns passed, PC_ERR_UNSUPPORTED when the transport has none or
 * cannot wait now (port down or restarting): then the caller sleeps as
 * before. max_ns should be the sleep it replaces (pc_dp_run: ≤ 200 µs):
 * the timers run only in pc_dp_poll. A frame that arrived just before the
 * wait may not raise the interrupt on some drivers; the wait then lasts
 * max_ns, as the sleep would. Stage thread only; counts rx_intr_waits and
 * rx_intr_wakeups in the port counters. */
int pc_dp_wait(pc_dp_t *dp, uint64_t max_ns);

/* pc_dp_run polls until *stop becomes true (acquire load, pairs with the
 * setter's release store), backing off when idle like pc_dp_idle, except
 * that its sleep phase waits on the RX interrupt (pc_dp_wait, same
 * duration) when the transport has one. */
void pc_dp_run(pc_dp_t *dp, const atomic_bool *stop);

/* pc_dp_peer_up returns true while the session with peer is established
 * and not timed out. */
bool pc_dp_peer_up(const pc_dp_t *dp, uint16_t peer);

/* pc_dp_counters copies the counters of peer (0..n-1, self gives the
 * port/transport-level counters) into out; PC_ERR_RANGE for a bad id. */
int pc_dp_counters(const pc_dp_t *dp, uint16_t peer, pc_dp_counters_t *out);

/* pc_dp_epoch returns this process's session epoch. */
uint64_t pc_dp_epoch(const pc_dp_t *dp);

/* pc_dp_destroy stops the transport (DPDK ports are stopped and closed;
 * the EAL stays up for the process) and frees everything. NULL is fine. */
void pc_dp_destroy(pc_dp_t *dp);

/* pc_dp_loop_create makes an in-process switch for n replicas (tests and
 * simulations): each PC_DP_KIND_LOOP pc_dp_t with cfg.loop = it sends
 * frames into the destination's queue (at most qcap frames, then dropped
 * and counted as ring_full). Single-threaded: all its pc_dp_t must be
 * polled by one thread. pc_dp_loop_destroy after all of them. */
pc_dp_loop_t *pc_dp_loop_create(uint16_t n, unsigned qcap);
void pc_dp_loop_destroy(pc_dp_loop_t *loop);
/* pc_dp_loop_tamper, for tests: a hook called on every frame in flight
 * (ParaChain bytes, modifiable, with its length); returning false drops it. */
typedef bool (*pc_dp_tamper_fn)(void *user, uint16_t from, uint16_t to, uint8_t *frame, size_t *len);
void pc_dp_loop_tamper(pc_dp_loop_t *loop, pc_dp_tamper_fn fn, void *user);
/* pc_dp_loop_inject, for tests: puts a copy of frame into to's queue as if
 * from sent it (replays, forgeries). Returns 0 or PC_ERR_FULL/PC_ERR_RANGE. */
int pc_dp_loop_inject(pc_dp_loop_t *loop, uint16_t from, uint16_t to, const uint8_t *frame, size_t len);

/* pc_dp_telemetry_register exposes the counters of dp through DPDK
 * telemetry as /parachain/peers (list), /parachain/peer,<id> and
 * /parachain/port. Needs an initialised EAL (DPDK kind); one dp per process
 * can be registered. Returns 0 or PC_ERR_UNSUPPORTED/PC_ERR_STATE. */
int pc_dp_telemetry_register(pc_dp_t *dp);

#endif /* PC_DATAPLANE_H */
