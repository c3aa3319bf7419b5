/* log.c — levelled logging to stderr, one write(2) per line. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/common.h"

static _Atomic int log_level = -1; /* -1: not yet read from PC_LOG */
static char log_tag[16];

static pc_log_level_t level_from_env(void) {
  const char *e = getenv("PC_LOG");
  if (!e) return PC_LOG_INFO;
  if (!strcasecmp(e, "error")) return PC_LOG_ERROR;
  if (!strcasecmp(e, "warn")) return PC_LOG_WARN;
  if (!strcasecmp(e, "debug")) return PC_LOG_DEBUG;
  return PC_LOG_INFO;
}

void pc_log_set_level(pc_log_level_t level) {
  atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

pc_log_level_t pc_log_get_level(void) {
  int l = atomic_load_explicit(&log_level, memory_order_relaxed);
  if (l < 0) {
    l = (int)level_from_env();
    atomic_store_explicit(&log_level, l, memory_order_relaxed);
  }
  return (pc_log_level_t)l;
}

void pc_log_set_tag(const char *tag) {
  snprintf(log_tag, sizeof log_tag, "%s", tag ? tag : "");
}

void pc_logv(pc_log_level_t level, const char *fmt, va_list ap) {
  static const char *const names[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
  if (level > pc_log_get_level()) return;
  char line[1024];
  uint64_t t = pc_now_ns();
  int n = snprintf(line, sizeof line, "%llu.%06llu %s %s%s", (unsigned long long)(t / 1000000000ull),
                   (unsigned long long)(t / 1000ull % 1000000ull), names[level], log_tag,
                   log_tag[0] ? ": " : "");
  if (n < 0) return;
  if ((size_t)n < sizeof line) {
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if (m > 0) n += m;
  }
  if ((size_t)n >= sizeof line - 1) n = (int)sizeof line - 2;
  line[n++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w; /* nowhere to report a failed log write */
}

void pc_log(pc_log_level_t level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pc_logv(level, fmt, ap);
  va_end(ap);
}
