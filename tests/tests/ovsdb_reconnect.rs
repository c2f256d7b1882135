//! OVSDB client across ovsdb-server outages (real ovsdb-server + ovs-vswitchd): after a restart
//! it reconnects, monitors again and reports only what changed while it was away (a port added
//! meanwhile appears exactly once, nothing else is repeated); a frozen server is detected by the
//! echo keepalive and the resync after it reports nothing.

mod ovsdb_common;

use std::process::Command;
use std::time::Duration;

use ovsdb_common::{connect, summary, view};
use vlcp::ovsdb::ops::transact_params;
use vlcp::ovsdb::txn::{self, PortSpec};
use vlcp::runtime::ovsdb::ClientEvent;
use vlcp_e2e::lab::{self, Ovs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovsdb_restart_resyncs_only_the_difference() {
    let mut ovs = Ovs::start().unwrap();
    let br = lab::unique("br");
    ovs.add_bridge(&br).unwrap();
    let p1 = lab::unique("p");
    ovs.vsctl(&["add-port", &br, &p1, "--", "set", "interface", &p1, "type=internal"]).unwrap();
    let (client, mut events) = connect(&ovs, |c| c.backoff = Duration::from_millis(50)).await;
    client.wait_ofport(&p1, ovsdb_common::GUARD).await.unwrap();
    events.drain();

    ovs.stop_ovsdb();
    events.until("disconnect", |e| matches!(e, ClientEvent::Disconnected { .. })).await;
    // While the server is down, add p2 to the database file directly (the same transaction our
    // client would send), so the change can only reach the client through the resync.
    let p2 = lab::unique("p");
    let spec = PortSpec {
        bridge: br.clone(),
        name: p2.clone(),
        iface_type: "internal".into(),
        external_ids: [("iface-id".to_owned(), "lp-2".to_owned())].into(),
        ..Default::default()
    };
    let ops = client.with_view(|v| txn::add_port(v, &spec)).unwrap();
    let out = Command::new("ovsdb-tool")
        .arg("transact")
        .arg(ovs.dir().join("conf.db"))
        .arg(transact_params("Open_vSwitch", &ops).to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !stdout.contains("error"),
        "ovsdb-tool: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ovs.start_ovsdb().unwrap();

    let got = events.until("resync", |e| matches!(e, ClientEvent::Synced { resync: true })).await;
    let changes: Vec<_> = got.iter().filter_map(view).map(summary).collect();
    let added: Vec<_> = changes.iter().filter(|(k, _, _)| *k == "added").cloned().collect();
    assert_eq!(
        added,
        vec![("added", "Port", p2.clone()), ("added", "Interface", p2.clone())],
        "resync: {changes:#?}"
    );
    // Rows that existed before are never re-announced or removed. They may show as modified:
    // ovsdb-server does not persist ephemeral columns (ifindex, datapath_id), and the resync
    // reports that real difference (at most once per row).
    assert!(
        changes.iter().all(|(k, _, n)| *k != "removed" && (*k != "added" || *n == p2)),
        "resync repeated or removed rows: {changes:#?}"
    );
    let mut rows: Vec<_> = changes.iter().map(|(_, t, n)| (*t, n.clone())).collect();
    rows.sort();
    let before = rows.len();
    rows.dedup();
    assert_eq!(before, rows.len(), "a row reported twice in one resync: {changes:#?}");
    assert!(client.with_view(|v| v.interfaces_by_iface_id("lp-2").count()) == 1);

    // Life goes on: ovs-vswitchd assigns p2 an ofport, and p2 is never announced twice.
    let ofport = client.wait_ofport(&p2, ovsdb_common::GUARD).await.unwrap();
    let vsctl: u32 = ovs.vsctl(&["get", "interface", &p2, "ofport"]).unwrap().trim().parse().unwrap();
    assert_eq!(ofport, vsctl);
    let p3 = lab::unique("p");
    ovs.vsctl(&["add-port", &br, &p3, "--", "set", "interface", &p3, "type=internal"]).unwrap();
    client.wait_ofport(&p3, ovsdb_common::GUARD).await.unwrap();
    events.drain();
    let all: Vec<_> = events.seen.iter().filter_map(view).map(summary).collect();
    for name in [&p1, &p2, &p3] {
        let adds = all.iter().filter(|(k, t, n)| *k == "added" && *t == "Interface" && n == name).count();
        // p1 once in the first sync, p2 once in the resync, p3 once live.
        assert_eq!(adds, 1, "Interface {name} added {adds} times: {all:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_server_is_detected_by_echo_and_resync_is_empty() {
    let ovs = Ovs::start().unwrap();
    let br = lab::unique("br");
    ovs.add_bridge(&br).unwrap();
    let (client, mut events) = connect(&ovs, |c| {
        c.keepalive = Duration::from_millis(300);
        c.backoff = Duration::from_millis(50);
        c.max_backoff = Duration::from_millis(200);
    })
    .await;
    // Idle for several keepalive periods: our echoes are answered, the connection stays.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(events.drain().iter().all(|e| !matches!(e, ClientEvent::Disconnected { .. })));
    assert!(client.is_synced());

    let pid = ovs.ovsdb_pid().unwrap() as libc::pid_t;
    // SAFETY: kill(2) on the lab's ovsdb-server pid; continued below (and by the lab on drop).
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let got = events.until("keepalive disconnect", |e| matches!(e, ClientEvent::Disconnected { .. })).await;
    let reason = match got.last() {
        Some(ClientEvent::Disconnected { reason }) => reason.clone(),
        other => panic!("{other:?}"),
    };
    assert!(reason.contains("silent"), "{reason}");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let got = events.until("resync", |e| matches!(e, ClientEvent::Synced { resync: true })).await;
    assert!(got.iter().all(|e| view(e).is_none()), "nothing changed, nothing reported: {got:#?}");
    assert!(client.with_view(|v| v.bridge_by_name(&br).is_some()));
}
