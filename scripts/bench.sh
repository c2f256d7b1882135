#!/usr/bin/env bash
# One command for the figures: the codec / store / model micro benchmarks, then vlcp-bench against
# the real `vlcp` daemon in a lab this script builds (OVS in its own network namespace, the daemon
# with its embedded store, management API, OpenFlow controller and Docker plugin socket), and one
# markdown table of everything on stdout (also written to --out).
#
# Usage: scripts/bench.sh [--endpoints N] [--keep N] [--concurrency C] [--no-micro] [--docker]
#                        [--out FILE] [--log FILE] [--rcu-expedited]
#   --endpoints N    churn: full endpoint lifecycles (default 1000)
#   --keep N         scale: endpoints held up while churning 200 more (default 1000; 0 skips)
#   --concurrency C  endpoints in flight (default 8)
#   --no-micro       skip the cargo micro benchmarks
#   --docker         also `docker run` on a vlcp network vs Docker's bridge (the e2e benchmark
#                    heavy_bench_docker_run_vlcp_vs_bridge: a lab dockerd, release binaries;
#                    VLCP_BENCH_RUNS runs per driver, default 20)
#   --out FILE       also write the table here (default target/bench/results.md)
#   --log FILE       keep the daemon's log (stderr) here
#   --rcu-expedited  run with /sys/kernel/rcu_expedited=1 (restored on exit): ovs-vswitchd's
#                    userspace datapath closes a packet socket per removed port, and each close
#                    waits for a kernel RCU grace period (8-16 ms) on its main thread; this shows
#                    the churn when that wait is not the limit. A system-wide kernel setting:
#                    for measurement, not a default.
# Needs root (network namespaces, veths), Open vSwitch, curl, python3. Everything it starts is
# stopped and removed on exit, also on Ctrl-C. Exit status: 0, or 1 when a vlcp-bench run failed
# calls or leaked.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ENDPOINTS=1000
KEEP=1000
CONC=8
MICRO=1
DOCKER=0
OUT="$ROOT/target/bench/results.md"
KEEP_LOG=""
RCU=0
while [ $# -gt 0 ]; do
    case "$1" in
        --endpoints) ENDPOINTS=$2; shift 2 ;;
        --keep) KEEP=$2; shift 2 ;;
        --concurrency) CONC=$2; shift 2 ;;
        --no-micro) MICRO=0; shift ;;
        --docker) DOCKER=1; shift ;;
        --out) OUT=$2; shift 2 ;;
        --log) KEEP_LOG=$2; shift 2 ;;
        --rcu-expedited) RCU=1; shift ;;
        -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "bench.sh: needs root (network namespaces)" >&2; exit 2; }
for tool in ovsdb-server ovs-vswitchd ovs-vsctl ovs-ofctl curl python3 ip; do
    command -v "$tool" >/dev/null || { echo "bench.sh: $tool is not installed" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/vlcp-bench-XXXXXX)
NS="vlb$$"
BR=dockerbr0
DAEMON_PID=""
RCU_WAS=""
log() { echo "bench.sh: $*" >&2; }

cleanup() {
    set +e
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
    fi
    for d in ovs-vswitchd ovsdb-server; do
        [ -f "$WORK/$d.pid" ] && kill "$(cat "$WORK/$d.pid")" 2>/dev/null
    done
    sleep 0.5
    ip netns del "$NS" 2>/dev/null
    [ -n "$KEEP_LOG" ] && cp "$WORK/vlcp.log" "$KEEP_LOG"
    rm -rf "$WORK"
    if [ -n "$RCU_WAS" ]; then echo "$RCU_WAS" >/sys/kernel/rcu_expedited; fi
}
trap cleanup EXIT
if [ "$RCU" = 1 ]; then
    [ -w /sys/kernel/rcu_expedited ] || { echo "bench.sh: --rcu-expedited: /sys/kernel/rcu_expedited is not writable here" >&2; exit 2; }
    RCU_WAS=$(cat /sys/kernel/rcu_expedited)
    echo 1 >/sys/kernel/rcu_expedited
fi
trap 'exit 130' INT TERM

cd "$ROOT"
log "building (release): vlcp, vlcp-bench"
cargo build --release -q -p vlcp-plugin -p vlcp-bench --bins
BIN="$ROOT/target/release"
mkdir -p "$(dirname "$OUT")"

if [ "$MICRO" = 1 ]; then
    for b in openflow ovsdb objectdb model; do
        log "micro benchmark: $b"
        cargo bench -q --bench "$b" >"$WORK/micro-$b.txt" 2>"$WORK/micro-$b.err" \
            || { log "bench $b failed:"; tail -5 "$WORK/micro-$b.err" >&2; }
    done
fi

# --- the lab: OVS in namespace $NS, the daemon in ours (it enters $NS for veths) ---
log "lab: OVS in netns $NS, files in $WORK"
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ovsdb-tool create "$WORK/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovs_env=(env "OVS_RUNDIR=$WORK" "OVS_LOGDIR=$WORK" "OVS_DBDIR=$WORK")
ip netns exec "$NS" "${ovs_env[@]}" ovsdb-server "$WORK/conf.db" --remote="punix:$WORK/db.sock" \
    --pidfile="$WORK/ovsdb-server.pid" --unixctl="$WORK/ovsdb-server.ctl" \
    --log-file="$WORK/ovsdb-server.log" --detach 2>>"$WORK/ovs.stderr"
VSCTL=(ovs-vsctl --timeout=20 --db="unix:$WORK/db.sock")
"${VSCTL[@]}" --no-wait init
ip netns exec "$NS" "${ovs_env[@]}" ovs-vswitchd "unix:$WORK/db.sock" \
    --pidfile="$WORK/ovs-vswitchd.pid" --unixctl="$WORK/ovs-vswitchd.ctl" \
    --log-file="$WORK/ovs-vswitchd.log" --detach 2>>"$WORK/ovs.stderr"
"${VSCTL[@]}" add-br "$BR" -- set bridge "$BR" datapath_type=netdev \
    protocols=OpenFlow10,OpenFlow13 fail_mode=secure
OF_SOCK="$WORK/vlcp-openflow.sock"
"${VSCTL[@]}" set-controller "$BR" "unix:$OF_SOCK"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MOVED='^(module\.embeddeddb\.path|module\.httpserver\.vhost\.(api|docker)\.url|module\.openflowserver\.url|module\.jsonrpcserver\.url|module\.dockerplugin\.(cidrrange|netns)|server\.loglevel)'
grep -Ev "$MOVED" config/docker.conf >"$WORK/vlcp.conf"
cat >>"$WORK/vlcp.conf" <<EOF
module.embeddeddb.path='$WORK/vlcp.redb'
module.httpserver.vhost.api.url='tcp://127.0.0.1:$PORT/'
module.httpserver.vhost.docker.url='unix://$WORK/plugin.sock'
module.openflowserver.url='unix://$OF_SOCK'
module.jsonrpcserver.url='unix://$WORK/db.sock'
module.dockerplugin.cidrrange='198.19.0.0/16'
module.dockerplugin.netns='/run/netns/$NS'
server.loglevel='warn'
EOF
"$BIN/vlcp" -f "$WORK/vlcp.conf" 2>"$WORK/vlcp.log" &
DAEMON_PID=$!
for _ in $(seq 300); do
    [ -S "$WORK/plugin.sock" ] && curl -sf "http://127.0.0.1:$PORT/viperflow/listphysicalnetworks" >/dev/null && break
    kill -0 "$DAEMON_PID" 2>/dev/null || { log "the daemon exited:"; cat "$WORK/vlcp.log" >&2; exit 1; }
    sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/viperflow/createphysicalnetwork?type=local&id=local" >/dev/null

# CPU seconds (user + system) of a pid.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"; }
bench() {
    local name=$1; shift
    log "vlcp-bench $name: $*"
    local vs db
    vs=$(cat "$WORK/ovs-vswitchd.pid"); db=$(cat "$WORK/ovsdb-server.pid")
    echo "$(cpu_s "$vs") $(cpu_s "$db")" >"$WORK/ovs-cpu-$name.before"
    "$BIN/vlcp-bench" --socket "$WORK/plugin.sock" --physnet local --netns "$NS" \
        --ovsdb "unix:$WORK/db.sock" --bridge "$BR" --bridge-mgmt "$WORK/$BR.mgmt" \
        --pid "$DAEMON_PID" --api "http://127.0.0.1:$PORT" --json "$@" >"$WORK/run-$name.json" \
        || { RC=1; log "vlcp-bench $name: failed calls or leaks (see the table)"; }
    echo "$(cpu_s "$vs") $(cpu_s "$db")" >"$WORK/ovs-cpu-$name.after"
}
RC=0
bench churn --endpoints "$ENDPOINTS" --concurrency "$CONC"
bench churn1 --endpoints "$ENDPOINTS" --concurrency 1
if [ "$KEEP" -gt 0 ]; then
    bench scale --keep "$KEEP" --endpoints 200 --concurrency "$CONC"
fi

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
MACHINE="load average $LOAD at the end; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/^Mem/ {print $2}') GB RAM, $(uname -r), /sys/kernel/rcu_expedited=$(cat /sys/kernel/rcu_expedited)"
python3 - "$WORK" "$MACHINE" >"$OUT" <<'PY'
import json, os, re, sys
work, machine = sys.argv[1], sys.argv[2]
rows = []
def row(area, figure, value):
    rows.append(f"| {area} | {figure} | {value} |")

def runs():
    for name in ("churn", "churn1", "scale"):
        p = os.path.join(work, f"run-{name}.json")
        if os.path.exists(p) and os.path.getsize(p) > 0:
            yield name, json.load(open(p))

for name, r in runs():
    area = f"plugin ({name})"
    if r["endpoints"]:
        row(area, f"churn, {r['endpoints']} lifecycles at concurrency {r['concurrency']}",
            f"**{r['lifecycles_per_min']:.0f} lifecycles/min** ({r['churn_seconds']:.1f} s)")
        c = r["churn_calls"]
        row(area, "endpoint calls during churn p50 / p99 / max",
            f"{c['p50_ms']:.2f} / {c['p99_ms']:.2f} / {c['max_ms']:.2f} ms ({c['count']} calls)")
    for call in r["calls"]:
        if call["call"] in ("CreateEndpoint", "Join", "DeleteEndpoint", "RequestAddress"):
            row(area, f"{call['call']} p50 / p99 / max",
                f"{call['p50_ms']:.2f} / {call['p99_ms']:.2f} / {call['max_ms']:.2f} ms")
    if r["keep"]:
        kept = len(r["addresses_kept"])
        row(area, f"{kept} endpoints brought up", f"{r['keep_seconds']:.1f} s ({kept * 60 / max(r['keep_seconds'], 1e-9):.0f}/min)")
        if r.get("flows_with_kept") is not None:
            row(area, f"flows on the bridge with {kept} endpoints", r["flows_with_kept"])
    sc = r.get("scale")
    if sc:
        mb = lambda kb: f"{kb / 1024:.1f} MB"
        if r["keep"]:
            row(area, f"daemon RSS: start / {sc['endpoints_kept']} endpoints / after churn / peak",
                f"{mb(sc['at_start']['rss_kb'])} / {mb(sc['after_keep']['rss_kb'])} / {mb(sc['after_churn']['rss_kb'])} / {mb(sc['after_churn']['hwm_kb'])}")
        cpu = sc["after_churn"]["cpu_s"] - sc["after_keep"]["cpu_s"]
        if r["endpoints"]:
            row(area, "daemon CPU during churn",
                f"{cpu:.1f} s = {cpu / max(r['churn_seconds'], 1e-9):.2f} cores, {cpu * 1000 / r['endpoints']:.1f} ms per lifecycle")
    try:
        b = [float(x) for x in open(os.path.join(work, f"ovs-cpu-{name}.before")).read().split()]
        a = [float(x) for x in open(os.path.join(work, f"ovs-cpu-{name}.after")).read().split()]
        wall = r["churn_seconds"] + r["keep_seconds"]
        row(area, "ovs-vswitchd / ovsdb-server CPU over the whole run",
            f"{a[0] - b[0]:.1f} s / {a[1] - b[1]:.1f} s (churn + bring-up wall time {wall:.1f} s)")
    except (OSError, ValueError, IndexError):
        pass
    l = r["leaks"]
    leaked = sum(len(l[k]) for k in ("veths", "ovs_ports", "logical_ports", "addresses", "probe_errors"))
    row(area, "failed calls / leaks (veths, OVS ports, logical ports, addresses)",
        f"{r['errors']} / {leaked} ({len(l['veths'])}, {len(l['ovs_ports'])}, {len(l['logical_ports'])}, {len(l['addresses'])})"
        + (f"; probe errors: {'; '.join(l['probe_errors'])}" if l["probe_errors"] else ""))
    for e in r["error_samples"][:5]:
        row(area, "failed call", e.replace("|", "/")[:300])

# divan tables: "name  fastest │ slowest │ median │ mean │ samples │ iters"; keep the median.
for b in ("openflow", "ovsdb"):
    p = os.path.join(work, f"micro-{b}.txt")
    if not os.path.exists(p):
        continue
    path = []
    for line in open(p):
        if "│" not in line or "fastest" in line:
            continue
        cols = [c.strip() for c in line.rstrip("\n").split("│")]
        head = cols[0]
        m = re.match(r"^([\s│├╰─]*)(\S+)\s*(.*)$", head)
        if not m:
            continue
        if not re.search(r"[├╰]", m.group(1)):
            continue  # a throughput line under a benchmark
        depth = max(len(m.group(1)) // 3 - 1, 0)
        name, fastest = m.group(2), m.group(3)
        path = path[:depth] + [name]
        if len(cols) >= 3 and cols[2] and fastest:
            row(f"{b} (divan)", "/".join(path), f"median {cols[2]}")
for b in ("objectdb", "model"):
    p = os.path.join(work, f"micro-{b}.txt")
    if not os.path.exists(p):
        continue
    for line in open(p):
        line = " ".join(line.split())
        if line and not line.startswith(("objectdb:", "model:")):
            row(b, line, "")
print(f"Machine: {machine}\n")
print("| area | figure | value |\n|---|---|---|")
print("\n".join(rows))
PY
cp "$WORK"/run-*.json "$(dirname "$OUT")/" 2>/dev/null || true
if [ "$DOCKER" = 1 ]; then
    log "docker run on vlcp vs Docker's bridge (tests/tests/bench_docker_run.rs)"
    (cd "$ROOT" && cargo build -q --release --workspace --bins \
        && VLCP_BIN_DIR="$ROOT/target/release" \
            cargo nextest run -p vlcp-e2e --test bench_docker_run --no-capture 2>/dev/null) \
        | grep -E '^(\||docker run|ratio|plugin)' | sed 's/^docker run/\n### docker run/' >>"$OUT" \
        || { log "the docker run benchmark failed"; RC=1; }
fi
cat "$OUT"
log "table written to $OUT"
exit $RC
