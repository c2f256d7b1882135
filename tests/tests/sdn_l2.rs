//! The SDN pipeline on one host, first slice: L2 within a logical network, isolation between
//! networks (same CIDR, IPs and MACs), ARP and ping for the gateway, DHCP from our server, and a
//! controller restart that finds the flows already right — all on the lab's real OVS, with
//! namespaces as endpoints bound to logical ports by `iface-id`.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::watch;
use vlcp::runtime::controller::{SdnController, Status};
use vlcp::runtime::ofswitch::{Controller, ControllerConfig};
use vlcp::runtime::ovsdb::{ClientConfig, OvsdbClient};
use vlcp::sdn::config::SdnConfig;
use vlcp::sdn::input::{
    DhcpSettings, LogicalNetwork, LogicalPort, ModelSnapshot, NetworkType, PhysicalNetwork, Subnet, parse_mac,
};
use vlcp_e2e::lab::{Endpoint, EndpointOpts, Ovs};

const BR: &str = "br0";
const GW: &str = "198.18.1.1";
const ROUTER_MAC: &str = "1a:23:67:59:63:33";

/// One OVS with our controller attached as the bridge's controller over a unix socket.
struct World {
    rt: Runtime,
    ovs: Ovs,
    dpid: u64,
    of: Arc<Controller>,
    ovsdb: OvsdbClient,
    model: watch::Sender<Arc<ModelSnapshot>>,
    sdn: Option<SdnController>,
    _dir: tempfile::TempDir,
}

fn network(id: &str) -> LogicalNetwork {
    LogicalNetwork {
        id: id.into(),
        physical_network: "local".into(),
        segment: None,
        dhcp: DhcpSettings {
            mtu: Some(1400),
            dns_nameservers: vec![Ipv4Addr::new(198, 18, 0, 53)],
            domain_name: Some("lab.test".into()),
            lease_time: Some(3600),
        },
    }
}

fn subnet(id: &str, net: &str) -> Subnet {
    Subnet {
        id: id.into(),
        network: net.into(),
        cidr: "198.18.1.0/24".parse().unwrap(),
        gateway: Some(GW.parse().unwrap()),
        host_routes: Vec::new(),
        external: false,
        dhcp: DhcpSettings::default(),
    }
}

fn port(id: &str, net: &str, mac: &str, ip: &str) -> LogicalPort {
    LogicalPort {
        id: id.into(),
        network: net.into(),
        subnet: Some(if net == "n1" { "s1" } else { "s2" }.into()),
        mac: parse_mac(mac).unwrap(),
        ip: Some(ip.parse().unwrap()),
        hostname: None,
    }
}

/// Two local networks with the same subnet; p3 in n2 reuses p1's MAC and IP.
fn model(ports: &[&LogicalPort]) -> ModelSnapshot {
    let mut m = ModelSnapshot::default();
    m.physical_networks
        .insert("local".into(), PhysicalNetwork { id: "local".into(), kind: NetworkType::Local });
    for n in ["n1", "n2"] {
        m.logical_networks.insert(n.into(), network(n));
    }
    m.subnets.insert("s1".into(), subnet("s1", "n1"));
    m.subnets.insert("s2".into(), subnet("s2", "n2"));
    for p in ports {
        m.logical_ports.insert(p.id.clone(), (*p).clone());
    }
    m
}

impl World {
    fn new(initial: ModelSnapshot) -> World {
        let rt = Runtime::new().unwrap();
        let ovs = Ovs::start().expect("ovs");
        ovs.add_bridge(BR).unwrap();
        let dir = tempfile::tempdir().unwrap();
        // OVS only connects to controller sockets inside its own run directory.
        let sock = ovs.dir().join("ctl.sock");
        let (of, ovsdb) = rt.block_on(async {
            let of = Controller::start(ControllerConfig {
                listen: vec![format!("unix:{}", sock.display())],
                ..ControllerConfig::default()
            })
            .await
            .expect("controller listens");
            let (ovsdb, _events) = OvsdbClient::connect(ClientConfig::new(&ovs.db_url())).expect("ovsdb");
            ovsdb.wait_synced(Duration::from_secs(10)).await.expect("ovsdb synced");
            (Arc::new(of), ovsdb)
        });
        ovs.vsctl(&["set-controller", BR, &format!("unix:{}", sock.display())]).unwrap();
        let dpid = ovs.vsctl(&["get", "bridge", BR, "datapath_id"]).unwrap();
        let dpid = u64::from_str_radix(dpid.trim_matches('"'), 16).unwrap();
        let (model, model_rx) = watch::channel(Arc::new(initial));
        let sdn = {
            let _g = rt.enter();
            SdnController::spawn(of.clone(), ovsdb.clone(), model_rx, SdnConfig::default()).unwrap()
        };
        World { rt, ovs, dpid, of, ovsdb, model, sdn: Some(sdn), _dir: dir }
    }

    fn sdn(&self) -> &SdnController {
        self.sdn.as_ref().unwrap()
    }

    fn endpoint(&self, p: &LogicalPort, mac: &str) -> Endpoint {
        let opts = EndpointOpts { mac: Some(mac.into()), iface_id: Some(p.id.clone()), ..Default::default() };
        let ip = p.ip.unwrap();
        self.ovs.add_endpoint_with(BR, &format!("{ip}/24"), &opts).unwrap()
    }

    /// Waits until the switch is synced with exactly `ports` bound.
    fn wait_bound(&self, ports: &[&str]) -> Status {
        let mut want: Vec<String> = ports.iter().map(|s| s.to_string()).collect();
        want.sort();
        let dpid = self.dpid;
        let got = self.rt.block_on(self.sdn().wait_status(Duration::from_secs(30), |s| {
            let sw = s.get(&dpid)?;
            let mut have = sw.ports.clone();
            have.sort();
            (sw.synced && have == want).then(|| s.clone())
        }));
        got.unwrap_or_else(|| {
            panic!(
                "ports {want:?} not bound and synced: {:?}\n{}\ncontroller: {:?}\n{}",
                self.sdn().status(),
                self.flows(),
                self.ovs.vsctl(&["list", "controller"]),
                self.ovs.log_tail("ovs-vswitchd.log", 30)
            )
        })
    }

    fn flows(&self) -> String {
        self.ovs.ofctl_br("dump-flows", BR, &[]).unwrap_or_else(|e| e.to_string())
    }

    fn assert_no_errors(&self) {
        let st = self.sdn().status();
        let sw = st.get(&self.dpid).expect("datapath known");
        assert_eq!(sw.errors, 0, "OFPT_ERROR received from the switch\n{}", self.flows());
    }
}

#[test]
fn ports_of_one_network_ping_and_the_other_network_is_isolated() {
    let p1 = port("p1", "n1", "02:00:00:00:01:01", "198.18.1.11");
    let p2 = port("p2", "n1", "02:00:00:00:01:02", "198.18.1.12");
    // Same MAC and IP as p1, in the other network.
    let p3 = port("p3", "n2", "02:00:00:00:01:01", "198.18.1.11");
    let w = World::new(model(&[&p1, &p2, &p3]));
    let e1 = w.endpoint(&p1, "02:00:00:00:01:01");
    let e2 = w.endpoint(&p2, "02:00:00:00:01:02");
    let e3 = w.endpoint(&p3, "02:00:00:00:01:01");
    w.wait_bound(&["p1", "p2", "p3"]);
    assert!(e1.ns.ping_eventually(&e2.ip, 10), "p1 → p2 within n1\n{}", w.flows());
    assert!(e2.ns.ping(&e1.ip, 3), "p2 → p1 within n1\n{}", w.flows());
    // p3 asks for p2's address: nobody in n2 has it; p2 must not hear it.
    assert!(!e3.ns.ping(&e2.ip, 3), "n2 reached n1\n{}", w.flows());
    let neigh = e3.ns.run(&["ip", "neigh", "show", &e2.ip]).unwrap();
    assert!(!neigh.contains("lladdr"), "p3 learned p2's MAC across networks: {neigh}");
    // p2 pings p1's address: the answer must come from p1, not from p3 with the same address.
    e3.ns.run(&["ip", "link", "set", "eth0", "down"]).unwrap();
    assert!(e2.ns.ping(&e1.ip, 2));
    e3.ns.run(&["ip", "link", "set", "eth0", "up"]).unwrap();
    w.assert_no_errors();
}

#[test]
fn gateway_arp_and_ping_are_answered() {
    let p1 = port("p1", "n1", "02:00:00:00:02:01", "198.18.1.11");
    let w = World::new(model(&[&p1]));
    let e1 = w.endpoint(&p1, "02:00:00:00:02:01");
    w.wait_bound(&["p1"]);
    let arping = e1.ns.run(&["busybox", "arping", "-c", "1", "-w", "3", "-I", "eth0", GW]);
    let arping = arping.unwrap_or_else(|e| panic!("no ARP answer for the gateway: {e}\n{}", w.flows()));
    assert!(arping.to_lowercase().contains(ROUTER_MAC), "gateway answered with the wrong MAC: {arping}");
    assert!(e1.ns.ping_eventually(GW, 5), "gateway ping not answered\n{}", w.flows());
    assert!(e1.ns.ping(GW, 3));
    let answered = w.sdn().status()[&w.dpid].answered;
    assert!(answered >= 3, "pings were not answered by the controller ({answered})");
    w.assert_no_errors();
}

#[test]
fn dhcp_client_gets_address_router_dns_and_mtu() {
    let p4 = port("p4", "n1", "02:00:00:00:03:04", "198.18.1.44");
    let w = World::new(model(&[&p4]));
    // The endpoint starts with an unrelated address, removed before DHCP runs.
    let opts = EndpointOpts {
        mac: Some("02:00:00:00:03:04".into()),
        iface_id: Some("p4".into()),
        ..Default::default()
    };
    let e4 = w.ovs.add_endpoint_with(BR, "198.18.9.9/32", &opts).unwrap();
    e4.ns.run(&["ip", "addr", "flush", "dev", "eth0"]).unwrap();
    w.wait_bound(&["p4"]);
    let script = w._dir.path().join("udhcpc.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ \"$1\" = bound ] && echo \"ip=$ip subnet=$subnet router=$router dns=$dns domain=$domain mtu=$mtu lease=$lease serverid=$serverid\"\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = e4
        .ns
        .run(&[
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-n",
            "-q",
            "-f",
            "-t",
            "5",
            "-T",
            "2",
            "-s",
            script.to_str().unwrap(),
        ])
        .unwrap_or_else(|e| panic!("udhcpc failed: {e}\n{}", w.flows()));
    let line = out.lines().find(|l| l.starts_with("ip=")).unwrap_or_else(|| panic!("no lease: {out}"));
    for want in [
        "ip=198.18.1.44",
        "subnet=255.255.255.0",
        "router=198.18.1.1",
        "dns=198.18.0.53",
        "domain=lab.test",
        "mtu=1400",
        "lease=3600",
        "serverid=169.254.169.254",
    ] {
        assert!(line.split_whitespace().any(|w| w == want), "{want} missing in {line}");
    }
    w.assert_no_errors();
}

#[test]
fn controller_restart_finds_the_flows_right_and_removal_cleans_up() {
    let p1 = port("p1", "n1", "02:00:00:00:04:01", "198.18.1.11");
    let p2 = port("p2", "n1", "02:00:00:00:04:02", "198.18.1.12");
    let mut w = World::new(model(&[&p1, &p2]));
    let e1 = w.endpoint(&p1, "02:00:00:00:04:01");
    let e2 = w.endpoint(&p2, "02:00:00:00:04:02");
    let before = w.wait_bound(&["p1", "p2"]);
    assert!(e1.ns.ping_eventually(&e2.ip, 10), "{}", w.flows());
    let flows = before[&w.dpid].flows;
    // A new controller task (as after a restart) reads the flows back and sends nothing.
    w.sdn = None;
    let model_rx = w.model.subscribe();
    w.sdn = Some({
        let _g = w.rt.enter();
        SdnController::spawn(w.of.clone(), w.ovsdb.clone(), model_rx, SdnConfig::default()).unwrap()
    });
    let after = w.wait_bound(&["p1", "p2"]);
    let sw = &after[&w.dpid];
    assert_eq!(sw.flows, flows);
    assert_eq!(sw.flow_mods, 0, "resync after restart changed flows that were right\n{}", w.flows());
    assert!(e1.ns.ping(&e2.ip, 2));
    // Removing p2 from the model removes its flows; an empty model leaves only the defaults.
    w.model.send_replace(Arc::new(model(&[&p1])));
    w.wait_bound(&["p1"]);
    assert!(!e1.ns.ping(&e2.ip, 2), "p2's flows survived its removal\n{}", w.flows());
    let mut empty = model(&[]);
    empty.logical_networks.clear();
    empty.subnets.clear();
    w.model.send_replace(Arc::new(empty));
    w.wait_bound(&[]);
    let dump = w.flows();
    let ours = dump.lines().filter(|l| l.contains("cookie=0x5c")).count();
    let defaults = dump.lines().filter(|l| l.contains("priority=0 ")).count();
    assert!(
        ours > 0 && ours == defaults + 2,
        "only table defaults and the l2input filters may stay:\n{dump}"
    );
    w.assert_no_errors();
}

/// `ping -c count -i 0.05` in the background; returns (transmitted, received) when done.
fn background_ping(ep: &Endpoint, ip: &str, count: u32) -> std::thread::JoinHandle<(u32, u32)> {
    let mut cmd = ep.ns.cmd("ping");
    cmd.args(["-n", "-q", "-c", &count.to_string(), "-i", "0.05", "-W", "1", ip]);
    std::thread::spawn(move || {
        let out = vlcp_e2e::lab::run(&mut cmd).expect("ping runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text.lines().find(|l| l.contains("transmitted")).unwrap_or_else(|| panic!("{text}"));
        let nums: Vec<u32> =
            line.split(|c: char| !c.is_ascii_digit()).filter_map(|s| s.parse().ok()).collect();
        (nums[0], nums[1])
    })
}

#[test]
fn continuous_ping_survives_controller_and_openflow_restart() {
    let p1 = port("p1", "n1", "02:00:00:00:05:01", "198.18.1.11");
    let p2 = port("p2", "n1", "02:00:00:00:05:02", "198.18.1.12");
    let mut w = World::new(model(&[&p1, &p2]));
    let e1 = w.endpoint(&p1, "02:00:00:00:05:01");
    let e2 = w.endpoint(&p2, "02:00:00:00:05:02");
    w.wait_bound(&["p1", "p2"]);
    assert!(e1.ns.ping_eventually(&e2.ip, 10), "{}", w.flows());
    let ping = background_ping(&e1, &e2.ip, 200);
    // Stop the SDN task and the OpenFlow endpoint: the switch loses its controller.
    w.sdn = None;
    let mut of = w.of.clone();
    w.of = Arc::new(w.rt.block_on(async {
        Controller::start(ControllerConfig { listen: Vec::new(), ..Default::default() }).await.unwrap()
    }));
    let old = loop {
        match Arc::try_unwrap(of) {
            Ok(c) => break c,
            Err(still_shared) => {
                of = still_shared;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    drop(old);
    // A new endpoint on the same socket; OVS reconnects by itself.
    let sock = w.ovs.dir().join("ctl.sock");
    w.of = Arc::new(w.rt.block_on(async {
        Controller::start(ControllerConfig {
            listen: vec![format!("unix:{}", sock.display())],
            ..Default::default()
        })
        .await
        .unwrap()
    }));
    let model_rx = w.model.subscribe();
    w.sdn = Some({
        let _g = w.rt.enter();
        SdnController::spawn(w.of.clone(), w.ovsdb.clone(), model_rx, SdnConfig::default()).unwrap()
    });
    let st = w.wait_bound(&["p1", "p2"]);
    assert_eq!(st[&w.dpid].flow_mods, 0, "reconnect resync rewrote flows\n{}", w.flows());
    let (sent, got) = ping.join().unwrap();
    assert_eq!(sent, 200);
    assert_eq!(got, sent, "packets lost across the controller restart and OpenFlow reconnect");
    w.assert_no_errors();
}

/// A logical port reaches a host behind a physical port of a `kind` physical network (the host
/// is a namespace on a veth: tagged with VLAN 100 for vlan, untagged for native).
fn physical_network_carries(kind: NetworkType) {
    let p1 = LogicalPort {
        id: "p1".into(),
        network: "v1".into(),
        subnet: Some("sv".into()),
        mac: parse_mac("02:00:00:00:06:01").unwrap(),
        ip: Some("198.18.2.11".parse().unwrap()),
        hostname: None,
    };
    let base = |phys_port: Option<String>| {
        let mut m = ModelSnapshot::default();
        m.physical_networks.insert("pv".into(), PhysicalNetwork { id: "pv".into(), kind });
        let mut net = network("v1");
        net.physical_network = "pv".into();
        net.segment = (kind == NetworkType::Vlan).then_some(100);
        m.logical_networks.insert("v1".into(), net);
        let mut s = subnet("sv", "v1");
        s.cidr = "198.18.2.0/24".parse().unwrap();
        s.gateway = None;
        m.subnets.insert("sv".into(), s);
        m.logical_ports.insert("p1".into(), p1.clone());
        if let Some(name) = phys_port {
            m.physical_ports.push(vlcp::sdn::input::PhysicalPort {
                vhost: String::new(),
                systemid: "%".into(),
                bridge: "%".into(),
                name,
                physical_network: "pv".into(),
            });
        }
        m
    };
    let w = World::new(base(None));
    // The outside: a standalone (NORMAL) bridge joined to br0 by a veth trunk; the host sits on
    // an access port (VLAN 100 for vlan, untagged for native), so only frames with the right
    // tag reach it.
    w.ovs.vsctl(&["add-br", "brx", "--", "set", "bridge", "brx", "datapath_type=netdev"]).unwrap();
    let (trunk, far) = (vlcp_e2e::lab::unique("t"), vlcp_e2e::lab::unique("t"));
    let hns = w.ovs.netns();
    hns.run(&["ip", "link", "add", &trunk, "type", "veth", "peer", "name", &far]).unwrap();
    hns.run(&["ip", "link", "set", &trunk, "up"]).unwrap();
    hns.run(&["ip", "link", "set", &far, "up"]).unwrap();
    w.ovs.vsctl(&["add-port", BR, &trunk]).unwrap();
    w.ovs.vsctl(&["add-port", "brx", &far]).unwrap();
    let ext = w.ovs.add_endpoint_with("brx", "198.18.2.99/24", &EndpointOpts::default()).unwrap();
    if kind == NetworkType::Vlan {
        w.ovs.vsctl(&["set", "port", &ext.host_if, "tag=100"]).unwrap();
    }
    let e1 = w.endpoint(&p1, "02:00:00:00:06:01");
    w.wait_bound(&["p1"]);
    assert!(!e1.ns.ping(&ext.ip, 1), "reached the outside before the physical port exists");
    w.model.send_replace(Arc::new(base(Some(trunk.clone()))));
    let dpid = w.dpid;
    w.rt.block_on(w.sdn().wait_status(Duration::from_secs(30), |s| {
        s.get(&dpid).filter(|sw| sw.synced && sw.flows > 0).map(|_| ())
    }));
    assert!(e1.ns.ping_eventually(&ext.ip, 10), "logical port → physical host\n{}", w.flows());
    assert!(ext.ns.ping(&e1.ip, 3), "physical host → logical port\n{}", w.flows());
    w.assert_no_errors();
}

#[test]
fn vlan_network_tags_traffic_on_the_physical_port() {
    physical_network_carries(NetworkType::Vlan);
}

#[test]
fn native_network_is_untagged_on_the_physical_port() {
    physical_network_carries(NetworkType::Native);
}
