/* node_private.h — the node config file (`parachain-node --config FILE`).
 *
 * Private to node/ for now; the lead folds these declarations into
 * node/node.h when the daemon lands. Full description with defaults and an
 * annotated example: docs/node-config.md; example: examples/node.conf.
 *
 * ------------------------------------------------------------ format
 * The common config syntax (common/config.h). Sections and keys, defaults
 * in brackets:
 *   [node]     id (0..255, required); key (path, required: this replica's
 *              Ed25519 key file, txpool/client.h format); cluster (path,
 *              required); coremap (path, required); data_dir (path) [data];
 *              log_level error|warn|info|debug [info]
 *   [net]      transport memif|af_packet|udp|pci [udp]; eal_args (string,
 *              DPDK transports only) [the dataplane's]; memif_dir (path,
 *              memif only) [/tmp]; memif_tag [pc] (memif only); iface
 *              (af_packet only, required there); pci (pci only, required
 *              there, DDDD:BB:DD.F); mtu 576..65028 [1500]; max_message
 *              64K..256M [16M]; window 8..8192, a power of two [512];
 *              tx_buffer ≥ max_message [2 × max_message]; rx_buffer ≥
 *              max_message + window × (mtu − 28) [that minimum, rounded
 *              up to a MiB]; mbufs 511..1048575 [4095]; burst 1..512 [32]
 *   [gateway]  listen A.B.C.D:port [127.0.0.1:(7200 + id)]; max_connections
 *              1..65536 [1024]; max_request 1K..16M [1M]; idle_timeout
 *              1s..3600s [30s]
 *   [metrics]  enabled bool [yes]; listen A.B.C.D:port [127.0.0.1:(7300 + id)]
 *   [exec]     scheduler serial|tasks|dag|optimistic|auto [auto];
 *              plugin_dir (path) [none]
 *   [storage]  segment_size 1M..2G [64M]; group_count 1..65536 [256];
 *              group_time 0..1s [0 = as soon as the previous sync is done]
 *              (a snapshot is written at every checkpoint: the checkpoint
 *              certifies its manifest, so there is no snapshot interval)
 * Keys outside a section, unknown sections and unknown keys are errors
 * (with the closest known name suggested). A relative path resolves
 * against the folder of the config file; `~` is not expanded.
 *
 * Whole-file rules (pc_node_config_parse): a transport-specific key given
 * for another transport is an error; gateway and metrics may not listen on
 * the same address and port; every resolved path fits PC_NODE_PATH_MAX;
 * a memif socket path fits sockaddr_un.
 * Cross-file rules (pc_node_config_check): see there.
 */
#ifndef PC_NODE_PRIVATE_H
#define PC_NODE_PRIVATE_H

#include "common/config.h"

#define PC_NODE_PATH_MAX 256
#define PC_NODE_MEMIF_DIR_MAX 96 /* the dataplane's memif_dir field */
#define PC_NODE_MEMIF_TAG_MAX 24
#define PC_NODE_IFACE_MAX 16 /* IFNAMSIZ */
#define PC_NODE_PCI_MAX 16

typedef enum {
  PC_NET_MEMIF = 0, /* DPDK memif vdevs, one socket per replica pair */
  PC_NET_AF_PACKET, /* DPDK af_packet vdev on a kernel interface */
  PC_NET_UDP,       /* kernel UDP sockets (no DPDK) */
  PC_NET_PCI,       /* DPDK on a NIC bound to vfio-pci */
  PC_NET_COUNT
} pc_net_transport_t;

/* pc_net_transport_name returns "memif", "af_packet", "udp", "pci" ("?" otherwise). */
const char *pc_net_transport_name(pc_net_transport_t t);

typedef struct {
  uint8_t ip[4]; /* network order */
  uint16_t port;
} pc_listen_addr_t;

/* Line numbers of the keys the cross-file checks point at (0 = defaulted). */
typedef struct {
  uint32_t id, key, cluster, coremap, data_dir, max_message, gateway, metrics, plugin_dir;
} pc_node_config_lines_t;

typedef struct {
  char file[PC_NODE_PATH_MAX]; /* the config file's name as given (for messages) */
  char base[PC_NODE_PATH_MAX]; /* folder relative paths resolved against */

  /* [node] */
  uint16_t id;
  char key[PC_NODE_PATH_MAX];
  char cluster[PC_NODE_PATH_MAX];
  char coremap[PC_NODE_PATH_MAX];
  char data_dir[PC_NODE_PATH_MAX];
  pc_log_level_t log_level;

  /* [net] */
  uint8_t transport; /* pc_net_transport_t */
  char eal_args[PC_CONF_VALUE_MAX]; /* "" = the dataplane's default arguments */
  char memif_dir[PC_NODE_MEMIF_DIR_MAX];
  char memif_tag[PC_NODE_MEMIF_TAG_MAX];
  char iface[PC_NODE_IFACE_MAX];
  char pci[PC_NODE_PCI_MAX];
  uint32_t mtu;
  uint32_t max_message;
  uint32_t window;
  uint64_t tx_buffer, rx_buffer;
  uint32_t mbufs;
  uint16_t burst;

  /* [gateway] */
  pc_listen_addr_t gateway;
  uint32_t gw_max_connections;
  uint32_t gw_max_request;
  uint64_t gw_idle_timeout_ns;

  /* [metrics] */
  bool metrics_enabled;
  pc_listen_addr_t metrics;

  /* [exec] */
  uint8_t scheduler;                 /* executor's pc_sched_t order: serial, tasks, dag, optimistic, auto */
  char plugin_dir[PC_NODE_PATH_MAX]; /* "" = no plugins */

  /* [storage] */
  uint64_t segment_size;
  uint32_t group_count;
  uint64_t group_time_ns;

  pc_node_config_lines_t line;
} pc_node_config_t;

/* Scheduler names in the order of executor.h's pc_sched_t. */
#define PC_NODE_SCHED_COUNT 5
extern const char *const pc_node_sched_names[PC_NODE_SCHED_COUNT];

/* pc_node_config_parse parses and validates a node config held in memory
 * (len bytes, need not be NUL-terminated). name is used in messages;
 * relative paths resolve against base_dir (NULL or "" = "."). Returns 0,
 * or PC_ERR_CONFIG with one line "name:line: problem: fix" in err (errlen
 * bytes, always NUL-terminated; PC_ERR_NOMEM when the parser state cannot
 * be allocated). Touches no file. Errors are counted under PC_DEC_CONFIG.
 * Any thread; cfg is the caller's and is unspecified on error. */
int pc_node_config_parse(pc_node_config_t *cfg, const char *name, const char *base_dir, const char *buf, size_t len,
                         char *err, size_t errlen);

/* pc_node_config_load reads the file at path and parses it, resolving
 * relative paths against the absolute path of the file's folder. Returns
 * 0, PC_ERR_CONFIG or PC_ERR_IO (err says why). Any thread. */
int pc_node_config_load(pc_node_config_t *cfg, const char *path, char *err, size_t errlen);

/* pc_node_config_check validates a parsed config against the files it
 * names, before any thread starts: the cluster file loads and has replica
 * cfg->id; the key file is not readable by group or others, loads, and
 * its public key is the one the cluster file lists for cfg->id; the core
 * map loads against topo (NULL: the machine's topology); max_message holds a
 * full batch (cluster batch bytes + 64K); a cluster that pins plugins has
 * a plugin_dir that is a folder holding <name>.so with the pinned hash;
 * data_dir is a folder or can be created in an existing one; under udp, the gateway and metrics ports differ from
 * the replica's own port on its address. Fills *cluster and *map (either
 * may be NULL when not wanted). Returns 0, PC_ERR_CONFIG (or PC_ERR_IO for
 * an unreadable file) with "file:line: message" in err. Reads files;
 * allocates the topology when topo is NULL. Any thread. */
int pc_node_config_check(const pc_node_config_t *cfg, const pc_topo_t *topo, pc_cluster_t *cluster, pc_coremap_t *map,
                         char *err, size_t errlen);

/* pc_listen_addr_parse parses "A.B.C.D:port" (port 1..65535). 0 or PC_ERR_INVALID. */
int pc_listen_addr_parse(const char *s, pc_listen_addr_t *out);
/* pc_listen_addr_format writes "A.B.C.D:port" (out ≥ 22 bytes). */
void pc_listen_addr_format(const pc_listen_addr_t *a, char *out, size_t len);

#endif /* PC_NODE_PRIVATE_H */
