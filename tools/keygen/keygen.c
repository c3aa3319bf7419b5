/* pc-keygen — make a replica or client Ed25519 key file, or show the
 * public key of one.
 *
 *   pc-keygen [--replica | --client] --out FILE   write a new key (mode 0600), print its public key
 *   pc-keygen --show FILE                         print the public key of an existing key file
 *
 * The key file format is txpool/client.h's (one line: "pc-ed25519-seed:" and
 * 64 hex digits of the secret seed; the public key is derived on load), for
 * replicas and clients alike: a replica key is the one its [replica i] entry
 * of the cluster file lists, a client key signs transactions. The public key
 * goes to stdout as 64 hex digits (paste it into the cluster file); a note
 * goes to stderr. An existing file is never overwritten.
 *
 * Exit status: 0 done, 1 failure (I/O, existing file, bad key file),
 * 2 bad arguments. Every error is one line on stderr. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "txpool/client.h"

static const char usage[] =
    "usage: pc-keygen [--replica | --client] --out FILE\n"
    "       pc-keygen --show FILE\n"
    "\n"
    "Writes a new Ed25519 key to FILE (mode 0600; an existing FILE is never\n"
    "overwritten) and prints its public key as 64 hex digits. --replica (the\n"
    "default) makes a replica key: put the public key in the cluster file's\n"
    "[replica N] key = ... and the file's path in the node config's key = ...\n"
    "--client makes a client key for signing transactions (same format).\n"
    "--show prints the public key of an existing key file.\n";

static int bad_args(const char *fmt, const char *arg) {
  fprintf(stderr, "pc-keygen: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see pc-keygen --help)\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *out = NULL, *show = NULL;
  int kinds = 0;
  bool client = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      return 0;
    } else if (!strcmp(a, "--replica")) {
      kinds++;
    } else if (!strcmp(a, "--client")) {
      kinds++, client = true;
    } else if (!strcmp(a, "--out") || !strcmp(a, "--show")) {
      if (i + 1 >= argc) return bad_args("%s needs a file name", a);
      if (out || show) return bad_args("%s: give one of --out FILE or --show FILE, once", a);
      *(a[2] == 'o' ? &out : &show) = argv[++i];
    } else {
      return bad_args("unknown argument '%s'", a);
    }
  }
  if (kinds > 1) return bad_args("%s", "give only one of --replica and --client");
  if (!out && !show) return bad_args("%s", "nothing to do: give --out FILE (new key) or --show FILE");
  if (show && kinds) return bad_args("%s", "--show takes no --replica/--client: the file says what it holds");
  if (pc_crypto_init() < 0) {
    fprintf(stderr, "pc-keygen: libsodium failed to initialise\n");
    return 1;
  }
  pc_log_set_level(PC_LOG_ERROR);
  pc_client_key_t key;
  char hex[2 * PC_TX_PUBKEY_SIZE + 1];
  if (show) {
    struct stat st;
    if (stat(show, &st) != 0) {
      fprintf(stderr, "pc-keygen: %s: %s\n", show, strerror(errno));
      return 1;
    }
    if (pc_client_key_load(&key, show) != 0) {
      fprintf(stderr, "pc-keygen: %s is not a key file (want \"pc-ed25519-seed:\" and 64 hex digits)\n", show);
      return 1;
    }
    pc_hex_encode(hex, key.pk, PC_TX_PUBKEY_SIZE);
    pc_client_key_wipe(&key);
    printf("%s\n", hex);
    if (st.st_mode & 077)
      fprintf(stderr, "pc-keygen: warning: %s is readable by others (mode %03o): run chmod 600 %s\n", show,
              (unsigned)(st.st_mode & 0777), show);
    return 0;
  }
  struct stat st;
  if (lstat(out, &st) == 0) {
    fprintf(stderr, "pc-keygen: %s already exists: refusing to overwrite a key (remove it first if you mean it)\n",
            out);
    return 1;
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", out);
  char *slash = strrchr(dir, '/');
  if (slash) slash == dir ? (void)(dir[1] = '\0') : (void)(*slash = '\0');
  if (access(slash ? dir : ".", W_OK | X_OK) != 0) {
    fprintf(stderr, "pc-keygen: cannot create %s: folder %s: %s\n", out, slash ? dir : ".", strerror(errno));
    return 1;
  }
  if (pc_client_key_generate(&key) != 0) {
    fprintf(stderr, "pc-keygen: key generation failed\n");
    return 1;
  }
  int rc = pc_client_key_save(&key, out);
  pc_hex_encode(hex, key.pk, PC_TX_PUBKEY_SIZE);
  pc_client_key_wipe(&key);
  if (rc == PC_ERR_EXISTS) {
    fprintf(stderr, "pc-keygen: %s already exists: refusing to overwrite a key\n", out);
    return 1;
  }
  if (rc) {
    fprintf(stderr, "pc-keygen: cannot write %s: %s\n", out, errno ? strerror(errno) : pc_strerror(rc));
    return 1;
  }
  printf("%s\n", hex);
  fprintf(stderr, "pc-keygen: wrote %s key %s (mode 0600)\n", client ? "client" : "replica", out);
  return 0;
}
