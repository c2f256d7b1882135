#!/usr/bin/env bash
# Installs the system packages vlcp and its test lab need, idempotently (Debian 12).
# Stops distro-started services that would interfere with the lab's own instances.
set -euo pipefail

PKGS=(openvswitch-switch docker.io containerd busybox-static zookeeper redis-server iproute2 iputils-ping
      ethtool tcpdump procps util-linux kmod ca-certificates curl)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d keeps packages from starting their services during install.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Distro services are not ours: the lab runs private instances. Stop any that a package started
# (only the distro's own pidfiles are used, so nothing else is touched).
for svc in redis-server zookeeper docker containerd openvswitch-switch; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
    fi
done
for pidfile in /run/redis/redis-server.pid /var/run/zookeeper/zookeeper_server.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
done
mkdir -p /run/docker/plugins
echo "deps: ok"
