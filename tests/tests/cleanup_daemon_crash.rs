//! The `vlcp` daemon dies (abort at a failpoint: what `kill -9` leaves) in the middle of
//! CreateEndpoint, Join and DeleteEndpoint while a real dockerd drives it. After a restart and
//! `vlcp-cleanup`, nothing is leaked (no logical port, OVS port, veth or address reservation of a
//! dead endpoint) and containers work again. A crash inside CreateEndpoint needs no
//! `vlcp-cleanup` at all: the daemon's next start repairs it.

use std::process::Command;
use std::time::Duration;

use vlcp_e2e::lab::{Dockerd, Ovs, VlcpDaemon, docker_conf, free_port, run, wait_until, workspace_bin};

struct Lab {
    ovs: Ovs,
    dockerd: Dockerd,
    dir: tempfile::TempDir,
    conf: String,
    api: String,
}

impl Lab {
    fn daemon(&self, failpoint: Option<&str>) -> VlcpDaemon {
        let env: Vec<(&str, &str)> = failpoint.map(|f| ("VLCP_FAILPOINT", f)).into_iter().collect();
        VlcpDaemon::start_with_env(self.dir.path(), &self.conf, &env).unwrap_or_else(|e| panic!("{e}"))
    }

    fn curl(&self, api: &str) -> serde_json::Value {
        let out = Command::new("curl").args(["-s", "-g", &format!("{}/{api}", self.api)]).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// `vlcp-cleanup` for this host, with the daemon down (the embedded store is single-process).
    fn cleanup(&self) -> (i32, String) {
        let out = run(Command::new(workspace_bin("vlcp-cleanup").unwrap())
            .arg("-f")
            .arg(self.dir.path().join("vlcp.conf"))
            .args(["-H", &self.dockerd.host(), "--netns", &self.ovs.netns().name, "--interval", "1"]))
        .unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }

    /// Veths the plugin made, in the host namespace.
    fn veths(&self) -> Vec<String> {
        let links = self.ovs.netns().run(&["ip", "-o", "link", "show"]).unwrap();
        links
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
            .filter(|n| n.starts_with("vlcp"))
            .collect()
    }

    fn ovs_ports(&self) -> Vec<String> {
        self.ovs.vsctl(&["list-ports", "dockerbr0"]).unwrap().lines().map(str::to_owned).collect()
    }

    /// Running containers' endpoint ids on net1.
    fn live_endpoints(&self) -> Vec<String> {
        let ids = self.dockerd.docker(&["ps", "-q"]).unwrap_or_default();
        ids.split_whitespace()
            .filter_map(|c| {
                self.dockerd
                    .docker(&[
                        "inspect",
                        "-f",
                        "{{range .NetworkSettings.Networks}}{{.EndpointID}}{{end}}",
                        c,
                    ])
                    .ok()
            })
            .filter(|e| !e.is_empty())
            .collect()
    }

    /// Every logical port, OVS port and veth belongs to a running container, and there are no
    /// more of them than containers.
    fn assert_no_leaks(&self, when: &str) {
        let live = self.live_endpoints();
        let ports = self.curl("viperflow/listlogicalports");
        let ports: Vec<String> = ports["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{when}: no answer from the daemon: {ports}"))
            .iter()
            .filter_map(|p| p["id"].as_str().map(str::to_owned))
            .collect();
        for p in &ports {
            assert!(
                live.iter().any(|e| *p == format!("docker-{e}")),
                "{when}: leaked logical port {p} ({live:?})"
            );
        }
        assert_eq!(ports.len(), live.len(), "{when}: logical ports {ports:?} vs endpoints {live:?}");
        assert_eq!(self.ovs_ports().len(), live.len(), "{when}: OVS ports {:?}", self.ovs_ports());
        assert_eq!(self.veths().len(), live.len(), "{when}: veths {:?}", self.veths());
    }
}

/// OVS, a dockerd and the daemon's config; a vlcp network `net1` on `subnet` holding one
/// container, `keep`, that must survive everything; the daemon is stopped again.
fn lab_with_survivor(subnet: &str) -> Lab {
    let ovs = Ovs::start().expect("ovs");
    ovs.add_bridge("dockerbr0").unwrap();
    let of_sock = ovs.dir().join("vlcp-openflow.sock");
    ovs.vsctl(&["set-controller", "dockerbr0", &format!("unix:{}", of_sock.display())]).unwrap();
    let dockerd = Dockerd::start_in(Some(ovs.netns())).expect("dockerd");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let conf = docker_conf(dir.path(), &ovs, &dockerd, &of_sock, port).unwrap();
    let lab = Lab { ovs, dockerd, dir, conf, api: format!("http://127.0.0.1:{port}") };
    let plugin = lab.dockerd.plugin_name().to_string();

    let d = lab.daemon(None);
    lab.curl("viperflow/createphysicalnetwork?type=local&id=local");
    lab.dockerd
        .docker(&[
            "network",
            "create",
            "-d",
            &plugin,
            "--ipam-driver",
            &plugin,
            "-o",
            "physicalnetwork=local",
            "--subnet",
            subnet,
            "net1",
        ])
        .unwrap();
    lab.dockerd
        .docker(&["run", "-d", "--network", "net1", "--name", "keep", "bb:latest", "sleep", "900"])
        .unwrap();
    assert_eq!(d.stop(), Some(0));
    lab
}

#[test]
fn heavy_daemon_crash_inside_create_endpoint_is_repaired_by_its_next_start() {
    let lab = lab_with_survivor("198.18.9.0/24");
    for (i, point) in ["plumbing:after_veth", "create_endpoint:after_plug"].into_iter().enumerate() {
        let name = format!("r{i}");
        let mut d = lab.daemon(Some(point));
        let mut cmd = lab.dockerd.cmd();
        cmd.args(["run", "-d", "--network", "net1", "--name", &name, "bb:latest", "sleep", "900"]);
        let docker = std::thread::spawn(move || cmd.output());
        let status = d.wait_exit(Duration::from_secs(60));
        assert!(status.is_some(), "{point}: the daemon did not reach its failpoint\n{}", d.log_text());
        // The crash left a half-made endpoint: a veth pair besides the survivor's.
        assert!(lab.veths().len() > 1, "{point}: nothing was left to repair: {:?}", lab.veths());
        // No vlcp-cleanup: the next start repairs it by itself.
        let d = lab.daemon(None);
        let _ = docker.join();
        let _ = lab.dockerd.docker(&["rm", "-f", &name]);
        let settled = wait_until(&format!("{point}: the repair"), Duration::from_secs(40), || {
            let live = lab.live_endpoints().len();
            let ports =
                lab.curl("viperflow/listlogicalports")["result"].as_array().map_or(usize::MAX, Vec::len);
            (ports == live && lab.ovs_ports().len() == live && lab.veths().len() == live).then_some(())
        });
        assert!(settled.is_ok(), "{point}: {settled:?}\n{}", d.log_text());
        assert!(d.own_log().contains("startup repair"), "{point}: no repair logged\n{}", d.own_log());
        lab.assert_no_leaks(point);
        assert_eq!(d.stop(), Some(0));
    }
    // A new container works and reaches the survivor.
    let d = lab.daemon(None);
    lab.new_container_reaches_survivor(&d);
    lab.assert_no_leaks("after the repairs");
    assert_eq!(d.stop(), Some(0));
    let (code, report) = lab.cleanup_dry_run();
    assert_eq!(code, 0, "the repairs left something for vlcp-cleanup:\n{report}");
}

#[test]
fn heavy_daemon_crash_mid_call_then_cleanup_leaves_nothing_and_containers_work() {
    let lab = lab_with_survivor("198.18.6.0/24");

    for (i, point) in ["plumbing:after_veth", "join", "delete_endpoint:after_unplug"].into_iter().enumerate()
    {
        let name = format!("c{i}");
        if point.starts_with("delete") {
            // The endpoint exists first; the crash comes on its removal.
            let d = lab.daemon(None);
            lab.dockerd
                .docker(&["run", "-d", "--network", "net1", "--name", &name, "bb:latest", "sleep", "900"])
                .unwrap();
            assert_eq!(d.stop(), Some(0));
        }
        let mut d = lab.daemon(Some(point));
        // Docker blocks (and retries) while the plugin is gone: drive it from a thread.
        let mut cmd = lab.dockerd.cmd();
        if point.starts_with("delete") {
            cmd.args(["rm", "-f", &name]);
        } else {
            cmd.args(["run", "-d", "--network", "net1", "--name", &name, "bb:latest", "sleep", "900"]);
        }
        let docker = std::thread::spawn(move || cmd.output());
        let status = d.wait_exit(Duration::from_secs(60));
        assert!(status.is_some(), "{point}: the daemon did not reach its failpoint\n{}", d.log_text());
        // The daemon is down: repair this host, then start it again.
        let (code, report) = lab.cleanup();
        assert!(code == 0 || code == 3, "{point}: vlcp-cleanup failed ({code}):\n{report}");
        let d = lab.daemon(None);
        let _ = docker.join();
        // Whatever Docker concluded, the failed container goes; then the state must add up.
        let _ = lab.dockerd.docker(&["rm", "-f", &name]);
        wait_until(&format!("{point}: Docker's retries to settle"), Duration::from_secs(40), || {
            let live = lab.live_endpoints().len();
            let ports =
                lab.curl("viperflow/listlogicalports")["result"].as_array().map_or(usize::MAX, Vec::len);
            (ports == live && lab.ovs_ports().len() == live && lab.veths().len() == live).then_some(())
        })
        .unwrap_or_else(|e| {
            let (_, report) = lab.cleanup_dry_run_note();
            panic!("{e}\n{report}")
        });
        lab.assert_no_leaks(point);
        assert_eq!(d.stop(), Some(0));
    }

    // Afterwards new containers work and reach the survivor.
    let d = lab.daemon(None);
    lab.new_container_reaches_survivor(&d);
    lab.assert_no_leaks("after recovery");
    // Address reservations of the dead endpoints are gone too: with the daemon down, a dry run of
    // the cleanup finds nothing left to repair.
    assert_eq!(d.stop(), Some(0));
    let (code, report) = lab.cleanup_dry_run();
    assert_eq!(code, 0, "something is still left to repair:\n{report}");
}

impl Lab {
    /// `docker run` of a container `after` on net1, which must reach `keep` within 20 s.
    fn new_container_reaches_survivor(&self, d: &VlcpDaemon) {
        self.dockerd
            .docker(&["run", "-d", "--network", "net1", "--name", "after", "bb:latest", "sleep", "900"])
            .unwrap();
        let keep_ip = self
            .dockerd
            .docker(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "keep"])
            .unwrap();
        let reached = wait_until("the new container to reach the survivor", Duration::from_secs(20), || {
            self.dockerd
                .cmd()
                .args(["exec", "after", "ping", "-c", "1", "-W", "1", &keep_ip])
                .output()
                .is_ok_and(|o| o.status.success())
                .then_some(())
        });
        assert!(reached.is_ok(), "{}", d.log_text());
    }

    fn cleanup_dry_run(&self) -> (i32, String) {
        let out = run(Command::new(workspace_bin("vlcp-cleanup").unwrap())
            .arg("-f")
            .arg(self.dir.path().join("vlcp.conf"))
            .args([
                "-H",
                &self.dockerd.host(),
                "--netns",
                &self.ovs.netns().name,
                "--interval",
                "1",
                "--dry-run",
            ]))
        .unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }

    /// For failure messages: what the cleanup would still do (needs the daemon down; if it runs,
    /// the note says so).
    fn cleanup_dry_run_note(&self) -> (i32, String) {
        self.cleanup_dry_run()
    }
}
