#!/usr/bin/env bash
# bench-check.sh [BUILD_DIR] — the benchmark suite's short CI check (issue 9).
# Asserts no timing at all (the simulator is deterministic, the executor
# check compares hashes); takes well under a minute. Checks:
#   1-2. simulator, n = 16, batch 10, 60 heights, all honest: SBFT with
#        collector votes (fast path off, then on) sends fewer messages per
#        decided height per replica than PBFT (and every run passes the
#        simulator's agreement, validity and liveness checks);
#   3.   simulator, n = 4, deterministic zero-jitter model (every one-way
#        link latency exactly L, zero CPU cost, infinite bandwidth, window 1,
#        batch 1): SBFT's fast path (broadcast votes) decides in fewer message
#        delays than PBFT's normal case, where message delays = decision
#        latency (first proposal sent -> first honest decision) / L
#        (bench_consensus delays);
#   4.   the fast path was actually taken in check 3 (every decision fast);
#   5.   every executor scheduler (taskset, dag, optimistic; 1..W workers,
#        with and without the serial fallback) gives the same state root and
#        receipts root as serial, block after block, on every bench_executor
#        workload (bench_executor -V).
# Prints one line per check and ends with "N passed, N failed"; exits 1 when
# any check failed, 2 when the programs are missing.
# Thresholds (only to show the check can fail; CI uses the defaults):
#   BENCH_CHECK_MSG_FACTOR   collector msgs/height must be < FACTOR x PBFT's [1]
#   BENCH_CHECK_DELAY_MARGIN fast-path delays must be < PBFT delays - MARGIN [0]
set -uo pipefail
build=${1:-build}
cd "$(dirname "$0")/../.."
bc=$build/tools/bench_consensus/bench_consensus
be=$build/tools/bench_executor/bench_executor
for p in "$bc" "$be"; do
  [[ -x $p ]] || { echo "bench-check: $p is missing: build first (ninja -C $build)" >&2; exit 2; }
done
factor=${BENCH_CHECK_MSG_FACTOR:-1}
margin=${BENCH_CHECK_DELAY_MARGIN:-0}
tmp=$(mktemp -d /tmp/pc-bench-check-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { # ok(0/1), message
  if [[ $1 == 1 ]]; then echo "PASS  $2"; pass=$((pass + 1)); else echo "FAIL  $2"; fail=$((fail + 1)); fi
}
field() { # csv file, variant, column name -> value (empty when absent)
  awk -F, -v v="$2" -v c="$3" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next }
                               $1 == v && k { print $k; exit }' "$1"
}
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && a + 0 < b + 0) }' && echo 1 || echo 0; }

echo "== bench-check: $bc csv 16 10 100 60 1"
if "$bc" csv 16 10 100 60 1 >"$tmp/sim16.csv" 2>"$tmp/sim16.err"; then :; fi
cat "$tmp/sim16.err"
pm=$(field "$tmp/sim16.csv" pbft msgs_per_h)
pok=$(field "$tmp/sim16.csv" pbft ok)
for v in sbft-coll-nofast sbft-coll-fast; do
  m=$(field "$tmp/sim16.csv" "$v" msgs_per_h)
  ok=$(field "$tmp/sim16.csv" "$v" ok)
  lim=$(awk -v a="${pm:-0}" -v f="$factor" 'BEGIN { printf "%.2f", a * f }')
  r=$(lt "$m" "$lim")
  [[ $ok == 1 && $pok == 1 ]] || r=0
  check "$r" "n=16: $v sends ${m:-?} msgs/height/replica < ${factor} x PBFT's ${pm:-?} = $lim (simulator checks held: pbft ${pok:-?}, $v ${ok:-?})"
done

echo "== bench-check: $bc delays 4 1000"
"$bc" delays 4 1000 >"$tmp/delays4.csv" 2>"$tmp/delays4.err"
cat "$tmp/delays4.err"
pd=$(field "$tmp/delays4.csv" pbft delays_p50)
fd=$(field "$tmp/delays4.csv" sbft-bcast-fast delays_p50)
fs=$(field "$tmp/delays4.csv" sbft-bcast-fast fast_share)
okp=$(field "$tmp/delays4.csv" pbft ok)
okf=$(field "$tmp/delays4.csv" sbft-bcast-fast ok)
lim=$(awk -v a="${pd:-0}" -v m="$margin" 'BEGIN { printf "%.2f", a - m }')
r=$(lt "$fd" "$lim")
[[ $okp == 1 && $okf == 1 ]] || r=0
check "$r" "n=4: SBFT fast path decides in ${fd:-?} message delays < PBFT's ${pd:-?} - ${margin} = $lim (zero-jitter model, L = 1 ms)"
r=$(awk -v s="${fs:-0}" 'BEGIN { print (s + 0 >= 0.999) ? 1 : 0 }')
check "$r" "n=4: the fast path decided every height in that run (fast share ${fs:-?})"

echo "== bench-check: $be -V -b 3 -n 500"
"$be" -V -b 3 -n 500 >"$tmp/exec.txt" 2>&1
erc=$?
grep -E 'DIFFERS|FAILED' "$tmp/exec.txt" | head -20
summary=$(grep '^verify: ' "$tmp/exec.txt" | tail -1)
[[ $erc == 0 && $summary =~ ", 0 differ" ]] && r=1 || r=0
check "$r" "every scheduler's state root and receipts root equal serial's (${summary:-no summary; exit $erc: $(tail -1 "$tmp/exec.txt")})"

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
