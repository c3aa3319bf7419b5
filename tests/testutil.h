/* testutil.h — small helpers shared by the test suites (not a module). */
#ifndef PC_TESTUTIL_H
#define PC_TESTUTIL_H

#include <stdint.h>
#include <stdlib.h>

/* pc_test_iters scales a randomized test's iteration count by the
 * PC_TEST_SCALE environment variable (default 1.0; the sanitizer pass in
 * .ci/run sets 0.1). Never returns less than 1. */
static inline unsigned pc_test_iters(unsigned base) {
  const char *s = getenv("PC_TEST_SCALE");
  double scale = s ? atof(s) : 1.0;
  if (scale <= 0) scale = 1.0;
  double n = base * scale;
  return n < 1 ? 1u : (unsigned)n;
}

/* pc_test_seed returns PC_TEST_SEED if set (to replay a failure), else def. */
static inline uint64_t pc_test_seed(uint64_t def) {
  const char *s = getenv("PC_TEST_SEED");
  return s ? strtoull(s, NULL, 0) : def;
}

/* splitmix64: a tiny seeded generator for tests and simulators. */
static inline uint64_t pc_test_rand(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

#endif
