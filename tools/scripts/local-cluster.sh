#!/usr/bin/env bash
# local-cluster.sh — the one-command local cluster under load (issue 8, item 4).
#
# Generates an N-replica cluster (--nodes N, default 4) with pc-cluster-gen,
# checks every config with `parachain-node --check`, starts the N replicas on
# this machine, waits until they decide, drives all N client gateways with
# parachain-bench for a set time, then prints throughput, submit-to-receipt
# latency, per-replica stage counters and the agreement check, stops the
# replicas in order (SIGTERM), and verifies every data directory with
# pc-ledger. pc-cluster-gen chooses f = (N-1)/3. `--help` for the options.
#
# The last line of output is machine readable (other scripts parse it; the
# keys are stable):
#   RESULT protocol=sbft transport=udp n=N batch=B workload=W mode=closed
#          tps=X p50_ms=Y p99_ms=Z p999_ms=Q committed=N agree=1 ledger_verified=1
# (one line). Exit status: 0 everything held; 1 the replicas disagree or a
# ledger does not verify; 2 usage, build or configuration problem, or a
# replica failed to start or to stop; 3 no transaction committed (including:
# the gateways do not answer).
set -uo pipefail

usage() {
  cat <<'EOF'
usage: tools/scripts/local-cluster.sh [options]
       tools/scripts/local-cluster.sh [BUILD_DIR] [SECONDS] [sbft|pbft]   (old form)

Starts N parachain-node replicas on this machine (4 by default), loads them
with parachain-bench through all N client gateways, prints TPS, latency
p50/p99/p999 (submit to receipt), per-replica counters and the agreement
check (same ledger hash and execution root at a common height), stops the
replicas in order and verifies each block log with pc-ledger.

  --build DIR          meson build directory [build]
  --nodes N            replicas, 4..64 [4]; they tolerate f = (N-1)/3 Byzantine
                         faults (pc-cluster-gen's default: n = 4 gives f = 1, n = 7
                         f = 2). All N replicas and the load generator share this
                         machine's cores. n = 7 on the 2-core development machine
                         (2026-11-26, load average 8-26): SBFT and PBFT over udp
                         and over memif (7 EALs, 21 memif links, one per replica
                         pair) started in 10-70 s and passed every check, at about
                         half the n = 4 throughput; a run with 8 s of load took
                         2-3 min (signing, funding, and 7 ledger replays at the end).
  --seconds S          seconds of load [20]
  --protocol P         sbft | pbft [sbft]
  --transport T        memif | udp | af_packet [memif]
                         memif: DPDK memif between the processes, each replica its
                         own EAL (--no-huge, --no-shconf, a unique --file-prefix),
                         one memif link per replica pair.
                         udp: kernel UDP sockets on 127.0.0.1 (the fallback).
                         memif is the default since 2026-11-26: on this 2-core
                         shared machine at load average 8-44, 19 of 19 memif
                         clusters (n = 4 and 7, SBFT and PBFT) started, decided
                         and passed every check once the dataplane's handshake
                         and reassembly fixes were in (dataplane/README.md).
                         Under that load a memif cluster
                         took 9-76 s to its first decision (udp 9-57 s; each memif
                         replica's EAL also loads ~130 DPDK driver plugins), hence
                         a start limit of 30 x N s for memif (120 s at n = 4) and
                         15 x N s for udp (PC_START_TIMEOUT overrides).
                       af_packet: DPDK's af_packet driver on one end of a veth
                         pair per replica, the other ends in one Linux bridge
                         (made for the run, deleted after; needs root): the
                         one-machine stand-in for NICs behind a switch, through
                         the same one-port path as a PCI NIC (transport pci).
  --eal-mem MB         memif, af_packet: DPDK memory per replica (EAL -m, no
                       hugepages) [64 memif, 256 af_packet]
  --workload W         parachain-bench workload: transfer | transfer-zipf | kv |
                       counter | noop [transfer]
  --outstanding K      closed loop: K transactions in flight (the default mode) [256]
  --rate R             open loop: R transactions/s instead of a closed loop
  --txs N              closed loop: transactions to pre-sign [3000 x seconds, at least
                       10000]; parachain-bench warns when the run used them all
  --batch B            transactions per block (cluster file [batch] size) [1024]
  --votes V            broadcast | collector [broadcast]
  --set S.KEY=VALUE    set a cluster-file key, e.g. --set consensus.window=16,
                       --set consensus.fast_path=no (repeatable; docs/config.md)
  --node-set S.KEY=V   set a key in every node config, e.g.
                       --node-set storage.group_count=64 (repeatable;
                       docs/node-config.md)
  --conns C            gateway connections, spread round-robin over the N
                       gateways [2 x N: 8 at n = 4]
  --wait-ms MS         give up on a receipt after MS (counted as an error) [10000]
  --verify             parachain-bench verifies every receipt's proof
  --no-load            no client load: order empty blocks for S seconds and run
                       only the agreement and ledger checks
  --csv FILE           append parachain-bench's CSV row to FILE
  --keep               keep the cluster folder (logs, data, metrics) and say where
  -h, --help           this text

Tuning: docs/tuning.md. Exit status: 0 ok; 1 disagreement or a ledger
that does not verify; 2 usage/build/config/start failure; 3 nothing
committed (e.g. the gateways do not answer).
EOF
}

die() { echo "local-cluster: $*" >&2; exit 2; }
say() { printf '[%3ds] %s\n' "$SECONDS" "$*"; }
SECONDS=0

BUILD=build SECS=20 PROTO=sbft TRANSPORT=memif WORKLOAD=transfer MODE=closed K=256 RATE=
BATCH= VOTES=broadcast CONNS= NODES=4 VERIFY= NOLOAD= KEEP= CSV= START_TIMEOUT=${PC_START_TIMEOUT:-} WAIT_MS=10000
STOP_TIMEOUT=${PC_STOP_TIMEOUT:-20} EAL_MEM= TXS=
CSETS=() NSETS=()
if [[ $# -gt 0 && $1 != -* ]]; then
  # old positional form: [BUILD_DIR] [SECONDS] [sbft|pbft]
  BUILD=$1; SECS=${2:-20}; PROTO=${3:-sbft}
  shift $(( $# < 3 ? $# : 3 ))
fi
while [[ $# -gt 0 ]]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --build) BUILD=${2:?}; shift ;;
    --nodes) NODES=${2:?}; shift ;;
    --seconds) SECS=${2:?}; shift ;;
    --protocol) PROTO=${2:?}; shift ;;
    --transport) TRANSPORT=${2:?}; shift ;;
    --workload) WORKLOAD=${2:?}; shift ;;
    --outstanding) K=${2:?}; MODE=closed; shift ;;
    --rate) RATE=${2:?}; MODE=open; shift ;;
    --batch) BATCH=${2:?}; shift ;;
    --votes) VOTES=${2:?}; shift ;;
    --set) CSETS+=("${2:?}"); shift ;;
    --node-set) NSETS+=("${2:?}"); shift ;;
    --conns) CONNS=${2:?}; shift ;;
    --wait-ms) WAIT_MS=${2:?}; shift ;;
    --eal-mem) EAL_MEM=${2:?}; shift ;;
    --txs) TXS=${2:?}; shift ;;
    --verify) VERIFY=1 ;;
    --no-load) NOLOAD=1 ;;
    --csv) CSV=${2:?}; shift ;;
    --keep) KEEP=1 ;;
    *) echo "local-cluster: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
isnum() { [[ $1 =~ ^[0-9]+$ ]]; }
isnum "$NODES" && NODES=$((10#$NODES)) && (( NODES >= 4 && NODES <= 64 )) \
  || die "--nodes $NODES: want 4..64 replicas (n >= 3f+1 with f >= 1)"
N=$NODES
REPLICAS=($(seq 0 $((N - 1))))
isnum "$SECS" && (( SECS > 0 )) || die "--seconds $SECS: want a whole number of seconds > 0"
[[ $PROTO == sbft || $PROTO == pbft ]] || die "--protocol $PROTO: want sbft or pbft"
[[ $TRANSPORT == memif || $TRANSPORT == udp || $TRANSPORT == af_packet ]] \
  || die "--transport $TRANSPORT: want memif, udp or af_packet"
# seconds until every replica decided a block: 30 s per replica for memif
# (N EAL starts; 120 s at n = 4), 15 s per replica for udp (60 s at n = 4)
[[ -n $START_TIMEOUT ]] || START_TIMEOUT=$(( N * ($([[ $TRANSPORT == udp ]] && echo 15 || echo 30)) ))
isnum "$START_TIMEOUT" || die "PC_START_TIMEOUT=$START_TIMEOUT: want seconds"
[[ $VOTES == broadcast || $VOTES == collector ]] || die "--votes $VOTES: want broadcast or collector"
case $WORKLOAD in transfer|transfer-zipf|kv|counter|noop) ;; *) die "--workload $WORKLOAD: want transfer, transfer-zipf, kv, counter or noop" ;; esac
isnum "$K" && (( K > 0 )) || die "--outstanding $K: want a number > 0"
[[ -z $RATE ]] || { isnum "$RATE" && (( RATE > 0 )); } || die "--rate $RATE: want transactions per second > 0"
[[ -z $BATCH ]] || { isnum "$BATCH" && (( BATCH > 0 )); } || die "--batch $BATCH: want a number > 0"
[[ -n $CONNS ]] || CONNS=$(( 2 * N > 64 ? 64 : 2 * N ))
isnum "$CONNS" && (( CONNS > 0 && CONNS <= 64 )) || die "--conns $CONNS: want 1..64"
isnum "$WAIT_MS" && (( WAIT_MS > 0 )) || die "--wait-ms $WAIT_MS: want milliseconds > 0"
[[ -z $TXS ]] || { isnum "$TXS" && (( TXS > 0 )); } || die "--txs $TXS: want a number > 0"
[[ -z $EAL_MEM ]] || { isnum "$EAL_MEM" && (( EAL_MEM >= 32 )); } || die "--eal-mem $EAL_MEM: want megabytes >= 32"
for s in ${CSETS[@]+"${CSETS[@]}"} ${NSETS[@]+"${NSETS[@]}"}; do
  [[ $s =~ ^[a-z_]+\.[a-z_]+=.+$ ]] || die "--set/--node-set '$s': want SECTION.KEY=VALUE"
done

NODE=$BUILD/node/parachain-node
GEN=$BUILD/tools/cluster/pc-cluster-gen
BENCH=$BUILD/tools/loadgen/parachain-bench
CLI=$BUILD/tools/cli/pc-cli
LEDGER=$BUILD/tools/ledger/pc-ledger
for p in "$NODE" "$GEN" "$BENCH" "$CLI" "$LEDGER"; do
  [[ -x $p ]] || die "missing $p: build first (ninja -C $BUILD)"
done

DIR=$(mktemp -d /tmp/pc-local-XXXXXX)
C=$DIR/c
PIDS=() BENCH_PID= PREFIXES=() LINKS=()
stop_replicas() {
  # Reverse id order: under memif the lower id is the server of each pair,
  # so clients leave first (LIMITS.md: stop peers in order). A replica that
  # has not exited STOP_TIMEOUT seconds after SIGTERM is killed (SIGKILL)
  # and counted as a failed stop (status 137).
  local i t
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    [[ -n ${PIDS[$i]} ]] || continue
    kill -TERM "${PIDS[$i]}" 2>/dev/null
    for ((t = 0; t < STOP_TIMEOUT * 10; t++)); do
      st=$(ps -o stat= -p "${PIDS[$i]}" 2>/dev/null)
      [[ -z $st || $st == Z* ]] && break
      sleep 0.1
    done
    if [[ -n $st && $st != Z* ]]; then
      echo "local-cluster: replica $i did not stop within ${STOP_TIMEOUT}s of SIGTERM: killed" >&2
      kill -KILL "${PIDS[$i]}" 2>/dev/null
    fi
    wait "${PIDS[$i]}" 2>/dev/null
    STOP_RC[$i]=$?
    PIDS[$i]=
  done
}
cleanup() {
  [[ -n $BENCH_PID ]] && { kill -TERM "$BENCH_PID" 2>/dev/null; wait "$BENCH_PID" 2>/dev/null; }
  stop_replicas
  local p
  for p in ${PREFIXES[@]+"${PREFIXES[@]}"}; do rm -rf "/var/run/dpdk/$p" "${XDG_RUNTIME_DIR:-/nonexistent}/dpdk/$p"; done
  for p in ${LINKS[@]+"${LINKS[@]}"}; do ip link del "$p" 2>/dev/null; done
  if [[ -n $KEEP ]]; then echo "local-cluster: kept $DIR (cluster files in c/, replica logs r<i>.out/.err, metrics-<i>.txt)" >&2
  else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- af_packet: one Linux bridge, one veth pair per replica (the replica's
# end runs DPDK's af_packet driver, the other end is a bridge port): the
# frames cross the kernel's L2 switch like a NIC's would cross a switch.
GEN_IFACES=()
if [[ $TRANSPORT == af_packet ]]; then
  command -v ip >/dev/null || die "--transport af_packet needs the ip command (apt-get install iproute2)"
  tag=$(printf '%04x' $((RANDOM % 65536)))
  ip link add "pcbr$tag" type bridge 2>"$DIR/ip.log" \
    || die "--transport af_packet: cannot create a bridge ($(head -1 "$DIR/ip.log")): needs root / CAP_NET_ADMIN"
  LINKS+=("pcbr$tag")
  ip link set "pcbr$tag" up
  for i in "${REPLICAS[@]}"; do
    ip link add "pc${tag}v$i" type veth peer name "pc${tag}b$i" 2>>"$DIR/ip.log" || die "cannot create veth pc${tag}v$i"
    LINKS+=("pc${tag}v$i") # deleting one end deletes the pair
    ip link set "pc${tag}b$i" master "pcbr$tag" && ip link set "pc${tag}b$i" up && ip link set "pc${tag}v$i" up \
      || die "cannot attach pc${tag}b$i to pcbr$tag"
    GEN_IFACES+=(--iface "pc${tag}v$i")
  done
fi

# ---- generate and edit the cluster
# Replica ports P..P+n-1 (UDP), gateways P+100+i, metrics P+200+i (TCP).
# Below the kernel's ephemeral range, whose ports this machine's own
# outgoing sockets take (a base port inside it once met a gateway port in
# use: "cannot listen ... Address already in use"), and checked free.
EPH_LO=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
(( EPH_LO > 10000 + 300 + N )) || EPH_LO=60000
USED=" $(ss -Htuan 2>/dev/null | awk '{n = split($5, a, ":"); printf "%s ", a[n]}') "
PORT=
for _try in $(seq 1 50); do
  cand=$((10000 + RANDOM % (EPH_LO - 10000 - 200 - N)))
  clash=
  for ((i = 0; i < N; i++)); do
    for off in 0 100 200; do [[ $USED == *" $((cand + off + i)) "* ]] && clash=1; done
  done
  [[ -z $clash ]] && { PORT=$cand; break; }
done
[[ -n $PORT ]] || die "no free port range found for $N replicas"
"$GEN" --nodes "$N" --transport "$TRANSPORT" ${GEN_IFACES[@]+"${GEN_IFACES[@]}"} --protocol "$PROTO" --votes "$VOTES" --base-port "$PORT" --out "$C" >"$DIR/gen.log" 2>&1 \
  || { cat "$DIR/gen.log" >&2; die "pc-cluster-gen failed"; }

# conf_set FILE SECTION KEY VALUE: replace KEY in [SECTION], else add it there
# (and the section at the end when the file has none).
conf_set() {
  local tmp=$1.tmp
  awk -v sec="$2" -v key="$3" -v val="$4" '
    function flush() { if (insec && !done) { print key " = " val; done = 1 } }
    /^[ \t]*\[/ { flush(); insec = ($0 ~ "^[ \t]*\\[" sec "\\][ \t]*$"); seen = seen || insec; print; next }
    insec && $0 ~ "^[ \t]*" key "[ \t]*=" { print key " = " val; done = 1; next }
    { print }
    END { flush(); if (!seen) { print ""; print "[" sec "]"; print key " = " val } }' "$1" >"$tmp" && mv "$tmp" "$1"
}
if [[ -n $BATCH ]]; then conf_set "$C/cluster.conf" batch size "$BATCH"; fi
for s in ${CSETS[@]+"${CSETS[@]}"}; do
  kv=${s#*.}; conf_set "$C/cluster.conf" "${s%%.*}" "${kv%%=*}" "${kv#*=}"
done
for i in "${REPLICAS[@]}"; do
  for s in ${NSETS[@]+"${NSETS[@]}"}; do
    kv=${s#*.}; conf_set "$C/replica-$i/node.conf" "${s%%.*}" "${kv%%=*}" "${kv#*=}"
  done
  "$NODE" --config "$C/replica-$i/node.conf" --check >"$DIR/check$i.log" 2>&1 \
    || { cat "$DIR/check$i.log" >&2; die "replica $i: config check failed (files in $DIR; use --keep to keep them)"; }
  if [[ $TRANSPORT != udp && -n $EAL_MEM ]]; then
    sed -i "s/^\(eal_args = .*\)-m [0-9]*/\1-m $EAL_MEM/" "$C/replica-$i/node.conf"
  fi
  if [[ $TRANSPORT == af_packet ]]; then # no shared runtime files, like memif
    sed -i "s/^\(eal_args = .*\)--file-prefix \([^ ]*\)/\1--no-shconf --file-prefix \2-$tag/" "$C/replica-$i/node.conf"
  fi
  if [[ $TRANSPORT != udp ]]; then
    PREFIXES+=("$(sed -n 's/.*--file-prefix \([^ ]*\).*/\1/p' "$C/replica-$i/node.conf")")
  fi
done
conf_get() { awk -v sec="[$2]" -v key="$3" '/^[ \t]*\[/{s=($1==sec);next} s && $1==key && $2=="="{print $3}' "$1"; }
gw_addr() { conf_get "$C/replica-$1/node.conf" gateway listen; }
metrics_addr() { conf_get "$C/replica-$1/node.conf" metrics listen; }
BATCH_EFF=$(conf_get "$C/cluster.conf" batch size)
BATCH_EFF=${BATCH_EFF:-1024}

# ---- start
launch() {
  "$NODE" --config "$C/replica-$1/node.conf" --status-every 1 >"$DIR/r$1.out" 2>"$DIR/r$1.err" &
  PIDS[$1]=$!
}
for i in "${REPLICAS[@]}"; do launch "$i"; done
# DPDK 22.11's af_packet driver puts each socket in the fanout group
# (pid ^ ifindex) & 0xffff; when that id is already taken by another
# process's socket on another interface, the kernel refuses the join
# (EINVAL) and the replica cannot start. Another pid gives another id, so
# such a replica is started again (at most 3 times).
FANOUT_CLASH="could not set PACKET_FANOUT"
RELAUNCHES=()
relaunch_fanout_clash() {
  local i=$1 n=${RELAUNCHES[$1]:-0}
  [[ $TRANSPORT == af_packet ]] && (( n < 3 )) && grep -q "$FANOUT_CLASH" "$DIR/r$i.err" || return 1
  RELAUNCHES[$i]=$((n + 1))
  wait "${PIDS[$i]}" 2>/dev/null
  mv "$DIR/r$i.err" "$DIR/r$i.err.fanout$((n + 1))"
  say "replica $i: its af_packet socket's fanout group id (pid ^ ifindex) clashed with another process's; starting it again under a new pid (log kept as r$i.err.fanout$((n + 1)))"
  launch "$i"
}
say "$N replicas ($PROTO over $TRANSPORT, batch $BATCH_EFF) starting in $DIR"
# alive: every replica runs (an exited child stays a zombie until waited for,
# and kill -0 still reaches a zombie, so look at its state)
alive() {
  local i st
  for i in "${REPLICAS[@]}"; do
    st=$(ps -o stat= -p "${PIDS[$i]}" 2>/dev/null)
    [[ -n $st && $st != Z* ]] || { echo "$i"; return 1; }
  done
  return 0
}
decided_of() { awk '/^status/ {for (k = 1; k <= NF; k++) if ($k ~ /^decided=/) {split($k, a, "="); d = a[2]}} END {print d + 0}' "$DIR/r$1.out"; }
t_start=$(date +%s)
while :; do
  if ! dead=$(alive); then
    relaunch_fanout_clash "$dead" && continue
    echo "local-cluster: replica $dead exited during start; its log:" >&2; tail -n 20 "$DIR/r$dead.err" >&2; exit 2
  fi
  ready=1
  for i in "${REPLICAS[@]}"; do (( $(decided_of $i) > 0 )) || ready=0; done
  (( ready )) && break
  if (( $(date +%s) - t_start > START_TIMEOUT )); then
    echo "local-cluster: the replicas did not decide a block within $START_TIMEOUT s (load average:" \
         "$(cut -d' ' -f1-3 /proc/loadavg)); last status lines:" >&2
    for i in "${REPLICAS[@]}"; do echo "  r$i: $(grep '^status' "$DIR/r$i.out" | tail -1)" >&2; done
    exit 2
  fi
  sleep 0.2
done
say "all $N replicas decide"

# ---- load
GWS=$(for i in "${REPLICAS[@]}"; do gw_addr $i; done | paste -sd, -)
TPS=0 P50=0 P99=0 P999=0 COMMITTED=0 LOAD_FAIL=
if [[ -n $NOLOAD ]]; then
  say "no load (--no-load): ordering empty blocks for ${SECS}s"
  sleep "$SECS"
else
  # every gateway answers a status request; a replica starved of CPU (n
  # replicas and the load generator on a few cores) can take seconds, so
  # each gets 5 s per try until 3 s x N have passed since the first try
  gw_ok=1 gw_deadline=$(( $(date +%s) + 3 * N ))
  for i in "${REPLICAS[@]}"; do
    until "$CLI" -g "$(gw_addr $i)" -c "$C/cluster.conf" -t 5000 status >"$DIR/gwstatus$i.txt" 2>&1; do
      if (( $(date +%s) >= gw_deadline )); then
        echo "local-cluster: the client gateway of replica $i ($(gw_addr $i)) does not answer:" \
             "$(tail -1 "$DIR/gwstatus$i.txt")" >&2
        gw_ok=0
        break
      fi
      sleep 1
    done
  done
  if (( ! gw_ok )); then
    echo "local-cluster: NO LOAD: this parachain-node does not serve clients on its [gateway] listen address" >&2
    echo "local-cluster: no throughput or latency can be measured; the ordering (empty blocks) is still checked" >&2
    LOAD_FAIL="gateway not answering"
  else
    if [[ $MODE == open ]]; then
      modeargs=(--mode open --rate "$RATE")
    else
      # pre-signed before the clock (Ed25519 signing costs ~20 us each on an
      # idle core, far more on a loaded one): enough for 3000 tx/s unless --txs
      modeargs=(--mode closed --outstanding "$K" --txs "${TXS:-$(( SECS * 3000 > 10000 ? SECS * 3000 : 10000 ))}")
    fi
    fund=(); [[ $WORKLOAD == transfer* ]] && fund=(--fund)
    extra=(); [[ -n $VERIFY ]] && extra+=(--verify); [[ -n $CSV ]] && extra+=(--csv "$CSV")
    say "load: parachain-bench $WORKLOAD, ${modeargs[*]:0:4}, ${SECS}s, $CONNS connections over $GWS"
    "$BENCH" --cluster "$C/cluster.conf" --gateway "$GWS" --conns "$CONNS" --workload "$WORKLOAD" \
      "${modeargs[@]}" --duration "$SECS" --seed "$RANDOM$RANDOM" ${fund[@]+"${fund[@]}"} \
      --wait-ms "$WAIT_MS" --missing "$DIR/missing.txt" --json "$DIR/bench.json" ${extra[@]+"${extra[@]}"} >"$DIR/bench.out" &
    BENCH_PID=$!
    wait "$BENCH_PID"; brc=$?; BENCH_PID=
    cat "$DIR/bench.out"
    if [[ -s $DIR/bench.json ]]; then
      jget() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "$DIR/bench.json"; }
      TPS=$(jget tps) P50=$(jget p50_ms) P99=$(jget p99_ms) P999=$(jget p999_ms)
      COMMITTED=$(( $(jget ok) + $(jget failed) ))
    fi
    (( brc == 0 )) || LOAD_FAIL="parachain-bench exited with status $brc"
    if [[ -s $DIR/missing.txt ]]; then
      # ask every replica about the first few transactions left without a
      # receipt: executed (a delivery problem) or never (lost on the way)?
      echo "$(wc -l <"$DIR/missing.txt") transactions got no receipt; what the replicas say about the first ones:"
      awk '{print $6}' "$DIR/missing.txt" | sort | uniq -c | sed 's/^/  /'
      head -3 "$DIR/missing.txt" | while read -r idx snd nonce conn hash why; do
        for i in "${REPLICAS[@]}"; do
          a=$("$CLI" -g "$(gw_addr $i)" -c "$C/cluster.conf" -t 3000 wait "$hash" --wait 0 2>&1 | tr '\n' ' ')
          echo "  tx $idx (sender $snd nonce $nonce, connection $conn, $why) at replica $i: ${a:0:100}"
        done
      done
    fi
  fi
fi

# ---- counters, then stop in order
for i in "${REPLICAS[@]}"; do
  m=$(metrics_addr $i)
  [[ -n $m ]] && curl -s -m 2 "http://$m/metrics" >"$DIR/metrics-$i.txt" 2>/dev/null
done
if ! dead=$(alive); then echo "local-cluster: replica $dead died during the run; its log:" >&2; tail -n 20 "$DIR/r$dead.err" >&2; fi
STOP_RC=()
say "stopping the replicas (SIGTERM, replica $((N - 1)) first)"
stop_replicas
stop_fail=0
for i in "${REPLICAS[@]}"; do
  if [[ ${STOP_RC[$i]:-1} != 0 ]] || ! grep -q '^final' "$DIR/r$i.out"; then
    echo "local-cluster: replica $i did not stop cleanly (status ${STOP_RC[$i]:-?}); its log:" >&2
    tail -n 20 "$DIR/r$i.err" >&2
    stop_fail=1
  fi
done

field() { awk -v k="$2" '{for (i = 1; i <= NF; i++) {n = index($i, "="); if (n && substr($i, 1, n - 1) == k) print substr($i, n + 1)}}' <<<"$1"; }
echo
echo "per-replica counters (last status line; docs/tuning.md says what each means)"
cols=(decided executed durable txs ok pool admitted rejected cons_in cons_out rounds_left persisted net_rx net_tx)
printf '%-3s' r; for c in "${cols[@]}"; do printf ' %10s' "$c"; done; echo
for i in "${REPLICAS[@]}"; do
  line=$(grep '^status' "$DIR/r$i.out" | tail -1)
  printf '%-3s' "$i"; for c in "${cols[@]}"; do v=$(field "$line" "$c"); printf ' %10s' "${v:--}"; done; echo
done
if compgen -G "$DIR/metrics-*.txt" >/dev/null && [[ -s $DIR/metrics-0.txt ]]; then
  echo "from replica 0's /metrics (every row of every replica: metrics-<i>.txt with --keep):"
  grep -E '^parachain_(gateway_(txs_admitted|receipts|connections_accepted)|gw_(busy|accepted)|consensus_(fast_decisions|round_changes)|held_sends_max|pool_rejected|receipts_txs)' \
    "$DIR/metrics-0.txt" | sed 's/^/  /'
fi

say "checks"
# ---- agreement: every replica's block log at the lowest last height H
# holds the same block (chain) hash and execution root; replicas that
# stopped at the same height also print the same final hashes.
echo
AGREE=1 LEDGER_OK=1
declare -a LAST
for i in "${REPLICAS[@]}"; do
  LAST[$i]=$("$LEDGER" stats --data "$C/replica-$i/data/log" 2>/dev/null | awk '$1=="heights"{split($2,a,"\\.\\."); print a[2]}')
  LAST[$i]=${LAST[$i]:-0}
done
H=$(printf '%s\n' "${LAST[@]}" | sort -n | head -1)
if (( H < 1 )); then
  echo "FAIL: a replica's block log holds no decided block (last heights: ${LAST[*]})"
  AGREE=0
else
  ref=
  for i in "${REPLICAS[@]}"; do
    got=$("$LEDGER" dump --data "$C/replica-$i/data/log" --height "$H" 2>/dev/null | awk '$1=="block_hash"||$1=="exec_root"{printf "%s ", $2}')
    echo "  replica $i at height $H: block ${got:0:16}… exec_root ${got:65:16}…"
    [[ -n $got ]] || { echo "  replica $i: cannot read height $H"; AGREE=0; continue; }
    if [[ -z $ref ]]; then ref=$got; elif [[ $got != "$ref" ]]; then AGREE=0; fi
  done
  bad=$(awk '/^final/ {print $2, $3, $4}' "$DIR"/r*.out | awk '{k=$1; if (k in seen && seen[k] != $0) print "final lines disagree at " k; seen[k]=$0}')
  [[ -z $bad ]] || { echo "  $bad"; AGREE=0; }
  if (( AGREE )); then echo "OK: all $N replicas hold the same block hash and execution root at height $H (last heights ${LAST[*]})"
  else echo "FAIL: the replicas disagree (see above)"; fi
fi
# pc-ledger verify: record CRCs and torn tail always; with --cluster (when
# this build's pc-ledger has it) every block's structure, batch hash, chain
# link and certificate, and with --replay a re-execution of the ledger.
deep=()
if "$LEDGER" --help 2>&1 | grep -q -- '--replay'; then
  deep=(--cluster "$C/cluster.conf" --replay)
  echo "ledger verification (pc-ledger verify --cluster --replay: CRCs, hash chain, certificates, re-execution)"
else
  echo "ledger verification (pc-ledger verify: record CRCs, torn tail; this pc-ledger cannot check certificates)"
fi
vp=()
for i in "${REPLICAS[@]}"; do
  "$LEDGER" verify --data "$C/replica-$i/data/log" ${deep[@]+"${deep[@]}"} >"$DIR/verify$i.txt" 2>&1 &
  vp[$i]=$!
done
for i in "${REPLICAS[@]}"; do
  wait "${vp[$i]}"; vrc=$?
  echo "  replica $i: $(grep -v '^  \.\.\.' "$DIR/verify$i.txt" | tail -1) (exit $vrc)"
  (( vrc == 0 )) || LEDGER_OK=0
done

echo
if [[ -z $NOLOAD ]]; then
  printf '%-10s %-8s %-7s %-14s %-7s %10s %9s %9s %9s %10s\n' protocol transport batch workload mode tps p50_ms p99_ms p999_ms committed
  printf '%-10s %-8s %-7s %-14s %-7s %10s %9s %9s %9s %10s\n' "$PROTO" "$TRANSPORT" "$BATCH_EFF" "$WORKLOAD" "$MODE" "$TPS" "$P50" "$P99" "$P999" "$COMMITTED"
fi
rc=0
if (( stop_fail )); then rc=2; fi
if (( ! AGREE || ! LEDGER_OK )); then rc=1; fi
if (( rc == 0 )) && [[ -z $NOLOAD ]] && (( COMMITTED == 0 )); then
  echo "FAIL: no transaction committed${LOAD_FAIL:+ ($LOAD_FAIL)}"; rc=3
elif [[ -n $LOAD_FAIL ]]; then
  echo "WARNING: $LOAD_FAIL"
fi
echo "RESULT protocol=$PROTO transport=$TRANSPORT n=$N batch=$BATCH_EFF workload=$WORKLOAD mode=$([[ -n $NOLOAD ]] && echo none || echo $MODE)" \
     "tps=$TPS p50_ms=$P50 p99_ms=$P99 p999_ms=$P999 committed=$COMMITTED agree=$AGREE ledger_verified=$LEDGER_OK"
exit $rc
