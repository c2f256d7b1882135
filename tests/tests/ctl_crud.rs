//! vlcpctl against the real `vlcp` daemon serving the management API (API-only config, embedded
//! store): create → list (table and JSON) → show → update → delete for every object type, each
//! step read back through the API itself with curl, and `discover`.

mod ctl_common;

use ctl_common::{Daemon, rows, vlcpctl};
use serde_json::{Value, json};

/// The one object `GET <path>` lists.
fn only(api: &Daemon, path: &str) -> Value {
    let list = api.get(path);
    let items = list.as_array().unwrap_or_else(|| panic!("{path}: {list}"));
    assert_eq!(items.len(), 1, "{path}: {list}");
    items[0].clone()
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

#[test]
fn every_object_type_goes_through_create_list_show_update_delete() {
    let api = Daemon::start();
    let url = api.url.clone();
    let ctl = |args: &[&str]| vlcpctl(&url, args);

    // physicalnetwork: the backtick literal reaches the server as a list of numbers.
    let out = ctl(&["physicalnetwork", "create", "id=vx", "type=vxlan", "vnirange=`[[10000,20000]]`"]).ok();
    assert_eq!(rows(&out, &["ID", "TYPE", "RANGE"]), [row(&["vx", "vxlan", "10000-20000"])]);
    assert_eq!(only(&api, "/viperflow/listphysicalnetworks?id=vx")["vnirange"], json!([[10000, 20000]]));
    let out = ctl(&["physicalnetwork", "update", "vx", "vnirange=`[[10000,30000]]`"]).ok();
    assert_eq!(rows(&out, &["ID", "TYPE", "RANGE"]), [row(&["vx", "vxlan", "10000-30000"])]);
    assert_eq!(only(&api, "/viperflow/listphysicalnetworks?id=vx")["vnirange"], json!([[10000, 30000]]));
    let listed = ctl(&["--json", "physicalnetwork", "list"]).json();
    assert_eq!(listed, api.get("/viperflow/listphysicalnetworks"), "--json is the raw result");
    let shown = ctl(&["physicalnetwork", "show", "vx"]).ok();
    assert!(
        shown.contains("type:      vxlan\n") && shown.contains("vnirange:  [[10000,30000]]\n"),
        "{shown}"
    );

    // physicalport: named by `name`; empty strings show as "".
    let out = ctl(&["physicalport", "create", "name=vx0", "physicalnetwork=vx"]).ok();
    let header = ["NAME", "PHYSICALNETWORK", "VHOST", "SYSTEMID", "BRIDGE"];
    assert_eq!(rows(&out, &header), [row(&["vx0", "vx", "\"\"", "%", "%"])]);
    let out = ctl(&["physicalport", "list", "physicalnetwork=vx"]).ok();
    assert_eq!(rows(&out, &header).len(), 1);
    ctl(&["physicalport", "update", "vx0", "description=uplink"]).ok();
    assert_eq!(only(&api, "/viperflow/listphysicalports?name=vx0")["description"], "uplink");
    let shown = ctl(&["--json", "physicalport", "show", "name=vx0"]).json();
    assert_eq!((shown["name"].as_str(), shown["description"].as_str()), (Some("vx0"), Some("uplink")));

    // logicalnetwork: the first free VNI, numbers given as plain strings or literals.
    let out = ctl(&["logicalnetwork", "create", "id=na", "physicalnetwork=vx", "mtu=1450"]).ok();
    let header = ["ID", "PHYSICALNETWORK", "SEGMENT", "MTU"];
    assert_eq!(rows(&out, &header), [row(&["na", "vx", "10000", "1450"])]);
    let out = ctl(&["logicalnetwork", "update", "id=na", "mtu=`1400`"]).ok();
    assert_eq!(rows(&out, &header), [row(&["na", "vx", "10000", "1400"])]);
    assert_eq!(only(&api, "/viperflow/listlogicalnetworks?id=na")["mtu"], 1400);
    let out = ctl(&["logicalnetwork", "list", "physicalnetwork=vx"]).ok();
    assert_eq!(rows(&out, &header), [row(&["na", "vx", "10000", "1400"])]);

    // subnet.
    let out =
        ctl(&["subnet", "create", "id=sa", "logicalnetwork=na", "cidr=198.18.1.0/24", "gateway=198.18.1.1"])
            .ok();
    let header = ["ID", "LOGICALNETWORK", "CIDR", "GATEWAY", "POOL"];
    assert_eq!(
        rows(&out, &header),
        [row(&["sa", "na", "198.18.1.0/24", "198.18.1.1", "198.18.1.1-198.18.1.254"])]
    );
    ctl(&["subnet", "update", "sa", "allocated_end=198.18.1.100"]).ok();
    assert_eq!(only(&api, "/viperflow/listsubnets?id=sa")["allocated_end"], "198.18.1.100");
    let out = ctl(&["subnet", "list"]).ok();
    assert_eq!(
        rows(&out, &header),
        [row(&["sa", "na", "198.18.1.0/24", "198.18.1.1", "198.18.1.1-198.18.1.100"])]
    );

    // logicalport: address allocated by the server.
    let mac = "02:00:c6:12:01:0a";
    let out = ctl(&[
        "logicalport",
        "create",
        "id=lp1",
        "logicalnetwork=na",
        "subnet=sa",
        &format!("mac_address={mac}"),
    ])
    .ok();
    let header = ["ID", "LOGICALNETWORK", "SUBNET", "MAC", "IP"];
    assert_eq!(rows(&out, &header), [row(&["lp1", "na", "sa", mac, "198.18.1.2"])]);
    ctl(&["logicalport", "update", "lp1", "ip_address=198.18.1.50"]).ok();
    assert_eq!(only(&api, "/viperflow/listlogicalports?id=lp1")["ip_address"], "198.18.1.50");
    let out = ctl(&["logicalport", "list", "logicalnetwork=na"]).ok();
    assert_eq!(rows(&out, &header), [row(&["lp1", "na", "sa", mac, "198.18.1.50"])]);
    let shown = ctl(&["logicalport", "show", "lp1"]).ok();
    assert!(shown.contains("ip_address:   198.18.1.50\n") && shown.contains("network:      na\n"), "{shown}");
    let shown = ctl(&["--json", "logicalport", "show", "lp1"]).json();
    assert_eq!(shown, only(&api, "/viperflow/listlogicalports?id=lp1"));

    // router.
    let out = ctl(&["router", "create", "id=r1"]).ok();
    assert_eq!(rows(&out, &["ID", "INTERFACES", "ROUTES"]), [row(&["r1", "0", "-"])]);

    // routerinterface: named by router and subnet; the address defaults to the gateway.
    let out = ctl(&["routerinterface", "create", "router=r1", "subnet=sa"]).ok();
    let header = ["ROUTER", "SUBNET", "IP"];
    assert_eq!(rows(&out, &header), [row(&["r1", "sa", "198.18.1.1"])]);
    for args in [&["routerinterface", "list"][..], &["routerinterface", "list", "router=r1", "subnet=sa"]] {
        assert_eq!(rows(&ctl(args).ok(), &header), [row(&["r1", "sa", "198.18.1.1"])], "{args:?}");
    }
    assert_eq!(
        rows(&ctl(&["routerinterface", "list", "subnet=other"]).ok(), &header),
        Vec::<Vec<String>>::new()
    );
    let listed = ctl(&["--json", "routerinterface", "list", "router=r1"]).json();
    assert_eq!(listed, api.get("/vrouterapi/listrouterinterfaces?id=r1"));
    let shown = ctl(&["routerinterface", "show", "router=r1", "subnet=sa"]).ok();
    assert!(shown.contains("router:  r1\n") && shown.contains("subnet:  sa\n"), "{shown}");

    // Back to the router: update its routes, see the interface count.
    let out = ctl(&["router", "update", "r1", "routes=`[[\"198.18.9.0/24\", \"198.18.1.254\"]]`"]).ok();
    assert_eq!(
        rows(&out, &["ID", "INTERFACES", "ROUTES"]),
        [row(&["r1", "1", "198.18.9.0/24 via 198.18.1.254"])]
    );
    assert_eq!(
        only(&api, "/vrouterapi/listvirtualrouters?id=r1")["routes"],
        json!([["198.18.9.0/24", "198.18.1.254"]])
    );
    let shown = ctl(&["router", "show", "r1"]).ok();
    assert!(shown.contains("routes:      [[\"198.18.9.0/24\",\"198.18.1.254\"]]\n"), "{shown}");

    // Delete everything in dependency order; each is gone from the API and from `show`.
    let deletes: [(&[&str], &str, &str); 7] = [
        (
            &["routerinterface", "delete", "router=r1", "subnet=sa"],
            "/vrouterapi/listrouterinterfaces?id=r1",
            "router=r1 subnet=sa",
        ),
        (&["router", "delete", "r1"], "/vrouterapi/listvirtualrouters", "id=r1"),
        (&["logicalport", "delete", "lp1"], "/viperflow/listlogicalports", "id=lp1"),
        (&["subnet", "delete", "id=sa"], "/viperflow/listsubnets", "id=sa"),
        (&["logicalnetwork", "delete", "na"], "/viperflow/listlogicalnetworks", "id=na"),
        (&["physicalport", "delete", "vx0"], "/viperflow/listphysicalports", "name=vx0"),
        (&["physicalnetwork", "delete", "vx"], "/viperflow/listphysicalnetworks", "id=vx"),
    ];
    for (args, list_path, ident) in deletes {
        let out = ctl(args).ok();
        assert_eq!(out, format!("deleted {} {ident}\n", args[0]));
        assert_eq!(api.get(list_path), json!([]), "{list_path} after {args:?}");
        let mut show = vec![args[0], "show"];
        show.extend(ident.split(' '));
        let err = ctl(&show).fails(1);
        assert_eq!(err, format!("vlcpctl: {} {ident} not found\n", args[0]));
        let listed = ctl(&[args[0], "list"]).ok();
        assert_eq!(listed.lines().count(), 1, "only the header is left: {listed}");
    }
}

#[test]
fn json_delete_prints_the_raw_result() {
    let api = Daemon::start();
    let url = api.url.clone();
    vlcpctl(&url, &["router", "create", "id=r9"]).ok();
    let created = vlcpctl(&url, &["--json", "router", "create", "id=r10", "tag=x"]).json();
    assert_eq!((created[0]["id"].as_str(), created[0]["tag"].as_str()), (Some("r10"), Some("x")));
    assert_eq!(vlcpctl(&url, &["router", "delete", "r9", "--json"]).json(), json!({"status": "OK"}));
    assert_eq!(api.get("/vrouterapi/listvirtualrouters").as_array().map(Vec::len), Some(1));
}

#[test]
fn discover_lists_both_modules() {
    let api = Daemon::start();
    let url = api.url.clone();
    let out = vlcpctl(&url, &["discover"]).ok();
    let table = rows(&out, &["MODULE", "API", "DESCRIPTION"]);
    let has = |m: &str, a: &str| table.iter().any(|r| r[0] == m && r[1] == a);
    assert!(has("viperflow", "createlogicalport") && has("vrouterapi", "addrouterinterface"), "{out}");
    assert_eq!(table.len(), vlcp::web::api::APIS.len(), "one row per API of the server's table");
    let raw = vlcpctl(&url, &["--json", "discover"]).json();
    assert_eq!(raw["vrouterapi"], api.get("/vrouterapi/discover"));
    assert_eq!(raw["viperflow"], api.get("/viperflow/discover"));
}
