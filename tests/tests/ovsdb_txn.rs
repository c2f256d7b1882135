//! The product's OVSDB transactions against a real ovsdb-server + ovs-vswitchd: results are
//! visible to `ovs-vsctl`, a concurrent conflicting change fails the `wait` guard cleanly (typed,
//! nothing applied) and a retry succeeds, and server errors are typed and name the operation.

mod ovsdb_common;

use std::collections::BTreeMap;

use ovsdb_common::connect;
use serde_json::json;
use vlcp::ovsdb::datum::{Atom, Datum, Uuid};
use vlcp::ovsdb::ops::{Condition, ErrorKind, Operation, Row};
use vlcp::ovsdb::txn::{self, BridgeSpec, PortSpec, TxnBuildError};
use vlcp::runtime::ovsdb::OvsdbError;
use vlcp_e2e::lab::{self, Ovs};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_and_ports_through_the_client_are_visible_to_vsctl() {
    let ovs = Ovs::start().unwrap();
    let (client, _events) = connect(&ovs, |_| {}).await;
    let br = lab::unique("br");
    let ctl = format!("unix:{}", ovs.dir().join("ctl.sock").display());
    client.ensure_bridge(&BridgeSpec::new(&br, "netdev").controller(&ctl)).await.unwrap();
    assert_eq!(ovs.vsctl(&["get", "bridge", &br, "fail_mode"]).unwrap().trim(), "secure");
    assert_eq!(ovs.vsctl(&["get", "bridge", &br, "datapath_type"]).unwrap().trim(), "netdev");
    assert_eq!(ovs.vsctl(&["get", "bridge", &br, "protocols"]).unwrap().trim(), "[OpenFlow13]");
    assert_eq!(ovs.vsctl(&["get-controller", &br]).unwrap().trim(), ctl);
    assert!(ovs.vsctl(&["list-ports", &br]).unwrap().trim().is_empty());
    // Idempotent: a second ensure changes nothing (no operations are sent).
    client
        .wait_view("bridge in view", ovsdb_common::GUARD, |v, _| v.bridge_by_name(&br).map(drop))
        .await
        .unwrap();
    assert!(
        client
            .with_view(|v| txn::ensure_bridge(v, &BridgeSpec::new(&br, "netdev").controller(&ctl)))
            .is_empty()
    );
    // vsctl drifts the bridge; ensure brings it back.
    ovs.vsctl(&["set", "bridge", &br, "fail_mode=standalone"]).unwrap();
    client
        .wait_view("drift in view", ovsdb_common::GUARD, |v, _| {
            (v.bridge_by_name(&br)?.fail_mode.as_deref() == Some("standalone")).then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}: {:?}", client.with_view(|v| v.bridge_by_name(&br).cloned())));
    client.ensure_bridge(&BridgeSpec::new(&br, "netdev").controller(&ctl)).await.unwrap();
    assert_eq!(ovs.vsctl(&["get", "bridge", &br, "fail_mode"]).unwrap().trim(), "secure");

    // A tunnel port with options and external_ids.
    let p = lab::unique("vx");
    let spec = PortSpec {
        bridge: br.clone(),
        name: p.clone(),
        iface_type: "vxlan".into(),
        options: map(&[("remote_ip", "198.18.0.2"), ("key", "flow")]),
        external_ids: map(&[("iface-id", "lp-vx")]),
    };
    client.add_port(&spec).await.unwrap();
    assert_eq!(ovs.vsctl(&["list-ports", &br]).unwrap().trim(), p);
    assert_eq!(ovs.vsctl(&["get", "interface", &p, "type"]).unwrap().trim(), "vxlan");
    assert_eq!(ovs.vsctl(&["get", "interface", &p, "external_ids:iface-id"]).unwrap().trim(), "lp-vx");
    client
        .wait_view("port in view", ovsdb_common::GUARD, |v, _| v.interface_by_name(&p).map(drop))
        .await
        .unwrap();
    client.set_interface_options(&p, &map(&[("dst_port", "4790"), ("key", "7")])).await.unwrap();
    assert_eq!(ovs.vsctl(&["get", "interface", &p, "options:dst_port"]).unwrap().trim(), "\"4790\"");
    assert_eq!(ovs.vsctl(&["get", "interface", &p, "options:key"]).unwrap().trim(), "\"7\"");
    assert_eq!(ovs.vsctl(&["get", "interface", &p, "options:remote_ip"]).unwrap().trim(), "\"198.18.0.2\"");
    let seen = client
        .wait_view("options in view", ovsdb_common::GUARD, |v, _| {
            let i = v.interface_by_name(&p)?;
            (i.dst_port() == Some("4790")).then(|| {
                (
                    i.local_ip().map(str::to_owned),
                    i.remote_ip().map(str::to_owned),
                    i.key().map(str::to_owned),
                )
            })
        })
        .await
        .unwrap();
    assert_eq!(seen, (None, Some("198.18.0.2".into()), Some("7".into())));

    client.delete_port(&p).await.unwrap();
    assert!(ovs.vsctl(&["list-ports", &br]).unwrap().trim().is_empty());
    assert!(ovs.vsctl(&["--if-exists", "get", "interface", &p, "name"]).unwrap().trim().is_empty());
    client
        .wait_view("port gone from view", ovsdb_common::GUARD, |v, _| {
            v.port_by_name(&p).is_none().then_some(())
        })
        .await
        .unwrap();
    let err = client.delete_port(&p).await.unwrap_err();
    assert!(matches!(&err, OvsdbError::Build(TxnBuildError::PortNotFound(n)) if *n == p), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_change_fails_the_wait_and_a_retry_succeeds() {
    let ovs = Ovs::start().unwrap();
    let (client, _events) = connect(&ovs, |_| {}).await;
    let br = lab::unique("br");
    let ctl = format!("unix:{}", ovs.dir().join("ctl.sock").display());
    let spec = BridgeSpec::new(&br, "netdev").controller(&ctl);

    // Built while the bridge does not exist; ovs-vsctl creates it before we commit.
    let ops = client.with_view(|v| txn::ensure_bridge(v, &spec));
    ovs.vsctl(&["add-br", &br, "--", "set", "bridge", &br, "datapath_type=netdev"]).unwrap();
    let err = client.transact(&ops).await.unwrap_err();
    let OvsdbError::Txn(e) = &err else { panic!("expected a transaction error, got {err}") };
    assert!(e.is_conflict(), "{e}");
    assert_eq!((e.index, e.op, e.table.as_deref()), (0, "wait", Some("Bridge")));
    // Nothing of ours was applied: no controller, fail_mode unset.
    assert!(ovs.vsctl(&["get-controller", &br]).unwrap().trim().is_empty());
    assert_eq!(ovs.vsctl(&["get", "bridge", &br, "fail_mode"]).unwrap().trim(), "[]");
    // The retrying operation rebuilds against the updated view and succeeds.
    client.ensure_bridge(&spec).await.unwrap();
    assert_eq!(ovs.vsctl(&["get", "bridge", &br, "fail_mode"]).unwrap().trim(), "secure");
    assert_eq!(ovs.vsctl(&["get-controller", &br]).unwrap().trim(), ctl);
    assert_eq!(ovs.vsctl(&["list-br"]).unwrap().trim(), br, "exactly one bridge");

    // Same for a port: ovs-vsctl takes the name between build and commit.
    client.wait_view("bridge", ovsdb_common::GUARD, |v, _| v.bridge_by_name(&br).map(drop)).await.unwrap();
    let p = lab::unique("p");
    let pspec =
        PortSpec { bridge: br.clone(), name: p.clone(), iface_type: "internal".into(), ..Default::default() };
    let ops = client.with_view(|v| txn::add_port(v, &pspec)).unwrap();
    ovs.vsctl(&["add-port", &br, &p, "--", "set", "interface", &p, "type=internal"]).unwrap();
    let err = client.transact(&ops).await.unwrap_err();
    assert!(
        matches!(&err, OvsdbError::Txn(e) if e.is_conflict() && e.table.as_deref() == Some("Port")),
        "{err}"
    );
    client.wait_view("vsctl port", ovsdb_common::GUARD, |v, _| v.port_by_name(&p).map(drop)).await.unwrap();
    let err = client.add_port(&pspec).await.unwrap_err();
    assert!(matches!(&err, OvsdbError::Build(TxnBuildError::PortExists(n)) if *n == p), "{err}");
    ovs.vsctl(&["del-port", &br, &p]).unwrap();
    client
        .wait_view("vsctl del", ovsdb_common::GUARD, |v, _| v.port_by_name(&p).is_none().then_some(()))
        .await
        .unwrap();
    client.add_port(&pspec).await.unwrap();
    assert_eq!(ovs.vsctl(&["list-ports", &br]).unwrap().trim(), p);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_typed_and_name_the_operation() {
    let ovs = Ovs::start().unwrap();
    let (client, _events) = connect(&ovs, |_| {}).await;

    // A failing operation in the middle: the error names its index, kind and table.
    let ghost = Uuid(0x1234);
    let ops = vec![
        Operation::Comment("vlcp e2e".into()),
        Operation::Wait {
            table: "Bridge".into(),
            conditions: vec![Condition::uuid(ghost)],
            columns: vec!["name".into()],
            until: vlcp::ovsdb::ops::WaitUntil::NotEqual,
            rows: vec![],
            timeout_ms: Some(0),
        },
    ];
    let err = client.transact(&ops).await.unwrap_err();
    assert!(
        matches!(&err, OvsdbError::Txn(e) if e.index == 1 && e.op == "wait" && e.kind == ErrorKind::TimedOut),
        "{err}"
    );
    assert!(err.to_string().contains("#1 (wait on Bridge)"), "{err}");

    // A constraint checked at commit: the extra result names "commit".
    let ops = vec![Operation::Insert {
        table: "Port".into(),
        row: Row::from([
            ("name".to_owned(), Datum::Atom(Atom::from("dangling"))),
            ("interfaces".to_owned(), Datum::set([ghost])),
        ]),
        uuid_name: None,
    }];
    let err = client.transact(&ops).await.unwrap_err();
    assert!(
        matches!(&err, OvsdbError::Txn(e) if e.op == "commit" && e.kind == ErrorKind::ReferentialIntegrity),
        "{err}"
    );

    // A request-level error (unknown database) names the method.
    let err =
        client.call("transact", json!(["No_Such_DB", {"op": "comment", "comment": "x"}])).await.unwrap_err();
    assert!(matches!(&err, OvsdbError::Rpc { method, .. } if method == "transact"), "{err}");
    // Unknown column: a per-operation syntax error.
    let ops = vec![Operation::select("Bridge", vec![], &["no_such_column"])];
    let err = client.transact(&ops).await.unwrap_err();
    assert!(matches!(&err, OvsdbError::Txn(e) if e.index == 0 && e.op == "select"), "{err}");
    // The connection survived all of it.
    let dbs = client.call("list_dbs", json!([])).await.unwrap();
    assert!(dbs.as_array().unwrap().iter().any(|d| d == "Open_vSwitch"));
    let echo = client.call("echo", json!(["ping"])).await.unwrap();
    assert_eq!(echo, json!(["ping"]));
}
