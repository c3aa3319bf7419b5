#!/usr/bin/env python3
"""bench-report.py OUT_DIR — turn the raw outputs bench.sh left in OUT_DIR/raw
into OUT_DIR/*.csv, OUT_DIR/*.png (gnuplot, when installed) and the report
OUT_DIR/README.md. Every table gives the median over the repetitions and,
when there were several, the min–max range; ratios are computed from
figures measured in the same run. Numbers come only from the raw files:
a section whose raw output is missing or unparsable says so."""
import csv
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else "out/bench"
RAW = os.path.join(OUT, "raw")
GNUPLOT = shutil.which("gnuplot")
md = []  # report lines
plots_made = []


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def commands():
    cmds = {}
    for line in read(os.path.join(RAW, "commands.txt")).splitlines():
        if "\t" in line:
            k, v = line.split("\t", 1)
            cmds[k] = v
    return cmds


CMDS = commands()


def cmd(section):
    c = CMDS.get(section)
    if c:
        md.append(f"Command: `{c}`")
        md.append("")


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=None):
    if x is None:
        return "–"
    if digits is None:
        ax = abs(x)
        digits = 0 if ax >= 100 else 1 if ax >= 10 else 2 if ax >= 0.1 else 3
    return f"{x:,.{digits}f}".replace(",", " ")


def cell(xs, digits=None):
    """median (min–max) of the values, or – when there are none"""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    m = fmt(med(xs), digits)
    if len(xs) > 1 and min(xs) != max(xs):
        return f"{m} ({fmt(min(xs), digits)}–{fmt(max(xs), digits)})"
    return m


def table(header, rows):
    md.append("| " + " | ".join(header) + " |")
    md.append("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        md.append("| " + " | ".join(str(c) for c in r) + " |")
    md.append("")


def write_csv(name, header, rows):
    with open(os.path.join(OUT, name), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def gnuplot(name, script, size="900,560"):
    """writes OUT/name.gp and runs it (cwd OUT) to make OUT/name.png"""
    path = os.path.join(OUT, name + ".gp")
    with open(path, "w") as f:
        f.write(f"set terminal pngcairo size {size} noenhanced font ',10'\n" if has_cairo() else
                f"set terminal png size {size} noenhanced\n")
        f.write(f"set output '{name}.png'\nset datafile separator ','\nset key outside right\nset grid\n")
        f.write(script)
    if not GNUPLOT:
        return
    r = subprocess.run([GNUPLOT, name + ".gp"], cwd=OUT, capture_output=True, text=True)
    if r.returncode == 0 and os.path.exists(os.path.join(OUT, name + ".png")):
        plots_made.append(name + ".png")
        md.append(f"![{name}]({name}.png)")
        md.append("")
    else:
        md.append(f"(plot {name}.png failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else 'no output'})")
        md.append("")


_cairo = None


def has_cairo():
    global _cairo
    if _cairo is None:
        _cairo = False
        if GNUPLOT:
            r = subprocess.run([GNUPLOT, "-e", "set terminal"], capture_output=True, text=True)
            _cairo = "pngcairo" in (r.stdout + r.stderr)
    return _cairo


# ------------------------------------------------------------------ machine
machine = read(os.path.join(RAW, "machine.txt"))
quick = "mode: quick" in machine
md.append("# ParaChain benchmark run")
md.append("")
md.append("Made by `tools/scripts/bench.sh" + (" BUILD --quick`" if quick else " BUILD`") +
          " (`make bench`). Every number below comes from the raw outputs in `raw/`; "
          "each table names the exact command that produced it.")
md.append("")
md.append("## Machine")
md.append("")
md.append("```")
md.extend(machine.rstrip().splitlines())
md.append("```")
md.append("")
md.append("## Method")
md.append("")
md.append("- Repetitions: every measurement is repeated (count in the machine block) and the tables give the "
          "**median** and, in parentheses, the **min–max** over the repetitions. The simulator is deterministic "
          "per seed: its repetitions are different seeds.")
md.append("- Warm-up: the cluster section starts with one probe run that is discarded; SBFT and PBFT runs "
          "alternate so that load drift on the shared machine hits both. The module benchmarks warm up and "
          "alternate their own baseline and subject (bench_common: 5 alternating rounds, medians; "
          "bench_executor: best of `-r` rounds, serial and schedulers alternating; the others measure the "
          "baseline in the same process just before or after).")
md.append("- Ratios: every speed is also a ratio against a baseline measured in the same run, since "
          "absolute figures move with what else runs on the machine.")
md.append("- Plots need gnuplot (Debian `gnuplot-nox`)" +
          ("." if GNUPLOT else ": **gnuplot is not installed, plots skipped** (`apt-get install gnuplot-nox`)."))
md.append("")

# ------------------------------------------------------------------ (a) cluster
def kv(line):
    d = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            try:
                d[k] = float(v)
            except ValueError:
                d[k] = v
    return d


results = {}
for line in read(os.path.join(RAW, "cluster-results.txt")).splitlines():
    tag, _, rest = line.partition(" ")
    results[tag] = kv(rest)
unavailable = read(os.path.join(RAW, "cluster-unavailable.txt")).strip()

# comparison tags: cmp-n<N>-<protocol>-<workload>-<batch>-<rep>; runs made before the
# n = 7 points have no n<N>- part (n = 4); the RESULT line's n= wins when present
CMP_TAG = re.compile(r"^cmp-(?:n(\d+)-)?(sbft|pbft)-([a-z][a-z-]*?)-(\d+)-(\d+)$")
cmp_runs = []
for tag, v in results.items():
    m = CMP_TAG.match(tag)
    if not m:
        continue
    n = int(v["n"]) if isinstance(v.get("n"), float) else int(m.group(1) or 4)
    cmp_runs.append({"n": n, "proto": m.group(2), "wl": m.group(3), "batch": int(m.group(4)),
                     "rep": int(m.group(5)), "v": v})
cmp_ns = sorted({r["n"] for r in cmp_runs})
cmp_wls = [w for w in ("noop", "transfer") if any(r["wl"] == w for r in cmp_runs)] + \
    sorted({r["wl"] for r in cmp_runs} - {"noop", "transfer"})


def cmp_sel(n, proto, wl, b):
    return [r["v"] for r in sorted(cmp_runs, key=lambda r: r["rep"])
            if r["n"] == n and r["proto"] == proto and r["wl"] == wl and r["batch"] == b]


def batches_at(n, wl):
    return sorted({r["batch"] for r in cmp_runs if r["n"] == n and r["wl"] == wl})


def not_run(letter):
    """the report line for a section BENCH_SECTIONS left out, or None"""
    secs = CMDS.get("sections")
    if secs is not None and letter not in secs:
        md.append(f"Not run in this run (`BENCH_SECTIONS={secs}`).")
        md.append("")
        return True
    return False


md.append("## (a) The paper's comparison: SBFT vs PBFT on the local cluster (n = " +
          (", ".join(str(n) for n in cmp_ns) if cmp_ns else "4") + ")")
md.append("")
for k in sorted((k for k in CMDS if k == "cluster" or k.startswith("cluster-n")),
                key=lambda k: int(k[9:]) if k[9:].isdigit() else 0):
    cmd(k)
if not_run("a"):
    pass
elif unavailable or not cmp_runs:
    why = unavailable.replace("\n", " / ") if unavailable else "no cluster run produced a RESULT line"
    md.append(f"**Not available: {why}.** No cluster figures are reported; the simulator section (b) "
              "compares the protocols under a cost model meanwhile.")
    md.append("")
else:
    rows, crows = [], []
    for n in cmp_ns:
        for wl in cmp_wls:
            for b in batches_at(n, wl):
                s, p = cmp_sel(n, "sbft", wl, b), cmp_sel(n, "pbft", wl, b)
                st, pt = [x.get("tps") for x in s], [x.get("tps") for x in p]
                ratio = (med(st) / med(pt)) if med(st) and med(pt) else None
                ok = all(x.get("agree") == 1 and x.get("ledger_verified") == 1 for x in s + p)
                rows.append([n, (n - 1) // 3, wl, b, cell(st), cell(pt), f"**{fmt(ratio, 2)}**",
                             cell([x.get("p50_ms") for x in s]), cell([x.get("p50_ms") for x in p]),
                             cell([x.get("p99_ms") for x in s]), cell([x.get("p99_ms") for x in p]),
                             "yes" if ok else "**NO**"])
                for proto, xs in (("sbft", s), ("pbft", p)):
                    for i, x in enumerate(xs):
                        crows.append([n, proto, wl, b, i + 1, x.get("tps"), x.get("p50_ms"), x.get("p99_ms"),
                                      x.get("p999_ms"), x.get("committed"), x.get("agree"),
                                      x.get("ledger_verified")])
    write_csv("cluster.csv", ["n", "protocol", "workload", "batch", "rep", "tps", "p50_ms", "p99_ms", "p999_ms",
                              "committed", "agree", "ledger_verified"], crows)
    md.append("Headline: **SBFT/PBFT** = ratio of the median TPS, same cluster, load, batch, window and crypto, "
              "in the same run. Closed loop (256 outstanding), kernel UDP; n replicas tolerate f = (n-1)/3 "
              "faults. All n replicas and the load generator share this machine's cores, so a larger n also "
              "means less CPU per replica.")
    md.append("")
    table(["n", "f", "workload", "batch", "SBFT tx/s", "PBFT tx/s", "SBFT/PBFT", "SBFT p50 ms", "PBFT p50 ms",
           "SBFT p99 ms", "PBFT p99 ms", "agree+ledger"], rows)
    # larger clusters against the first size, where both measured the same point
    if len(cmp_ns) > 1:
        base, srows = cmp_ns[0], []
        for n in cmp_ns[1:]:
            for wl in cmp_wls:
                for b in batches_at(n, wl):
                    if b not in batches_at(base, wl):
                        continue
                    r = [f"{n} / {base}", wl, b]
                    for proto in ("sbft", "pbft"):
                        a = med([x.get("tps") for x in cmp_sel(n, proto, wl, b)])
                        z = med([x.get("tps") for x in cmp_sel(base, proto, wl, b)])
                        r.append(fmt(a / z, 2) if a and z else "–")
                    srows.append(r)
        if srows:
            md.append(f"Scaling: median TPS at the larger n / median TPS at n = {base}, same workload and batch "
                      "(below 1: the cluster is slower with more replicas).")
            md.append("")
            table(["n", "workload", "batch", "SBFT", "PBFT"], srows)
    # plot: tps vs batch, one line per (n, workload, protocol)
    dat, series = [], []
    for n in cmp_ns:
        for wl in cmp_wls:
            for b in batches_at(n, wl):
                s = med([x.get("tps") for x in cmp_sel(n, "sbft", wl, b)])
                p = med([x.get("tps") for x in cmp_sel(n, "pbft", wl, b)])
                if s is not None or p is not None:
                    dat.append([n, wl, b, s if s is not None else "", p if p is not None else ""])
            if batches_at(n, wl):
                series += [(n, wl, 4, "SBFT"), (n, wl, 5, "PBFT")]
    write_csv("cluster_tps.dat", ["n", "workload", "batch", "sbft_tps", "pbft_tps"], dat)
    plots = ", ".join(("'cluster_tps.dat'" if i == 0 else "''") +
                      f" using 3:($1 == {n} && strcol(2) eq '{wl}' ? ${col} : NaN) with linespoints"
                      f"{' dt 2' if n != cmp_ns[0] else ''} title '{name} {wl} n={n}'"
                      for i, (n, wl, col, name) in enumerate(series))
    gnuplot("cluster_tps", "set title 'Local cluster n=" + ",".join(str(n) for n in cmp_ns) +
            ": throughput vs batch size (median)'\n"
            "set logscale x\nset xlabel 'batch size (tx)'\nset ylabel 'tx/s'\n"
            f"plot {plots}\n")

failures = [l for l in read(os.path.join(RAW, "cluster-failures.txt")).splitlines() if l.strip()]
if failures and not unavailable:
    md.append(f"**{len(failures)} cluster run(s) failed** and are left out of the tables above and below:")
    md.append("")
    md.extend("- " + l.replace("`", "'").replace("|", "/") for l in failures)
    md.append("")

# ------------------------------------------------------------------ (b) simulator
md.append("## (b) Scalability by simulation: n = 4 … 128")
md.append("")
cmd("sim")
sim = []
for p in sorted(glob.glob(os.path.join(RAW, "sim-*.csv"))):
    with open(p) as f:
        sim.extend(csv.DictReader(f))
VARIANTS = ["pbft", "sbft-bcast-nofast", "sbft-bcast-fast", "sbft-coll-nofast", "sbft-coll-fast"]
if not_run("b"):
    pass
elif not sim:
    md.append("**Not available:** no simulator output (see raw/sim-*.err).")
    md.append("")
else:
    ns = sorted({int(r["n"]) for r in sim})
    failed = [r for r in sim if r["ok"] != "1"]
    md.append("Discrete-event simulator (consensus/sim), all replicas honest, LAN model (RTT 0.1 ms, 10 Gbit/s), "
              "LIMITS.md CPU costs (sign 17.5 µs, verify 49 µs, persist 160 µs), batch 10, window 16. Figures are "
              "**per decided height per replica**; sbft-bcast = votes broadcast to all, sbft-coll = votes to a "
              "collector (linear), fast = SBFT's fast path on.")
    if failed:
        md.append("")
        md.append(f"**{len(failed)} simulator run(s) failed their safety/liveness checks** "
                  "(see raw/sim-*.err); their rows are excluded.")
    md.append("")
    agg = []
    for v in VARIANTS:
        for n in ns:
            rs = [r for r in sim if r["variant"] == v and int(r["n"]) == n and r["ok"] == "1"]
            if not rs:
                continue
            g = lambda k: [float(r[k]) for r in rs]
            agg.append({"variant": v, "n": n, "seeds": len(rs),
                        **{k: g(k) for k in ("msgs_per_h", "bytes_per_h", "verifies_per_h", "tps", "p50_ms",
                                              "p99_ms")}})
    rows = []
    for a in agg:
        row = [a["variant"], a["n"], a["seeds"]]
        for k in ("msgs_per_h", "bytes_per_h", "verifies_per_h", "tps", "p50_ms", "p99_ms"):
            row += [med(a[k]), min(a[k]), max(a[k])]
        rows.append(row)
    hdr = ["variant", "n", "seeds"]
    for k in ("msgs_per_h", "bytes_per_h", "verifies_per_h", "tps", "p50_ms", "p99_ms"):
        hdr += [k + "_median", k + "_min", k + "_max"]
    write_csv("sim_scalability.csv", hdr, rows)
    for key, title in (("msgs_per_h", "Messages sent per decided height per replica"),
                       ("bytes_per_h", "Bytes sent per decided height per replica"),
                       ("verifies_per_h", "Signature verifications per decided height per replica"),
                       ("tps", "Simulated throughput (tx/s), batch 10")):
        md.append(f"**{title}** (median over seeds, min–max)")
        md.append("")
        trows = []
        for n in ns:
            r = [n]
            for v in VARIANTS:
                a = next((a for a in agg if a["variant"] == v and a["n"] == n), None)
                r.append(cell(a[key]) if a else "–")
            trows.append(r)
        table(["n"] + VARIANTS, trows)
    # plot data: one row per n, medians per variant
    for key, ylabel, name in (("msgs_per_h", "messages / height / replica", "sim_messages"),
                              ("bytes_per_h", "bytes / height / replica", "sim_bytes"),
                              ("verifies_per_h", "verifications / height / replica", "sim_verifies")):
        dat = []
        for n in ns:
            r = [n]
            for v in VARIANTS:
                a = next((a for a in agg if a["variant"] == v and a["n"] == n), None)
                r.append(med(a[key]) if a else "")
            dat.append(r)
        write_csv(name + ".dat", ["n"] + VARIANTS, dat)
        plots = ", ".join(f"'{name}.dat' using 1:{i + 2} with linespoints title '{v}'"
                          for i, v in enumerate(VARIANTS))
        gnuplot(name, f"set title 'Simulator: {ylabel}'\nset logscale xy\nset xlabel 'replicas n'\n"
                      f"set ylabel '{ylabel}'\nset xtics (4,7,16,31,64,128)\nplot {plots}\n")
    # message delays
    delays = []
    for p in sorted(glob.glob(os.path.join(RAW, "delays-*.csv")), key=lambda p: int(re.findall(r"\d+", p)[-1])):
        with open(p) as f:
            delays.extend(csv.DictReader(f))
    md.append("**Message delays per decision** (deterministic zero-jitter model: every one-way link latency "
              "exactly L = 1 ms, no CPU cost, infinite bandwidth, window 1, batch 1; delays = decision latency "
              "(first proposal sent → first honest replica decides) / L)")
    md.append("")
    cmd("delays")
    if delays:
        dns = sorted({int(r["n"]) for r in delays})
        trows = []
        for n in dns:
            r = [n]
            for v in VARIANTS:
                d = next((d for d in delays if d["variant"] == v and int(d["n"]) == n), None)
                r.append("–" if not d else (d["delays_p50"] + ("" if d["ok"] == "1" else " (FAILED)")))
            trows.append(r)
        table(["n"] + VARIANTS, trows)
        write_csv("sim_delays.csv", list(delays[0].keys()), [list(d.values()) for d in delays])
        md.append("In collector mode the first decision is the collector's own; the other replicas decide one "
                  "delay later, when its proof reaches them.")
        md.append("")
    cpu = read(os.path.join(RAW, "simcpu.txt"))
    if cpu.strip():
        md.append("**Real CPU per decided height** (Ed25519, n = 4, all replicas in one process; "
                  "ratio = PBFT's CPU / the variant's, > 1 means cheaper than PBFT):")
        md.append("")
        cmd("simcpu")
        md.append("```")
        md.extend(l for l in cpu.splitlines() if l.strip() and not l.startswith("variant ") and
                  not l.startswith("# simulated"))
        md.append("```")
        md.append("")

# ------------------------------------------------------------------ (c) executor
md.append("## (c) Parallel execution: scheduler speedup against serial")
md.append("")
cmd("executor")
ex = []
for p in sorted(glob.glob(os.path.join(RAW, "executor-*.csv"))):
    with open(p) as f:
        ex.extend(csv.DictReader(f))
if not_run("c"):
    pass
elif not ex:
    md.append("**Not available:** no bench_executor CSV (see raw/executor-*.txt).")
    md.append("")
else:
    wls = list(dict.fromkeys(r["workload"] for r in ex))
    confs = list(dict.fromkeys((r["scheduler"], int(r["workers"])) for r in ex if r["scheduler"] != "serial"))
    md.append("Blocks of 1000 transactions; conflict rate falls from `counter` (every transaction writes one key) "
              "and `transfer-*-2` (two accounts) to `transfer-*-10000` and `kvput` (no conflicts); `compute-Xus` "
              "are independent calls of ~X µs. Cell = throughput / serial throughput (median, min–max over "
              "repetitions); a * marks configurations where most blocks fell back to serial (the executor "
              "runs a block serially when its transactions are too cheap for parallelism to pay).")
    md.append("")
    rows, crows = [], []
    for wl in wls:
        ser = [float(r["tps"]) for r in ex if r["workload"] == wl and r["scheduler"] == "serial"]
        row = [wl, cell(ser, 0)]
        for s, w in confs:
            rs = [r for r in ex if r["workload"] == wl and r["scheduler"] == s and int(r["workers"]) == w]
            sp = [float(r["vs_serial"]) for r in rs]
            fb = med([float(r["fallback_blocks"]) / float(r["blocks"]) for r in rs]) if rs else 0
            row.append(cell(sp, 2) + (" *" if fb and fb > 0.5 else ""))
            if rs:
                crows.append([wl, s, w, len(rs), med(sp), min(sp), max(sp), med([float(r["tps"]) for r in rs]),
                              fb])
        rows.append(row)
    write_csv("executor.csv", ["workload", "scheduler", "workers", "reps", "speedup_median", "speedup_min",
                               "speedup_max", "tps_median", "fallback_share"], crows)
    table(["workload", "serial tx/s"] + [f"{s} w={w}" for s, w in confs], rows)
    dat = []
    for wl in wls:
        r = [wl]
        for s, w in confs:
            c = next((c for c in crows if c[0] == wl and c[1] == s and c[2] == w), None)
            r.append(c[4] if c else "")
        dat.append(r)
    write_csv("executor_speedup.dat", ["workload"] + [f"{s}-w{w}" for s, w in confs], dat)
    cols = ", ".join(f"'' using {i + 2}:xtic(1) title '{s} w={w}'" if i else
                     f"'executor_speedup.dat' using {i + 2}:xtic(1) title '{s} w={w}'"
                     for i, (s, w) in enumerate(confs))
    gnuplot("executor_speedup", "set title 'Scheduler speedup vs serial (median)'\nset style data histograms\n"
            "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\nset boxwidth 0.9\n"
            "set xtics rotate by -45\nset ylabel 'throughput / serial'\nset yrange [0:*]\n"
            "set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2\n"
            f"plot {cols}\n")

# ------------------------------------------------------------------ (d) stages
md.append("## (d) Stages against their limits")
md.append("")
if "d" in CMDS.get("sections", "d"):
    md.append("Each ratio = the stage's figure / the limit's figure, both measured in the same process run.")
    md.append("")
for k in ("dataplane", "txpool", "storage", "common", "gateway"):
    cmd(k)
FIG = [
    # stage, figure, limit, file, regex giving the ratio (group 1) — or a function
    ("dataplane", "pc_dp over memif, 256 B messages", "min(raw memif, one-core MAC) ceiling", "dataplane",
     r"^256\s+\d+\s+[\d.]+\s+([\d.]+)"),
    ("dataplane", "pc_dp over memif, 4 KiB messages", "min(raw memif, one-core MAC) ceiling", "dataplane",
     r"^4096\s+\d+\s+[\d.]+\s+([\d.]+)"),
    ("dataplane", "pc_dp over memif, 64 KiB messages", "min(raw memif, one-core MAC) ceiling", "dataplane",
     r"^65536\s+\d+\s+[\d.]+\s+([\d.]+)"),
    ("dataplane", "pc_dp over memif, 1 MiB messages", "min(raw memif, one-core MAC) ceiling", "dataplane",
     r"^1048576\s+\d+\s+[\d.]+\s+([\d.]+)"),
    ("dataplane", "pc_dp over memif, 256 B, jumbo frames (MTU 9000)", "min(raw memif, one-core MAC), both at MTU 9000",
     "dataplane", "jumbo:" + r"^256\s+\d+\s+[\d.]+\s+([\d.]+)"),
    ("dataplane", "pc_dp over memif, 4 KiB, jumbo frames (MTU 9000)", "min(raw memif, one-core MAC), both at MTU 9000",
     "dataplane", "jumbo:" + r"^4096\s+\d+\s+[\d.]+\s+([\d.]+)"),
    ("dataplane", "pc_dp over memif, 64 KiB, jumbo frames (MTU 9000)", "min(raw memif, one-core MAC), both at MTU 9000",
     "dataplane", "jumbo:" + r"^65536\s+\d+\s+[\d.]+\s+([\d.]+)"),
    ("dataplane", "pc_dp over memif, 1 MiB, jumbo frames (MTU 9000)", "min(raw memif, one-core MAC), both at MTU 9000",
     "dataplane", "jumbo:" + r"^1048576\s+\d+\s+[\d.]+\s+([\d.]+)"),
    ("dataplane", "one-core keyed-BLAKE2b MAC rate", "raw memif packet rate (MB/s)", "dataplane", "mac_vs_memif"),
    ("dataplane", "keyed BLAKE2b, libsodium's portable C code", "the same, the code sodium_init() selects", "dataplane",
     r"portable C code.*= ([\d.]+)x"),
    ("dataplane", "pc_dp over memif, 64 KiB", "pc_dp over kernel UDP, 64 KiB", "dataplane",
     r"^65536\s+(?:[\d.]+\s+){5}([\d.]+)"),
    ("dataplane", "raw memif packet rate (no channel, no MAC)", "raw kernel UDP sendmmsg/recvmmsg, same frames",
     "dataplane", r"^raw memif / raw UDP = ([\d.]+)"),
    ("dataplane", "pc_dp over memif, 64 KiB, 1% of frames dropped", "the same without loss, just before", "dataplane",
     r"^1% loss: median ([\d.]+)x"),
    ("dataplane", "pc_dp over kernel UDP: one-way latency p50, 64 B", "pc_dp over memif: the same", "dataplane",
     r"^one-way latency p50: UDP / memif = ([\d.]+)"),
    ("verify", "verify stage inline on the pool thread", "bare crypto_sign_verify_detached, 1 core", "txpool",
     r"^stage, inline[^:]*:\s+\d+\s+([\d.]+)"),
    ("verify", "verify stage, 1 worker, per process CPU-second", "bare crypto_sign_verify_detached, 1 core", "txpool",
     r"^stage, 1 worker[^:]*:\s+\d+\s+[\d.]+\s+\d+\s+([\d.]+)"),
    ("verify", "verify stage, 2 workers, per process CPU-second", "bare crypto_sign_verify_detached, 1 core", "txpool",
     r"^stage, 2 workers[^:]*:\s+\d+\s+[\d.]+\s+\d+\s+([\d.]+)"),
    ("verify", "verify stage, 1 worker, per verify-core CPU-second", "bare crypto_sign_verify_detached, 1 core", "txpool",
     r"^stage, 1 worker[^:]*:\s+\d+\s+[\d.]+\s+\d+\s+[\d.]+\s+\d+\s+([\d.]+)"),
    ("verify", "verify stage, 2 workers, per verify-core CPU-second", "bare crypto_sign_verify_detached, 1 core", "txpool",
     r"^stage, 2 workers[^:]*:\s+\d+\s+[\d.]+\s+\d+\s+[\d.]+\s+\d+\s+([\d.]+)"),
    ("verify", "certificate verify, 3 signers", "3 bare crypto_sign_verify_detached", "common",
     r"^cert verify.*ratio ([\d.]+)"),
    ("verify", "client receipt verify (q = 3 of 4)", "single Ed25519 verify", "gateway",
     r"^receipt verification.*ratio ([\d.]+)"),
    ("storage", "log append 4 KiB blocks, group commit", "raw pwrite + fdatasync, same batching", "storage",
     r"^\(a\) log\s+4096 B.*ratio ([\d.]+)x"),
    ("storage", "log append 64 KiB blocks, group commit", "raw pwrite + fdatasync, same batching", "storage",
     r"^\(a\) log\s+65536 B.*ratio ([\d.]+)x"),
    ("storage", "log append 256 B blocks, group commit", "raw pwrite + fdatasync, same batching", "storage",
     r"^\(a\) log\s+256 B.*ratio ([\d.]+)x"),
    ("storage", "vote persist latency p50 (lower is better)", "raw 256 B write + fdatasync p50", "storage",
     r"^\(b\).*p50 ratio ([\d.]+)x"),
    ("storage", "state updates with root, 1k per block, 100k keys, per CPU-second", "target 200k updates/s per core", "storage",
     r"^\(c\)\s+100000 keys, blocks of\s+1000 updates.*target 200k/s per core: ([\d.]+)x"),
    ("storage", "state updates with root, 10k per block, 100k keys, per CPU-second", "target 200k updates/s per core", "storage",
     r"^\(c\)\s+100000 keys, blocks of 10000 updates.*target 200k/s per core: ([\d.]+)x"),
    ("mempool", "mempool insert", "pc_tx_decode (parse + BLAKE2b)", "txpool", r"^mempool insert.*ratio ([\d.]+)"),
    ("hashing", "BLAKE2b-256 4 KiB", "SHA-256 (libsodium)", "common", r"^blake2b-256 4 KiB.*ratio ([\d.]+)"),
    ("hashing", "CRC32C 4 KiB", "rte_hash_crc", "common", r"^crc32c 4 KiB aligned.*ratio ([\d.]+)"),
]


def fig_values(fname, rx):
    vals = []
    for p in sorted(glob.glob(os.path.join(RAW, f"{fname}-*.txt"))):
        text = read(p)
        if rx == "mac_vs_memif":
            a = re.search(r"MAC.*= (\d+) MB/s of payload", text)
            b = re.search(r"raw memif.*\(= (\d+) MB/s", text)
            vals.append(float(a.group(1)) / float(b.group(1)) if a and b and float(b.group(1)) else None)
            continue
        # The jumbo table follows the default one, so a plain regex finds the
        # default figure first; "jumbo:" regexes search after its heading.
        if rx.startswith("jumbo:"):
            rx, text = rx[len("jumbo:"):], text.partition("\njumbo frames:")[2]
        m = re.search(rx, text, re.M)
        vals.append(float(m.group(1)) if m else None)
    return vals


if not not_run("d"):
    rows, crows = [], []
    for stage, fig, limit, fname, rx in FIG:
        vals = fig_values(fname, rx)
        got = [v for v in vals if v is not None]
        rows.append([stage, fig, limit, cell(got, 2) if got else "not measured (see raw/%s-*.txt)" % fname])
        crows.append([stage, fig, limit, len(got), med(got), min(got) if got else None, max(got) if got else None])
    write_csv("stages.csv", ["stage", "figure", "limit", "reps", "ratio_median", "ratio_min", "ratio_max"], crows)
    table(["stage", "figure", "against (limit / baseline)", "ratio"], rows)
    dp = read(os.path.join(RAW, "dataplane-1.txt"))
    m = re.search(r"^ceiling = .*$", dp, re.M)
    if m:
        md.append(f"Dataplane ceiling in repetition 1: `{m.group(0)}`.")
        md.append("")
    dat = [[f"{c[0]}: {c[1]}", c[4] if c[4] is not None else "", c[5] if c[5] is not None else "",
            c[6] if c[6] is not None else ""] for c in crows]
    write_csv("stages.dat", ["figure", "median", "min", "max"], dat)
    gnuplot("stages", "set title 'Stages against their limits (ratio, median with min-max)'\nset key off\n"
            "set style fill solid 0.6 border -1\nset boxwidth 0.7\nset xtics rotate by -60 font ',8'\n"
            "set bmargin 26\nset yrange [0:*]\nset arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2\n"
            "plot 'stages.dat' using 0:2:xtic(1) with boxes, '' using 0:2:3:4 with yerrorbars lc 'black'\n",
            size="1000,800")

# ------------------------------------------------------------------ (e) curve
md.append("## (e) Latency under load: throughput–latency curve (open loop, rising rate)")
md.append("")
cmd("curve")
curve = {k: v for k, v in results.items() if k.startswith("curve-")}
if not_run("e"):
    pass
elif "curve" not in CMDS and not unavailable:
    md.append("Not run in this mode (`--quick` skips it; set BENCH_CURVE_RATES to run it).")
    md.append("")
elif unavailable or not curve:
    why = unavailable.replace("\n", " / ") if unavailable else \
        "no open-loop cluster run committed a transaction (the failed runs are listed under (a))"
    md.append(f"**Not available: {why}.**")
    md.append("")
else:
    rows = []
    for k, v in sorted(curve.items(), key=lambda kv: (kv[0].split("-")[1], int(kv[0].split("-")[2]))):
        _, proto, rate = k.split("-")
        rows.append([proto, int(rate), v.get("tps"), v.get("p50_ms"), v.get("p99_ms"), v.get("p999_ms"),
                     v.get("agree"), v.get("ledger_verified")])
    write_csv("curve.csv", ["protocol", "offered_tps", "tps", "p50_ms", "p99_ms", "p999_ms", "agree",
                            "ledger_verified"], rows)
    table(["protocol", "offered tx/s", "achieved tx/s", "p50 ms", "p99 ms", "p99.9 ms", "agree", "ledger"],
          [[r[0], r[1]] + [fmt(x) if isinstance(x, float) else x for x in r[2:]] for r in rows])
    cn = sorted({int(v["n"]) for v in curve.values() if isinstance(v.get("n"), float)}) or [4]
    gnuplot("curve", f"set title 'Throughput-latency, open loop (n={','.join(map(str, cn))}, batch 100, noop)'\n"
            "set xlabel 'achieved tx/s'\nset ylabel 'latency ms'\n"
            "plot 'curve.csv' using (strcol(1) eq 'sbft' ? $3 : NaN):4 with linespoints title 'SBFT p50', "
            "'' using (strcol(1) eq 'sbft' ? $3 : NaN):5 with linespoints title 'SBFT p99', "
            "'' using (strcol(1) eq 'pbft' ? $3 : NaN):4 with linespoints title 'PBFT p50', "
            "'' using (strcol(1) eq 'pbft' ? $3 : NaN):5 with linespoints title 'PBFT p99'\n")

md.append("## Files")
md.append("")
md.append("CSV: " + ", ".join(sorted(os.path.basename(p) for p in glob.glob(os.path.join(OUT, "*.csv")))) + ".")
md.append("")
md.append("Plots: " + (", ".join(plots_made) if plots_made else
                       "none (gnuplot not installed: `apt-get install gnuplot-nox`)") + ".")
md.append("")
md.append("Raw outputs of every run: `raw/`.")
with open(os.path.join(OUT, "README.md"), "w") as f:
    f.write("\n".join(md) + "\n")
print(f"bench-report: {OUT}/README.md, {len(glob.glob(os.path.join(OUT, '*.csv')))} CSV, {len(plots_made)} plots")
