#!/usr/bin/env bash
# bench.sh BUILD_DIR — run every module benchmark once (their quick
# settings) and collect the output, with the machine description and the
# exact commands, under out/bench/. Each figure a benchmark prints is a
# ratio against a baseline it measured in the same run.
# Not yet here (issue 9): the SBFT-vs-PBFT comparison on a real local
# cluster, throughput-latency curves, CSV tables and gnuplot plots.
set -uo pipefail
build=${1:-build}
cd "$(dirname "$0")/../.."
out=out/bench
mkdir -p "$out"
summary=$out/README.md
{
  echo "# ParaChain benchmark run, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "## Machine"
  echo '```'
  echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "memory: $(free -h | awk '/Mem:/ {print $2}'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  command -v hwloc-ls >/dev/null && hwloc-ls --no-io --of console 2>/dev/null | head -n 12
  echo "kernel: $(uname -r); DPDK $(pkg-config --modversion libdpdk); libsodium $(pkg-config --modversion libsodium); liburcu $(pkg-config --modversion liburcu); hwloc $(pkg-config --modversion hwloc)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo '```'
} >"$summary"

run() { # name, command...
  local name=$1; shift
  echo "== $name: $*"
  { echo; echo "## $name"; echo; echo "Command: \`$*\`"; echo; echo '```'; } >>"$summary"
  if "$@" 2>&1 | tee "$out/$name.txt"; then :; else echo "(exit status ${PIPESTATUS[0]})" | tee -a "$out/$name.txt"; fi
  { cat "$out/$name.txt"; echo '```'; } >>"$summary"
}

t=$build/tools
run consensus "$t/bench_consensus/bench_consensus" quick
run executor "$t/bench_executor/bench_executor" -r 3
run storage "$t/bench_storage/bench_storage"
run txpool "$t/bench_txpool/bench_txpool"
run dataplane "$t/bench_dataplane/bench_dataplane" 1.5
run gateway "$t/loadgen/bench_gateway" 2
run common "$t/bench_common/bench_common"
echo
echo "Results: $summary (and one .txt per benchmark beside it)"
