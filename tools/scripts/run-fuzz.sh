#!/usr/bin/env bash
# run-fuzz.sh BUILD_DIR SECONDS LOG [JOBS] — run every fuzz_* target for
# SECONDS from its committed seed corpus (<folder of its source>/corpus/<target>/,
# copied so the committed corpus stays small), JOBS targets at a time
# (default 2), appending one meson-testlog-style JSON line per target to
# LOG. A crash, leak, timeout or sanitizer report fails.
set -uo pipefail
build=$1 seconds=$2 log=$3 jobs=${4:-2}

run_one() {
  local exe=$1 seconds=$2 log=$3
  local name seeds work result
  name=$(basename "$exe")
  # the target's source folder mirrors its build folder: BUILD/tests/x/y → tests/x/y
  seeds=$(dirname "${exe#"$BUILD_DIR"/}")/corpus/$name
  work=$(mktemp -d)
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/
  if "$exe" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/" "$work" >"$work.out" 2>&1; then
    result=OK
    echo "--- $name: ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work.out" | grep -o '[0-9]*$') runs, seeds: $seeds)"
  else
    result=FAIL
    { echo "--- $name: FAILED (seeds: $seeds)"; tail -n 40 "$work.out"; ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null; } >&2
  fi
  # one short line per target; O_APPEND keeps concurrent writers whole
  python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "result": sys.argv[2]}))' "$name" "$result" >>"$log"
  rm -rf "$work" "$work.out"
  [ "$result" = OK ]
}
export -f run_one
export BUILD_DIR=${build%/}

find "$build" -type f -name 'fuzz_*' -perm -u+x | sort |
  xargs -r -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} "$seconds" "$log"
