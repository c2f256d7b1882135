//! Handshake against a real ovs-vswitchd: the datapath id and ports the controller learns match
//! what OVSDB says, both when dialling the bridge's management socket and when OVS connects to
//! the controller's unix listener; port changes arrive as events.

mod openflow_common;

use openflow_common::{GUARD, Switch, Tap, connect, next_event};
use vlcp::openflow::{MultipartReply, MultipartRequest, PortReason};
use vlcp::runtime::ofswitch::{Controller, ControllerConfig, DatapathEvent};

#[tokio::test]
async fn handshake_over_mgmt_socket_reports_datapath_id_and_ports() {
    let sw = Switch::start();
    let ep = sw.ovs.add_endpoint(&sw.bridge, "198.18.1.2/24").unwrap();
    let ofport = ep.ofport(&sw.ovs).unwrap();
    let (_c, dp, mut tap) = connect(&sw, |_| {}).await;

    assert_eq!(dp.id, sw.vsctl_dpid());
    assert_eq!(dp.features.datapath_id, dp.id);
    let ports = dp.ports();
    let port = ports.iter().find(|p| p.name() == ep.host_if);
    assert_eq!(port.map(|p| p.port_no.0), Some(ofport), "ports: {ports:?}");
    assert!(ports.iter().any(|p| p.name() == sw.bridge), "LOCAL port missing: {ports:?}");

    let desc = dp.query_multipart(MultipartRequest::Desc).await.unwrap();
    match &desc[..] {
        [MultipartReply::Desc(d)] => {
            assert!(d.mfr_desc.contains("Nicira"), "{d:?}");
            assert!(d.sw_desc.starts_with("3."), "{d:?}");
        }
        other => panic!("unexpected desc reply {other:?}"),
    }
    assert!(tap.check() > 3);
}

#[tokio::test]
async fn ovs_connects_to_unix_listener() {
    let sw = Switch::start();
    let sock = sw.ovs.dir().join("ctl.sock");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let controller = Controller::start(ControllerConfig {
        listen: vec![format!("unix:{}", sock.display())],
        tap: Some(tx),
        ..ControllerConfig::default()
    })
    .await
    .unwrap();
    sw.ovs.vsctl(&["set-controller", &sw.bridge, &format!("unix:{}", sock.display())]).unwrap();
    let dp = controller.wait_datapath(sw.vsctl_dpid(), GUARD).await.unwrap();
    dp.barrier().await.unwrap();
    let mut tap = Tap::new(rx);
    assert!(tap.check() > 3);
}

#[tokio::test]
async fn port_add_and_delete_arrive_as_port_status_events() {
    let sw = Switch::start();
    let (_c, dp, mut tap) = connect(&sw, |_| {}).await;
    let mut events = _c.subscribe();
    let ep = sw.ovs.add_endpoint(&sw.bridge, "198.18.1.3/24").unwrap();
    let name = ep.host_if.clone();
    let added = next_event(&mut events, "port add", |e| match e {
        DatapathEvent::PortStatus { status, .. }
            if status.reason == PortReason::ADD && status.port.name() == name =>
        {
            Some(status.port.port_no)
        }
        _ => None,
    })
    .await;
    assert_eq!(added.0, ep.ofport(&sw.ovs).unwrap());
    assert!(dp.ports().iter().any(|p| p.name() == name));

    sw.ovs.vsctl(&["del-port", &sw.bridge, &name]).unwrap();
    next_event(&mut events, "port delete", |e| match e {
        DatapathEvent::PortStatus { status, .. }
            if status.reason == PortReason::DELETE && status.port.name() == name =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    assert!(!dp.ports().iter().any(|p| p.name() == name));
    tap.check();
    assert!(tap.types.contains("PORT_STATUS"), "{:?}", tap.types);
}
