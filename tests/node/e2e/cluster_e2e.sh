#!/usr/bin/env bash
# cluster_e2e.sh — end-to-end: real parachain-node processes on this machine
# (tools/scripts/local-cluster.sh, 4 replicas unless --nodes is passed on)
# under a closed-loop transfer load through every gateway, every receipt's
# proof verified by the client library; passes when the replicas agree on
# ledger hash and execution root, every data directory verifies with
# pc-ledger (structure, certificates, replay), and at least MIN transactions
# committed.
#
# usage: cluster_e2e.sh SOURCE_ROOT BUILD_DIR TRANSPORT PROTOCOL SECONDS MIN [LOCAL-CLUSTER OPTIONS...]
#   e.g. ... memif sbft 20 1000 --outstanding 128
# On failure the cluster folder (replica logs, data, metrics) is kept and its
# path printed.
set -uo pipefail
src=$1 build=$2 transport=$3 proto=$4 secs=$5 min=$6
shift 6
if [[ $transport == af_packet ]]; then
  # a bridge and veth pairs need CAP_NET_ADMIN (root outside a restricted
  # container): without it, skip (meson's exit status 77) rather than fail
  probe=pcprobe$$
  if ! ip link add "$probe" type bridge 2>/dev/null; then
    echo "SKIP: cannot create a Linux bridge here (needs root / CAP_NET_ADMIN and iproute2)"
    exit 77
  fi
  ip link del "$probe"
fi
out=$(mktemp /tmp/pc-e2e-XXXXXX.log)
# PC_E2E_FANOUT_CLASH_SHIM=<fanout_clash_shim.so>: the first af_packet
# fanout join of the run fails (see that file); the run must start that
# replica again and still pass.
clash_marker=
if [[ -n ${PC_E2E_FANOUT_CLASH_SHIM:-} ]]; then
  clash_marker=$(mktemp -u /tmp/pc-e2e-fanout-XXXXXX)
  trap 'rm -f "$clash_marker"' EXIT
  export LD_PRELOAD=$PC_E2E_FANOUT_CLASH_SHIM PC_TEST_FANOUT_CLASH_ONCE=$clash_marker
fi
"$src/tools/scripts/local-cluster.sh" --build "$build" --transport "$transport" --protocol "$proto" \
  --seconds "$secs" --verify --keep "$@" >"$out" 2>&1
rc=$?
unset LD_PRELOAD PC_TEST_FANOUT_CLASH_ONCE
kept=$(sed -n 's/^local-cluster: kept \([^ ]*\) .*/\1/p' "$out" | tail -n 1)
grep -E "^(RESULT|FAIL|WARNING)|agree|ledger" "$out" | tail -n 12
result=$(grep '^RESULT ' "$out" | tail -n 1)
committed=$(sed -n 's/.* committed=\([0-9]*\).*/\1/p' <<<"$result")
fail() {
  echo "FAIL: $*"
  echo "--- last 40 lines of local-cluster.sh output ($out):"
  tail -n 40 "$out"
  [[ -n $kept ]] && echo "--- cluster folder kept for inspection: $kept (replica logs r<i>.out/.err)"
  exit 1
}
(( rc == 0 )) || fail "local-cluster.sh exit status $rc"
[[ -n $result ]] || fail "no RESULT line"
[[ $result == *" agree=1 "* ]] || fail "replicas disagree"
[[ $result == *"ledger_verified=1"* ]] || fail "a ledger did not verify"
(( ${committed:-0} >= min )) || fail "committed ${committed:-0} < $min"
if [[ -n $clash_marker ]]; then
  [[ -e $clash_marker ]] || fail "the shim refused no fanout join (is it loaded?)" # the EXIT trap removes it
  grep -q "fanout group id .* clashed" "$out" || fail "no replica was started again after the refused fanout join"
  echo "ok: the replica whose fanout join was refused was started again"
fi
echo "ok: $transport/$proto committed $committed (>= $min), agree, ledgers verified"
[[ -n $kept ]] && rm -rf "$kept"
rm -f "$out"
