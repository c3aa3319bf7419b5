/* bench_args.h — the command-line conventions every benchmark program
 * shares (header-only: each program is one translation unit).
 *
 *   -h / --help anywhere: the usage on stdout, exit status 0;
 *   a malformed argument: one line naming it, then the usage, on stderr,
 *   exit status 2 — before anything runs, so a typo never starts a long
 *   benchmark with the defaults. */
#ifndef PC_TOOLS_BENCH_ARGS_H
#define PC_TOOLS_BENCH_ARGS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

typedef void (*bench_usage_fn)(FILE *f);

static const char *bench_prog = "bench";
static bench_usage_fn bench_usage;

/* bench_args_begin remembers the program's name and usage text for
 * bad_arg, and answers -h / --help wherever it appears. */
static inline void bench_args_begin(const char *prog, bench_usage_fn usage, int argc, char **argv) {
  bench_prog = prog;
  bench_usage = usage;
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      exit(0);
    }
}

/* bad_arg prints "<prog>: <message>" and the usage on stderr, exits 2. */
static inline _Noreturn __attribute__((format(printf, 1, 2))) void bad_arg(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", bench_prog);
  vfprintf(stderr, fmt, ap);
  fputs("\n", stderr);
  va_end(ap);
  if (bench_usage) bench_usage(stderr);
  exit(2);
}

/* bench_parse_secs returns s as seconds: a positive number up to a day
 * (benchmarks turn it into uint64_t nanoseconds); anything else exits
 * through bad_arg, as an unknown option when it looks like one. */
static inline double bench_parse_secs(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !(v > 0 && v <= 86400)) {
    if (s[0] == '-' && !strchr("0123456789.", s[1])) bad_arg("unknown option '%s'", s);
    bad_arg("bad seconds '%s' (want a positive number up to 86400)", s);
  }
  return v;
}

/* bench_parse_u64 returns s as an integer in [min, max] (pc_parse_u64:
 * decimal or 0x hex); anything else exits through bad_arg naming `what`. */
static inline uint64_t bench_parse_u64(const char *what, const char *s, uint64_t min, uint64_t max) {
  uint64_t v;
  if (pc_parse_u64(s, &v) || v < min || v > max)
    bad_arg("bad %s '%s' (want an integer from %llu to %llu)", what, s, (unsigned long long)min,
            (unsigned long long)max);
  return v;
}

#endif
