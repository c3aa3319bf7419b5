#!/usr/bin/env bash
# bench.sh [BUILD_DIR] [--quick] — the benchmark suite (issue 9).
#
# Runs, on this machine, with repetitions:
#   (a) SBFT vs PBFT on the local cluster (tools/scripts/local-cluster.sh)
#       at n = 4 replicas, batch sizes 1/10/100/1000, noop and transfer
#       workloads, closed loop: TPS, p50/p99, ratio SBFT/PBFT; and at n = 7
#       (f = 2) for the same workloads at batch sizes 100 and 1000;
#   (b) the consensus simulator sweep n = 4 … 128 (bench_consensus csv) and
#       message delays per decision (bench_consensus delays);
#   (c) scheduler speedups against serial (bench_executor -c);
#   (d) stages against their limits (bench_dataplane, bench_txpool,
#       bench_storage, bench_common, bench_gateway: their printed ratios);
#   (e) throughput–latency curve on the cluster, open loop, rising rate.
# Raw outputs go to out/bench/raw/, CSVs to out/bench/*.csv, plots (gnuplot)
# to out/bench/*.png, and the report with the machine description and the
# exact command of every table to out/bench/README.md
# (tools/scripts/bench-report.py writes the CSVs, tables and plots).
#
# Budget on a 2-core machine: ~20 min quiet (n = 7 adds 16 cluster runs of
# 20-50 s each), longer under load; --quick ~5 min.
# Environment: BENCH_REPS (repetitions, default 3; --quick 1),
# BENCH_CLUSTER_REPS (cluster repetitions, default 1; --quick 1),
# BENCH_CLUSTER_SECS (seconds of load per cluster run, default 6; --quick 4;
# each local-cluster.sh run also spends 40-100 s on this 2-core machine
# starting the replicas, pre-signing the load, stopping and replaying the
# ledgers: the cluster sections dominate the budget; a run longer than
# 4 x S + 300 s is stopped and listed as failed with exit status 124),
# BENCH_CLUSTER_NODES (cluster sizes of the comparison, default "4 7";
# --quick "4"; the first size gets every batch size, the probe and the
# curve, the others BENCH_CLUSTER_BATCHES_LARGE),
# BENCH_CLUSTER_BATCHES (default "1 10 100 1000"; --quick "100"),
# BENCH_CLUSTER_BATCHES_LARGE (batch sizes for the larger clusters, default
# "1 10 100 1000", the same as n = 4; --quick "100"),
# BENCH_CLUSTER_WORKLOADS (default "noop transfer"; --quick "noop"),
# BENCH_CURVE_RATES (offered tx/s, default "1000 4000 16000"; --quick: none,
# the curve is skipped), BENCH_OUT (output directory, default out/bench),
# BENCH_SECTIONS (letters of the sections to run, default "abcde"; e.g.
# BENCH_SECTIONS=a BENCH_CLUSTER_NODES=7 runs only the n = 7 comparison;
# the report says "not run" for the others).
set -uo pipefail
build=build
quick=0
for a in "$@"; do
  case $a in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    *) build=$a ;;
  esac
done
cd "$(dirname "$0")/../.."
out=${BENCH_OUT:-out/bench}
raw=$out/raw
rm -rf "$raw"
mkdir -p "$raw"
rm -f "$out"/*.csv "$out"/*.png "$out"/*.gp
if ((quick)); then reps=${BENCH_REPS:-1}; creps=${BENCH_CLUSTER_REPS:-1}; csecs=${BENCH_CLUSTER_SECS:-4}
else reps=${BENCH_REPS:-3}; creps=${BENCH_CLUSTER_REPS:-1}; csecs=${BENCH_CLUSTER_SECS:-6}; fi
sections=${BENCH_SECTIONS:-abcde}
[[ $sections =~ ^[a-e]+$ ]] || { echo "bench.sh: BENCH_SECTIONS='$sections': want letters among a b c d e" >&2; exit 2; }
want() { [[ $sections == *"$1"* ]]; }
t=$build/tools
for b in bench_consensus/bench_consensus bench_executor/bench_executor bench_storage/bench_storage \
         bench_txpool/bench_txpool bench_dataplane/bench_dataplane bench_common/bench_common loadgen/bench_gateway; do
  [[ -x $t/$b ]] || { echo "bench.sh: $t/$b is missing: build first (make build, or ninja -C $build)" >&2; exit 2; }
done
start=$(date +%s)
stamp() { echo "=== [$(( $(date +%s) - start ))s] $*"; }
cmds=$raw/commands.txt   # section<TAB>exact command, read by the report
: >"$cmds"
note() { printf '%s\t%s\n' "$1" "$2" >>"$cmds"; }
note sections "$sections"

# ---------------------------------------------------------------- machine
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $( ((quick)) && echo quick || echo default ); repetitions: $reps (cluster: $creps, $csecs s of load each)"
  env | grep '^BENCH_' | sort | sed 's/^/environment: /'
  true
  echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "NUMA nodes: $(lscpu 2>/dev/null | awk -F: '/NUMA node\(s\)/ {gsub(/ /,"",$2); print $2}')"
  echo "memory: $(free -h | awk '/Mem:/ {print $2}'); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  command -v hwloc-ls >/dev/null && hwloc-ls --no-io --of console 2>/dev/null | head -n 12
  echo "network: no physical NIC used; cluster over kernel UDP on 127.0.0.1; dataplane over DPDK net_memif vdev (--no-huge) and kernel UDP"
  echo "interfaces: $(ls /sys/class/net 2>/dev/null | tr '\n' ' ')"
  echo "storage dir: $(df -hT /tmp 2>/dev/null | awk 'NR==2 {print $1, $2}') (/tmp)"
  echo "kernel: $(uname -r); $(gcc --version | head -1); meson $(meson --version 2>/dev/null)"
  echo "DPDK $(pkg-config --modversion libdpdk); libsodium $(pkg-config --modversion libsodium); liburcu $(pkg-config --modversion liburcu); hwloc $(pkg-config --modversion hwloc); $(gnuplot --version 2>/dev/null || echo 'gnuplot: not installed')"
  echo "build: $build ($(grep -m1 -o "buildtype=[a-z]*" "$build/meson-info/intro-buildoptions.json" 2>/dev/null || meson introspect --buildoptions "$build" 2>/dev/null | python3 -c 'import json,sys; print("buildtype=" + next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))' 2>/dev/null || echo 'buildtype unknown'))"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (working tree has uncommitted changes)')"
} >"$raw/machine.txt"
cat "$raw/machine.txt"

# ---------------------------------------------------------------- (a), (e) cluster
cluster() { # tag, args... : one local-cluster run; a RESULT line with committed > 0 is appended to
  # cluster-results.txt, anything else (no RESULT, nothing committed) to cluster-failures.txt
  local tag=$1; shift
  local cmd=(tools/scripts/local-cluster.sh --build "$build" --seconds "$csecs" "$@")
  local log=$raw/cluster-$tag.txt
  timeout $((csecs * 4 + 300)) "${cmd[@]}" >"$log" 2>&1
  local rc=$?
  local line; line=$(grep '^RESULT ' "$log" | tail -1)
  if [[ -n $line && ! $line =~ committed=0( |$) ]]; then
    echo "$tag $line" >>"$raw/cluster-results.txt"
    echo "    $line"
    return 0
  fi
  local why; why=$(grep -E '^(FAIL|local-cluster:)' "$log" | tail -1)
  [[ -n $why ]] || why=$(grep -v '^\s*$' "$log" | tail -1)
  echo "$tag exit $rc: ${line:-no RESULT line}; $why" >>"$raw/cluster-failures.txt"
  echo "    failed (exit $rc): ${line:+nothing committed; }$why"
  return 1
}
if want a || want e; then
  cluster_ok=0
  if ((quick)); then batches=${BENCH_CLUSTER_BATCHES:-100}; else batches=${BENCH_CLUSTER_BATCHES:-1 10 100 1000}; fi
  if ((quick)); then rates=${BENCH_CURVE_RATES-}; else rates=${BENCH_CURVE_RATES:-1000 4000 16000}; fi
  if ((quick)); then workloads=${BENCH_CLUSTER_WORKLOADS:-noop}; else workloads=${BENCH_CLUSTER_WORKLOADS:-noop transfer}; fi
  if ((quick)); then sizes=${BENCH_CLUSTER_NODES:-4}; else sizes=${BENCH_CLUSTER_NODES:-4 7}; fi
  if ((quick)); then big_batches=${BENCH_CLUSTER_BATCHES_LARGE:-100}; else big_batches=${BENCH_CLUSTER_BATCHES_LARGE:-1 10 100 1000}; fi
  for n in $sizes; do
    [[ $n =~ ^[0-9]+$ ]] && (( n >= 4 )) || { echo "bench.sh: BENCH_CLUSTER_NODES='$sizes': want replica counts >= 4" >&2; exit 2; }
  done
  n0=${sizes%% *}  # the first size: every batch size, the probe and the curve
  batches_of() { if [[ $1 == "$n0" ]]; then echo "$batches"; else echo "$big_batches"; fi; }
  for n in $sizes; do
    note "cluster-n$n" "tools/scripts/local-cluster.sh --build $build --nodes $n --seconds $csecs --protocol sbft|pbft --transport udp --workload W --outstanding 256 --batch B   (W = ${workloads// /, }; B = $(batches_of "$n" | sed 's/ /, /g'))"
  done
  stamp "(a) cluster probe: n = $n0, SBFT, noop, batch 10, closed loop"
  if cluster probe --nodes "$n0" --protocol sbft --transport udp --workload noop --outstanding 256 --batch 10; then
    cluster_ok=1
  else
    { echo "the probe run committed no transaction: $(grep -m1 'NO LOAD' "$raw/cluster-probe.txt" || true)";
      tail -1 "$raw/cluster-failures.txt"; } >"$raw/cluster-unavailable.txt"
  fi
  if ((cluster_ok)); then
    # the probe was the warm-up run (discarded); then the comparison
    # tags: cmp-n<N>-<protocol>-<workload>-<batch>-<rep> (bench-report.py parses them)
    want a || sizes=
    want e || rates=
    for n in $sizes; do
      for wl in $workloads; do
        for b in $(batches_of "$n"); do
          for ((r = 1; r <= creps; r++)); do
            for p in sbft pbft; do # alternate protocols so load drift hits both
              stamp "(a) n = $n $p $wl batch $b rep $r/$creps"
              cluster "cmp-n$n-$p-$wl-$b-$r" --nodes "$n" --protocol "$p" --transport udp --workload "$wl" --outstanding 256 --batch "$b"
            done
          done
        done
      done
    done
    [[ -n $rates ]] && note curve "tools/scripts/local-cluster.sh --build $build --nodes $n0 --seconds $csecs --protocol sbft|pbft --transport udp --workload noop --rate R --batch 100   (R = ${rates// /, })"
    for rate in $rates; do
      for p in sbft pbft; do
        stamp "(e) $p open loop rate $rate"
        cluster "curve-$p-$rate" --nodes "$n0" --protocol "$p" --transport udp --workload noop --rate "$rate" --batch 100
      done
    done
  else
    stamp "(a)/(e) cluster not available: $(tail -1 "$raw/cluster-unavailable.txt")"
  fi
fi # (a), (e)

# ---------------------------------------------------------------- (b) simulator
if want b; then
  bc=$t/bench_consensus/bench_consensus
  if ((quick)); then seeds=1; else seeds=2; fi
  note sim "$bc csv N 10 100 HEIGHTS $seeds   (N:HEIGHTS = 4:60 7:60 16:60 31:40 64:16 128:10)"
  for nh in 4:60 7:60 16:60 31:40 64:16 128:10; do
    n=${nh%%:*} h=${nh##*:}
    stamp "(b) simulator n = $n ($h heights, $seeds seed(s))"
    "$bc" csv "$n" 10 100 "$h" "$seeds" >"$raw/sim-$n.csv" 2>"$raw/sim-$n.err" || echo "    bench_consensus csv n=$n failed: $(tail -1 "$raw/sim-$n.err")"
  done
  note delays "$bc delays N 1000   (N = 4, 16, 64)"
  for n in 4 16 64; do
    stamp "(b) message delays per decision, n = $n (zero-jitter model)"
    "$bc" delays "$n" 1000 >"$raw/delays-$n.csv" 2>"$raw/delays-$n.err" || echo "    bench_consensus delays $n failed"
  done
  note simcpu "$bc cpu"
  stamp "(b) real CPU per decided height (Ed25519, n = 4)"
  "$bc" cpu >"$raw/simcpu.txt" 2>&1
fi # (b)

# ---------------------------------------------------------------- (c) executor
if want c; then
  be=$t/bench_executor/bench_executor
  if ((quick)); then eargs=(-r 1 -b 2 -k transfer-uniform); eargs2=(-r 1 -b 2 -k compute); else eargs=(-r 2); eargs2=(); fi
  note executor "$be ${eargs[*]} -c out/bench/raw/executor-REP.csv$( ((quick)) && echo " ; $be ${eargs2[*]} -c (same file)")"
  for ((r = 1; r <= reps; r++)); do
    stamp "(c) executor rep $r/$reps"
    "$be" "${eargs[@]}" -c "$raw/executor-$r.csv" >"$raw/executor-$r.txt" 2>&1 || echo "    bench_executor failed: $(tail -1 "$raw/executor-$r.txt")"
    if ((quick)); then "$be" "${eargs2[@]}" -c "$raw/executor-$r.csv" >>"$raw/executor-$r.txt" 2>&1; fi
  done
fi # (c)

# ---------------------------------------------------------------- (d) stages
if want d; then
  if ((quick)); then dps=0.8 cs=0.2 gws=1; else dps=1.5 cs=0.4 gws=2; fi
  note dataplane "$t/bench_dataplane/bench_dataplane $dps"
  note txpool "$t/bench_txpool/bench_txpool"
  note storage "$t/bench_storage/bench_storage$( ((quick)) && echo ' --quick')"
  note common "$t/bench_common/bench_common $cs"
  note gateway "$t/loadgen/bench_gateway $gws"
  for ((r = 1; r <= reps; r++)); do
    stamp "(d) stages rep $r/$reps: dataplane"
    "$t/bench_dataplane/bench_dataplane" "$dps" >"$raw/dataplane-$r.txt" 2>&1
    stamp "(d) stages rep $r/$reps: txpool"
    "$t/bench_txpool/bench_txpool" >"$raw/txpool-$r.txt" 2>&1
    stamp "(d) stages rep $r/$reps: storage"
    if ((quick)); then "$t/bench_storage/bench_storage" --quick; else "$t/bench_storage/bench_storage"; fi >"$raw/storage-$r.txt" 2>&1
    stamp "(d) stages rep $r/$reps: common"
    "$t/bench_common/bench_common" "$cs" >"$raw/common-$r.txt" 2>&1
    stamp "(d) stages rep $r/$reps: gateway"
    "$t/loadgen/bench_gateway" "$gws" >"$raw/gateway-$r.txt" 2>&1
  done
fi # (d)

# ---------------------------------------------------------------- report
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); total $(( $(date +%s) - start ))s" >>"$raw/machine.txt"
stamp "report"
python3 tools/scripts/bench-report.py "$out" || { echo "bench.sh: report failed" >&2; exit 1; }
echo "Results: $out/README.md (CSVs and plots beside it, raw outputs in $raw/)"
