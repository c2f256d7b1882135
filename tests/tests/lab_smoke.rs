//! Smoke tests of the lab itself: every fixture starts the real component and the component works.

use std::time::Duration;

use vlcp_e2e::lab::{self, Dockerd, Host, Netns, Ovs, Redis, TwoHost, ZooKeeper, leaks::Leftover};

#[test]
fn ovs_bridge_carries_traffic_between_two_namespaces() {
    let ovs = Ovs::start().expect("ovs");
    ovs.add_bridge("br0").unwrap();
    let e1 = ovs.add_endpoint("br0", "198.18.10.1/24").unwrap();
    let e2 = ovs.add_endpoint("br0", "198.18.10.2/24").unwrap();
    // fail_mode=secure and no flows: the bridge drops everything, so a ping proves nothing yet.
    assert!(!e1.ns.ping(&e2.ip, 1), "secure bridge without flows must drop");
    ovs.ofctl_br("add-flow", "br0", &["priority=0,actions=NORMAL"]).unwrap();
    assert!(e1.ns.ping_eventually(&e2.ip, 5), "{}", ovs.log_tail("ovs-vswitchd.log", 20));
    assert!(e2.ns.ping(&e1.ip, 3));
    let p1 = e1.ofport(&ovs).unwrap();
    let p2 = e2.ofport(&ovs).unwrap();
    assert_ne!(p1, p2);
    let dp = ovs.vsctl(&["get", "bridge", "br0", "datapath_type"]).unwrap();
    assert_eq!(dp, "netdev");
}

#[test]
fn heavy_two_hosts_ping_over_vxlan() {
    let lab = TwoHost::start("br-int").expect("two-host lab");
    let opts = lab::EndpointOpts { mtu: Some(1450), ..Default::default() };
    let ea = lab.a.add_endpoint_with("br-int", "198.19.0.1/24", &opts).unwrap();
    let eb = lab.b.add_endpoint_with("br-int", "198.19.0.2/24", &opts).unwrap();
    for (h, ep) in [(Host::A, &ea), (Host::B, &eb)] {
        let ovs = lab.host(h);
        let port = ep.ofport(ovs).unwrap();
        let peer = TwoHost::underlay_ip(h.peer());
        let vx = lab::VXLAN_OFPORT;
        ovs.ofctl_br(
            "add-flow",
            "br-int",
            &[&format!("priority=100,in_port={port},actions=set_field:100->tun_id,set_field:{peer}->tun_dst,output:{vx}")],
        )
        .unwrap();
        ovs.ofctl_br(
            "add-flow",
            "br-int",
            &[&format!("priority=100,in_port={vx},tun_id=100,actions=output:{port}")],
        )
        .unwrap();
    }
    let cap = lab.capture_vxlan(Host::A, 2).unwrap();
    assert!(
        ea.ns.ping_eventually(&eb.ip, 5),
        "overlay ping failed\n{}",
        lab.a.log_tail("ovs-vswitchd.log", 20)
    );
    let wire = cap.finish(Duration::from_secs(5));
    assert!(wire.contains("VXLAN") && wire.contains("vni 100"), "no VXLAN on the underlay: {wire:?}");
    assert!(wire.contains("198.18.0.1") && wire.contains("198.18.0.2"), "{wire}");
    assert!(eb.ns.ping(&ea.ip, 3));
}

#[test]
fn zookeeper_serves_a_client() {
    let zk = ZooKeeper::start().expect("zookeeper");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = zookeeper_client::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&zk.connect_string())
            .await
            .expect("connect");
        let acl = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
        client.create("/lab-smoke", b"hello", &acl).await.expect("create");
        let (data, _stat) = client.get_data("/lab-smoke").await.expect("get");
        assert_eq!(data, b"hello");
    });
}

#[test]
fn redis_answers_ping() {
    let r = Redis::start().expect("redis");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = redis::Client::open(r.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.expect("connect");
        let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
        assert_eq!(pong, "PONG");
    });
}

#[test]
fn heavy_dockerd_runs_a_busybox_container() {
    let d = Dockerd::start().expect("dockerd");
    let out = d.docker(&["run", "--rm", "--network", "none", "bb:latest", "echo", "hello-from-busybox"]);
    let out = out.unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail(30)));
    assert_eq!(out, "hello-from-busybox");
    assert!(d.plugin_name().starts_with(lab::LAB_PREFIX));
}

fn exists_netns(name: &str) -> bool {
    lab::run_ok(std::process::Command::new("ip").args(["netns", "list"]))
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

#[test]
fn fixtures_clean_up_on_drop_and_on_panic() {
    // On drop.
    let ovs = Ovs::start().unwrap();
    ovs.add_bridge("br0").unwrap();
    let ep = ovs.add_endpoint("br0", "198.18.11.1/24").unwrap();
    let (host_ns, ep_ns, dir) = (ovs.netns().name.clone(), ep.ns.name.clone(), ovs.dir().to_path_buf());
    let pids = [ovs.vswitchd_pid().unwrap(), ovs.ovsdb_pid().unwrap()];
    drop(ep);
    drop(ovs);
    assert!(!exists_netns(&host_ns) && !exists_netns(&ep_ns));
    assert!(!dir.exists());
    for p in pids {
        assert!(!std::path::Path::new(&format!("/proc/{p}")).exists(), "pid {p} still running");
    }
    // On panic: a thread builds fixtures and panics; unwinding must remove them.
    let (tx, rx) = std::sync::mpsc::channel();
    let r = std::thread::spawn(move || {
        let ns = Netns::new("pn").unwrap();
        let r = Redis::start().unwrap();
        tx.send((ns.name.clone(), r.port())).unwrap();
        panic!("deliberate");
    })
    .join();
    assert!(r.is_err());
    let (ns, port) = rx.recv().unwrap();
    assert!(!exists_netns(&ns));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "redis still listening");
    // The scanner recognises lab resources (so the end-of-suite leak check is meaningful).
    let probe = Netns::new("lk").unwrap();
    assert!(lab::leaks::scan().contains(&Leftover::Netns(probe.name.clone())));
}

#[test]
fn heavy_zookeeper_ensemble_keeps_serving_with_one_server_down() {
    let mut zk = ZooKeeper::ensemble(3).expect("ensemble");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let connect = zk.connect_string();
    let client = rt.block_on(async {
        zookeeper_client::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&connect)
            .await
            .expect("connect")
    });
    let acl = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    rt.block_on(client.create("/before", b"1", &acl)).expect("create before");
    zk.stop_server(0);
    rt.block_on(async {
        // The quorum (2 of 3) still commits; the client may need a moment to move servers.
        let mut last = None;
        for _ in 0..50 {
            match client.create("/after", b"2", &acl).await {
                Ok(_) | Err(zookeeper_client::Error::NodeExists) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(last.is_none(), "ensemble with 2 of 3 servers refused a write: {last:?}");
        let (data, _) = client.get_data("/before").await.unwrap();
        assert_eq!(data, b"1");
    });
    zk.start_server(0).expect("server 1 rejoins");
}
