//! The managed (v2) plugin bundle on a real Docker engine: `packaging/managed-plugin/build.sh`
//! builds the bundle from this checkout's `vlcp` binary, `docker plugin create` + `set` +
//! `enable` run it (host network inside the OVS namespace, OVS run directory and a state
//! directory bind-mounted), and a network created with `-d <plugin>` carries traffic between two
//! containers through the flows the plugin's own SDN controller programs. The plugin's management
//! API (a unix socket in its state mount) answers `/healthz` and `/metrics`, whose endpoint
//! counters follow the containers.

mod managed_plugin_common;
mod metrics_common;

use std::path::Path;
use std::time::Duration;

use managed_plugin_common::{build_bundle, plugin_config};
use metrics_common::{Target, curl, healthz, scrape};
use vlcp_e2e::lab::{self, Dockerd, Ovs, wait_until};

const BRIDGE: &str = "dockerbr0";

/// Removes the plugin's containers, network and the plugin itself even when the test fails.
struct Cleanup<'a> {
    dockerd: &'a Dockerd,
    plugin: String,
    plugin_id: Option<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.dockerd.docker(&["rm", "-f", "c1", "c2"]);
        let _ = self.dockerd.docker(&["network", "rm", "net1"]);
        let _ = self.dockerd.docker(&["plugin", "disable", "-f", &self.plugin]);
        let _ = self.dockerd.docker(&["plugin", "rm", "-f", &self.plugin]);
        if let Some(id) = &self.plugin_id {
            // Managed plugin sockets live in the host-wide plugin dir, under the plugin's id.
            let _ = std::fs::remove_dir_all(Path::new("/run/docker/plugins").join(id));
        }
    }
}

#[test]
fn heavy_managed_plugin_create_enable_and_network_create() {
    let ovs = Ovs::start().expect("ovs");
    ovs.add_bridge(BRIDGE).unwrap();
    let of_sock = ovs.dir().join("vlcp-openflow.sock");
    ovs.vsctl(&["set-controller", BRIDGE, &format!("unix:{}", of_sock.display())]).unwrap();
    let dockerd = Dockerd::start_in(Some(ovs.netns())).expect("dockerd");
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::write(state.join("test.conf"), plugin_config()).unwrap();
    let bundle = build_bundle(&work.path().join("bundle"));

    let plugin = format!("{}:latest", lab::unique("mp"));
    let mut cleanup = Cleanup { dockerd: &dockerd, plugin: plugin.clone(), plugin_id: None };
    let docker =
        |args: &[&str]| dockerd.docker(args).unwrap_or_else(|e| panic!("{e}\n{}", dockerd.log_tail(40)));
    docker(&["plugin", "create", &plugin, bundle.to_str().unwrap()]);
    cleanup.plugin_id = Some(docker(&["plugin", "inspect", "-f", "{{.Id}}", &plugin]));
    docker(&[
        "plugin",
        "set",
        &plugin,
        "VLCP_CONFIG=/var/lib/vlcp/test.conf",
        &format!("ovs.source={}", ovs.dir().display()),
        &format!("state.source={}", state.display()),
    ]);
    docker(&["plugin", "enable", &plugin]);
    let inspect = docker(&["plugin", "inspect", &plugin]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v[0]["Enabled"], true, "{inspect}");
    assert_eq!(
        v[0]["Config"]["Interface"]["Types"],
        serde_json::json!(["docker.networkdriver/1.0", "docker.ipamdriver/1.0"])
    );

    // The daemon inside the plugin: management API on the state mount, store and OVSDB up.
    let api = Target::Unix(state.join("api.sock"));
    let up = wait_until("the plugin's API to answer", Duration::from_secs(30), || {
        state.join("api.sock").exists().then(|| healthz(&api)).filter(|(s, _)| *s == 200)
    });
    let (_, health) = up.unwrap_or_else(|e| panic!("{e}\n{}", dockerd.log_tail(40)));
    assert_eq!(health["store"]["backend"], "embedded");
    assert!(state.join("vlcp.redb").exists(), "the embedded store lives in the state mount");
    let r = curl(&api, &[], "/viperflow/createphysicalnetwork?type=local&id=local");
    assert_eq!(r.status, 200, "{r:?}");

    docker(&[
        "network",
        "create",
        "-d",
        &plugin,
        "--ipam-driver",
        &plugin,
        "-o",
        "physicalnetwork=local",
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
    assert_eq!(ovs.vsctl(&["list-ports", BRIDGE]).unwrap().lines().count(), 2, "veths plugged into OVS");
    let m = scrape(&api, &[]);
    assert_eq!(m.value("vlcp_docker_endpoints_created_total", &[]), Some(2.0));
    assert_eq!(m.value("vlcp_docker_endpoints_active", &[]), Some(2.0));
    assert_eq!(
        m.value("vlcp_docker_plugin_calls_total", &[("method", "NetworkDriver.Join"), ("code", "200")]),
        Some(2.0)
    );

    // Traffic between the two containers, through the plugin's own controller.
    let ping = |from: &str, to: &str| {
        dockerd
            .cmd()
            .args(["exec", from, "ping", "-c", "1", "-W", "1", to])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let reached = wait_until("c1 to reach c2", Duration::from_secs(30), || ping("c1", &ip2).then_some(()));
    assert!(
        reached.is_ok(),
        "c1 cannot reach c2\n--- flows ---\n{}\n--- dockerd ---\n{}",
        ovs.ofctl_br("dump-flows", BRIDGE, &[]).unwrap_or_default(),
        dockerd.log_tail(40)
    );
    assert!(ping("c2", &ip1), "c2 -> c1");

    docker(&["rm", "-f", "c1", "c2"]);
    docker(&["network", "rm", "net1"]);
    assert_eq!(ovs.vsctl(&["list-ports", BRIDGE]).unwrap(), "", "OVS ports left behind");
    let m = scrape(&api, &[]);
    assert_eq!(m.value("vlcp_docker_endpoints_deleted_total", &[]), Some(2.0));
    assert_eq!(m.value("vlcp_docker_endpoints_active", &[]), Some(0.0));
    assert_eq!(m.value("vlcp_model_objects", &[("type", "logicalport")]), Some(0.0));
    docker(&["plugin", "disable", &plugin]);
    assert!(!state.join("api.sock").exists() || healthz_fails(&api), "the daemon stopped with the plugin");
    docker(&["plugin", "rm", &plugin]);
    drop(cleanup);
}

fn healthz_fails(t: &Target) -> bool {
    let r = curl(t, &[], "/healthz");
    r.status != 200
}
