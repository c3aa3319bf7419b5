#!/usr/bin/env python3
"""test-summary.py TESTLOG.json... — count passed and failed test cases.

Criterion programs print 'Synthesis: Tested: N | Passing: N | Failing: N |
Crashing: N'; their cases are counted one by one. Any other test program
counts as one case. A program that failed without a synthesis line (crash,
timeout) counts as one failure. Prints 'N passed, N failed' last and exits
1 when anything failed or nothing ran."""
import json
import re
import sys

SYNTH = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)")
OK = {"OK", "EXPECTEDFAIL", "SKIP"}

passed = failed = 0
for path in sys.argv[1:]:
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError as e:
        print(f"test-summary: cannot read {path}: {e}", file=sys.stderr)
        failed += 1
        continue
    for line in lines:
        if not line.strip():
            continue
        t = json.loads(line)
        out = (t.get("stdout") or "") + (t.get("stderr") or "")
        m = SYNTH.findall(out)
        result = t.get("result", "FAIL")
        if m:
            tested, passing, failing, crashing = map(int, m[-1])
            passed += passing
            failed += failing + crashing
            if result not in OK and failing + crashing == 0:
                failed += 1  # e.g. leak or sanitizer report after the synthesis
        elif result == "SKIP":
            continue
        elif result in OK:
            passed += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or passed == 0 else 0)
