#!/usr/bin/env bash
# run-tests.sh BUILD_DIR [meson test args...] — run the suites, then print
# one closing line "N passed, N failed" counting Criterion test cases (and
# any non-Criterion test program as one case). Exits non-zero on any failure.
set -uo pipefail
build=${1:-build}
shift || true
meson test -C "$build" --print-errorlogs --num-processes "${PC_TEST_JOBS:-2}" "$@"
rc=$?
tools/scripts/test-summary.py "$build/meson-logs/testlog.json"
src=$?
[ $rc -ne 0 ] && exit $rc
exit $src
