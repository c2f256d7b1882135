//! Planning from two samples: what both agree on is repaired, anything that moved between them
//! is left alone, and only this host's objects are touched.

use super::*;
use crate::sample::{DockerNet, Info, Link, OvsIface, Peer, Pool, Port};

const ME: &str = "ovsdb:me";
const EID: &str = "aaaaaaa1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const EID2: &str = "bbbbbbb2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const NID: &str = "n1";

fn scope() -> Scope {
    Scope { host_id: ME.into(), veth_prefix: "vlcp".into(), ..Scope::default() }
}

fn veth(eid: &str) -> vlcp_plugin::docker::naming::VethNames {
    vlcp_plugin::docker::naming::VethNames::for_endpoint("vlcp", eid)
}

/// A world with network n1 (local scope) and no endpoints.
fn base() -> Sample {
    let mut s = Sample { at_us: 1_000_000_000, ..Sample::default() };
    s.docker_networks.insert(NID.into());
    s.ours.insert(NID.into(), DockerNet { scope: "local".into(), endpoints: Default::default() });
    s
}

fn attach(s: &mut Sample, eid: &str, ip: &str) {
    s.ours.get_mut(NID).unwrap().endpoints.insert(eid.into(), Some(ip.into()));
}

fn add_port(s: &mut Sample, eid: &str, ip: &str, host: Option<&str>) {
    let id = format!("docker-{eid}");
    let lognet = format!("docker-{NID}-lognet");
    s.ports.insert(id.clone(), Port { id: id.clone(), lognet, ip: Some(ip.into()), created: 7 });
    if let Some(h) = host {
        let info = Info { host: h.into(), network: NID.into(), host_veth: veth(eid).host, created: 7 };
        s.infos.insert(id, info);
    }
}

fn add_pair_unmoved(s: &mut Sample, eid: &str) {
    let n = veth(eid);
    s.links.insert(n.host.clone(), Link { name: n.host.clone(), peer: Peer::Here(n.container.clone()) });
    s.links.insert(n.container.clone(), Link { name: n.container, peer: Peer::Here(n.host) });
}

fn add_ovs(s: &mut Sample, eid: &str, ofport: i64, error: Option<&str>) {
    let n = veth(eid).host;
    let i = OvsIface {
        name: n.clone(),
        iface_id: Some(format!("docker-{eid}")),
        ofport: Some(ofport),
        error: error.map(Into::into),
    };
    s.ovs.insert(n, i);
}

fn kinds(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .map(|a| match a {
            Action::OvsPort { name, .. } => format!("ovs {name}"),
            Action::Veth { name, .. } => format!("veth {name}"),
            Action::LogicalPort { id, .. } => format!("port {id}"),
            Action::DockerInfo { id, .. } => format!("info {id}"),
            Action::Reservation { ip, .. } => format!("resv {ip}"),
        })
        .collect()
}

#[test]
fn a_clean_host_plans_nothing() {
    let mut s = base();
    attach(&mut s, EID, "198.18.5.2");
    add_port(&mut s, EID, "198.18.5.2", Some(ME));
    add_ovs(&mut s, EID, 3, None);
    let n = veth(EID);
    s.links.insert(n.host.clone(), Link { name: n.host, peer: Peer::Elsewhere });
    assert_eq!(plan(&s, &s, &scope()), Plan::default());
}

#[test]
fn every_orphan_of_a_dead_endpoint_is_found_once() {
    // Endpoint EID was deleted while the plugin was down: veth back in the host namespace,
    // OVS port, logical port, DockerInfo.
    let mut s = base();
    add_port(&mut s, EID, "198.18.5.2", Some(ME));
    add_pair_unmoved(&mut s, EID);
    add_ovs(&mut s, EID, 3, None);
    let p = plan(&s, &s, &scope());
    let h = veth(EID).host;
    assert_eq!(kinds(&p), vec![format!("veth {h}"), format!("port docker-{EID}")]);
    // Container end gone with its namespace: the OVS port is in error, no veth left.
    let mut s2 = base();
    add_port(&mut s2, EID, "198.18.5.2", Some(ME));
    add_ovs(&mut s2, EID, -1, Some("could not open network device (No such device)"));
    let p = plan(&s2, &s2, &scope());
    assert_eq!(kinds(&p), vec![format!("ovs {h}"), format!("port docker-{EID}")]);
    assert!(p.actions[0].describe().contains("No such device"), "{:?}", p.actions[0]);
}

#[test]
fn what_only_one_sample_shows_is_left_alone() {
    // A `docker run` in flight: in the first look the endpoint is not attached yet, in the
    // second it is; and a port created between the looks.
    let mut a = base();
    add_port(&mut a, EID, "198.18.5.2", Some(ME));
    add_pair_unmoved(&mut a, EID);
    add_ovs(&mut a, EID, 3, None);
    let mut b = a.clone();
    attach(&mut b, EID, "198.18.5.2");
    add_port(&mut b, EID2, "198.18.5.3", Some(ME));
    add_pair_unmoved(&mut b, EID2);
    add_ovs(&mut b, EID2, 4, None);
    assert_eq!(plan(&a, &b, &scope()), Plan::default());
    // Deleted and made again between the looks (another creation time): not the same port.
    let mut c = base();
    add_port(&mut c, EID, "198.18.5.2", Some(ME));
    let mut d = c.clone();
    d.ports.values_mut().for_each(|p| p.created = 8);
    assert_eq!(plan(&c, &d, &scope()), Plan::default());
    // An OVS port in error only in the second look (ovs-vswitchd still opening it).
    let mut e = base();
    attach(&mut e, EID, "198.18.5.2");
    add_ovs(&mut e, EID, 3, None);
    let mut f = e.clone();
    add_ovs(&mut f, EID, -1, Some("transient"));
    assert_eq!(plan(&e, &f, &scope()), Plan::default());
}

#[test]
fn other_hosts_ports_are_never_touched() {
    let mut s = base();
    s.ours.clear(); // a network this engine does not know
    s.docker_networks.clear();
    add_port(&mut s, EID, "198.18.5.2", Some("ovsdb:other"));
    let p = plan(&s, &s, &scope());
    assert_eq!(p, Plan::default());
    // No host recorded and no evidence here, in a shared store: reported, not removed.
    let mut s = base();
    s.ours.clear();
    add_port(&mut s, EID, "198.18.5.2", None);
    let p = plan(&s, &s, &scope());
    assert!(p.actions.is_empty());
    assert_eq!(p.skipped.len(), 1, "{p:?}");
    // The same in an embedded store: single host, so ours.
    let p = plan(&s, &s, &Scope { embedded: true, ..scope() });
    assert_eq!(kinds(&p), vec![format!("port docker-{EID}")]);
    // With --nodockerinfo the recorded host is not read: local evidence decides.
    let mut s = base();
    s.ours.clear();
    add_port(&mut s, EID, "198.18.5.2", Some(ME));
    let p = plan(&s, &s, &Scope { no_docker_info: true, ..scope() });
    assert!(p.actions.is_empty() && p.skipped.len() == 1, "{p:?}");
}

#[test]
fn a_port_without_docker_info_is_ours_by_local_evidence() {
    // Crash between creating the logical port and writing DockerInfo, on a global-scope network.
    let mut s = base();
    s.ours.get_mut(NID).unwrap().scope = "global".into();
    add_port(&mut s, EID, "198.18.5.2", None);
    assert!(plan(&s, &s, &scope()).actions.is_empty());
    add_ovs(&mut s, EID, -1, Some("gone"));
    let p = plan(&s, &s, &scope());
    assert_eq!(kinds(&p), vec![format!("ovs {}", veth(EID).host), format!("port docker-{EID}")]);
    // On a local-scope network of this engine the network itself is the evidence.
    let mut s = base();
    add_port(&mut s, EID, "198.18.5.2", None);
    assert_eq!(kinds(&plan(&s, &s, &scope())), vec![format!("port docker-{EID}")]);
}

#[test]
fn docker_info_without_port_goes_when_it_is_ours() {
    let mut s = base();
    add_port(&mut s, EID, "198.18.5.2", Some(ME));
    add_port(&mut s, EID2, "198.18.5.3", Some("ovsdb:other"));
    s.ports.clear();
    attach(&mut s, EID, "198.18.5.2"); // the port is gone, whatever Docker says
    let p = plan(&s, &s, &scope());
    assert_eq!(kinds(&p), vec![format!("info docker-{EID}")]);
    assert!(plan(&s, &s, &Scope { no_docker_info: true, ..scope() }).actions.is_empty());
}

#[test]
fn reservations_go_when_stale_and_stay_while_in_use() {
    let mut s = base();
    attach(&mut s, EID, "198.18.5.2");
    add_port(&mut s, EID, "198.18.5.2", Some(ME));
    let future = Some(s.at_us + 60_000_000);
    let reserved = [
        ("198.18.5.2", future),            // owned by the port: redundant
        ("198.18.5.3", Some(s.at_us - 1)), // expired
        ("198.18.5.4", future),            // nobody: an unfinished CreateEndpoint
        ("198.18.5.5", None),              // kept forever, nobody holds it
    ];
    let pool = Pool {
        docker_network: Some(NID.into()),
        reserved: reserved.iter().map(|(ip, e)| (ip.to_string(), *e)).collect(),
    };
    s.pools.insert("p1".into(), pool.clone());
    // Another engine's network: left alone.
    s.pools.insert("p2".into(), Pool { docker_network: Some("n2".into()), ..pool });
    let p = plan(&s, &s, &scope());
    assert_eq!(kinds(&p), vec!["resv 198.18.5.2", "resv 198.18.5.3", "resv 198.18.5.4", "resv 198.18.5.5"]);
    assert!(p.actions.iter().all(|a| matches!(a, Action::Reservation { pool, .. } if pool == "p1")));
    // Re-requested between the looks (new expiry): in use.
    let mut b = s.clone();
    b.pools.get_mut("p1").unwrap().reserved.insert("198.18.5.4".into(), Some(s.at_us + 61_000_000));
    assert!(!kinds(&plan(&s, &b, &scope())).contains(&"resv 198.18.5.4".to_string()));
    // An address a live endpoint has (no port owns it yet): kept.
    let mut c = s.clone();
    attach(&mut c, EID2, "198.18.5.4");
    assert!(!kinds(&plan(&c, &c, &scope())).contains(&"resv 198.18.5.4".to_string()));
}

#[test]
fn skip_flags_drop_their_pass_and_foreign_links_are_ignored() {
    let mut s = base();
    add_port(&mut s, EID, "198.18.5.2", Some(ME));
    add_pair_unmoved(&mut s, EID);
    add_ovs(&mut s, EID2, -1, Some("gone"));
    // Links not ours: another prefix, no -tap, peer elsewhere.
    s.links.insert("eth0".into(), Link { name: "eth0".into(), peer: Peer::None });
    s.links.insert("vethx-tap".into(), Link { name: "vethx-tap".into(), peer: Peer::Here("vethx".into()) });
    let all = plan(&s, &s, &scope());
    assert_eq!(all.actions.len(), 3, "{all:?}");
    let p = plan(&s, &s, &Scope { skip_ovs: true, ..scope() });
    assert!(p.actions.iter().all(|a| a.pass() != "ovs"));
    let p = plan(&s, &s, &Scope { skip_iplink: true, ..scope() });
    assert!(p.actions.iter().all(|a| a.pass() != "iplink"));
    let p = plan(&s, &s, &Scope { skip_logical_port: true, ..scope() });
    assert!(p.actions.iter().all(|a| a.pass() != "logicalport"));
}
