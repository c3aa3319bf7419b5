#!/usr/bin/env bash
# bench-publish.sh [OUT_DIR] — publish a finished bench.sh run: copy its
# report, CSVs, plots and raw outputs into docs/bench/ and replace the part of
# BENCHMARKS.md below the "generated below" marker with the report (image
# links pointing into docs/bench/). The hand-written part above the marker
# (method, limits, reading guide) is kept as it is.
set -euo pipefail
src=${1:-out/bench}
cd "$(dirname "$0")/../.."
[[ -f $src/README.md ]] || { echo "bench-publish: $src/README.md missing: run tools/scripts/bench.sh first" >&2; exit 2; }
marker='<!-- generated below by tools/scripts/bench-publish.sh from tools/scripts/bench.sh output; do not edit below -->'
grep -qxF "$marker" BENCHMARKS.md || { echo "bench-publish: marker line missing in BENCHMARKS.md" >&2; exit 2; }
rm -rf docs/bench
mkdir -p docs/bench/raw
cp "$src"/README.md docs/bench/README.md
cp "$src"/*.csv "$src"/*.dat docs/bench/ 2>/dev/null || true
cp "$src"/*.png "$src"/*.gp docs/bench/ 2>/dev/null || true
cp "$src"/raw/*.txt "$src"/raw/*.csv docs/bench/raw/ 2>/dev/null || true
{
  sed -n "1,/^$(printf '%s' "$marker" | sed 's/[][\/.*^$]/\\&/g')\$/p" BENCHMARKS.md
  echo
  # the report without its title, headings one level down, images from docs/bench/
  tail -n +2 "$src/README.md" | awk '
    /^```/ { fence = !fence; print; next }
    fence { print; next }
    { sub(/^## /, "### "); sub(/^# /, "## "); print }' |
    sed -e 's/!\[\([^]]*\)\](\([^)/]*\.png\))/![\1](docs\/bench\/\2)/g' -e 's/`raw\/`/`docs\/bench\/raw\/`/g'
} >BENCHMARKS.md.new
mv BENCHMARKS.md.new BENCHMARKS.md
echo "bench-publish: BENCHMARKS.md and docs/bench/ updated from $src"
