/* run.h — run a tool as a child process and capture its exit status,
 * stdout and stderr (tests of suite `tools`). */
#ifndef PC_TESTS_TOOLS_RUN_H
#define PC_TESTS_TOOLS_RUN_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int status; /* exit code, or -1 if it did not exit normally */
  char out[65536];
  char err[8192];
} run_t;

static void slurp(const char *path, char *buf, size_t cap) {
  buf[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return;
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
}

/* run_tool(r, exe, arg1, ..., NULL). */
static inline void run_tool(run_t *r, const char *exe, ...) {
  const char *argv[64];
  int argc = 0;
  argv[argc++] = exe;
  va_list ap;
  va_start(ap, exe);
  const char *a;
  while ((a = va_arg(ap, const char *)) && argc < 63) argv[argc++] = a;
  va_end(ap);
  argv[argc] = NULL;
  char o[64], e[64];
  snprintf(o, sizeof o, "/tmp/pc-run-%d.out", (int)getpid());
  snprintf(e, sizeof e, "/tmp/pc-run-%d.err", (int)getpid());
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    int fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0600), fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fo < 0 || fe < 0) _exit(127);
    dup2(fo, 1);
    dup2(fe, 2);
    execv(exe, (char *const *)argv);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  slurp(o, r->out, sizeof r->out);
  slurp(e, r->err, sizeof r->err);
  unlink(o);
  unlink(e);
}

/* run_tool_timed runs argv[0] with argv (NULL-terminated) as run_tool
 * does, for a program that must return by itself (a daemon that should
 * refuse to start): it runs in a process group of its own, and when it has
 * not exited after timeout_s seconds the whole group is killed (SIGKILL,
 * so whatever it started goes too) and r->status is -1. Returns true when
 * it was killed; a test asserts on that instead of hanging the suite. */
static inline bool run_tool_timed(run_t *r, unsigned timeout_s, const char *const *argv) {
  char o[64], e[64];
  snprintf(o, sizeof o, "/tmp/pc-run-%d.out", (int)getpid());
  snprintf(e, sizeof e, "/tmp/pc-run-%d.err", (int)getpid());
  fflush(NULL);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) {
    r->status = -1;
    snprintf(r->err, sizeof r->err, "fork: %s", strerror(errno));
    r->out[0] = '\0';
    return false;
  }
  if (pid == 0) {
    setpgid(0, 0);
    int fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0600), fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fo < 0 || fe < 0) _exit(127);
    dup2(fo, 1);
    dup2(fe, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  setpgid(pid, pid); /* also here: no window where the kill could miss the group */
  int st = 0;
  bool killed = false, reaped = false;
  for (;;) {
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid) reaped = true;
    if (w == pid || (w < 0 && errno != EINTR)) break;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (t.tv_sec - t0.tv_sec >= (time_t)timeout_s) {
      killed = true;
      kill(-pid, SIGKILL);
      waitpid(pid, &st, 0);
      break;
    }
    nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
  }
  r->status = reaped && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  slurp(o, r->out, sizeof r->out);
  slurp(e, r->err, sizeof r->err);
  unlink(o);
  unlink(e);
  return killed;
}

/* count_lines returns the number of '\n'-terminated lines in s. */
static inline unsigned count_lines(const char *s) {
  unsigned n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}
/* rm_tree removes a folder and everything in it. */
static inline void rm_tree(const char *dir) { nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

static inline bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

#endif
