//! The product as a user runs it: the real `vlcp` daemon (embedded store, management API,
//! OpenFlow, OVSDB, Docker plugin in one process), a real dockerd and a real OVS bridge
//! `dockerbr0`. `docker network create -d vlcp …` and `docker run` give containers that reach
//! each other and their gateway through the flows the daemon programs.

use std::process::Command;
use std::time::Duration;

use vlcp_e2e::lab::{Dockerd, Ovs, VlcpDaemon, docker_conf, free_port, wait_until};

fn curl(url: &str) -> serde_json::Value {
    let out = Command::new("curl").args(["-s", "-g", "--fail-with-body", url]).output().expect("curl");
    let body = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

#[test]
fn heavy_docker_through_the_vlcp_daemon_containers_ping_each_other_and_the_gateway() {
    let ovs = Ovs::start().expect("ovs");
    ovs.add_bridge("dockerbr0").unwrap();
    // OVS accepts unix controller targets only inside its own run directory.
    let of_sock = ovs.dir().join("vlcp-openflow.sock");
    ovs.vsctl(&["set-controller", "dockerbr0", &format!("unix:{}", of_sock.display())]).unwrap();
    let dockerd = Dockerd::start_in(Some(ovs.netns())).expect("dockerd");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let conf = docker_conf(dir.path(), &ovs, &dockerd, &of_sock, port).unwrap();
    let daemon = VlcpDaemon::start(dir.path(), &conf).unwrap_or_else(|e| panic!("{e}"));
    let api = format!("http://127.0.0.1:{port}");
    let docker = |args: &[&str]| {
        dockerd.docker(args).unwrap_or_else(|e| panic!("{e}\n--- vlcp log ---\n{}", daemon.log_text()))
    };

    // The operator's one-time setup, as in the manual: a physical network.
    curl(&format!("{api}/viperflow/createphysicalnetwork?type=local&id=local"));
    let plugin = dockerd.plugin_name();
    docker(&[
        "network",
        "create",
        "-d",
        plugin,
        "--ipam-driver",
        plugin,
        "-o",
        "physicalnetwork=local",
        "-o",
        "mtu=1400",
        "--subnet",
        "198.18.5.0/24",
        "--gateway",
        "198.18.5.1",
        "net1",
    ]);
    docker(&["run", "-d", "--network", "net1", "--name", "c1", "bb:latest", "sleep", "600"]);
    docker(&["run", "-d", "--network", "net1", "--name", "c2", "bb:latest", "sleep", "600"]);
    let ip =
        |c: &str| docker(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", c]);
    let (ip1, ip2) = (ip("c1"), ip("c2"));
    assert!(ip1.starts_with("198.18.5.") && ip2.starts_with("198.18.5.") && ip1 != ip2, "{ip1} {ip2}");
    let mtu = docker(&["exec", "c1", "cat", "/sys/class/net/eth0/mtu"]);
    assert_eq!(mtu, "1400");

    // Flows arrive asynchronously after Join; the first reply proves the path.
    let ping = |from: &str, to: &str| {
        dockerd
            .cmd()
            .args(["exec", from, "ping", "-c", "1", "-W", "1", to])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let reached = wait_until("c1 to reach c2", Duration::from_secs(20), || ping("c1", &ip2).then_some(()));
    let flows = ovs.ofctl_br("dump-flows", "dockerbr0", &[]).unwrap_or_default();
    assert!(
        reached.is_ok(),
        "c1 cannot reach c2\n--- flows ---\n{flows}\n--- vlcp log ---\n{}",
        daemon.log_text()
    );
    assert!(ping("c2", &ip1), "c2 -> c1");
    assert!(ping("c1", "198.18.5.1"), "the gateway answers (icmpresponder)\n{flows}");

    // The daemon's own view: health, and metrics that follow the endpoints and flows.
    let health = curl(&format!("{api}/healthz"));
    assert_eq!(health["status"], "ok", "{health}");
    let metrics = Command::new("curl").args(["-sf", &format!("{api}/metrics")]).output().unwrap();
    let metrics = String::from_utf8_lossy(&metrics.stdout).into_owned();
    let sample = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{metrics}"))
    };
    assert_eq!(sample("vlcp_docker_endpoints_active"), 2.0);
    assert!(sample("vlcp_openflow_flows{bridge=\"dockerbr0\"}") > 0.0, "{metrics}");

    // The objects the daemon made, through its own management API.
    let ports = curl(&format!("{api}/viperflow/listlogicalports"));
    assert_eq!(ports["result"].as_array().map(Vec::len), Some(2), "{ports}");

    docker(&["rm", "-f", "c1", "c2"]);
    docker(&["network", "rm", "net1"]);
    let ports = curl(&format!("{api}/viperflow/listlogicalports"));
    assert_eq!(ports["result"], serde_json::json!([]), "logical ports left behind");
    let nets = curl(&format!("{api}/viperflow/listlogicalnetworks"));
    assert_eq!(nets["result"], serde_json::json!([]), "logical networks left behind");
    let ovs_ports = ovs.vsctl(&["list-ports", "dockerbr0"]).unwrap();
    assert_eq!(ovs_ports, "", "OVS ports left behind");
    assert_eq!(daemon.stop(), Some(0));
}
