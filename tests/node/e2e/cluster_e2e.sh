#!/usr/bin/env bash
# cluster_e2e.sh — end-to-end: 4 real parachain-node processes on this
# machine (tools/scripts/local-cluster.sh) under a closed-loop transfer load
# through all 4 gateways, every receipt's proof verified by the client
# library; passes when the replicas agree on ledger hash and execution root,
# every data directory verifies with pc-ledger (structure, certificates,
# replay), and at least MIN transactions committed.
#
# usage: cluster_e2e.sh SOURCE_ROOT BUILD_DIR TRANSPORT PROTOCOL SECONDS MIN
set -uo pipefail
src=$1 build=$2 transport=$3 proto=$4 secs=$5 min=$6
out=$(mktemp /tmp/pc-e2e-XXXXXX.log)
"$src/tools/scripts/local-cluster.sh" --build "$build" --transport "$transport" --protocol "$proto" \
  --seconds "$secs" --verify >"$out" 2>&1
rc=$?
grep -E "^(RESULT|FAIL|WARNING)|agree|ledger" "$out" | tail -n 12
result=$(grep '^RESULT ' "$out" | tail -n 1)
committed=$(sed -n 's/.* committed=\([0-9]*\).*/\1/p' <<<"$result")
fail() {
  echo "FAIL: $*"
  echo "--- last 40 lines of local-cluster.sh output ($out):"
  tail -n 40 "$out"
  exit 1
}
(( rc == 0 )) || fail "local-cluster.sh exit status $rc"
[[ -n $result ]] || fail "no RESULT line"
[[ $result == *" agree=1 "* ]] || fail "replicas disagree"
[[ $result == *"ledger_verified=1"* ]] || fail "a ledger did not verify"
(( ${committed:-0} >= min )) || fail "committed ${committed:-0} < $min"
echo "ok: $transport/$proto committed $committed (>= $min), agree, ledgers verified"
rm -f "$out"
