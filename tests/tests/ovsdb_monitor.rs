//! OVSDB client against a real ovsdb-server + ovs-vswitchd: concurrent `ovs-vsctl` changes
//! arrive as typed events in commit order, and ofport assignment by ovs-vswitchd is observed.

mod ovsdb_common;

use std::time::Duration;

use ovsdb_common::{connect, summary, view};
use vlcp::ovsdb::txn::PortSpec;
use vlcp::ovsdb::view::{Change, ViewEvent};
use vlcp::runtime::ovsdb::ClientEvent;
use vlcp_e2e::lab::{self, Ovs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsctl_changes_arrive_as_events_in_order() {
    let ovs = Ovs::start().unwrap();
    let br = lab::unique("br");
    ovs.add_bridge(&br).unwrap();
    let (client, mut events) = connect(&ovs, |_| {}).await;
    assert!(client.with_view(|v| v.bridge_by_name(&br).is_some()), "initial view has the bridge");

    let (p1, p2) = (lab::unique("p"), lab::unique("p"));
    ovs.vsctl(&[
        "add-port",
        &br,
        &p1,
        "--",
        "set",
        "interface",
        &p1,
        "type=internal",
        "external_ids:iface-id=lp-a",
    ])
    .unwrap();
    ovs.vsctl(&["add-port", &br, &p2, "--", "set", "interface", &p2, "type=internal"]).unwrap();
    ovs.vsctl(&["set", "interface", &p1, "external_ids:iface-id=lp-b"]).unwrap();
    ovs.vsctl(&["del-port", &br, &p1]).unwrap();

    let got = events
        .until(
            "removal of p1",
            |e| matches!(view(e), Some(ViewEvent::Interface(Change::Removed(i))) if i.name == p1),
        )
        .await;
    // Our four changes, in commit order (ofport/ifindex updates from ovs-vswitchd interleave).
    let ours: Vec<_> = got
        .iter()
        .filter_map(view)
        .filter_map(|e| match e {
            ViewEvent::Interface(Change::Added(i)) => Some(format!("add {} {:?}", i.name, i.iface_id())),
            ViewEvent::Interface(Change::Modified { old, new }) if old.iface_id() != new.iface_id() => {
                Some(format!("rebind {} {:?}", new.name, new.iface_id()))
            }
            ViewEvent::Interface(Change::Removed(i)) => Some(format!("remove {}", i.name)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ours,
        vec![
            format!("add {p1} Some(\"lp-a\")"),
            format!("add {p2} None"),
            format!("rebind {p1} Some(\"lp-b\")"),
            format!("remove {p1}"),
        ],
        "all events: {:#?}",
        got.iter().filter_map(view).map(summary).collect::<Vec<_>>()
    );
    // Port rows follow the same order, and the bridge's port set tracked them.
    let ports: Vec<_> = got
        .iter()
        .filter_map(view)
        .map(summary)
        .filter(|(k, t, _)| *t == "Port" && *k != "modified")
        .collect();
    assert_eq!(
        ports,
        vec![("added", "Port", p1.clone()), ("added", "Port", p2.clone()), ("removed", "Port", p1.clone())]
    );

    // ofport assignment by ovs-vswitchd shows up as a modification of p2, matching ovs-vsctl.
    let ofport = client.wait_ofport(&p2, ovsdb_common::GUARD).await.unwrap();
    let vsctl_ofport: u32 = ovs.vsctl(&["get", "interface", &p2, "ofport"]).unwrap().trim().parse().unwrap();
    assert_eq!(ofport, vsctl_ofport);
    let mut all = events.seen.clone();
    all.extend(events.drain());
    assert!(
        all.iter().filter_map(view).any(|e| matches!(e,
            ViewEvent::Interface(Change::Modified { old, new })
                if new.name == p2 && old.ofport.is_none() && new.usable_ofport() == Some(ofport))),
        "no event showed p2's ofport being assigned"
    );
    client.with_view(|v| {
        let b = v.bridge_by_name(&br).unwrap();
        let i = v.interface_by_name(&p2).unwrap();
        assert_eq!(v.bridge_of_interface(&i.uuid).map(|b| b.uuid), Some(b.uuid));
        assert!(v.interface_by_name(&p1).is_none());
        assert!(b.datapath_id.is_some(), "datapath_id assigned by ovs-vswitchd");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ofport_of_a_port_added_by_the_client() {
    let ovs = Ovs::start().unwrap();
    let br = lab::unique("br");
    ovs.add_bridge(&br).unwrap();
    let (client, mut events) = connect(&ovs, |_| {}).await;
    let p = lab::unique("p");
    let spec = PortSpec {
        bridge: br.clone(),
        name: p.clone(),
        iface_type: "internal".into(),
        external_ids: [("iface-id".to_owned(), "lp-1".to_owned())].into(),
        ..Default::default()
    };
    client.add_port(&spec).await.unwrap();
    let ofport = client.wait_ofport(&p, Duration::from_secs(30)).await.unwrap();
    let vsctl: u32 = ovs.vsctl(&["get", "interface", &p, "ofport"]).unwrap().trim().parse().unwrap();
    assert_eq!(ofport, vsctl);
    let lp =
        client.with_view(|v| v.interfaces_by_iface_id("lp-1").map(|i| i.name.clone()).collect::<Vec<_>>());
    assert_eq!(lp, vec![p.clone()]);
    // A port whose interface cannot be created reports ofport -1 as a typed error.
    let bad = lab::unique("p");
    let spec = PortSpec {
        bridge: br.clone(),
        name: bad.clone(),
        iface_type: "no-such-type".into(),
        ..Default::default()
    };
    client.add_port(&spec).await.unwrap();
    let err = client.wait_ofport(&bad, Duration::from_secs(30)).await.unwrap_err();
    assert!(
        matches!(&err, vlcp::runtime::ovsdb::OvsdbError::Interface { name, .. } if *name == bad),
        "{err}"
    );
    assert!(events.drain().iter().all(|e| !matches!(e, ClientEvent::Disconnected { .. })));
}
