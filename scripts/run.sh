#!/usr/bin/env bash
# Sets up and runs vlcp on this machine, on the embedded store:
#   installs what is missing, builds in release, starts Open vSwitch if none runs (userspace
#   datapath when the kernel module is absent), creates dockerbr0 (fail-mode secure, controller
#   pointing at our daemon) and starts `vlcp -f config/docker.conf` in the background.
# Run as root from the repository root:  bash scripts/run.sh      (stop: bash scripts/run.sh stop)
set -euo pipefail
cd "$(dirname "$0")/.."

CONF=${VLCP_CONF:-config/docker.conf}
STATE=${VLCP_STATE:-/var/lib/vlcp}
RUNDIR=/var/run/openvswitch
BRIDGE=dockerbr0
CONTROLLER=${VLCP_CONTROLLER:-tcp:127.0.0.1:6653}

if [ "${1:-}" = stop ]; then
    for d in vlcp dockerd; do
        [ -f "$STATE/$d.pid" ] && kill "$(cat "$STATE/$d.pid")" 2>/dev/null && echo "$d stopped"
        rm -f "$STATE/$d.pid"
    done
    exit 0
fi

bash scripts/deps.sh
cargo build --release --workspace --bins
mkdir -p "$STATE" "$RUNDIR" /etc/openvswitch /run/docker/plugins

# Open vSwitch: reuse a running one, else start ovsdb-server + ovs-vswitchd.
if ! ovs-vsctl --timeout=3 show >/dev/null 2>&1; then
    [ -f /etc/openvswitch/conf.db ] || ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-server /etc/openvswitch/conf.db --remote=punix:$RUNDIR/db.sock --pidfile --detach --log-file
    ovs-vsctl --no-wait init
    ovs-vswitchd unix:$RUNDIR/db.sock --pidfile --detach --log-file
fi
DPTYPE=system
if ! modprobe -q openvswitch 2>/dev/null && [ ! -d /sys/module/openvswitch ]; then
    DPTYPE=netdev       # no kernel datapath here: the userspace one works everywhere
fi
ovs-vsctl --may-exist add-br $BRIDGE -- set bridge $BRIDGE datapath_type=$DPTYPE fail_mode=secure \
    protocols=OpenFlow10,OpenFlow13 -- set-controller $BRIDGE "$CONTROLLER"
echo "bridge $BRIDGE ($DPTYPE datapath) -> controller $CONTROLLER"

if [ -f "$STATE/vlcp.pid" ] && kill -0 "$(cat "$STATE/vlcp.pid")" 2>/dev/null; then
    echo "vlcp already running (pid $(cat "$STATE/vlcp.pid"))"
    exit 0
fi
./target/release/vlcp --check-config -f "$CONF"
nohup ./target/release/vlcp -f "$CONF" >"$STATE/vlcp.log" 2>&1 &
echo $! > "$STATE/vlcp.pid"
API=http://127.0.0.1:8081
for _ in $(seq 100); do curl -sf "$API/viperflow/listphysicalnetworks" >/dev/null && break; sleep 0.1; done
curl -sf "$API/viperflow/listphysicalnetworks" >/dev/null || { echo "vlcp did not start; see $STATE/vlcp.log"; exit 1; }
echo "vlcp started (pid $(cat "$STATE/vlcp.pid")), log $STATE/vlcp.log, management API $API"

# A default physical network, once: `docker network create -o physicalnetwork=vxlan ...` uses it.
if ! curl -sf "$API/viperflow/listphysicalnetworks?id=vxlan" | grep -q '"id"'; then
    curl -sfg "$API/viperflow/createphysicalnetwork?type=vxlan&vnirange=\`[[10000,20000]]\`&id=vxlan" >/dev/null
    echo "physical network 'vxlan' created (VNI 10000-20000)"
fi

# Docker: use the running engine; on a machine without one, start one.
if ! docker info >/dev/null 2>&1; then
    nohup dockerd --iptables=false --bridge=none >"$STATE/dockerd.log" 2>&1 &
    echo $! > "$STATE/dockerd.pid"
    for _ in $(seq 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    docker info >/dev/null 2>&1 && echo "dockerd started (log $STATE/dockerd.log)" || echo "dockerd did not start: see $STATE/dockerd.log"
fi
cat <<MSG
Ready. Try:
  docker network create -d vlcp --ipam-driver vlcp -o physicalnetwork=vxlan --subnet 198.18.5.0/24 net1
  docker run --rm --network net1 <image> ping -c3 198.18.5.1
MSG
