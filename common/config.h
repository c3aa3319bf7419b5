/* config.h — the operator files: a small config-file parser, the cluster
 * file and the core map. Every file is parsed into a fixed-capacity struct
 * and validated as a whole before any thread starts; every error is one
 * line "file:line: message" that says what to change. Full formats with
 * annotated examples: docs/config.md.
 *
 * ------------------------------------------------------------ syntax
 * UTF-8/ASCII text, one item per line (LF or CRLF):
 *   [name]            a section; name is [a-z0-9_-]+, ≤ PC_CONF_NAME_MAX−1
 *   [name arg]        a named section, e.g. [replica 3]; arg is [A-Za-z0-9_.-]+
 *   key = value       key is [a-z0-9_.-]+; value is the rest of the line,
 *                     trimmed, non-empty, ≤ PC_CONF_VALUE_MAX−1 bytes
 *   # comment         whole line, or after a value ('#' never belongs to a value)
 *   blank lines
 * Keys before the first section header belong to the unnamed global
 * section (index 0). A key set twice in one section, and a section header
 * repeated, are errors. Control characters other than TAB are refused.
 * Limits: a line ≤ PC_CONF_LINE_MAX bytes, ≤ PC_CONF_SECTIONS_MAX sections
 * (the global one included), ≤ PC_CONF_ENTRIES_MAX keys, a file ≤
 * PC_CONF_FILE_MAX bytes.
 *
 * Value types (the typed getters below):
 *   integer   decimal, or 0x-prefixed hex; no sign
 *   size      integer with an optional unit K, M, G, T (powers of 1024,
 *             optionally followed by B or iB: 64K = 64KiB = 65536)
 *   duration  integer with a unit ns, us, ms, s (stored in nanoseconds);
 *             a bare 0 is allowed
 *   boolean   yes|no|true|false|on|off
 *   hex       exactly 2n hex digits for n bytes
 *   core list comma-separated OS CPU numbers and ranges: 2,4-7
 *
 * Errors are counted under PC_DEC_CONFIG (syntax and values), PC_DEC_CLUSTER
 * (cluster-file semantics) and PC_DEC_COREMAP (core-map semantics).
 */
#ifndef PC_CONFIG_H
#define PC_CONFIG_H

#include "common/block.h"
#include "common/common.h"

#define PC_CONF_LINE_MAX 512
#define PC_CONF_NAME_MAX 32   /* section names, section args, keys (NUL included) */
#define PC_CONF_VALUE_MAX 160 /* NUL included */
#define PC_CONF_SECTIONS_MAX 320
#define PC_CONF_ENTRIES_MAX 2048
#define PC_CONF_FILE_MAX (1u << 20)
#define PC_CONF_ERR_MAX 320
#define PC_CONF_FILE_NAME_MAX 96

/* ------------------------------------------------------------ core sets */

#define PC_MAX_CORES 1024 /* OS CPU numbers 0..PC_MAX_CORES−1 */

typedef struct {
  uint64_t bits[PC_MAX_CORES / 64];
} pc_coreset_t;

void pc_coreset_clear(pc_coreset_t *s);
void pc_coreset_add(pc_coreset_t *s, unsigned core); /* core < PC_MAX_CORES, else ignored */
bool pc_coreset_has(const pc_coreset_t *s, unsigned core);
unsigned pc_coreset_count(const pc_coreset_t *s);
bool pc_coreset_empty(const pc_coreset_t *s);
/* pc_coreset_next returns the lowest core ≥ from in s, or -1. */
int pc_coreset_next(const pc_coreset_t *s, unsigned from);
/* pc_coreset_first_common returns the lowest core in both a and b, or -1. */
int pc_coreset_first_common(const pc_coreset_t *a, const pc_coreset_t *b);
/* pc_coreset_format writes s as a core list ("2,4-7", "" when empty).
 * Returns the length, or PC_ERR_OVERFLOW when it does not fit in len
 * (out is then truncated but NUL-terminated). */
int pc_coreset_format(const pc_coreset_t *s, char *out, size_t len);
/* pc_coreset_parse parses a core list. Returns 0, or PC_ERR_INVALID /
 * PC_ERR_RANGE with a short reason in why (static string). A core listed
 * twice is an error. */
int pc_coreset_parse(const char *s, pc_coreset_t *out, const char **why);

/* ------------------------------------------------------ value parsers
 * Each returns 0 or PC_ERR_INVALID / PC_ERR_RANGE and never reads past the
 * NUL. They do not log or count; the pc_conf_* getters do. */
int pc_parse_u64(const char *s, uint64_t *out);
int pc_parse_size(const char *s, uint64_t *bytes);
int pc_parse_duration(const char *s, uint64_t *ns);
int pc_parse_bool(const char *s, bool *out);
int pc_parse_mac(const char *s, uint8_t mac[6]);
int pc_parse_ipv4(const char *s, uint8_t ip[4]); /* dotted quad, network order in ip[] */

/* pc_format_size / pc_format_duration write a value in the largest unit
 * that represents it exactly ("64K", "5ms", "0"); they are the inverse of
 * the parsers. Return the length or PC_ERR_OVERFLOW. */
int pc_format_size(uint64_t bytes, char *out, size_t len);
int pc_format_duration(uint64_t ns, char *out, size_t len);

/* ------------------------------------------------------------- parser */

typedef struct {
  char name[PC_CONF_NAME_MAX]; /* "" for the global section */
  char arg[PC_CONF_NAME_MAX];  /* "" when the header has no argument */
  bool has_arg;
  uint32_t line;         /* line of the header, 0 for the global section */
  uint32_t first, count; /* its entries: entries[first .. first+count) */
} pc_conf_section_t;

typedef struct {
  char key[PC_CONF_NAME_MAX];
  char value[PC_CONF_VALUE_MAX];
  uint32_t line;
  uint16_t section;
  bool used; /* set by the getters; pc_conf_check_unknown reports the rest */
} pc_conf_entry_t;

/* A parsed file. About 400 KiB: allocate it (pc_conf_new) rather than put
 * it on a thread's stack. */
typedef struct {
  char file[PC_CONF_FILE_NAME_MAX]; /* name used in messages */
  pc_conf_section_t sections[PC_CONF_SECTIONS_MAX];
  unsigned n_sections; /* ≥ 1: sections[0] is the global section */
  pc_conf_entry_t entries[PC_CONF_ENTRIES_MAX];
  unsigned n_entries;
  char err[PC_CONF_ERR_MAX]; /* the first error, "file:line: message" */
} pc_conf_t;

/* pc_conf_new returns an empty parser state (NULL and a log line when out
 * of memory); pc_conf_free releases it (NULL is fine). Each thread keeps
 * one freed state for its next pc_conf_new, so loading files in a loop
 * does not map and unmap 400 KiB per file. */
pc_conf_t *pc_conf_new(void);
void pc_conf_free(pc_conf_t *c);

/* pc_conf_parse_buf parses len bytes (need not be NUL-terminated) into c,
 * naming the input `name` in messages. Returns 0, or PC_ERR_CONFIG with
 * c->err set (first error only); counts under PC_DEC_CONFIG. Any thread;
 * c is the caller's. */
int pc_conf_parse_buf(pc_conf_t *c, const char *name, const char *buf, size_t len);
/* pc_conf_parse_file reads and parses a file (≤ PC_CONF_FILE_MAX bytes).
 * Returns 0, PC_ERR_CONFIG or PC_ERR_IO, with c->err set on failure. */
int pc_conf_parse_file(pc_conf_t *c, const char *path);

/* pc_conf_find returns the index of section [name arg] (arg NULL: a
 * header without argument), or -1. The global section is ("", NULL). */
int pc_conf_find(const pc_conf_t *c, const char *name, const char *arg);
/* pc_conf_entry returns key's entry in section sec (marking it used), or NULL. */
pc_conf_entry_t *pc_conf_entry(pc_conf_t *c, int sec, const char *key);

/* Typed getters. Each looks key up in section sec; returns 1 and stores
 * the value when present and valid, 0 when absent (out untouched, so the
 * caller pre-fills the default), or PC_ERR_CONFIG with c->err naming file,
 * line, the problem and the accepted form. min/max bound the value. */
int pc_conf_u64(pc_conf_t *c, int sec, const char *key, uint64_t min, uint64_t max, uint64_t *out);
int pc_conf_size(pc_conf_t *c, int sec, const char *key, uint64_t min, uint64_t max, uint64_t *out);
int pc_conf_duration(pc_conf_t *c, int sec, const char *key, uint64_t min_ns, uint64_t max_ns, uint64_t *ns);
int pc_conf_bool(pc_conf_t *c, int sec, const char *key, bool *out);
/* pc_conf_choice accepts one of names[0..n) and stores its index. */
int pc_conf_choice(pc_conf_t *c, int sec, const char *key, const char *const *names, unsigned n,
                   unsigned *out);
int pc_conf_hex(pc_conf_t *c, int sec, const char *key, void *out, size_t n);
int pc_conf_cores(pc_conf_t *c, int sec, const char *key, pc_coreset_t *out);

/* pc_conf_check_unknown fails (PC_ERR_CONFIG) on the first key of section
 * sec not in known[0..n), suggesting the closest known key. */
int pc_conf_check_unknown(pc_conf_t *c, int sec, const char *const *known, unsigned n);
/* pc_conf_fail records "file:line: message" as c's error (if none yet),
 * counts it under dec and returns PC_ERR_CONFIG. line 0 omits the line. */
int pc_conf_fail(pc_conf_t *c, pc_decoder_t dec, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* pc_conf_suggest returns the entry of known[] closest to word (edit
 * distance ≤ 2, or ≤ a third of its length), or NULL. */
const char *pc_conf_suggest(const char *word, const char *const *known, unsigned n);

/* -------------------------------------------------------- cluster file
 * Sections and keys (defaults in brackets; docs/config.md has an example):
 *   [chain]      id (u64, required), n (1..PC_MAX_REPLICAS, required),
 *                f (≥ 0, n ≥ 3f+1) [largest allowed: (n−1)/3]
 *   [consensus]  protocol sbft|pbft [sbft]; votes broadcast|collector
 *                [broadcast]; fast_path bool [yes]; fast_wait Δf [0];
 *                collector_wait Δc [2ms]; round_timeout [500ms];
 *                window W 1..PC_CLUSTER_WINDOW_MAX [8]; checkpoint_interval
 *                K 1..2^32−1 [128]
 *   [batch]      size transactions 1..PC_CLUSTER_BATCH_TX_MAX [1024];
 *                bytes 1K..PC_BATCH_MAX [1M]; wait [1ms]
 *   [replica i]  one per replica i = 0..n−1: key (Ed25519 public key, 64
 *                hex), mac (xx:xx:xx:xx:xx:xx), ip (dotted IPv4), port
 *                (1..65535); all required
 *   [plugins]    name = BLAKE2b-256 hex, ≤ PC_CLUSTER_PLUGINS_MAX
 * Whole-file rules: replica ids dense (0..n−1) and unique, public keys
 * valid Ed25519 points and unique, (ip, port) unique, ip not 0.0.0.0. D = 2W; quorum q = ⌈(n+f+1)/2⌉. */

#define PC_CLUSTER_PLUGINS_MAX 32
#define PC_CLUSTER_WINDOW_MAX 1024
#define PC_CLUSTER_BATCH_TX_MAX (1u << 20)
#define PC_CLUSTER_TIMEOUT_MAX (3600ull * 1000000000ull) /* an hour: longer is a typo */

typedef enum { PC_VOTES_BROADCAST = 0, PC_VOTES_COLLECTOR = 1 } pc_vote_mode_t;

typedef struct {
  uint16_t id;
  uint8_t pubkey[PC_PUBKEY_SIZE];
  uint8_t mac[6];
  uint8_t ip[4]; /* network order: ip[0] is the first number */
  uint16_t port;
} pc_replica_addr_t;

typedef struct {
  char name[PC_CONF_NAME_MAX];
  pc_hash_t hash;
} pc_plugin_pin_t;

typedef struct {
  uint64_t chain_id;
  uint16_t n, f;
  uint8_t protocol;  /* pc_protocol_t */
  uint8_t vote_mode; /* pc_vote_mode_t */
  bool fast_path;
  uint64_t fast_wait_ns;        /* Δf */
  uint64_t collector_wait_ns;   /* Δc */
  uint64_t round_timeout_ns;    /* base; doubles per round */
  uint32_t window;              /* W; D = 2W */
  uint32_t checkpoint_interval; /* K */
  uint32_t batch_size;          /* transactions */
  uint64_t batch_bytes;
  uint64_t batch_wait_ns;
  unsigned n_plugins;
  pc_plugin_pin_t plugins[PC_CLUSTER_PLUGINS_MAX];
  pc_replica_addr_t replicas[PC_MAX_REPLICAS];
} pc_cluster_t;

/* pc_cluster_defaults fills every optional field with its default and
 * zeroes the rest (n = 0: no replicas yet). */
void pc_cluster_defaults(pc_cluster_t *c);
/* pc_cluster_parse parses and validates a cluster file held in memory.
 * Returns 0, or PC_ERR_CONFIG with "name:line: message" in err (errlen
 * bytes, always NUL-terminated). On error *c is unspecified. Any thread;
 * allocates a pc_conf_t for the duration of the call (PC_ERR_NOMEM). */
int pc_cluster_parse(pc_cluster_t *c, const char *name, const char *buf, size_t len, char *err,
                     size_t errlen);
/* pc_cluster_load does the same for a file path (PC_ERR_IO if unreadable). */
int pc_cluster_load(pc_cluster_t *c, const char *path, char *err, size_t errlen);
/* pc_cluster_validate checks a struct as a whole (the rules above), e.g.
 * before encoding one built by a tool. 0 or PC_ERR_CONFIG with err set. */
int pc_cluster_validate(const pc_cluster_t *c, char *err, size_t errlen);
/* pc_cluster_encode writes c as a cluster file that pc_cluster_parse reads
 * back to an equal struct. Returns the length written (NUL excluded),
 * PC_ERR_CONFIG when c is invalid (err set), or PC_ERR_OVERFLOW. */
int pc_cluster_encode(const pc_cluster_t *c, char *out, size_t cap, char *err, size_t errlen);
/* pc_cluster_quorum returns q = ⌈(n+f+1)/2⌉. */
unsigned pc_cluster_quorum(const pc_cluster_t *c);
/* pc_cluster_depth returns D = 2W, how far consensus may run ahead of execution. */
unsigned pc_cluster_depth(const pc_cluster_t *c);
/* pc_cluster_plugin returns the pinned hash of plugin `name`, or NULL. */
const pc_hash_t *pc_cluster_plugin(const pc_cluster_t *c, const char *name);

/* ------------------------------------------------------------ core map
 * Global keys (no section): one per stage, value a core list:
 *   rx, tx        network receive / transmit (DPDK ports)
 *   net           both rx and tx on one thread (instead of rx and tx)
 *   verify        client signature checks
 *   consensus     the consensus state machine
 *   exec          contract execution workers
 *   store         block log and state
 *   gateway       client gateway [default: the store's cores]
 *   shared        bool [no]: allow stages to share cores (one-machine clusters)
 * Required: rx and tx (or net), verify, consensus, exec, store. Cores are
 * OS CPU numbers (hwloc PU os_index, what sched_setaffinity and DPDK
 * lcores use), each must exist in the topology. Without `shared = yes` no
 * core may appear in two stages (net's rx/tx and a defaulted gateway do
 * not count as overlap). */

typedef enum {
  PC_STAGE_RX = 0,
  PC_STAGE_TX,
  PC_STAGE_VERIFY,
  PC_STAGE_CONSENSUS,
  PC_STAGE_EXEC,
  PC_STAGE_STORE,
  PC_STAGE_GATEWAY,
  PC_STAGE_COUNT
} pc_stage_t;

typedef struct {
  pc_coreset_t cores[PC_STAGE_COUNT];
  bool shared;      /* stages may share cores */
  bool net;         /* rx and tx given together as `net` */
  bool gateway_set; /* false: gateway runs on the store's cores */
} pc_coremap_t;

/* pc_stage_name returns "rx", "tx", ... ("?" for out of range). */
const char *pc_stage_name(pc_stage_t s);

/* An hwloc topology, loaded once; tests inject a synthetic one. */
typedef struct pc_topo pc_topo_t;
/* pc_topo_open loads the machine's topology (synthetic == NULL) or an
 * hwloc synthetic description such as "pack:2 core:8 pu:1" or
 * "numa:2 core:4 pu:2". NULL and a log line on failure. Not thread-safe
 * with itself on one object; close with pc_topo_close. */
pc_topo_t *pc_topo_open(const char *synthetic);
void pc_topo_close(pc_topo_t *t);
/* pc_topo_has_core says whether OS CPU `core` exists. */
bool pc_topo_has_core(const pc_topo_t *t, unsigned core);
/* pc_topo_cores returns every OS CPU of the topology. */
void pc_topo_cores(const pc_topo_t *t, pc_coreset_t *out);
/* pc_topo_core_numa returns the NUMA node (os_index) of OS CPU core, or -1. */
int pc_topo_core_numa(const pc_topo_t *t, unsigned core);
/* pc_topo_numa_count returns the number of NUMA nodes (≥ 1). */
unsigned pc_topo_numa_count(const pc_topo_t *t);

/* pc_coremap_parse parses and validates a core map held in memory against
 * topology t. Returns 0, or PC_ERR_CONFIG with "name:line: message" in err. */
int pc_coremap_parse(pc_coremap_t *m, const char *name, const char *buf, size_t len, const pc_topo_t *t,
                     char *err, size_t errlen);
/* pc_coremap_load does the same for a file path (PC_ERR_IO if unreadable). */
int pc_coremap_load(pc_coremap_t *m, const char *path, const pc_topo_t *t, char *err, size_t errlen);
/* pc_coremap_encode writes m as a core-map file (length, or PC_ERR_OVERFLOW). */
int pc_coremap_encode(const pc_coremap_t *m, char *out, size_t cap);
/* pc_coremap_numa_warning checks the cores that poll a port on NUMA node
 * port_node (DPDK's rte_eth_dev_socket_id; < 0 = unknown, never warns).
 * Returns 0 when every core is on that node, else 1 with a message in msg
 * saying which cores are remote and what it costs. */
int pc_coremap_numa_warning(const pc_topo_t *t, int port_node, const pc_coreset_t *cores, char *msg,
                            size_t len);
/* pc_coremap_propose proposes a core map using `ncores` CPUs of t (0: all
 * but CPU 0 when there are more than two, else all), preferring CPUs of
 * NUMA node port_node (< 0: any). With fewer than 5 CPUs stages share
 * (shared = yes). Returns 0, or PC_ERR_RANGE when ncores exceeds the CPUs
 * available (msg says how many there are). */
int pc_coremap_propose(const pc_topo_t *t, unsigned ncores, int port_node, pc_coremap_t *m, char *msg,
                       size_t len);

#endif /* PC_CONFIG_H */
