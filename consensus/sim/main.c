/* main.c — pc_sim: run simulator scenarios from the command line.
 *   pc_sim <preset> <n> <seed> [count]
 * runs seeds seed .. seed+count−1 (default 1) and prints one line per run;
 * exits 1 if any check failed. A failing line carries its replay command. */
#include <stdio.h>
#include <stdlib.h>

#include "consensus/sim/sim.h"

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s <preset> <n> <seed> [count]\n"
                    "presets: clean mixed twins crash lagging pbft-lagging collector nofast pbft-mixed ed25519 mutant-<name>,\n"
                    "         pbft-<preset> (any other preset with PBFT)\n",
            argv[0]);
    return 2;
  }
  const char *preset = argv[1];
  uint16_t n = (uint16_t)atoi(argv[2]);
  uint64_t seed = strtoull(argv[3], NULL, 0);
  uint64_t count = argc > 4 ? strtoull(argv[4], NULL, 0) : 1;
  unsigned bad = 0;
  for (uint64_t i = 0; i < count; i++) {
    pc_sim_config_t cfg;
    if (pc_sim_preset(&cfg, preset, n, seed + i)) {
      fprintf(stderr, "unknown preset %s\n", preset);
      return 2;
    }
    pc_sim_result_t r;
    int err = pc_sim_run(&cfg, &r);
    char cmd[256];
    pc_sim_replay_cmd(cmd, sizeof cmd, preset, n, seed + i);
    printf("%s n=%u seed=%llu %s heights=%llu..%llu t=%.3fs msgs=%llu verifies=%llu rc=%llu fast=%llu%s%s\n", preset,
           n, (unsigned long long)(seed + i), err ? "FAIL" : "ok", (unsigned long long)r.min_height,
           (unsigned long long)r.max_height, (double)r.end_time_ns / 1e9, (unsigned long long)r.msgs,
           (unsigned long long)r.verifies, (unsigned long long)r.round_changes, (unsigned long long)r.fast_decisions,
           err ? " — " : "", err ? r.failure : "");
    if (err) {
      printf("  replay: %s\n", cmd);
      bad++;
    }
  }
  if (count > 1) printf("%llu runs, %u failed\n", (unsigned long long)count, bad);
  return bad ? 1 : 0;
}
