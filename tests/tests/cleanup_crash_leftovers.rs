//! vlcp-cleanup on crash leftovers, with a second host on the same ZooKeeper store.
//!
//! Host A gets what interrupted CreateEndpoint / DeleteEndpoint calls leave (made directly, as
//! the crash would have left them): a veth pair never moved into a container, an OVS port
//! whose veth is gone, a logical port with DockerInfo and one without, a DockerInfo whose port
//! is gone, and an address reservation no endpoint took. Host B has orphans of its own.
//! `--dry-run` on A plans exactly A's leftovers and changes nothing anywhere; the real run on A
//! removes them while a `docker run` goes on concurrently (which completes and has
//! connectivity); B's objects are untouched until B's own cleanup removes them.

mod cleanup_common;

use std::net::Ipv4Addr;
use std::sync::Arc;

use cleanup_common::{Host, actions, ping};
use serde_json::{Value, json};
use vlcp::model::LogicalPortSpec;
use vlcp::objectdb::DataObject;
use vlcp_e2e::lab::ZooKeeper;
use vlcp_plugin::docker::DockerInfo;
use vlcp_plugin::docker::protocol::Method;

const DEAD: &str = "dead000000000000000000000000000000000000000000000000000000000000";

fn eid(n: u8) -> String {
    format!("{:02x}{}", n, &DEAD[2..])
}

/// The Docker NetworkID of `name`.
fn nid(h: &Host, name: &str) -> String {
    h.docker(&["network", "inspect", "-f", "{{.Id}}", name])
}

/// The host id the plugin recorded for a live container's port.
fn host_id(h: &Host, container: &str) -> String {
    let (e, _) = h.endpoint_of(container);
    info(h, &format!("docker-{e}")).expect("DockerInfo of a live port").docker_host
}

fn info(h: &Host, port: &str) -> Option<DockerInfo> {
    let key = DockerInfo::key_of(&[port]);
    h.rt.block_on(
        h.model.db().walk(std::slice::from_ref(&key), |w| Ok(w.get::<DockerInfo>(&key)?.map(|s| s.data))),
    )
    .unwrap()
}

/// A logical port `docker-<eid>` on the network's subnet, optionally with a DockerInfo.
fn orphan_port(h: &Host, network: &str, eid: &str, ip: &str, host: Option<&str>) -> String {
    let id = format!("docker-{eid}");
    let spec = LogicalPortSpec {
        id: Some(id.clone()),
        logicalnetwork: format!("docker-{network}-lognet"),
        subnet: Some(format!("docker-{network}-subnet")),
        mac_address: None,
        ip_address: Some(ip.parse::<Ipv4Addr>().unwrap()),
        attrs: Default::default(),
    };
    h.rt.block_on(h.model.create_logical_ports(vec![spec])).unwrap();
    if let Some(host) = host {
        orphan_info(h, network, eid, host);
    }
    id
}

fn orphan_info(h: &Host, network: &str, eid: &str, host: &str) {
    let names = vlcp_plugin::docker::naming::VethNames::for_endpoint("vlcp", eid);
    let info = DockerInfo {
        id: format!("docker-{eid}"),
        docker_port: names.container,
        docker_host_port: names.host,
        docker_sandbox: None,
        docker_network: network.into(),
        docker_host: host.into(),
        state: Default::default(),
    };
    h.rt.block_on(h.model.db().transact(&[info.key()], |t| t.put(&info))).unwrap();
}

/// What a crashed CreateEndpoint leaves after IPAM's RequestAddress: a reservation.
fn reserve(h: &Host, network: &str, ip: &str) {
    let subnet = h.rt.block_on(h.model.subnet(&format!("docker-{network}-subnet"))).unwrap().unwrap();
    let pool = subnet.extra["docker_ipam_poolid"].as_str().unwrap().to_string();
    let body = json!({"PoolID": pool, "Address": ip, "Options": {}}).to_string();
    h.rt.block_on(h.driver().handle(Method::RequestAddress, body.as_bytes())).unwrap();
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn heavy_cleanup_removes_crash_leftovers_of_this_host_only_and_spares_a_concurrent_run() {
    let zk = ZooKeeper::start().expect("zookeeper");
    let rt = Arc::new(tokio::runtime::Runtime::new().unwrap());
    let a = Host::new(rt.clone(), &zk, true);
    let b = Host::new(rt, &zk, false);
    let sdn = a.attach_sdn();
    a.network("neta", 5);
    b.network("netb", 6);
    let (na, nb) = (nid(&a, "neta"), nid(&b, "netb"));
    let ca = a.docker(&["run", "-d", "--network", "neta", "--ip", "198.18.5.2", "bb:latest", "sleep", "600"]);
    let cb = b.docker(&["run", "-d", "--network", "netb", "--ip", "198.18.6.2", "bb:latest", "sleep", "600"]);
    let (host_a, host_b) = (host_id(&a, &ca), host_id(&b, &cb));
    assert_ne!(host_a, host_b);

    // Host A's leftovers.
    let veth = format!("vlcp{}", &eid(1)[..7]);
    a.ovs
        .netns()
        .run(&["ip", "link", "add", &veth, "type", "veth", "peer", "name", &format!("{veth}-tap")])
        .unwrap();
    let dead_ovs = format!("vlcp{}-tap", &eid(2)[..7]);
    a.ovs
        .vsctl(&[
            "add-port",
            cleanup_common::BRIDGE,
            &dead_ovs,
            "--",
            "set",
            "interface",
            &dead_ovs,
            &format!("external_ids:iface-id=docker-{}", eid(2)),
        ])
        .unwrap();
    let p3 = orphan_port(&a, &na, &eid(3), "198.18.5.50", Some(&host_a));
    let p4 = orphan_port(&a, &na, &eid(4), "198.18.5.51", None);
    orphan_info(&a, &na, &eid(5), &host_a);
    reserve(&a, &na, "198.18.5.60");
    // Host B's: a logical port recorded for B, on B's network, and a reservation there.
    let pb = orphan_port(&b, &nb, &eid(6), "198.18.6.50", Some(&host_b));
    reserve(&b, &nb, "198.18.6.60");

    // Dry run: exactly A's leftovers, nothing changed anywhere.
    let (before_a, before_b) = (a.state(), b.state());
    let plan = a.cleanup(&["--dry-run", "--json"]).json(3);
    assert_eq!(
        sorted(actions(&plan)),
        sorted(vec![
            format!("ovs_port {dead_ovs}"),
            format!("veth {veth}-tap"),
            format!("logical_port {p3}"),
            format!("logical_port {p4}"),
            format!("docker_info docker-{}", eid(5)),
            "reservation 198.18.5.60".to_string(),
        ]),
        "{plan:#}"
    );
    let human = a.cleanup(&["--dry-run"]);
    assert_eq!(human.code, Some(3), "{human:?}");
    assert!(
        human.stdout.contains("Would remove 6 orphans") && human.stdout.contains("Dry run: nothing changed.")
    );
    assert!(human.stdout.contains(&format!("logical port {p3} (198.18.5.50)")), "{}", human.stdout);
    cleanup_common::assert_same_state(&before_a, &a.state(), "--dry-run changed host A");
    cleanup_common::assert_same_state(&before_b, &b.state(), "--dry-run changed host B");

    // The real run, with a `docker run` on A going on at the same time.
    let (new_c, report) = std::thread::scope(|s| {
        let run = s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(300));
            a.docker(&["run", "-d", "--network", "neta", "--ip", "198.18.5.9", "bb:latest", "sleep", "600"])
        });
        let report = a.cleanup(&["--json", "--interval", "2"]).json(3);
        (run.join().unwrap(), report)
    });
    let results: Vec<&Value> = report["results"].as_array().unwrap().iter().collect();
    assert!(results.iter().all(|r| r.get("error").is_none()), "{report:#}");
    let (new_eid, new_ip) = a.endpoint_of(&new_c);
    assert_eq!(new_ip, "198.18.5.9");
    assert!(
        !actions(&report).iter().any(|x| x.contains(&new_eid[..7])),
        "the new endpoint was touched: {report:#}"
    );

    // A is clean: only the two live containers' plumbing and ports remain.
    let again = a.cleanup(&["--json"]).json(0);
    assert!(actions(&again).is_empty(), "{again:#}");
    let (veths, ifaces) = a.plumbing();
    assert_eq!(veths.len(), 2, "host A links: {veths:?}");
    assert_eq!(ifaces.len(), 2, "host A OVS ports: {ifaces:?}");
    let ports = a.port_ids();
    for gone in [&p3, &p4] {
        assert!(!ports.contains(gone), "{gone} left: {ports:?}");
    }
    assert!(info(&a, &format!("docker-{}", eid(5))).is_none(), "stale DockerInfo left");
    let resv = a.reservations();
    assert!(!resv.iter().any(|(_, ip)| ip == "198.18.5.60"), "{resv:?}");
    // B untouched.
    assert!(ports.contains(&pb), "host B's port was removed: {ports:?}");
    assert!(resv.iter().any(|(_, ip)| ip == "198.18.6.60"), "host B's reservation was removed: {resv:?}");
    assert_eq!(b.docker(&["inspect", "-f", "{{.State.Running}}", &cb]), "true");

    // The concurrent container has connectivity.
    let want: Vec<String> =
        ports.iter().filter(|p| **p != pb && b.endpoint_of(&cb).0 != p[7..]).cloned().collect();
    sdn.push_and_wait(&a, &want);
    assert!(ping(&a, &new_c, "198.18.5.2", 10), "new container → ca");
    assert!(ping(&a, &ca, "198.18.5.9", 3), "ca → new container");

    // B's own cleanup removes B's orphans (they were orphans, just not A's).
    let plan_b = b.cleanup(&["--json"]).json(3);
    assert_eq!(
        sorted(actions(&plan_b)),
        vec![format!("logical_port {pb}"), "reservation 198.18.6.60".into()]
    );
    drop(sdn);
    a.docker(&["rm", "-f", &ca, &new_c]);
    b.docker(&["rm", "-f", &cb]);
    a.docker(&["network", "rm", "neta"]);
    b.docker(&["network", "rm", "netb"]);
}
