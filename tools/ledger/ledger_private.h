/* ledger_private.h — pc-ledger's deep verification (deep.c), called by
 * ledger.c's verify command when a cluster file is given. */
#ifndef PC_LEDGER_PRIVATE_H
#define PC_LEDGER_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "storage/storage.h"

typedef struct {
  uint64_t first_height, last_height; /* the log's heights */
  bool replay;                        /* re-execute and compare carried roots */
  const char *plugin_dir;             /* plugins pinned by the cluster file, or NULL */
  bool progress;                      /* a line on stderr every 10000 heights */
} ledger_deep_opts_t;

/* ledger_deep_verify checks every block of log against cluster cl and
 * prints a summary. 0 when everything holds, PC_ERR_CORRUPT when a check
 * failed (each printed), another PC_ERR_* when it could not run. */
int ledger_deep_verify(pc_log_t *log, const pc_cluster_t *cl, const ledger_deep_opts_t *o);

#endif
