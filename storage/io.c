/* io.c — the thin file I/O layer (plain POSIX) and the fault-injecting
 * wrapper tests use to simulate short writes, ENOSPC, EIO and power loss.
 * See storage.h for the contracts. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage.h"

/* ----------------------------------------------------------------- POSIX */

static int px_open(void *ctx, const char *path, int flags, mode_t mode) {
  (void)ctx;
  return open(path, flags | O_CLOEXEC, mode);
}
static ssize_t px_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off) {
  (void)ctx;
  return pwrite(fd, buf, n, off);
}
static ssize_t px_pread(void *ctx, int fd, void *buf, size_t n, off_t off) {
  (void)ctx;
  return pread(fd, buf, n, off);
}
static int px_fdatasync(void *ctx, int fd) {
  (void)ctx;
  return fdatasync(fd);
}
static int px_ftruncate(void *ctx, int fd, off_t len) {
  (void)ctx;
  return ftruncate(fd, len);
}
static int px_fallocate(void *ctx, int fd, off_t off, off_t len) {
  (void)ctx;
  int r = posix_fallocate(fd, off, len);
  if (r != 0) {
    errno = r;
    return -1;
  }
  return 0;
}
static int px_close(void *ctx, int fd) {
  (void)ctx;
  return close(fd);
}
static void *px_mmap(void *ctx, int fd, size_t len) {
  (void)ctx;
  void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? NULL : p;
}
static int px_munmap(void *ctx, void *p, size_t len) {
  (void)ctx;
  return munmap(p, len);
}
static int px_unlink(void *ctx, const char *path) {
  (void)ctx;
  return unlink(path);
}
static int px_rename(void *ctx, const char *from, const char *to) {
  (void)ctx;
  return rename(from, to);
}
static int px_fsync_dir(void *ctx, const char *dir) {
  (void)ctx;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int r = fsync(fd);
  int e = errno;
  close(fd);
  errno = e;
  return r;
}

static const pc_io_t posix_io = {
    .ctx = NULL,
    .open = px_open,
    .pwrite = px_pwrite,
    .pread = px_pread,
    .fdatasync = px_fdatasync,
    .ftruncate = px_ftruncate,
    .fallocate = px_fallocate,
    .close = px_close,
    .mmap = px_mmap,
    .munmap = px_munmap,
    .unlink = px_unlink,
    .rename = px_rename,
    .fsync_dir = px_fsync_dir,
};

const pc_io_t *pc_io_posix(void) { return &posix_io; }

/* ---------------------------------------------------------- fault layer */

#define FAULT_PAGE 4096u
#define FAULT_MAX_FD 4096

typedef struct {
  char *path;
  uint64_t page;
  uint8_t old[FAULT_PAGE];
} saved_page_t;

struct pc_io_fault {
  pc_io_t io;
  pthread_mutex_t mu;
  uint64_t rng;
  char *fd_path[FAULT_MAX_FD];
  saved_page_t *pages;
  size_t n_pages, cap_pages;
  pc_fault_kind_t armed;
  unsigned armed_after;
  bool crashed;
  uint64_t writes;
};

static uint64_t fault_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* fault_take returns true when the armed fault of a matching class fires now. */
static bool fault_take(pc_io_fault_t *f, bool is_sync) {
  if (f->armed == PC_FAULT_NONE) return false;
  if ((f->armed == PC_FAULT_EIO_SYNC) != is_sync) return false;
  if (f->armed_after > 0) {
    f->armed_after--;
    return false;
  }
  return true;
}

static int ft_open(void *ctx, const char *path, int flags, mode_t mode) {
  pc_io_fault_t *f = ctx;
  int fd = px_open(NULL, path, flags, mode);
  if (fd >= 0 && fd < FAULT_MAX_FD) {
    pthread_mutex_lock(&f->mu);
    free(f->fd_path[fd]);
    f->fd_path[fd] = strdup(path);
    pthread_mutex_unlock(&f->mu);
  }
  return fd;
}

/* save_old records the pre-write contents of each page [off, off+n) touches,
 * the first time it is touched since the file's last sync. */
static int save_old(pc_io_fault_t *f, int fd, off_t off, size_t n) {
  if (fd < 0 || fd >= FAULT_MAX_FD || !f->fd_path[fd] || n == 0) return 0;
  const char *path = f->fd_path[fd];
  uint64_t first = (uint64_t)off / FAULT_PAGE, last = ((uint64_t)off + n - 1) / FAULT_PAGE;
  for (uint64_t pg = first; pg <= last; pg++) {
    bool have = false;
    for (size_t i = f->n_pages; i-- > 0;) {
      if (f->pages[i].page == pg && strcmp(f->pages[i].path, path) == 0) {
        have = true;
        break;
      }
    }
    if (have) continue;
    if (f->n_pages == f->cap_pages) {
      size_t nc = f->cap_pages ? f->cap_pages * 2 : 64;
      saved_page_t *np = realloc(f->pages, nc * sizeof *np);
      if (!np) return -1;
      f->pages = np;
      f->cap_pages = nc;
    }
    saved_page_t *sp = &f->pages[f->n_pages];
    memset(sp->old, 0, FAULT_PAGE);
    ssize_t r = pread(fd, sp->old, FAULT_PAGE, (off_t)(pg * FAULT_PAGE));
    if (r < 0) return -1; /* short read past EOF leaves zeros: the old contents */
    sp->path = strdup(path);
    if (!sp->path) return -1;
    sp->page = pg;
    f->n_pages++;
  }
  return 0;
}

static ssize_t ft_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off) {
  pc_io_fault_t *f = ctx;
  pthread_mutex_lock(&f->mu);
  f->writes++;
  if (f->crashed) {
    pthread_mutex_unlock(&f->mu);
    errno = EIO;
    return -1;
  }
  if (fault_take(f, false)) {
    pc_fault_kind_t k = f->armed;
    f->armed = PC_FAULT_NONE;
    if (k == PC_FAULT_SHORT_WRITE && n > 1) {
      size_t half = n / 2;
      if (save_old(f, fd, off, half) < 0) {
        pthread_mutex_unlock(&f->mu);
        errno = ENOMEM;
        return -1;
      }
      ssize_t r = pwrite(fd, buf, half, off);
      /* A disk that stores half a write is full: the retry of the rest fails. */
      f->armed = PC_FAULT_ENOSPC;
      f->armed_after = 0;
      pthread_mutex_unlock(&f->mu);
      return r;
    }
    pthread_mutex_unlock(&f->mu);
    errno = k == PC_FAULT_ENOSPC ? ENOSPC : EIO;
    return -1;
  }
  if (save_old(f, fd, off, n) < 0) {
    pthread_mutex_unlock(&f->mu);
    errno = ENOMEM;
    return -1;
  }
  ssize_t r = pwrite(fd, buf, n, off);
  pthread_mutex_unlock(&f->mu);
  return r;
}

static void forget_file(pc_io_fault_t *f, const char *path) {
  size_t j = 0;
  for (size_t i = 0; i < f->n_pages; i++) {
    if (strcmp(f->pages[i].path, path) == 0) {
      free(f->pages[i].path);
      continue;
    }
    if (j != i) f->pages[j] = f->pages[i];
    j++;
  }
  f->n_pages = j;
}

static int ft_fdatasync(void *ctx, int fd) {
  pc_io_fault_t *f = ctx;
  pthread_mutex_lock(&f->mu);
  if (f->crashed || fault_take(f, true)) {
    if (!f->crashed) f->armed = PC_FAULT_NONE;
    pthread_mutex_unlock(&f->mu);
    errno = EIO;
    return -1;
  }
  /* The real file need not reach the disk for the simulation to be exact:
   * what the simulated disk holds is defined by the saved pages. Skipping
   * the real sync keeps the power-loss tests fast. */
  if (fd >= 0 && fd < FAULT_MAX_FD && f->fd_path[fd]) forget_file(f, f->fd_path[fd]);
  pthread_mutex_unlock(&f->mu);
  return 0;
}

static int ft_close(void *ctx, int fd) {
  pc_io_fault_t *f = ctx;
  pthread_mutex_lock(&f->mu);
  if (fd >= 0 && fd < FAULT_MAX_FD) {
    free(f->fd_path[fd]);
    f->fd_path[fd] = NULL;
  }
  pthread_mutex_unlock(&f->mu);
  return close(fd);
}

static int ft_ftruncate(void *ctx, int fd, off_t len) {
  pc_io_fault_t *f = ctx;
  pthread_mutex_lock(&f->mu);
  bool dead = f->crashed;
  pthread_mutex_unlock(&f->mu);
  if (dead) {
    errno = EIO;
    return -1;
  }
  return ftruncate(fd, len);
}

static int ft_fallocate(void *ctx, int fd, off_t off, off_t len) {
  pc_io_fault_t *f = ctx;
  pthread_mutex_lock(&f->mu);
  bool dead = f->crashed;
  pthread_mutex_unlock(&f->mu);
  if (dead) {
    errno = EIO;
    return -1;
  }
  return px_fallocate(NULL, fd, off, len);
}

static int ft_unlink(void *ctx, const char *path) {
  pc_io_fault_t *f = ctx;
  pthread_mutex_lock(&f->mu);
  bool dead = f->crashed;
  if (!dead) forget_file(f, path);
  pthread_mutex_unlock(&f->mu);
  if (dead) {
    errno = EIO;
    return -1;
  }
  return unlink(path);
}

static int ft_rename(void *ctx, const char *from, const char *to) {
  pc_io_fault_t *f = ctx;
  pthread_mutex_lock(&f->mu);
  bool dead = f->crashed;
  pthread_mutex_unlock(&f->mu);
  if (dead) {
    errno = EIO;
    return -1;
  }
  return rename(from, to);
}

pc_io_fault_t *pc_io_fault_new(uint64_t seed) {
  pc_io_fault_t *f = calloc(1, sizeof *f);
  if (!f) {
    PC_ERROR("io fault: out of memory");
    return NULL;
  }
  pthread_mutex_init(&f->mu, NULL);
  f->rng = seed;
  f->io = posix_io;
  f->io.ctx = f;
  f->io.open = ft_open;
  f->io.pwrite = ft_pwrite;
  f->io.fdatasync = ft_fdatasync;
  f->io.close = ft_close;
  f->io.ftruncate = ft_ftruncate;
  f->io.fallocate = ft_fallocate;
  f->io.unlink = ft_unlink;
  f->io.rename = ft_rename;
  return f;
}

void pc_io_fault_free(pc_io_fault_t *f) {
  if (!f) return;
  for (size_t i = 0; i < f->n_pages; i++) free(f->pages[i].path);
  free(f->pages);
  for (int i = 0; i < FAULT_MAX_FD; i++) free(f->fd_path[i]);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

const pc_io_t *pc_io_fault_io(pc_io_fault_t *f) { return &f->io; }

void pc_io_fault_arm(pc_io_fault_t *f, pc_fault_kind_t kind, unsigned after) {
  pthread_mutex_lock(&f->mu);
  f->armed = kind;
  f->armed_after = after;
  pthread_mutex_unlock(&f->mu);
}

void pc_io_fault_crash(pc_io_fault_t *f) {
  pthread_mutex_lock(&f->mu);
  f->crashed = true;
  pthread_mutex_unlock(&f->mu);
}

uint64_t pc_io_fault_writes(const pc_io_fault_t *f) {
  pc_io_fault_t *m = (pc_io_fault_t *)f;
  pthread_mutex_lock(&m->mu);
  uint64_t w = m->writes;
  pthread_mutex_unlock(&m->mu);
  return w;
}

unsigned pc_io_fault_power_loss(pc_io_fault_t *f) {
  pthread_mutex_lock(&f->mu);
  unsigned damaged = 0;
  uint8_t cur[FAULT_PAGE];
  for (size_t i = 0; i < f->n_pages; i++) {
    saved_page_t *sp = &f->pages[i];
    uint64_t r = fault_rand(&f->rng);
    unsigned mode = (unsigned)(r % 3); /* 0 kept, 1 dropped, 2 torn */
    if (mode != 0) {
      int fd = open(sp->path, O_RDWR | O_CLOEXEC);
      if (fd >= 0) {
        memset(cur, 0, sizeof cur);
        ssize_t got = pread(fd, cur, FAULT_PAGE, (off_t)(sp->page * FAULT_PAGE));
        if (got > 0) {
          size_t cut = mode == 1 ? 0 : 1 + (size_t)((r >> 8) % (FAULT_PAGE - 1));
          memcpy(cur + cut, sp->old + cut, FAULT_PAGE - cut);
          if (pwrite(fd, cur, (size_t)got, (off_t)(sp->page * FAULT_PAGE)) == got) damaged++;
        }
        close(fd);
      }
    }
    free(sp->path);
  }
  f->n_pages = 0;
  f->crashed = false;
  f->armed = PC_FAULT_NONE;
  pthread_mutex_unlock(&f->mu);
  return damaged;
}
