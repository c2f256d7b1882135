//! The Docker network + IPAM driver on a real Docker engine: the lab's dockerd runs inside the
//! OVS host namespace, our driver serves its plugin socket and plumbs veths (rtnetlink, in that
//! namespace) into `dockerbr0` (our OVSDB client). Checked from the outside: what the container
//! sees (`docker exec ip`), what OVS has (`ovs-vsctl`), what the model holds, and that removal
//! leaves nothing behind.

mod docker_common;

use docker_common::{BRIDGE, World};
use serde_json::Value;
use vlcp_plugin::docker::naming::VethNames;

#[test]
fn heavy_docker_containers_get_their_addresses_veths_and_ports_and_leave_nothing() {
    let w = World::new();
    let plugin = w.plugin().to_string();
    let nid = w.docker(&[
        "network",
        "create",
        "-d",
        &plugin,
        "--ipam-driver",
        &plugin,
        "-o",
        "physicalnetwork=ph",
        "-o",
        "mtu=1400",
        "--subnet",
        "198.18.5.0/24",
        "--gateway",
        "198.18.5.1",
        "net1",
    ]);
    let lognet = w.rt.block_on(w.model.logical_network(&format!("docker-{nid}-lognet"))).unwrap();
    assert_eq!(lognet.expect("logical network").mtu, Some(1400));
    let c1 = w.docker(&["run", "-d", "--network", "net1", "bb:latest", "sleep", "300"]);
    let c2 = w.docker(&["run", "-d", "--network", "net1", "bb:latest", "sleep", "300"]);
    let c3 = w.docker(&[
        "run",
        "-d",
        "--network",
        "net1",
        "--ip",
        "198.18.5.50",
        "--mac-address",
        "02:00:00:aa:bb:cc",
        "bb:latest",
        "sleep",
        "300",
    ]);
    let mut seen_ips = Vec::new();
    for (c, want_ip, want_mac) in [
        (&c1, Some("198.18.5.2"), None),
        (&c2, Some("198.18.5.3"), None),
        (&c3, Some("198.18.5.50"), Some("02:00:00:aa:bb:cc")),
    ] {
        let (eid, ip, mac) = w.endpoint_of(c);
        if let Some(want) = want_ip {
            assert_eq!(ip, want, "container {c}");
        }
        if let Some(want) = want_mac {
            assert_eq!(mac, want);
        }
        seen_ips.push(ip.clone());
        // Inside the container: address, MAC, MTU, default route via the gateway.
        let addr = w.docker(&["exec", c, "ip", "addr", "show", "eth0"]);
        assert!(addr.contains(&format!("inet {ip}/24")), "{addr}");
        assert!(addr.contains(&mac), "MAC {mac} missing: {addr}");
        assert!(addr.contains("mtu 1400"), "{addr}");
        let routes = w.docker(&["exec", c, "ip", "route"]);
        assert!(routes.contains("default via 198.18.5.1"), "{routes}");
        // On the host: the veth's host end is an OVS port bound to the logical port.
        let names = VethNames::for_endpoint("vlcp", &eid);
        let iface_id = w.ovs.vsctl(&["get", "interface", &names.host, "external_ids:iface-id"]).unwrap();
        assert_eq!(iface_id.trim_matches('"'), format!("docker-{eid}"));
        let br = w.ovs.vsctl(&["port-to-br", &names.host]).unwrap();
        assert_eq!(br, BRIDGE);
        let ofport: i64 = w.ovs.vsctl(&["get", "interface", &names.host, "ofport"]).unwrap().parse().unwrap();
        assert!(ofport > 0, "ofport {ofport}");
        let link = w.ovs.netns().run(&["ip", "-o", "link", "show", &names.host]).unwrap();
        assert!(link.contains("mtu 1400") && link.contains("UP"), "{link}");
        // In the model: the logical port with the container's address and MAC.
        let port =
            w.rt.block_on(w.model.logical_port(&format!("docker-{eid}"))).unwrap().expect("logical port");
        assert_eq!(port.ip_address.as_deref(), Some(ip.as_str()));
        assert_eq!(port.mac_address, mac);
        assert_eq!(port.network_id(), format!("docker-{nid}-lognet"));
    }
    assert_eq!(w.keys("viperflow.dockerplugin.portinfo").len(), 3);
    assert_eq!(w.ovs.vsctl(&["list-ports", BRIDGE]).unwrap().lines().count(), 3);

    w.docker(&["rm", "-f", &c1, &c2, &c3]);
    w.docker(&["network", "rm", "net1"]);
    // The driver removes veth pairs (and then their DockerInfo) in the background after
    // DeleteEndpoint answers; a leak is what is still there after that.
    let settled =
        vlcp_e2e::lab::wait_until("veths and DockerInfo to go", std::time::Duration::from_secs(10), || {
            (!w.host_links().contains("vlcp") && w.keys("viperflow.dockerplugin.portinfo").is_empty())
                .then_some(())
        });
    let links = w.host_links();
    assert!(settled.is_ok() && !links.contains("vlcp"), "veths left behind: {links}");
    assert_eq!(w.ovs.vsctl(&["list-ports", BRIDGE]).unwrap(), "", "OVS ports left behind");
    let ports = w.rt.block_on(w.model.list_logical_ports(None, None, &[])).unwrap();
    assert!(ports.is_empty(), "logical ports left behind: {ports:?}");
    assert!(w.rt.block_on(w.model.subnet(&format!("docker-{nid}-subnet"))).unwrap().is_none());
    assert!(w.rt.block_on(w.model.logical_network(&format!("docker-{nid}-lognet"))).unwrap().is_none());
    assert_eq!(w.keys("viperflow.dockerplugin.ipamreserve"), Vec::<String>::new());
    assert_eq!(w.keys("viperflow.dockerplugin.portinfo"), Vec::<String>::new());
    let pending =
        w.rt.block_on(w.model.db().walk(&["viperflow.dockerplugin.ipampool".to_string()], |t| {
            t.value("viperflow.dockerplugin.ipampool")
        }))
        .unwrap();
    assert_eq!(pending.map(|v| v["reserved_pools"].clone()), Some(Value::Object(Default::default())));
}

#[test]
fn heavy_docker_same_subnet_twice_and_bad_options_are_refused_cleanly() {
    let w = World::new();
    let plugin = w.plugin().to_string();
    let mut containers = Vec::new();
    for net in ["na", "nb"] {
        w.docker(&[
            "network",
            "create",
            "-d",
            &plugin,
            "--ipam-driver",
            &plugin,
            "-o",
            "physicalnetwork=ph",
            "--subnet",
            "198.18.6.0/24",
            net,
        ]);
        let c = w.docker(&["run", "-d", "--network", net, "bb:latest", "sleep", "300"]);
        let (_, ip, _) = w.endpoint_of(&c);
        assert_eq!(ip, "198.18.6.2", "each network is its own address space");
        containers.push(c);
    }
    for (opts, expect) in [
        (vec!["-o", "physicalnetwork=nope"], "physical network \"nope\" does not exist"),
        (vec!["-o", "physicalnetwork=ph", "-o", "vni=ten"], "option vni"),
        (vec!["-o", "physicalnetwork=ph", "-o", "subnet:host_routes=`[[1,2]]`"], "host_routes"),
        (vec![], "physicalnetwork: is required"),
    ] {
        let mut args =
            vec!["network", "create", "-d", &plugin, "--ipam-driver", &plugin, "--subnet", "198.18.7.0/24"];
        args.extend(&opts);
        args.push("bad");
        let out = vlcp_e2e::lab::run(w.dockerd.cmd().args(&args)).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{opts:?} was accepted");
        assert!(stderr.contains(expect), "{opts:?}: {stderr}");
    }
    let nets = w.rt.block_on(w.model.list_logical_networks(None, None, &[])).unwrap();
    assert_eq!(nets.len(), 2, "only na and nb exist: {nets:?}");
    assert_eq!(
        w.keys("viperflow.dockerplugin.ipamreserve").len(),
        2,
        "the refused networks' pools were released"
    );
    let mut args = vec!["rm", "-f"];
    args.extend(containers.iter().map(String::as_str));
    w.docker(&args);
    w.docker(&["network", "rm", "na", "nb"]);
    assert!(!w.host_links().contains("vlcp"));
    assert_eq!(w.keys("viperflow.dockerplugin.ipamreserve"), Vec::<String>::new());
}
