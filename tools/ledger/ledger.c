/* ledger.c — pc-ledger: inspect, verify and repair a block log.
 *
 *   pc-ledger verify --data DIR [--cluster FILE [--replay [--plugin-dir D]]]
 *                                        scan without changing anything; with
 *                                        the cluster file also check hash chain,
 *                                        certificates and (replay) exec roots
 *   pc-ledger stats  --data DIR          heights, records, segments
 *   pc-ledger dump   --data DIR --height H [--to H2]
 *   pc-ledger repair --data DIR --truncate-at SEGMENT:OFFSET
 *
 * Exit codes: 0 ok / clean, 1 torn tail found (verify), 2 corruption found
 * (verify) or the command failed, 64 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "storage/storage.h"
#include "tools/ledger/ledger_private.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: pc-ledger <command> --data DIR [options]\n"
          "\n"
          "commands:\n"
          "  verify   scan the log like an open would, change nothing; exit 0 clean,\n"
          "           1 torn tail (the next open cuts it), 2 corruption (open refuses)\n"
          "           or a failed check. With --cluster FILE it also checks every\n"
          "           block: structure, batch hash, hash chain, and its certificate\n"
          "           (q signatures of the cluster's keys on the block id); with\n"
          "           --replay it re-executes the whole ledger and compares the\n"
          "           execution root each block carries (that of height - D)\n"
          "  stats    print heights, record and segment counts\n"
          "  dump     print block records: --height H [--to H2]\n"
          "  repair   --truncate-at SEGMENT:OFFSET: cut the log at that byte (as\n"
          "           named by a refused open or by verify), zero-fill the rest of\n"
          "           that segment and delete every later segment. Everything from\n"
          "           that point on is lost: copy the directory first.\n"
          "\n"
          "options:\n"
          "  --data DIR           a node's data directory (its log/ is used) or the\n"
          "                       log directory itself (segment files seg-NNNNNNNN.log)\n"
          "  --cluster FILE       the cluster file (chain id, keys, W, plugins)\n"
          "  --replay             with --cluster: re-execute every block from height 1\n"
          "  --plugin-dir DIR     with --replay: the plugins the cluster file pins\n"
          "  --height H, --to H2  heights for dump\n"
          "  --truncate-at S:O    segment number and byte offset for repair\n"
          "  -h, --help           this text\n");
}

static const char *status_name(pc_log_status_t s) {
  return s == PC_LOG_CLEAN ? "clean" : s == PC_LOG_TORN ? "torn-tail" : "corrupt";
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end) return -1;
  *out = v;
  return 0;
}

static int print_block(void *arg, const pc_log_block_t *b) {
  (void)arg;
  char a[PC_HASH_HEX_SIZE], c[PC_HASH_HEX_SIZE], d[PC_HASH_HEX_SIZE];
  printf("height %" PRIu64 "\n  prev_hash  %s\n  block_hash %s\n  exec_root  %s\n  cert %zu bytes, block %zu bytes\n",
         b->height, pc_hash_to_hex(&b->prev_hash, a), pc_hash_to_hex(&b->block_hash, c),
         pc_hash_to_hex(&b->exec_root, d), b->cert_len, b->block_len);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 64;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  const char *cmd = argv[1];
  const char *data = NULL, *cut = NULL, *cluster_file = NULL, *plugin_dir = NULL;
  bool replay = false;
  uint64_t height = 0, to = 0;
  static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                       {"height", required_argument, NULL, 'H'},
                                       {"to", required_argument, NULL, 't'},
                                       {"truncate-at", required_argument, NULL, 'c'},
                                       {"cluster", required_argument, NULL, 'C'},
                                       {"replay", no_argument, NULL, 'R'},
                                       {"plugin-dir", required_argument, NULL, 'P'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  optind = 2;
  int o;
  while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (o) {
    case 'd': data = optarg; break;
    case 'c': cut = optarg; break;
    case 'C': cluster_file = optarg; break;
    case 'R': replay = true; break;
    case 'P': plugin_dir = optarg; break;
    case 'H':
      if (parse_u64(optarg, &height)) {
        fprintf(stderr, "pc-ledger: --height wants a number, got '%s'\n", optarg);
        return 64;
      }
      break;
    case 't':
      if (parse_u64(optarg, &to)) {
        fprintf(stderr, "pc-ledger: --to wants a number, got '%s'\n", optarg);
        return 64;
      }
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 64;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "pc-ledger: unexpected argument '%s'\n", argv[optind]);
    return 64;
  }
  if (!data) {
    fprintf(stderr, "pc-ledger: %s needs --data DIR (see pc-ledger --help)\n", cmd);
    return 64;
  }
  if ((replay || plugin_dir) && !cluster_file) {
    fprintf(stderr, "pc-ledger: --replay and --plugin-dir need --cluster FILE\n");
    return 64;
  }
  if (cluster_file && strcmp(cmd, "verify")) {
    fprintf(stderr, "pc-ledger: --cluster goes with verify only\n");
    return 64;
  }
  /* a node's data directory holds the log in log/ */
  static char logdir[4096];
  struct stat sb;
  snprintf(logdir, sizeof logdir, "%s/log", data);
  if (stat(logdir, &sb) == 0 && S_ISDIR(sb.st_mode)) data = logdir;
  pc_cluster_t *cl = NULL;
  if (cluster_file) {
    static pc_cluster_t cluster;
    char err[256];
    if (pc_cluster_load(&cluster, cluster_file, err, sizeof err) != 0) {
      fprintf(stderr, "pc-ledger: %s\n", err);
      return 2;
    }
    cl = &cluster;
    if (pc_crypto_init() != 0) return 2;
  }
  pc_log_set_level(PC_LOG_WARN);
  pc_log_report_t rep;
  if (!strcmp(cmd, "verify") || !strcmp(cmd, "stats")) {
    int e = pc_log_check(data, NULL, &rep);
    if (e) {
      fprintf(stderr, "pc-ledger: cannot read %s: %s\n", data, pc_strerror(e));
      return 2;
    }
    printf("status    %s\nsegments  %" PRIu32 "\nrecords   %" PRIu64 "\nheights   %" PRIu64 "..%" PRIu64 "\n",
           status_name(rep.status), rep.segments, rep.records, rep.first_height, rep.last_height);
    if (rep.status != PC_LOG_CLEAN)
      printf("damage    segment %" PRIu32 " offset %" PRIu32 " height %" PRIu64 "\n", rep.segment, rep.offset,
             rep.height);
    printf("%s\n", rep.message);
    if (!strcmp(cmd, "stats")) return 0;
    if (rep.status != PC_LOG_CLEAN) {
      if (cl) printf("block checks skipped: the log is not clean\n");
      return rep.status == PC_LOG_TORN ? 1 : 2;
    }
    if (!cl || rep.last_height == 0) return 0;
    pc_log_config_t cfg = {.dir = data};
    pc_log_t *log = pc_log_open(&cfg, &rep);
    if (!log) return 2;
    ledger_deep_opts_t dopts = {.first_height = rep.first_height, .last_height = rep.last_height,
                                .replay = replay, .plugin_dir = plugin_dir, .progress = true};
    e = ledger_deep_verify(log, cl, &dopts);
    pc_log_close(log);
    return e ? 2 : 0;
  }
  if (!strcmp(cmd, "dump")) {
    if (!height) {
      fprintf(stderr, "pc-ledger: dump needs --height H\n");
      return 64;
    }
    if (pc_log_check(data, NULL, &rep) != 0 || rep.status != PC_LOG_CLEAN) {
      fprintf(stderr, "pc-ledger: the log is not clean (%s); run verify first\n", rep.message);
      return 2;
    }
    pc_log_config_t cfg = {.dir = data};
    pc_log_t *log = pc_log_open(&cfg, &rep);
    if (!log) return 2;
    int e = pc_log_iter_blocks(log, height, to ? to : height, print_block, NULL);
    pc_log_close(log);
    if (e) fprintf(stderr, "pc-ledger: %s\n", pc_strerror(e));
    return e ? 2 : 0;
  }
  if (!strcmp(cmd, "repair")) {
    unsigned long long seg, off;
    char tail;
    if (!cut || sscanf(cut, "%llu:%llu%c", &seg, &off, &tail) != 2 || seg > UINT32_MAX || off > UINT32_MAX) {
      fprintf(stderr, "pc-ledger: repair needs --truncate-at SEGMENT:OFFSET (e.g. 0:4096)\n");
      return 64;
    }
    int e = pc_log_repair_truncate(data, NULL, (uint32_t)seg, (uint32_t)off);
    if (e) {
      fprintf(stderr, "pc-ledger: repair of %s at %llu:%llu failed: %s\n", data, seg, off, pc_strerror(e));
      return 2;
    }
    e = pc_log_check(data, NULL, &rep);
    printf("cut %s at segment %llu offset %llu; now: %s, heights %" PRIu64 "..%" PRIu64 "\n", data, seg, off,
           e ? "unreadable" : status_name(rep.status), rep.first_height, rep.last_height);
    return e || rep.status == PC_LOG_CORRUPT ? 2 : 0;
  }
  fprintf(stderr, "pc-ledger: unknown command '%s' (see pc-ledger --help)\n", cmd);
  return 64;
}
