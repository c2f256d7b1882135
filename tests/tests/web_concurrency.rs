//! Concurrent clients and shared stores: 50 `curl` processes creating ports on one subnet at once
//! get 50 distinct addresses, and two API servers on one lab ZooKeeper see each other's objects.

mod web_common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::Arc;

use vlcp::objectdb::KvStore;
use vlcp::objectdb::zookeeper::ZkStore;
use vlcp_e2e::lab::ZooKeeper;
use web_common::{Api, parse_curl, result};

const CLIENTS: usize = 50;

fn setup_network(api: &Api) {
    for (args, path) in [
        ("type=vxlan&id=vx&vnirange=`[[100, 200]]`", "/viperflow/createphysicalnetwork"),
        ("physicalnetwork=vx&id=net", "/viperflow/createlogicalnetwork"),
        ("logicalnetwork=net&id=sub&cidr=198.18.40.0/24&gateway=198.18.40.1", "/viperflow/createsubnet"),
    ] {
        result(api.curl(&["-d", args], path));
    }
}

/// Starts `CLIENTS` curl processes at once, each creating one port; returns the addresses.
fn create_ports_concurrently(base: &str) -> Vec<String> {
    let url = format!("{base}/viperflow/createlogicalport");
    let children: Vec<_> = (0..CLIENTS)
        .map(|i| {
            Command::new("curl")
                .args(["-s", "-g", "-w", "\n%{http_code}", "-d"])
                .arg(format!("logicalnetwork=net&subnet=sub&id=c{i}"))
                .arg(&url)
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn curl")
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("curl");
            let (status, body) = parse_curl(&String::from_utf8_lossy(&out.stdout));
            assert_eq!(status, 200, "{body}");
            body["result"][0]["ip_address"].as_str().expect("an address").to_string()
        })
        .collect()
}

fn assert_distinct_in_subnet(ips: &[String]) {
    let distinct: BTreeSet<&String> = ips.iter().collect();
    assert_eq!(distinct.len(), CLIENTS, "duplicate addresses handed out: {ips:?}");
    for ip in ips {
        let last: u32 = ip.strip_prefix("198.18.40.").and_then(|s| s.parse().ok()).unwrap_or(0);
        assert!((2..=254).contains(&last), "{ip} is outside the range or the gateway");
    }
}

#[test]
fn fifty_concurrent_createlogicalport_get_distinct_addresses() {
    let api = Api::embedded();
    setup_network(&api);
    let ips = create_ports_concurrently(&api.base());
    assert_distinct_in_subnet(&ips);
    // The subnet map agrees with the answers, and the port set holds every port.
    let map = api.rt.block_on(api.model.subnet_map("sub")).unwrap().expect("subnet map");
    assert_eq!(map.allocated_ips.len(), CLIENTS);
    let ports = result(api.curl(&[], "/viperflow/listlogicalports?logicalnetwork=net"));
    let mut listed: Vec<String> =
        ports.as_array().unwrap().iter().filter_map(|p| p["ip_address"].as_str().map(String::from)).collect();
    let mut answered = ips.clone();
    listed.sort();
    answered.sort();
    assert_eq!(listed, answered);
}

fn zk_api(zk: &ZooKeeper, chroot: &str) -> Api {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let connect = format!("{}{chroot}", zk.connect_string());
    let store: Arc<dyn KvStore> = Arc::new(rt.block_on(ZkStore::connect(&connect)).expect("zookeeper store"));
    Api::on_runtime(rt, store, None)
}

#[test]
fn two_servers_on_one_zookeeper_see_each_others_objects() {
    let zk = ZooKeeper::start().expect("zookeeper");
    let a = zk_api(&zk, "/vlcp-web");
    let b = zk_api(&zk, "/vlcp-web");
    setup_network(&a);
    // Created on A, visible on B (and the reverse), including references across the two.
    let nets = result(b.curl(&[], "/viperflow/listlogicalnetworks?id=net"));
    assert_eq!(nets[0]["vni"], 100);
    assert_eq!(nets[0]["physicalnetwork"]["id"], "vx");
    result(b.curl(&["-d", "logicalnetwork=net&subnet=sub&id=from-b"], "/viperflow/createlogicalport"));
    let port = result(a.curl(&[], "/viperflow/listlogicalports?id=from-b"));
    assert_eq!(port[0]["ip_address"], "198.18.40.2");
    assert_eq!(port[0]["subnet"]["gateway"], "198.18.40.1");
    // Both servers allocate from the same subnet at once: still no duplicates.
    let (ips_a, ips_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| create_ports_concurrently(&a.base()));
        let tb = s.spawn(|| {
            (0..CLIENTS)
                .map(|i| {
                    let args = format!("logicalnetwork=net&subnet=sub&id=b{i}");
                    let r = result(b.curl(&["-d", &args], "/viperflow/createlogicalport"));
                    r[0]["ip_address"].as_str().unwrap().to_string()
                })
                .collect::<Vec<_>>()
        });
        (ta.join().unwrap(), tb.join().unwrap())
    });
    let all: BTreeSet<String> =
        ips_a.iter().chain(&ips_b).cloned().chain(["198.18.40.2".to_string()]).collect();
    assert_eq!(all.len(), 2 * CLIENTS + 1, "a duplicate address across two servers");
    // A refusal on one server is seen from the other: the subnet cannot go while ports exist.
    let (code, body) = a.curl(&[], "/viperflow/deletesubnet?id=sub");
    assert_eq!(code, 409, "{body}");
    let listed = result(b.curl(&[], "/viperflow/listlogicalports"));
    assert_eq!(listed.as_array().map(Vec::len), Some(2 * CLIENTS + 1));
    assert!(listed.as_array().unwrap().iter().all(|p| p["network"]["id"] == "net"));
}
