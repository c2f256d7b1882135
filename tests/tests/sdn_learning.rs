//! l2switch learning mode (`module.l2switch.learning = True`) through the real daemon on real
//! OVS: two ports of one network ping each other with no prepushed MAC → port flow; the switch's
//! `learn` action fills `l2learning` (cookie 0x5d01…, one flow per (network, MAC), used by the
//! unicast traffic); a second network with the same CIDR, and a port reusing an address of the
//! first, stays isolated.

mod sdn_common;

use std::time::{Duration, Instant};

use sdn_common::World;
use vlcp_e2e::lab::wait_until;

const SETUP: &str = r#"
curl -g 'http://localhost:8081/viperflow/createphysicalnetwork?type=local&id=local'
curl -g -d 'physicalnetwork=local&id=net1' 'http://localhost:8081/viperflow/createlogicalnetwork'
curl -g -d 'physicalnetwork=local&id=net2' 'http://localhost:8081/viperflow/createlogicalnetwork'
curl -g -d 'logicalnetwork=net1&cidr=198.18.31.0/24&gateway=198.18.31.1&id=s1' \
    'http://localhost:8081/viperflow/createsubnet'
curl -g -d 'logicalnetwork=net2&cidr=198.18.31.0/24&gateway=198.18.31.1&id=s2' \
    'http://localhost:8081/viperflow/createsubnet'
curl -g -d 'id=p1&logicalnetwork=net1&subnet=s1&mac_address=02:00:c6:12:1f:0b&ip_address=198.18.31.11' \
    'http://localhost:8081/viperflow/createlogicalport'
curl -g -d 'id=p2&logicalnetwork=net1&subnet=s1&mac_address=02:00:c6:12:1f:0c&ip_address=198.18.31.12' \
    'http://localhost:8081/viperflow/createlogicalport'
curl -g -d 'id=p3&logicalnetwork=net2&subnet=s2&mac_address=02:00:c6:12:1f:0d&ip_address=198.18.31.12' \
    'http://localhost:8081/viperflow/createlogicalport'
"#;

const LEARNING: &str =
    "module.l2switch.learning=True\nmodule.l2switch.nxlearn=True\nmodule.l2switch.learntimeout=120\n";

/// Learned flows (the learn action's cookie) in the dump.
fn learned(flows: &str) -> Vec<String> {
    flows.lines().filter(|l| l.contains("cookie=0x5d01")).map(str::to_owned).collect()
}

fn learned_for(flows: &str, mac: &str) -> Option<String> {
    learned(flows).into_iter().find(|l| l.contains(&format!("dl_dst={mac}")))
}

/// `reg5=0x..` of a learned flow: the network it was learned in.
fn network_of(line: &str) -> String {
    line.split([',', ' ']).find(|f| f.starts_with("reg5=")).unwrap_or("?").to_owned()
}

fn packets(line: &str) -> u64 {
    line.split([',', ' '])
        .find_map(|f| f.strip_prefix("n_packets="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn learning_mode_learns_macs_and_keeps_networks_apart() {
    let w = World::start("br0", LEARNING);
    w.sh(SETUP);
    let e1 = w.endpoint("p1", Some("198.18.31.11/24"), Some("02:00:c6:12:1f:0b"));
    let e2 = w.endpoint("p2", Some("198.18.31.12/24"), Some("02:00:c6:12:1f:0c"));
    let e3 = w.endpoint("p3", Some("198.18.31.12/24"), Some("02:00:c6:12:1f:0d"));
    // The learn flow is in; no MAC → port flow is prepushed for the bound ports.
    w.wait_flows("the learn flow", |f| f.contains("learn(table="));
    let learn = w.flows().lines().find(|l| l.contains("learn(table=")).unwrap_or_default().to_owned();
    assert!(
        learn.contains("idle_timeout=120") && learn.contains("NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[]"),
        "{learn}"
    );
    let t0 = Instant::now();
    w.wait_flows("all three ports bound", |f| f.matches("actions=output:").count() >= 3);
    println!("bound after {:?}", t0.elapsed());
    for mac in ["02:00:c6:12:1f:0b", "02:00:c6:12:1f:0c", "02:00:c6:12:1f:0d"] {
        let prepushed =
            w.flows().lines().any(|l| l.contains("cookie=0x5c") && l.contains(&format!("dl_dst={mac}")));
        assert!(!prepushed, "{mac} was prepushed in learning mode\n{}", w.diag());
    }
    // (IPv6 DAD and router solicitations of the fresh interfaces may already have been learned.)
    println!("learned before the first ping: {}", learned(&w.flows()).len());

    let t = Instant::now();
    assert!(e1.ns.ping_eventually(&e2.ip, 15), "p1 → p2 in learning mode\n{}", w.diag());
    println!("first ping p1 → p2 after {:?}", t.elapsed());
    let both = wait_until("p1 and p2 learned", Duration::from_secs(10), || {
        let f = w.flows();
        Some((learned_for(&f, "02:00:c6:12:1f:0b")?, learned_for(&f, "02:00:c6:12:1f:0c")?))
    });
    let (l1, l2) = both.unwrap_or_else(|e| panic!("{e}\n{}", w.diag()));
    println!("learned:\n{l1}\n{l2}");
    assert_eq!(network_of(&l1), network_of(&l2), "both in net1");
    assert!(l1.contains("idle_timeout=120"), "{l1}");
    // Unicast now goes through the learned flows.
    assert!(e2.ns.ping(&e1.ip, 3), "p2 → p1");
    // (The datapath reports flow statistics back to the tables a moment later.)
    let used = wait_until("the learned flows counting packets", Duration::from_secs(10), || {
        let f = w.flows();
        let (l1, l2) = (learned_for(&f, "02:00:c6:12:1f:0b")?, learned_for(&f, "02:00:c6:12:1f:0c")?);
        (packets(&l1) > 0 && packets(&l2) > 0).then_some((l1, l2))
    });
    let (l1, l2) = used.unwrap_or_else(|e| panic!("{e}\n{}", w.diag()));
    println!("used:\n{l1}\n{l2}");

    // p3 (net2) has p2's address and asks for p1's: nobody in net2 has it.
    assert!(!e3.ns.ping(&e1.ip, 2), "net2 reached net1\n{}", w.diag());
    let neigh = e3.ns.run(&["ip", "neigh", "show", &e1.ip]).unwrap();
    assert!(!neigh.contains("lladdr"), "p3 learned p1's MAC across networks: {neigh}");
    let l3 =
        wait_until("p3 learned", Duration::from_secs(10), || learned_for(&w.flows(), "02:00:c6:12:1f:0d"))
            .unwrap_or_else(|e| panic!("{e}\n{}", w.diag()));
    assert_ne!(network_of(&l3), network_of(&l1), "p3 is learned in its own network: {l3}");
    // p1 and p2 still reach each other; p1's ping to .12 is answered by p2, never by p3.
    e2.ns.run(&["ip", "link", "set", "eth0", "down"]).unwrap();
    e1.ns.run(&["ip", "neigh", "flush", "dev", "eth0"]).unwrap();
    assert!(!e1.ns.ping(&e2.ip, 2), "p3 answered for net1's address\n{}", w.diag());
    e2.ns.run(&["ip", "link", "set", "eth0", "up"]).unwrap();
    assert!(e1.ns.ping_eventually(&e2.ip, 10), "p1 → p2 again\n{}", w.diag());

    // The switch reconnects: the controller reads its flows back and syncs the difference; the
    // learned flows (not our cookie) stay as they are, they are not deleted and re-learned.
    let before = learned_for(&w.flows(), "02:00:c6:12:1f:0b").expect("p1 learned");
    let t = Instant::now();
    let target = w.ovs.vsctl(&["get-controller", &w.bridge]).unwrap();
    // (Pointing it elsewhere, not del-controller: OVS flushes the tables when the last
    // controller is removed.)
    let nowhere = format!("unix:{}", w.ovs.dir().join("nowhere.sock").display());
    w.ovs.vsctl(&["set-controller", &w.bridge, &nowhere]).unwrap();
    wait_until("the datapath down", Duration::from_secs(10), || {
        w.daemon.log_text().contains(" down: ").then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", w.diag()));
    w.ovs.vsctl(&["set-controller", &w.bridge, target.trim()]).unwrap();
    wait_until("the datapath up again and synced", Duration::from_secs(20), || {
        let log = w.daemon.log_text();
        (log.matches(" up\n").count() >= 2).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", w.daemon.log_text()));
    assert!(e1.ns.ping(&e2.ip, 1), "p1 → p2 after the reconnect\n{}", w.diag());
    let after = learned_for(&w.flows(), "02:00:c6:12:1f:0b")
        .unwrap_or_else(|| panic!("p1 no longer learned\n{}\n{}", w.diag(), w.daemon.log_text()));
    println!("across the reconnect ({:?}):\n{before}\n{after}", t.elapsed());
    assert!(duration(&after) >= duration(&before) + t.elapsed().as_secs_f64() - 0.5, "re-learned, not kept");
    let st = w.daemon.log_text();
    assert!(!st.contains("sent an error"), "the switch rejected a flow:\n{st}");
}

/// `duration=` of a flow line, in seconds.
fn duration(line: &str) -> f64 {
    line.split([',', ' '])
        .find_map(|f| f.strip_prefix("duration=")?.strip_suffix('s')?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn learning_mode_learns_a_host_behind_a_native_physical_port() {
    let w = World::start("br0", LEARNING);
    // The outside host sits on a plain OVS port: the physical port of a native network.
    let ext = w.ovs.add_endpoint(&w.bridge, "198.18.32.99/24").unwrap();
    let ofport = ext.ofport(&w.ovs).unwrap();
    w.sh(&format!(
        r#"
curl -g 'http://localhost:8081/viperflow/createphysicalnetwork?type=native&id=phys'
curl -g -d 'physicalnetwork=phys&name={}' 'http://localhost:8081/viperflow/createphysicalport'
curl -g -d 'physicalnetwork=phys&id=netp' 'http://localhost:8081/viperflow/createlogicalnetwork'
curl -g -d 'logicalnetwork=netp&cidr=198.18.32.0/24&id=sp' 'http://localhost:8081/viperflow/createsubnet'
curl -g -d 'id=q1&logicalnetwork=netp&subnet=sp&mac_address=02:00:c6:12:20:0b&ip_address=198.18.32.11' \
    'http://localhost:8081/viperflow/createlogicalport'
"#,
        ext.host_if
    ));
    let q1 = w.endpoint("q1", Some("198.18.32.11/24"), Some("02:00:c6:12:20:0b"));
    assert!(q1.ns.ping_eventually(&ext.ip, 15), "logical port → host behind the physical port\n{}", w.diag());
    assert!(ext.ns.ping(&q1.ip, 2), "host → logical port");
    let mac = ext.mac.trim().to_owned();
    let l = wait_until("the outside host learned", Duration::from_secs(10), || learned_for(&w.flows(), &mac))
        .unwrap_or_else(|e| panic!("{e}\n{}", w.diag()));
    println!("learned behind the physical port (ofport {ofport}):\n{l}");
    assert!(l.contains(&format!("load:{ofport:#x}->NXM_NX_REG6[0..15]")), "{l}");
    let q = learned_for(&w.flows(), "02:00:c6:12:20:0b").expect("q1 learned");
    assert_eq!(network_of(&q), network_of(&l));
    // The unicast towards the host leaves through the learned physical-port output flow.
    let out = format!("reg6={ofport:#x} actions=output:{ofport}");
    let used = wait_until("the physical-port output flow used", Duration::from_secs(10), || {
        let f = w.flows();
        let line = f.lines().find(|l| l.contains("reg5=") && l.contains(&out))?.to_owned();
        (packets(&line) > 0).then_some(line)
    });
    println!("{}", used.unwrap_or_else(|e| panic!("{e}\n{}", w.diag())));
}
