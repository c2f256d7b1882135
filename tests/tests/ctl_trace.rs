//! `vlcpctl trace` against the real `vlcp` daemon (`config/genericl3.conf`) with real OVS: two
//! logical networks on one bridge, namespace endpoints bound by `iface-id`, and traces whose
//! verdicts are checked against what the datapath really does (pings, ARP answers).
//!
//! Topology: net_a 198.18.71.0/24 (gateway .1) with A (.11) and B (.12); net_b 198.18.72.0/24
//! (gateway .1) with C (.13) alone on the switch; at the end a virtual router joins them.

mod ctl_common;
mod sdn_common;

use serde_json::Value;

use ctl_common::{vlcp_bin, vlcpctl};
use sdn_common::World;
use vlcp_e2e::lab::Endpoint;

const BR: &str = "trcbr0";

const SETUP: &str = r#"
curl -g 'http://localhost:8081/viperflow/createphysicalnetwork?type=local&id=trc_local'
curl -g 'http://localhost:8081/viperflow/createlogicalnetwork?physicalnetwork=trc_local&id=trc_net_a'
curl -g 'http://localhost:8081/viperflow/createlogicalnetwork?physicalnetwork=trc_local&id=trc_net_b'
curl -g 'http://localhost:8081/viperflow/createsubnet?logicalnetwork=trc_net_a&cidr=198.18.71.0/24&gateway=198.18.71.1&id=trc_sub_a'
curl -g 'http://localhost:8081/viperflow/createsubnet?logicalnetwork=trc_net_b&cidr=198.18.72.0/24&gateway=198.18.72.1&id=trc_sub_b'
"#;

/// An endpoint with a static address, bound as logical port `id`.
fn port(w: &World, id: &str, net: &str, sub: &str, ip: &str) -> Endpoint {
    let prefix = ip.rsplit_once('.').map(|(p, _)| p).unwrap();
    let ep = w.endpoint(id, Some(&format!("{ip}/24")), None);
    w.call(
        "/viperflow/createlogicalport",
        Some(&format!("id={id}&logicalnetwork={net}&subnet={sub}&mac_address={}&ip_address={ip}", ep.mac)),
    );
    assert!(prefix.starts_with("198.18."));
    ep
}

/// `vlcpctl --json trace --bridge BR <args>`.
fn trace(w: &World, args: &[&str]) -> Value {
    let mut all = vec!["--json", "trace", "--bridge", BR];
    all.extend_from_slice(args);
    vlcpctl(&w.api, &all).json()
}

fn kind(t: &Value) -> &str {
    t["verdict"]["kind"].as_str().unwrap_or("")
}

fn out_ports(t: &Value) -> Vec<u64> {
    t["verdict"]["outputs"].as_array().unwrap().iter().filter_map(|o| o["port"].as_u64()).collect()
}

#[test]
fn trace_verdicts_match_the_datapath() {
    vlcp_bin();
    let w = World::start(BR, "");
    assert_eq!(w.sh(SETUP).len(), 5);
    let a = port(&w, "trc-a", "trc_net_a", "trc_sub_a", "198.18.71.11");
    let b = port(&w, "trc-b", "trc_net_a", "trc_sub_a", "198.18.71.12");
    let c = port(&w, "trc-c", "trc_net_b", "trc_sub_b", "198.18.72.13");
    let (of_a, of_b, of_c) =
        (a.ofport(&w.ovs).unwrap(), b.ofport(&w.ovs).unwrap(), c.ofport(&w.ovs).unwrap());
    // The flows are in once A reaches B.
    assert!(a.ns.ping_eventually("198.18.71.12", 15), "A → B\n{}", w.diag());

    // A → B (same network): delivered to B's OVS port, and only there.
    let t = trace(
        &w,
        &[
            "in_port=trc-a",
            &format!("dl_dst={}", b.mac),
            "icmp",
            "nw_src=198.18.71.11",
            "nw_dst=198.18.71.12",
        ],
    );
    assert_eq!(kind(&t), "output", "{t:#}");
    assert_eq!(out_ports(&t), [u64::from(of_b)], "{t:#}");
    assert_eq!(t["installed"], true, "the traced flows are the ones on the switch: {t:#}");
    assert_eq!(t["verdict"]["outputs"][0]["logical_port"], "trc-b");
    assert!(t["verdict"]["outputs"][0]["name"].as_str().unwrap().starts_with(&b.host_if), "{t:#}");
    let stages: Vec<&str> =
        t["steps"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(stages.first(), Some(&"ingress"));
    assert_eq!(stages.last(), Some(&"egress"));
    assert!(stages.contains(&"l2output"), "{stages:?}");
    // The same by OpenFlow port number and by interface name.
    let by_ofport = trace(&w, &[&format!("in_port={of_a}"), &format!("dl_dst={}", b.mac), "icmp"]);
    assert_eq!(out_ports(&by_ofport), [u64::from(of_b)]);
    let by_name = trace(&w, &[&format!("in_port={}", a.host_if), &format!("dl_dst={}", b.mac), "icmp"]);
    assert_eq!(out_ports(&by_name), [u64::from(of_b)]);
    assert!(b.ns.ping("198.18.71.11", 2), "B → A");

    // The readable form names the stages, the owner and the verdict.
    let text =
        vlcpctl(&w.api, &["trace", "--bridge", BR, "in_port=trc-a", &format!("dl_dst={}", b.mac), "icmp"])
            .ok();
    assert!(text.contains("ingress (table 0)") && text.contains("for port:trc-b (l2switch)"), "{text}");
    assert!(text.contains("verdict: output"), "{text}");

    // C (net_b, alone here) → A's MAC and address: dropped; the real ping fails too (C resolves
    // A directly: an on-link route and a static neighbour, so the frame is the traced one).
    let t = trace(
        &w,
        &[
            "in_port=trc-c",
            &format!("dl_dst={}", a.mac),
            "icmp",
            "nw_src=198.18.72.13",
            "nw_dst=198.18.71.11",
        ],
    );
    assert_eq!(kind(&t), "dropped", "{t:#}");
    assert!(out_ports(&t).is_empty());
    assert!(t["verdict"]["drop_reason"].as_str().unwrap().contains("input port"), "{t:#}");
    c.ns.run(&["ip", "route", "add", "198.18.71.0/24", "dev", "eth0"]).unwrap();
    c.ns.run(&["ip", "neigh", "replace", "198.18.71.11", "lladdr", &a.mac, "dev", "eth0"]).unwrap();
    assert!(!c.ns.ping("198.18.71.11", 2), "C reached A across networks\n{}", w.diag());
    // And its ARP for A is not answered either.
    let t = trace(&w, &["in_port=trc-c", "arp", "arp_tpa=198.18.71.11", "arp_spa=198.18.72.13"]);
    assert_eq!(kind(&t), "dropped", "{t:#}");
    // A → C's MAC: unknown in net_a, flooded to B only, never to C.
    let t = trace(&w, &["in_port=trc-a", &format!("dl_dst={}", c.mac), "icmp", "nw_dst=198.18.72.13"]);
    assert_eq!(kind(&t), "flooded", "{t:#}");
    assert!(!out_ports(&t).contains(&u64::from(of_c)), "{t:#}");
    a.ns.run(&["ip", "route", "add", "198.18.72.0/24", "dev", "eth0"]).unwrap();
    a.ns.run(&["ip", "neigh", "replace", "198.18.72.13", "lladdr", &c.mac, "dev", "eth0"]).unwrap();
    assert!(!a.ns.ping("198.18.72.13", 2), "A reached C across networks\n{}", w.diag());

    // A's ARP request for its gateway: answered by the ARP responder, back out of A's port, and
    // A's kernel learns exactly the MAC the trace says.
    let t = trace(&w, &["in_port=trc-a", "arp", "arp_tpa=198.18.71.1", "arp_spa=198.18.71.11"]);
    assert_eq!(kind(&t), "reply", "{t:#}");
    assert!(t["verdict"]["responder"].as_str().unwrap().starts_with("arpresponder"), "{t:#}");
    assert_eq!(out_ports(&t), [u64::from(of_a)]);
    assert_eq!(t["verdict"]["outputs"][0]["in_port"], true);
    let headers = t["verdict"]["outputs"][0]["headers"].as_str().unwrap().to_owned();
    let gw_mac = headers
        .split(',')
        .find_map(|kv| kv.strip_prefix("arp_sha="))
        .unwrap_or_else(|| panic!("{headers}"))
        .to_owned();
    assert!(headers.contains("arp_op=2") && headers.contains("arp_spa=198.18.71.1"), "{headers}");
    assert!(a.ns.ping_eventually("198.18.71.1", 5), "A → gateway\n{}", w.diag());
    let neigh = a.ns.run(&["ip", "neigh", "show", "198.18.71.1"]).unwrap();
    assert!(neigh.contains(&gw_mac), "A learned {neigh:?}, the trace said {gw_mac}");
    // The ping itself goes to the controller's ICMP responder.
    let t = trace(&w, &["in_port=trc-a", &format!("dl_dst={gw_mac}"), "icmp", "nw_dst=198.18.71.1"]);
    assert_eq!(kind(&t), "controller", "{t:#}");
    assert!(t["verdict"]["responder"].as_str().unwrap().starts_with("icmpresponder"), "{t:#}");

    // A virtual router joins the subnets: A → C through the gateway MAC is now delivered to C
    // with the MACs rewritten and the TTL decremented, and the real ping shows one routed hop.
    w.call("/vrouterapi/createvirtualrouter", Some("id=trc_router"));
    w.call(
        "/vrouterapi/addrouterinterfaces",
        Some(r#"interfaces=`[{"router": "trc_router", "subnet": "trc_sub_a"}, {"router": "trc_router", "subnet": "trc_sub_b"}]`"#),
    );
    a.ns.run(&["ip", "route", "del", "198.18.72.0/24"]).unwrap();
    a.ns.run(&["ip", "route", "add", "default", "via", "198.18.71.1"]).unwrap();
    c.ns.run(&["ip", "route", "del", "198.18.71.0/24"]).unwrap();
    c.ns.run(&["ip", "route", "add", "default", "via", "198.18.72.1"]).unwrap();
    assert!(a.ns.ping_eventually("198.18.72.13", 15), "A → C through the router\n{}", w.diag());
    let ttl = a.ns.run(&["ping", "-n", "-c", "1", "-W", "2", "198.18.72.13"]).unwrap();
    assert!(ttl.contains("ttl=63"), "{ttl}");
    let t = trace(
        &w,
        &[
            "in_port=trc-a",
            &format!("dl_dst={gw_mac}"),
            "icmp",
            "nw_src=198.18.71.11",
            "nw_dst=198.18.72.13",
            "nw_ttl=64",
        ],
    );
    assert_eq!(kind(&t), "output", "{t:#}");
    assert_eq!(out_ports(&t), [u64::from(of_c)], "{t:#}");
    let headers = t["verdict"]["outputs"][0]["headers"].as_str().unwrap();
    assert!(headers.contains(&format!("dl_dst={}", c.mac)) && headers.contains("nw_ttl=63"), "{headers}");
    let stages: Vec<&str> =
        t["steps"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert!(stages.contains(&"l3router") && stages.contains(&"l3output"), "{stages:?}");

    // Refusals: exit 1 with the server's message; usage errors: exit 2.
    let e =
        vlcpctl(&w.api, &["trace", "--bridge", "nosuchbr", "in_port=trc-a", "arp", "arp_tpa=198.18.71.1"])
            .fails(1);
    assert!(e.contains("bridge") && e.contains("nosuchbr") && e.contains("HTTP 404"), "{e}");
    let e =
        vlcpctl(&w.api, &["trace", "--bridge", BR, "in_port=trc-zz", "arp", "arp_tpa=198.18.71.1"]).fails(1);
    assert!(e.contains("in_port") && e.contains("HTTP 404"), "{e}");
    let e = vlcpctl(&w.api, &["trace", "--bridge", BR, "in_port=trc-a", "dl_dst=02:zz:00:00:00:01", "icmp"])
        .fails(1);
    assert!(e.contains("dl_dst") && e.contains("HTTP 400"), "{e}");
    let e = vlcpctl(
        &w.api,
        &[
            "trace",
            "--bridge",
            BR,
            "in_port=trc-a",
            "icmp",
            "nw_dst=198.18.71.300",
            "dl_dst=ff:ff:ff:ff:ff:ff",
        ],
    )
    .fails(1);
    assert!(e.contains("nw_dst") && e.contains("HTTP 400"), "{e}");
    let e = vlcpctl(&w.api, &["trace", "--bridge", BR, "dl_dst=ff:ff:ff:ff:ff:ff"]).fails(2);
    assert!(e.contains("in_port"), "{e}");
    vlcpctl(&w.api, &["trace", "in_port=trc-a", "nw_frob=1"]).fails(2);
    // With one switch connected the bridge may be left out.
    let t =
        vlcpctl(&w.api, &["--json", "trace", "in_port=trc-a", &format!("dl_dst={}", b.mac), "icmp"]).json();
    assert_eq!(t["bridge"], BR);
}
