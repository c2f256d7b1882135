//! Docker Swarm services on a vlcp network. The lab engine (inside the OVS namespace) runs the
//! managed (v2) plugin with `VLCP_SCOPE=global` and becomes a single-node swarm
//! (`docker swarm init`); a swarm-scope network of the plugin
//! (`docker network create -d <plugin> --scope swarm --attachable …`) carries a replicated service
//! (`docker service create --replicas 2`, VIP or DNS round-robin endpoint mode) whose two task
//! containers ping each other by address through the plugin's own controller; a plain container
//! attached to the network (`docker run --network`) reaches them too. Scaling down
//! removes one task's port; removing the service and the network leaves no logical port, logical
//! network, OVS port or veth. The two-node test does the same across the two-host lab (manager
//! on A, worker on B, one ZooKeeper), the tasks pinging each other over VXLAN.
//!
//! Which calls swarm makes is read from the plugins' `vlcp_docker_plugin_calls_total` and printed.

mod managed_plugin_common;
mod metrics_common;

use std::time::Duration;

use managed_plugin_common::{ManagedPlugin, plugin_config, set_controller};
use metrics_common::{curl, scrape};
use vlcp_e2e::lab::{self, Dockerd, DockerdOpts, Ovs, wait_until};

const BRIDGE: &str = "dockerbr0";
/// Swarm's advertise address: on the OVS namespace's loopback (the namespace has no other
/// interface), inside 198.18.0.0/15.
const ADVERTISE: &str = "198.18.77.1";

/// Leaves the swarm and removes the service and network even when the test fails (the plugin
/// is removed by its own guard, dropped after this one).
struct SwarmCleanup<'a> {
    dockerd: &'a Dockerd,
    service: String,
    network: String,
}

impl Drop for SwarmCleanup<'_> {
    fn drop(&mut self) {
        let _ = self.dockerd.docker(&["service", "rm", &self.service]);
        let gone = wait_until("the tasks to go", Duration::from_secs(20), || {
            self.dockerd.docker(&["ps", "-aq"]).ok().filter(|s| s.trim().is_empty())
        });
        if gone.is_err() {
            let ids = self.dockerd.docker(&["ps", "-aq"]).unwrap_or_default();
            for id in ids.split_whitespace() {
                let _ = self.dockerd.docker(&["rm", "-f", id]);
            }
        }
        let _ = wait_until("the network to go", Duration::from_secs(20), || {
            let _ = self.dockerd.docker(&["network", "rm", &self.network]);
            self.dockerd.docker(&["network", "inspect", &self.network]).is_err().then_some(())
        });
        let _ = self.dockerd.docker(&["swarm", "leave", "--force"]);
    }
}

/// The calls the plugin answered, by method (`NetworkDriver.AllocateNetwork` → count).
fn calls(m: &metrics_common::Exposition) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for method in [
        "NetworkDriver.GetCapabilities",
        "NetworkDriver.AllocateNetwork",
        "NetworkDriver.CreateNetwork",
        "NetworkDriver.CreateEndpoint",
        "NetworkDriver.Join",
        "NetworkDriver.Leave",
        "NetworkDriver.DeleteEndpoint",
        "NetworkDriver.DeleteNetwork",
        "NetworkDriver.FreeNetwork",
        "NetworkDriver.DiscoverNew",
        "IpamDriver.RequestPool",
        "IpamDriver.RequestAddress",
    ] {
        let ok = m.value("vlcp_docker_plugin_calls_total", &[("method", method), ("code", "200")]);
        let all: f64 = ["200", "400", "404", "409", "500"]
            .iter()
            .filter_map(|c| m.value("vlcp_docker_plugin_calls_total", &[("method", method), ("code", c)]))
            .sum();
        if all > 0.0 {
            out.push((format!("{method} (ok {})", ok.unwrap_or(0.0)), all));
        }
    }
    out
}

fn veths(ovs: &Ovs) -> Vec<String> {
    ovs.netns()
        .run(&["ip", "-o", "link", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().split('@').next().unwrap_or("").to_string()))
        .filter(|n| n.starts_with("vlcp"))
        .collect()
}

#[test]
fn heavy_swarm_service_replicas_ping_on_vlcp_network() {
    swarm_service(false);
}

/// The same with the plugin as the network's IPAM too (`--ipam-driver`): swarm's allocator on the
/// manager and the node's libnetwork each request a pool of the subnet from the plugin; both
/// are bound to the one subnet (the node's request does not wait for the manager's pool).
#[test]
fn heavy_swarm_service_replicas_ping_on_vlcp_network_and_ipam() {
    swarm_service(true);
}

/// The whole scenario; with `vlcp_ipam` the network also uses the plugin's IPAM driver.
fn swarm_service(vlcp_ipam: bool) {
    let ovs = Ovs::start().expect("ovs");
    ovs.add_bridge(BRIDGE).unwrap();
    set_controller(&ovs, BRIDGE);
    ovs.netns().run(&["ip", "addr", "add", &format!("{ADVERTISE}/32"), "dev", "lo"]).unwrap();
    // docker_gwbridge (swarm mode) takes its subnet from here: keep it inside 198.18.0.0/15.
    let dockerd = Dockerd::start_with(Some(ovs.netns()), &swarm_dockerd_opts()).expect("dockerd");
    let plugin = ManagedPlugin::install(&dockerd, &ovs, &plugin_config(), &["VLCP_SCOPE=global"]);
    let api = plugin.api();
    let r = curl(&api, &[], "/viperflow/createphysicalnetwork?type=local&id=local");
    assert_eq!(r.status, 200, "{r:?}");
    let docker = |args: &[&str]| plugin.docker(args);

    let service = lab::unique("sv");
    let network = lab::unique("sn");
    let cleanup = SwarmCleanup { dockerd: &dockerd, service: service.clone(), network: network.clone() };
    docker(&[
        "swarm",
        "init",
        "--advertise-addr",
        ADVERTISE,
        "--listen-addr",
        &format!("{ADVERTISE}:2377"),
        "--default-addr-pool",
        "198.19.128.0/17",
        "--default-addr-pool-mask-length",
        "24",
    ]);
    // The scheduler places tasks only on nodes whose description lists the plugin.
    let listed = wait_until("the node to list the plugin", Duration::from_secs(60), || {
        let p = docker(&[
            "node",
            "inspect",
            "self",
            "--format",
            "{{range .Description.Engine.Plugins}}{{.Name}} {{end}}",
        ]);
        p.split_whitespace().any(|n| n == plugin.name).then_some(())
    });
    listed.unwrap_or_else(|e| panic!("{e}\n{}", dockerd.log_tail(30)));

    let mut create = vec!["network", "create", "-d", &plugin.name, "--scope", "swarm", "--attachable"];
    if vlcp_ipam {
        create.extend(["--ipam-driver", &plugin.name]);
    }
    create.extend([
        "-o",
        "physicalnetwork=local",
        "--subnet",
        "198.18.5.0/24",
        "--gateway",
        "198.18.5.1",
        &network,
    ]);
    docker(&create);
    assert_eq!(docker(&["network", "inspect", "-f", "{{.Scope}}", &network]), "swarm");
    // Swarm's allocator calls AllocateNetwork after `network create` has returned.
    let allocated =
        wait_until("AllocateNetwork to make the logical network", Duration::from_secs(30), || {
            let m = scrape(&api, &[]);
            (m.value("vlcp_model_objects", &[("type", "logicalnetwork")]) == Some(1.0)).then_some(())
        });
    allocated.unwrap_or_else(|e| panic!("{e}\n{}", dockerd.log_tail(30)));

    // Docker's IPAM with the default endpoint mode (a VIP on the network), ours with DNS
    // round robin (no VIP): both modes are covered.
    let mode = if vlcp_ipam { "dnsrr" } else { "vip" };
    docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        &service,
        "--replicas",
        "2",
        "--network",
        &network,
        "--endpoint-mode",
        mode,
        "--no-resolve-image",
        "bb:latest",
        "sleep",
        "600",
    ]);
    let filter = format!("label=com.docker.swarm.service.name={service}");
    let tasks = |n: usize| {
        let ids = docker(&["ps", "-q", "--filter", &filter]);
        let ids: Vec<String> = ids.split_whitespace().map(str::to_owned).collect();
        (ids.len() == n).then_some(ids)
    };
    let started = std::time::Instant::now();
    let ids = wait_until("two running tasks", Duration::from_secs(90), || tasks(2)).unwrap_or_else(|e| {
        panic!(
            "{e}\n--- service ps ---\n{}\n--- dockerd ---\n{}",
            dockerd.docker(&["service", "ps", "--no-trunc", &service]).unwrap_or_default(),
            dockerd.log_tail(60)
        )
    });
    let ip = |c: &str| {
        docker(&[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
            c,
        ])
    };
    let (ip1, ip2) = (ip(&ids[0]), ip(&ids[1]));
    let vip =
        docker(&["service", "inspect", "-f", "{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}", &service]);
    println!("endpoint mode {mode}: virtual IPs [{vip}]");
    if mode == "vip" {
        let vip = vip.trim().split('/').next().unwrap_or_default().to_string();
        assert!(vip.starts_with("198.18.5.") && vip != ip1 && vip != ip2, "VIP {vip} vs {ip1} {ip2}");
    }
    let took = started.elapsed();
    println!("task addresses: {ip1} {ip2}; tasks running {took:?} after service create");
    assert!(ip1.starts_with("198.18.5.") && ip2.starts_with("198.18.5.") && ip1 != ip2, "{ip1} {ip2}");
    let addrs = docker(&["exec", &ids[0], "ip", "-o", "-4", "addr", "show"]);
    println!("task 1 interfaces:\n{addrs}");
    assert!(!addrs.contains("172."), "an address outside the lab ranges: {addrs}");
    assert_eq!(ovs.vsctl(&["list-ports", BRIDGE]).unwrap().lines().count(), 2, "one OVS port per task");
    let m = scrape(&api, &[]);
    assert_eq!(m.value("vlcp_model_objects", &[("type", "logicalport")]), Some(2.0));
    assert_eq!(m.value("vlcp_model_objects", &[("type", "logicalnetwork")]), Some(1.0), "one network");

    let ping = |from: &str, to: &str| {
        dockerd
            .cmd()
            .args(["exec", from, "ping", "-c", "1", "-W", "1", to])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let reached =
        wait_until("task 1 to reach task 2", Duration::from_secs(30), || ping(&ids[0], &ip2).then_some(()));
    assert!(
        reached.is_ok(),
        "task 1 cannot reach task 2\n--- flows ---\n{}\n--- dockerd ---\n{}",
        ovs.ofctl_br("dump-flows", BRIDGE, &[]).unwrap_or_default(),
        dockerd.log_tail(40)
    );
    assert!(ping(&ids[1], &ip1), "task 2 -> task 1");

    // `--attachable`: a plain container joins the swarm network (swarm allocates its address
    // through a network attachment task) and reaches a task.
    let att = lab::unique("at");
    docker(&["run", "-d", "--network", &network, "--name", &att, "bb:latest", "sleep", "600"]);
    let ip3 = ip(&att);
    assert!(ip3.starts_with("198.18.5.") && ip3 != ip1 && ip3 != ip2, "{ip3}");
    let reached = wait_until("the attached container to reach task 1", Duration::from_secs(30), || {
        ping(&att, &ip1).then_some(())
    });
    assert!(reached.is_ok(), "attached container {ip3} cannot reach {ip1}");
    docker(&["rm", "-f", &att]);

    // Scale down: one task, one port.
    docker(&["service", "scale", "--detach", &format!("{service}=1")]);
    wait_until("one task", Duration::from_secs(60), || tasks(1)).unwrap();
    wait_until("one OVS port", Duration::from_secs(30), || {
        (ovs.vsctl(&["list-ports", BRIDGE]).unwrap().lines().count() == 1).then_some(())
    })
    .unwrap();

    // Remove the service, then the network (swarm refuses while tasks still reference it).
    docker(&["service", "rm", &service]);
    wait_until("no task", Duration::from_secs(60), || tasks(0)).unwrap();
    wait_until("network rm", Duration::from_secs(60), || dockerd.docker(&["network", "rm", &network]).ok())
        .unwrap_or_else(|e| panic!("{e}\n{}", dockerd.log_tail(30)));
    // With our IPAM the node's pool was bound to the subnet (a node's RequestPool waiting
    // pooltimeout for an unclaimed manager pool, or an unbound pool, would show here).
    let log = dockerd.log_tail(100_000);
    assert!(!log.contains("no pending pool to bind"), "a node pool was not bound");
    let clean = wait_until("the plugin to forget the network", Duration::from_secs(30), || {
        let m = scrape(&api, &[]);
        let none = |t: &str| m.value("vlcp_model_objects", &[("type", t)]) == Some(0.0);
        // The call counter goes up once the handler has answered, just after its work.
        let freed = m.value(
            "vlcp_docker_plugin_calls_total",
            &[("method", "NetworkDriver.FreeNetwork"), ("code", "200")],
        );
        (none("logicalport") && none("logicalnetwork") && none("subnet") && freed == Some(1.0)).then_some(m)
    });
    let m =
        clean.unwrap_or_else(|e| panic!("{e}\n{:?}\n{}", calls(&scrape(&api, &[])), dockerd.log_tail(40)));
    let seen = calls(&m);
    println!("plugin calls (swarm, one node): {seen:?}");
    let count = |method: &str| {
        m.value("vlcp_docker_plugin_calls_total", &[("method", method), ("code", "200")]).unwrap_or(0.0)
    };
    assert_eq!(count("NetworkDriver.AllocateNetwork"), 1.0, "{seen:?}");
    assert_eq!(count("NetworkDriver.FreeNetwork"), 1.0, "{seen:?}");
    assert!(count("NetworkDriver.CreateNetwork") >= 1.0, "{seen:?}");
    assert!(count("NetworkDriver.Join") >= 2.0, "{seen:?}");
    // (veth pairs go in the background after DeleteEndpoint answers.)
    let _ = wait_until("no OVS port and no veth", Duration::from_secs(30), || {
        (ovs.vsctl(&["list-ports", BRIDGE]).unwrap().is_empty() && veths(&ovs).is_empty()).then_some(())
    });
    assert_eq!(ovs.vsctl(&["list-ports", BRIDGE]).unwrap(), "", "OVS ports left behind");
    assert_eq!(veths(&ovs), Vec::<String>::new(), "veths left behind");

    let log = dockerd.log_tail(100_000);
    for l in log.lines().filter(|l| l.contains("swarm ") && l.contains("plugin=")) {
        println!("{l}");
    }
    drop(cleanup);
    drop(plugin);
}

/// The plugin's config for a swarm node of the two-host lab: the shared ZooKeeper (through a
/// [`lab::Relay`] on the namespace's loopback) instead of the embedded store, MTU for VXLAN.
fn zk_plugin_config(chroot: &str) -> String {
    let mut c = plugin_config();
    c.push_str(&format!(
        "proxy.kvstorage='vlcp.service.connection.zookeeperdb.ZooKeeperDB'\n\
         proxy.updatenotifier='vlcp.service.connection.zookeeperdb.ZooKeeperDB'\n\
         module.zookeeperdb.url='zk://127.0.0.1:{ZK_RELAY_PORT}/{chroot}'\n\
         module.dockerplugin.mtu=1450\n"
    ));
    c
}

/// The port ZooKeeper is reached on inside each host's namespace.
const ZK_RELAY_PORT: u16 = 2181;

/// Swarm's control addresses on the two hosts (a veth of its own between the namespaces, not
/// the OVS underlay, which carries the plugin's VXLAN).
const CONTROL: [&str; 2] = ["198.18.78.1", "198.18.78.2"];

/// Two nodes: the manager on host A, a worker on host B, each engine with the managed plugin on
/// one ZooKeeper. A `--scope swarm` network and a service with one task per node: the tasks get
/// distinct addresses, ping each other across the hosts over VXLAN, and the whole swarm uses one
/// logical network; removing the service and the network leaves nothing on either host.
#[test]
fn heavy_swarm_two_nodes_tasks_ping_across_hosts() {
    two_nodes(false);
}

/// The same with the plugin as the network's IPAM: the worker's pool is bound to the subnet the
/// manager's `AllocateNetwork` made, through the shared store.
#[test]
fn heavy_swarm_two_nodes_tasks_ping_across_hosts_with_plugin_ipam() {
    two_nodes(true);
}

fn two_nodes(vlcp_ipam: bool) {
    use vlcp_e2e::lab::{Host, Relay, TwoHost, ZooKeeper};
    let zk = ZooKeeper::start().expect("zookeeper");
    let zk_addr: std::net::SocketAddr = zk.connect_string().parse().unwrap();
    let lab = TwoHost::start(BRIDGE).expect("two-host lab");
    let chroot = lab::unique("zk");
    let ctl = [lab::unique("c"), lab::unique("c")];
    let (na, nb) = (&lab.host(Host::A).netns().name, &lab.host(Host::B).netns().name);
    lab::run_ok(
        std::process::Command::new("ip").args([
            "link", "add", &ctl[0], "netns", na, "type", "veth", "peer", "name", &ctl[1], "netns", nb,
        ]),
    )
    .unwrap();
    let mut relays = Vec::new();
    let mut dockerds = Vec::new();
    for (i, h) in [Host::A, Host::B].into_iter().enumerate() {
        let ovs = lab.host(h);
        ovs.vsctl(&["set", "Open_vSwitch", ".", &format!("external_ids:system-id=swarm-{h:?}")]).unwrap();
        set_controller(ovs, BRIDGE);
        ovs.netns().run(&["ip", "addr", "add", &format!("{}/24", CONTROL[i]), "dev", &ctl[i]]).unwrap();
        ovs.netns().run(&["ip", "link", "set", &ctl[i], "up"]).unwrap();
        relays.push(Relay::start(ovs.netns(), ZK_RELAY_PORT, zk_addr).expect("relay"));
        dockerds.push(Dockerd::start_with(Some(ovs.netns()), &swarm_dockerd_opts()).expect("dockerd"));
    }
    let (da, db) = (&dockerds[0], &dockerds[1]);
    let config = zk_plugin_config(&chroot);
    let pa = ManagedPlugin::install(da, lab.host(Host::A), &config, &["VLCP_SCOPE=global"]);
    // One plugin name on every node: the network's driver.
    let pb = ManagedPlugin::install_named(db, lab.host(Host::B), &config, &["VLCP_SCOPE=global"], &pa.name);
    let api = pa.api();
    for q in [
        "/viperflow/createphysicalnetwork?type=vxlan&id=vx&vnirange=`[[100,300]]`",
        "/viperflow/createphysicalport?physicalnetwork=vx&name=vxlan0",
    ] {
        let r = curl(&api, &[], q);
        assert_eq!(r.status, 200, "{q}: {r:?}");
    }

    let service = lab::unique("sv");
    let network = lab::unique("sn");
    let _cleanup_b = SwarmCleanup { dockerd: db, service: service.clone(), network: network.clone() };
    let _cleanup_a = SwarmCleanup { dockerd: da, service: service.clone(), network: network.clone() };
    pa.docker(&[
        "swarm",
        "init",
        "--advertise-addr",
        CONTROL[0],
        "--listen-addr",
        &format!("{}:2377", CONTROL[0]),
        "--default-addr-pool",
        "198.19.128.0/17",
        "--default-addr-pool-mask-length",
        "24",
    ]);
    let token = pa.docker(&["swarm", "join-token", "-q", "worker"]);
    pb.docker(&[
        "swarm",
        "join",
        "--token",
        &token,
        "--advertise-addr",
        CONTROL[1],
        "--listen-addr",
        &format!("{}:2377", CONTROL[1]),
        &format!("{}:2377", CONTROL[0]),
    ]);
    let listed = wait_until("both nodes to list the plugin", Duration::from_secs(90), || {
        let nodes = pa.docker(&["node", "ls", "-q"]);
        let nodes: Vec<&str> = nodes.split_whitespace().collect();
        let with = nodes
            .iter()
            .filter(|n| {
                let p = pa.docker(&[
                    "node",
                    "inspect",
                    n,
                    "--format",
                    "{{.Status.State}} {{range .Description.Engine.Plugins}}{{.Name}} {{end}}",
                ]);
                p.starts_with("ready") && p.split_whitespace().any(|x| x == pa.name)
            })
            .count();
        (nodes.len() == 2 && with == 2).then_some(())
    });
    listed.unwrap_or_else(|e| panic!("{e}\n{}\n{}", pa.docker(&["node", "ls"]), da.log_tail(30)));

    let mut create = vec!["network", "create", "-d", &pa.name, "--scope", "swarm", "--attachable"];
    if vlcp_ipam {
        create.extend(["--ipam-driver", &pa.name]);
    }
    create.extend([
        "-o",
        "physicalnetwork=vx",
        "--subnet",
        "198.18.6.0/24",
        "--gateway",
        "198.18.6.1",
        &network,
    ]);
    pa.docker(&create);
    pa.docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        &service,
        "--replicas",
        "2",
        "--replicas-max-per-node",
        "1",
        "--network",
        &network,
        "--endpoint-mode",
        "dnsrr",
        "--no-resolve-image",
        "bb:latest",
        "sleep",
        "600",
    ]);
    let filter = format!("label=com.docker.swarm.service.name={service}");
    let task_on = |d: &Dockerd| {
        let ids = d.docker(&["ps", "-q", "--filter", &filter]).unwrap_or_default();
        let ids: Vec<String> = ids.split_whitespace().map(str::to_owned).collect();
        ids
    };
    let (ta, tb) = wait_until("one running task per node", Duration::from_secs(120), || {
        let (a, b) = (task_on(da), task_on(db));
        (a.len() == 1 && b.len() == 1).then(|| (a[0].clone(), b[0].clone()))
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n--- service ps ---\n{}\n--- A ---\n{}\n--- B ---\n{}",
            da.docker(&["service", "ps", "--no-trunc", &service]).unwrap_or_default(),
            da.log_tail(40),
            db.log_tail(40)
        )
    });
    let ip = |d: &Dockerd, c: &str| {
        d.docker(&[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
            c,
        ])
        .unwrap()
    };
    let (ipa, ipb) = (ip(da, &ta), ip(db, &tb));
    println!("task on A {ipa}, task on B {ipb}");
    assert!(ipa.starts_with("198.18.6.") && ipb.starts_with("198.18.6.") && ipa != ipb, "{ipa} {ipb}");
    let m = scrape(&api, &[]);
    assert_eq!(
        m.value("vlcp_model_objects", &[("type", "logicalnetwork")]),
        Some(1.0),
        "one network for both nodes"
    );
    assert_eq!(m.value("vlcp_model_objects", &[("type", "logicalport")]), Some(2.0));
    let ping = |d: &Dockerd, from: &str, to: &str| {
        d.cmd()
            .args(["exec", from, "ping", "-c", "1", "-W", "1", to])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let reached =
        wait_until("A's task to reach B's", Duration::from_secs(40), || ping(da, &ta, &ipb).then_some(()));
    assert!(
        reached.is_ok(),
        "no ping A -> B\n--- flows A ---\n{}\n--- flows B ---\n{}",
        lab.host(Host::A).ofctl_br("dump-flows", BRIDGE, &[]).unwrap_or_default(),
        lab.host(Host::B).ofctl_br("dump-flows", BRIDGE, &[]).unwrap_or_default()
    );
    assert!(
        wait_until("B's task to reach A's", Duration::from_secs(20), || ping(db, &tb, &ipa).then_some(()))
            .is_ok(),
        "no ping B -> A"
    );

    pa.docker(&["service", "rm", &service]);
    wait_until("no task", Duration::from_secs(60), || {
        (task_on(da).is_empty() && task_on(db).is_empty()).then_some(())
    })
    .unwrap();
    wait_until("network rm", Duration::from_secs(60), || da.docker(&["network", "rm", &network]).ok())
        .unwrap_or_else(|e| panic!("{e}\n{}", da.log_tail(30)));
    let clean = wait_until("the network to go from the store", Duration::from_secs(60), || {
        let m = scrape(&api, &[]);
        let none = |t: &str| m.value("vlcp_model_objects", &[("type", t)]) == Some(0.0);
        (none("logicalport") && none("logicalnetwork") && none("subnet")).then_some(m)
    });
    let m = clean.unwrap_or_else(|e| panic!("{e}\n{}\n{}", da.log_tail(30), db.log_tail(30)));
    for (h, d) in [("A", da), ("B", db)] {
        assert!(
            !d.log_tail(100_000).contains("no pending pool to bind"),
            "host {h}: a node pool was not bound"
        );
    }
    println!("plugin calls on the manager (A): {:?}", calls(&m));
    println!("plugin calls on the worker (B): {:?}", calls(&scrape(&pb.api(), &[])));
    for h in [Host::A, Host::B] {
        let ovs = lab.host(h);
        wait_until("only vxlan0 on the bridge, no veth", Duration::from_secs(30), || {
            (ovs.vsctl(&["list-ports", BRIDGE]).unwrap().trim() == "vxlan0" && veths(ovs).is_empty())
                .then_some(())
        })
        .unwrap_or_else(|e| panic!("host {h:?}: {e} (veths {:?})", veths(ovs)));
        assert_eq!(veths(ovs), Vec::<String>::new(), "host {h:?}: veths left behind");
    }
    drop(_cleanup_a);
    drop(_cleanup_b);
    drop(pb);
    drop(pa);
    drop(relays);
}

/// dockerd options for swarm mode: docker_gwbridge takes its subnet from the default address
/// pool, kept inside 198.18.0.0/15.
fn swarm_dockerd_opts() -> DockerdOpts {
    DockerdOpts {
        extra: vec!["--default-address-pool".into(), "base=198.18.224.0/20,size=24".into()],
        ..Default::default()
    }
}
