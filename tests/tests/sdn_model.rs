//! The controller fed from the real network model in ObjectDB (embedded store): objects created
//! through the model operations (what the management API calls) become flows on a real OVS,
//! and removing them in reverse order leaves none of their flows.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::runtime::Runtime;
use vlcp::model::{LogicalNetworkSpec, LogicalPortSpec, Model, Params, PhysicalNetworkSpec, SubnetSpec};
use vlcp::objectdb::{KvStore, ObjectDb, embedded::EmbeddedStore};
use vlcp::runtime::controller::{SdnController, model_feed};
use vlcp::runtime::ofswitch::{Controller, ControllerConfig};
use vlcp::runtime::ovsdb::{ClientConfig, OvsdbClient};
use vlcp::sdn::config::SdnConfig;
use vlcp_e2e::lab::{EndpointOpts, Ovs};

const BR: &str = "br0";

fn params(v: Value) -> Params {
    Params::new(v.as_object().unwrap().clone())
}

#[test]
fn model_in_objectdb_drives_flows_and_reverse_removal_cleans_up() {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn KvStore> = Arc::new(EmbeddedStore::open(dir.path().join("db.redb")).unwrap());
    let model = Model::new(ObjectDb::new(store));
    let ovs = Ovs::start().expect("ovs");
    ovs.add_bridge(BR).unwrap();
    let sock = ovs.dir().join("ctl.sock");

    rt.block_on(async {
        let pn = PhysicalNetworkSpec::from_params(params(json!({"id": "local", "type": "local"}))).unwrap();
        model.create_physical_networks(vec![pn]).await.unwrap();
        for n in ["n1", "n2"] {
            let spec = LogicalNetworkSpec::from_params(params(
                json!({"id": n, "physicalnetwork": "local", "mtu": 1400, "dns_nameservers": ["198.18.0.53"]}),
            ))
            .unwrap();
            model.create_logical_networks(vec![spec]).await.unwrap();
            let sub = SubnetSpec::from_params(params(
                json!({"id": format!("s-{n}"), "logicalnetwork": n, "cidr": "198.18.3.0/24", "gateway": "198.18.3.1"}),
            ))
            .unwrap();
            model.create_subnets(vec![sub]).await.unwrap();
        }
        for (id, net, mac, ip) in [
            ("m1", "n1", "02:00:00:00:07:01", "198.18.3.11"),
            ("m2", "n1", "02:00:00:00:07:02", "198.18.3.12"),
            ("m3", "n2", "02:00:00:00:07:03", "198.18.3.12"),
        ] {
            let spec = LogicalPortSpec::from_params(params(json!({
                "id": id, "logicalnetwork": net, "subnet": format!("s-{net}"), "mac_address": mac, "ip_address": ip
            })))
            .unwrap();
            model.create_logical_ports(vec![spec]).await.unwrap();
        }
    });

    let (of, ovsdb, sdn, _feed) = rt.block_on(async {
        let of = Arc::new(
            Controller::start(ControllerConfig {
                listen: vec![format!("unix:{}", sock.display())],
                ..ControllerConfig::default()
            })
            .await
            .unwrap(),
        );
        let (ovsdb, _ev) = OvsdbClient::connect(ClientConfig::new(&ovs.db_url())).unwrap();
        ovsdb.wait_synced(Duration::from_secs(10)).await.unwrap();
        let (rx, feed) = model_feed(model.db().clone()).await.unwrap();
        let sdn = SdnController::spawn(of.clone(), ovsdb.clone(), rx, SdnConfig::default()).unwrap();
        (of, ovsdb, sdn, feed)
    });
    ovs.vsctl(&["set-controller", BR, &format!("unix:{}", sock.display())]).unwrap();
    let dpid =
        u64::from_str_radix(ovs.vsctl(&["get", "bridge", BR, "datapath_id"]).unwrap().trim_matches('"'), 16)
            .unwrap();
    let ep = |id: &str, mac: &str, ip: &str| {
        let o = EndpointOpts { mac: Some(mac.into()), iface_id: Some(id.into()), ..Default::default() };
        ovs.add_endpoint_with(BR, &format!("{ip}/24"), &o).unwrap()
    };
    let e1 = ep("m1", "02:00:00:00:07:01", "198.18.3.11");
    let e2 = ep("m2", "02:00:00:00:07:02", "198.18.3.12");
    let e3 = ep("m3", "02:00:00:00:07:03", "198.18.3.12");
    let flows = || ovs.ofctl_br("dump-flows", BR, &[]).unwrap_or_default();
    let wait_ports = |n: usize| {
        rt.block_on(sdn.wait_status(Duration::from_secs(30), |s| {
            s.get(&dpid).filter(|sw| sw.synced && sw.ports.len() == n).cloned()
        }))
        .unwrap_or_else(|| panic!("{n} ports not bound: {:?}\n{}", sdn.status(), flows()))
    };
    wait_ports(3);
    assert!(e1.ns.ping_eventually(&e2.ip, 10), "m1 → m2\n{}", flows());
    assert!(e1.ns.ping(&e2.ip, 2));
    // m3 has m2's address in the other network: e1 must reach m2 only, e3 must reach nobody.
    assert!(!e3.ns.ping(&e1.ip, 2), "n2 reached n1\n{}", flows());
    assert!(e1.ns.ping_eventually("198.18.3.1", 5), "gateway\n{}", flows());

    // Remove in reverse order: ports, subnets, networks.
    rt.block_on(model.delete_logical_ports(vec!["m2".into(), "m3".into()])).unwrap();
    wait_ports(1);
    assert!(!e1.ns.ping(&e2.ip, 2), "m2's flows survived its removal\n{}", flows());
    rt.block_on(model.delete_logical_ports(vec!["m1".into()])).unwrap();
    rt.block_on(model.delete_subnets(vec!["s-n1".into(), "s-n2".into()])).unwrap();
    rt.block_on(model.delete_logical_networks(vec!["n1".into(), "n2".into()])).unwrap();
    rt.block_on(model.delete_physical_networks(vec!["local".into()])).unwrap();
    let st = wait_ports(0);
    let dump = flows();
    let ours = dump.lines().filter(|l| l.contains("cookie=0x5c")).count();
    let defaults = dump.lines().filter(|l| l.contains("priority=0 ")).count();
    assert_eq!(ours, defaults + 2, "only table defaults and the l2input filters may stay:\n{dump}");
    assert_eq!(st.flows, ours);
    assert_eq!(st.errors, 0, "OFPT_ERROR received\n{dump}");
    drop((of, ovsdb));
}
