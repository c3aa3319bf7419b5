/* storage_private.h — helpers shared by the storage sources only. */
#ifndef PC_STORAGE_PRIVATE_H
#define PC_STORAGE_PRIVATE_H

#include <errno.h>
#include <sys/types.h>

#include "storage/storage.h"

/* io_write_all writes n bytes at off, retrying partial writes; 0 or -errno
 * (a write that stores nothing and reports nothing is turned into EIO). */
static inline int io_write_all(const pc_io_t *io, int fd, const void *buf, size_t n, off_t off) {
  const uint8_t *p = buf;
  while (n > 0) {
    ssize_t r = io->pwrite(io->ctx, fd, p, n, off);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (r == 0) return -EIO;
    p += r;
    n -= (size_t)r;
    off += r;
  }
  return 0;
}

/* io_read_all reads exactly n bytes at off; 0, -errno, or -ENODATA at EOF. */
static inline int io_read_all(const pc_io_t *io, int fd, void *buf, size_t n, off_t off) {
  uint8_t *p = buf;
  while (n > 0) {
    ssize_t r = io->pread(io->ctx, fd, p, n, off);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (r == 0) return -ENODATA;
    p += r;
    n -= (size_t)r;
    off += r;
  }
  return 0;
}

/* pc_state_key_hash: the trie's key hash (see state.c), for snapshots. */
void pc_state_key_hash(pc_hash_t *kh, const void *key, size_t klen);

/* pc_state_fail_allocs_after makes every node allocation of s fail once n
 * more have succeeded (n < 0: none fails, the default). For tests of the
 * out-of-memory paths; writer thread. */
void pc_state_fail_allocs_after(pc_state_t *s, long n);

/* pc_log_crc32c_combine returns CRC32C(A ‖ B) from crc_a = CRC32C(A),
 * crc_b = CRC32C(B) and |B| (log.c; exported for its test). Pure. */
uint32_t pc_log_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

#endif
