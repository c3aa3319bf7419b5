#!/usr/bin/env bash
# run-fuzz.sh BUILD_DIR SECONDS LOG — run every fuzz_* target for SECONDS
# from its committed seed corpus (tests/<module>/corpus/<target>/, copied so
# the committed corpus stays small), appending one meson-testlog-style JSON
# line per target to LOG. A crash, leak or sanitizer report fails.
set -uo pipefail
build=$1 seconds=$2 log=$3
rc=0
while IFS= read -r exe; do
  name=$(basename "$exe")
  module=$(basename "$(dirname "$exe")")
  seeds=tests/$module/corpus/$name
  work=$(mktemp -d)
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/
  echo "--- $name (${seconds}s, seeds: $seeds)"
  if "$exe" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/" "$work" >"$work.out" 2>&1; then
    result=OK
    tail -n 3 "$work.out"
  else
    result=FAIL; rc=1
    tail -n 40 "$work.out"
    ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null
  fi
  python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "result": sys.argv[2]}))' "$name" "$result" >>"$log"
  rm -rf "$work" "$work.out"
done < <(find "$build" -type f -name 'fuzz_*' -perm -u+x | sort)
exit $rc
