/* fanout_clash_shim.c — LD_PRELOAD shim for the e2e test of
 * local-cluster.sh's af_packet relaunch: the first PACKET_FANOUT join made
 * by any process that has this shim (and PC_TEST_FANOUT_CLASH_ONCE naming a
 * file that does not exist yet) fails with EINVAL, as when DPDK 22.11's
 * af_packet driver picks a fanout group id — (pid ^ ifindex) & 0xffff —
 * that another process already uses on another interface. The file, made
 * with O_EXCL, makes it happen once per run, in whichever replica comes
 * first; every other call goes to the real setsockopt. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*setsockopt_fn)(int, int, int, const void *, socklen_t);

int setsockopt(int fd, int level, int name, const void *value, socklen_t len) {
  static setsockopt_fn real;
  if (!real) real = (setsockopt_fn)dlsym(RTLD_NEXT, "setsockopt");
  const char *marker = getenv("PC_TEST_FANOUT_CLASH_ONCE");
  if (level == SOL_PACKET && name == PACKET_FANOUT && marker && *marker) {
    int m = open(marker, O_CREAT | O_EXCL | O_WRONLY, 0600);
    if (m >= 0) {
      close(m);
      errno = EINVAL;
      return -1;
    }
  }
  return real(fd, level, name, value, len);
}
