//! Two simulated hypervisors, A and B, each an [`Ovs`] in its own namespace, joined by an underlay
//! veth and ready for OVS userspace VXLAN (the recipe of `shared/reference/lab-ovs-vxlan.md`):
//!
//! ```text
//!  endpoints ── [br-int A] vxlan0 ══ VXLAN ══ vxlan0 [br-int B] ── endpoints
//!                      (tnl_push/tnl_pop)
//!               [br-phy A] 198.18.0.1/24      [br-phy B] 198.18.0.2/24
//!                     uA <======== underlay veth ========> uB
//! ```
//!
//! Pitfalls handled: `arp_ignore=1` on the underlay veths (duplicate ARP replies), fixed br-phy
//! MACs and `tnl/neigh/set` (first packet dropped otherwise), endpoints default to MTU 1450, and TX
//! checksum offload off in endpoints (done by [`Ovs::add_endpoint_with`]).

use std::fs::File;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::cmd::{LabError, Result, stop_pid, wait_until};
use super::ovs::Ovs;

/// Which simulated host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    A,
    B,
}

/// The OpenFlow port number of the flow-based VXLAN port on each integration bridge.
pub const VXLAN_OFPORT: u32 = 100;

/// Hosts A and B with their underlay and an integration bridge carrying a flow-based VXLAN port
/// (`remote_ip=flow key=flow local_ip=<underlay>`), named `vxlan0`.
pub struct TwoHost {
    pub a: Ovs,
    pub b: Ovs,
    /// Name of the integration bridge on both hosts.
    pub bridge: String,
    underlay_if: [String; 2],
}

impl TwoHost {
    /// Builds both hosts; `bridge` is the integration bridge name (e.g. `br-int`, `dockerbr0`).
    pub fn start(bridge: &str) -> Result<TwoHost> {
        let a = Ovs::start()?;
        let b = Ovs::start()?;
        let ua = super::unique("u");
        let ub = super::unique("u");
        super::run_ok(std::process::Command::new("ip").args([
            "link",
            "add",
            &ua,
            "netns",
            &a.netns().name,
            "type",
            "veth",
            "peer",
            "name",
            &ub,
            "netns",
            &b.netns().name,
        ]))?;
        let lab = TwoHost { a, b, bridge: bridge.to_string(), underlay_if: [ua, ub] };
        for h in [Host::A, Host::B] {
            let ovs = lab.host(h);
            let uif = lab.underlay_if(h);
            ovs.netns().run(&["sysctl", "-qw", &format!("net.ipv4.conf.{uif}.arp_ignore=1")])?;
            ovs.netns().run(&["ip", "link", "set", uif, "mtu", "1500", "up"])?;
            ovs.vsctl(&[
                "add-br",
                "br-phy",
                "--",
                "set",
                "bridge",
                "br-phy",
                "datapath_type=netdev",
                &format!("other-config:hwaddr={}", Self::phy_mac(h)),
                "--",
                "add-port",
                "br-phy",
                uif,
                "--",
                "set",
                "interface",
                "br-phy",
                "mtu_request=1500",
            ])?;
            ovs.netns().run(&[
                "ip",
                "addr",
                "add",
                &format!("{}/24", Self::underlay_ip(h)),
                "dev",
                "br-phy",
            ])?;
            ovs.netns().run(&["ip", "link", "set", "br-phy", "up"])?;
            ovs.add_bridge(bridge)?;
            ovs.vsctl(&[
                "add-port",
                bridge,
                "vxlan0",
                "--",
                "set",
                "interface",
                "vxlan0",
                "type=vxlan",
                &format!("ofport_request={VXLAN_OFPORT}"),
                "options:remote_ip=flow",
                "options:key=flow",
                &format!("options:local_ip={}", Self::underlay_ip(h)),
            ])?;
        }
        for h in [Host::A, Host::B] {
            lab.wait_tunnel_ready(h)?;
            let peer = h.peer();
            lab.host(h).appctl(&["tnl/neigh/set", "br-phy", Self::underlay_ip(peer), Self::phy_mac(peer)])?;
        }
        Ok(lab)
    }

    /// The underlay (VTEP) address of a host.
    pub fn underlay_ip(h: Host) -> &'static str {
        match h {
            Host::A => "198.18.0.1",
            Host::B => "198.18.0.2",
        }
    }

    fn phy_mac(h: Host) -> &'static str {
        match h {
            Host::A => "02:00:c6:12:00:01",
            Host::B => "02:00:c6:12:00:02",
        }
    }

    /// The OVS of a host.
    pub fn host(&self, h: Host) -> &Ovs {
        match h {
            Host::A => &self.a,
            Host::B => &self.b,
        }
    }

    /// The underlay veth of a host (inside its namespace).
    pub fn underlay_if(&self, h: Host) -> &str {
        &self.underlay_if[h as usize]
    }

    fn wait_tunnel_ready(&self, h: Host) -> Result<()> {
        let ovs = self.host(h);
        let me = format!("dst={},", Self::underlay_ip(h));
        let peer = Self::underlay_ip(h.peer());
        wait_until("the VXLAN listener and underlay route", Duration::from_secs(15), || {
            let ports = ovs.appctl(&["tnl/ports/show", "-v"]).unwrap_or_default();
            let route = ovs.appctl(&["ovs/route/lookup", peer]).unwrap_or_default();
            (ports.contains(&me) && route.contains("dev br-phy")).then_some(())
        })
        .map_err(|e| LabError::new(format!("host {h:?}: {e}\n{}", ovs.log_tail("ovs-vswitchd.log", 20))))
    }

    /// Starts capturing up to `count` VXLAN frames (UDP 4789) on a host's underlay veth.
    pub fn capture_vxlan(&self, h: Host, count: u32) -> Result<Capture> {
        let ovs = self.host(h);
        let file = ovs.dir().join(format!("capture-{}.txt", super::unique("c")));
        let out = File::create(&file).map_err(|e| LabError::new(format!("{}: {e}", file.display())))?;
        let child = ovs
            .netns()
            .cmd("tcpdump")
            .args(["-lnni", self.underlay_if(h), "-c", &count.to_string(), "udp dst port 4789"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| LabError::new(format!("tcpdump: {e}")))?;
        // tcpdump needs a moment to open the socket before traffic starts.
        std::thread::sleep(Duration::from_millis(400));
        Ok(Capture { child: Some(child), file })
    }
}

impl Host {
    /// The other host.
    pub fn peer(self) -> Host {
        match self {
            Host::A => Host::B,
            Host::B => Host::A,
        }
    }
}

/// A running tcpdump; [`Capture::finish`] returns what it printed.
pub struct Capture {
    child: Option<Child>,
    file: std::path::PathBuf,
}

impl Capture {
    /// Waits up to `timeout` for tcpdump to see its count, stops it, returns its lines.
    pub fn finish(mut self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        if let Some(mut c) = self.child.take() {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            stop_pid(c.id());
            let _ = c.wait();
        }
        std::fs::read_to_string(&self.file).unwrap_or_default()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_pid(c.id());
            let _ = c.wait();
        }
    }
}
