//! The manual's tutorial (sections 2.2.8 to 2.2.14; 2.3.5 repeats 2.2.8/2.2.9) run as written
//! with `curl` against the web API, then read back through the API.
//!
//! The commands are copied from the manual with three mechanical restorations of what the text
//! extraction of the manual lost, and nothing else: the backquotes of `` `…` `` literals (rendered
//! as quotes in the seed), lines joined where the PDF wrapped them (`↪`/`→`), and
//! `192.168.x` replaced by `198.18.x`. Names the manual prints that the original never had
//! (`createnetwork`, `createglobalnetwork`, `createglobalport`) are served as aliases.

mod web_common;

use serde_json::{Value, json};
use web_common::{Api, result};

/// 2.2.8 – 2.2.12.
const CREATE: &str = r#"
curl -g -d 'type=vxlan&vnirange=`[[10000,20000]]`&id=vxlan' \
      'http://localhost:8081/viperflow/createnetwork?'

curl -g -d 'physicalnetwork=vxlan&name=vxlan0' \
    'http://localhost:8081/viperflow/createphysicalport'

curl -g -d 'physicalnetwork=vxlan&id=network_a&mtu=`1450`' \
      'http://localhost:8081/viperflow/createlogicalnetwork'
curl -g -d 'physicalnetwork=vxlan&id=network_b&mtu=`1450`' \
      'http://localhost:8081/viperflow/createlogicalnetwork'

curl -g -d 'logicalnetwork=network_a&cidr=198.18.1.0/24&gateway=198.18.1.1&id=subnet_a' \
            'http://localhost:8081/viperflow/createsubnet'
curl -g -d 'logicalnetwork=network_b&cidr=198.18.2.0/24&gateway=198.18.2.1&id=subnet_b' \
            'http://localhost:8081/viperflow/createsubnet'

SERVER_ID=1
LOGPORT_ID=lgport-${SERVER_ID}-1
MAC_ADDRESS=02:00:c6:12:01:0a
curl -g -d "id=${LOGPORT_ID}&logicalnetwork=network_a&subnet=subnet_a&mac_address=${MAC_ADDRESS}" \
    "http://localhost:8081/viperflow/createlogicalport"
LOGPORT_ID=lgport-${SERVER_ID}-2
MAC_ADDRESS=02:00:c6:12:02:0a
curl -g -d "id=${LOGPORT_ID}&logicalnetwork=network_b&subnet=subnet_b&mac_address=${MAC_ADDRESS}" \
    "http://localhost:8081/viperflow/createlogicalport"

curl -g 'http://localhost:8081/vrouterapi/createvirtualrouter?id=subnetrouter'
curl -g -d 'interfaces=`[{"router": "subnetrouter", "subnet": "subnet_a"}, \
    {"router": "subnetrouter", "subnet": "subnet_b"}]`' \
    'http://localhost:8081/vrouterapi/addrouterinterfaces'
"#;

/// 2.2.13.
const VLAN: &str = r#"
curl -g -d 'type=vlan&vlanrange=`[[1000,2000]]`&id=vlan' \
      'http://localhost:8081/viperflow/createglobalnetwork'
curl -g -d 'physicalnetwork=vlan&name=bond0' \
      'http://localhost:8081/viperflow/createglobalport'
"#;

/// 2.2.14 (plus the VLAN objects of 2.2.13, removed the same way).
const REMOVE: &str = r#"
SERVER_ID=1
curl -g -d 'ports=`[{"id":"'"lgport-${SERVER_ID}-1"'"}, \
        {"id":"'"lgport-${SERVER_ID}-2"'"}]`' \
      'http://localhost:8081/viperflow/deletelogicalports'

curl -g -d 'interfaces=`[{"router":"subnetrouter","subnet":"subnet_a"}, \
                      {"router":"subnetrouter","subnet":"subnet_b"}]`' \
      'http://localhost:8081/vrouterapi/removerouterinterfaces'
curl -g 'http://localhost:8081/vrouterapi/deletevirtualrouter?id=subnetrouter'

curl -g 'http://localhost:8081/viperflow/deletesubnet?id=subnet_a'
curl -g 'http://localhost:8081/viperflow/deletesubnet?id=subnet_b'
curl -g 'http://localhost:8081/viperflow/deletelogicalnetwork?id=network_a'
curl -g 'http://localhost:8081/viperflow/deletelogicalnetwork?id=network_b'
curl -g 'http://localhost:8081/viperflow/deletephysicalport?name=vxlan0'
curl -g 'http://localhost:8081/viperflow/deletephysicalnetwork?id=vxlan'
curl -g 'http://localhost:8081/viperflow/deletephysicalport?name=bond0'
curl -g 'http://localhost:8081/viperflow/deletephysicalnetwork?id=vlan'
"#;

/// Splits a script into its curl commands' outputs: every command must answer `{"result": …}`.
fn replies(out: &str) -> Vec<Value> {
    let de = serde_json::Deserializer::from_str(out).into_iter::<Value>();
    de.map(|v| v.unwrap_or_else(|e| panic!("non-JSON reply ({e}) in {out:?}"))).collect()
}

fn list(api: &Api, path: &str) -> Vec<Value> {
    result(api.curl(&[], path)).as_array().cloned().unwrap_or_else(|| panic!("{path}: not a list"))
}

fn by_id<'a>(items: &'a [Value], id: &str) -> &'a Value {
    items.iter().find(|v| v["id"] == id).unwrap_or_else(|| panic!("no {id} in {items:?}"))
}

#[test]
fn manual_tutorial_commands_work_verbatim_and_objects_read_back() {
    let api = Api::embedded();
    let out = replies(&api.sh(CREATE));
    assert_eq!(out.len(), 10);
    for r in &out {
        assert!(r.get("result").is_some(), "a command failed: {r}");
    }
    // Singular creates answer a list of one dumped object.
    assert_eq!(out[0]["result"][0]["_key"], "viperflow.physicalnetwork.vxlan");
    assert_eq!(out[0]["result"][0]["_type"], "vlcp.utils.networkmodel.PhysicalNetwork");

    let phys = list(&api, "/viperflow/listphysicalnetworks");
    assert_eq!(phys.len(), 1);
    assert_eq!(
        (phys[0]["type"].clone(), phys[0]["vnirange"].clone()),
        (json!("vxlan"), json!([[10000, 20000]]))
    );

    let pports = list(&api, "/viperflow/listphysicalports?physicalnetwork=vxlan");
    assert_eq!(pports.len(), 1);
    assert_eq!(pports[0]["_key"], "viperflow.physicalport..%.%.vxlan0");
    assert_eq!((pports[0]["systemid"].as_str(), pports[0]["bridge"].as_str()), (Some("%"), Some("%")));
    assert_eq!(pports[0]["physicalnetwork"]["id"], "vxlan", "strong references are expanded");

    let nets = list(&api, "/viperflow/listlogicalnetworks?physicalnetwork=vxlan");
    assert_eq!(nets.len(), 2);
    let (a, b) = (by_id(&nets, "network_a"), by_id(&nets, "network_b"));
    assert_eq!((a["mtu"].clone(), b["mtu"].clone()), (json!(1450), json!(1450)));
    assert_eq!((a["vni"].clone(), b["vni"].clone()), (json!(10000), json!(10001)), "first free VNIs");

    let subnets = list(&api, "/viperflow/listsubnets");
    let sa = by_id(&subnets, "subnet_a");
    assert_eq!((sa["cidr"].as_str(), sa["gateway"].as_str()), (Some("198.18.1.0/24"), Some("198.18.1.1")));
    assert_eq!(
        (sa["allocated_start"].as_str(), sa["allocated_end"].as_str()),
        (Some("198.18.1.1"), Some("198.18.1.254"))
    );
    assert_eq!(sa["network"]["id"], "network_a");

    let ports = list(&api, "/viperflow/listlogicalports");
    assert_eq!(ports.len(), 2);
    let p1 = by_id(&ports, "lgport-1-1");
    assert_eq!(p1["_key"], "viperflow.logicalport.lgport-1-1");
    assert_eq!(p1["mac_address"], "02:00:c6:12:01:0a");
    assert_eq!(p1["ip_address"], "198.18.1.2", "first free address after the gateway");
    assert_eq!(p1["network"]["physicalnetwork"]["id"], "vxlan");
    assert_eq!(p1["subnet"]["id"], "subnet_a");
    assert_eq!(by_id(&ports, "lgport-1-2")["ip_address"], "198.18.2.2");
    let filtered = list(&api, "/viperflow/listlogicalports?logicalnetwork=network_b&ip_address=198.18.2.2");
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["id"], "lgport-1-2");

    let routers = list(&api, "/vrouterapi/listvirtualrouters");
    assert_eq!(routers.len(), 1);
    assert_eq!(routers[0]["interfaces"].as_array().map(Vec::len), Some(2));
    let ifs = list(&api, "/vrouterapi/listrouterinterfaces?id=subnetrouter");
    let mut subnets_routed: Vec<&str> = ifs.iter().filter_map(|i| i["subnet"]["id"].as_str()).collect();
    subnets_routed.sort();
    assert_eq!(subnets_routed, ["subnet_a", "subnet_b"]);
    let routed = list(&api, "/viperflow/listsubnets?id=subnet_a");
    assert!(routed[0]["router"]["_weakref"].as_str().is_some_and(|k| k.starts_with("viperflow.routerport.")));

    // 2.2.13: VLAN network and port with the manual's names.
    for r in replies(&api.sh(VLAN)) {
        assert!(r.get("result").is_some(), "{r}");
    }
    let vlan = list(&api, "/viperflow/listphysicalnetworks?id=vlan");
    assert_eq!(
        (vlan[0]["type"].clone(), vlan[0]["vlanrange"].clone()),
        (json!("vlan"), json!([[1000, 2000]]))
    );
    let vnet =
        result(api.curl(&["-d", "physicalnetwork=vlan&id=network_v"], "/viperflow/createlogicalnetwork"));
    assert_eq!(vnet[0]["vlanid"], 1000);

    result(api.curl(&[], "/viperflow/deletelogicalnetwork?id=network_v"));
    let out = replies(&api.sh(REMOVE));
    assert_eq!(out.len(), 11);
    for r in &out {
        assert_eq!(r, &json!({"result": {"status": "OK"}}));
    }
    // Everything is gone; only the (empty) set objects remain.
    for path in [
        "/viperflow/listphysicalnetworks",
        "/viperflow/listphysicalports",
        "/viperflow/listlogicalnetworks",
        "/viperflow/listlogicalports",
        "/viperflow/listsubnets",
        "/vrouterapi/listvirtualrouters",
    ] {
        assert_eq!(list(&api, path), Vec::<Value>::new(), "{path}");
    }
    let left: Vec<String> = api.scan().into_keys().collect();
    assert_eq!(
        left,
        [
            "viperflow.logcialportset",
            "viperflow.logicalnetworkset",
            "viperflow.physicalnetworkset",
            "viperflow.physicalportset",
            "viperflow.subnetset",
            "viperflow.vrouterset"
        ]
    );
}

#[test]
fn stored_keys_and_values_use_the_original_layout() {
    let api = Api::embedded();
    api.sh(CREATE);
    let state = api.scan();
    for key in [
        "viperflow.physicalnetwork.vxlan",
        "viperflow.physicalnetworkmap.vxlan",
        "viperflow.physicalnetworkset",
        "viperflow.physicalport..%.%.vxlan0",
        "viperflow.logicnetwork.network_a",
        "viperflow.logicnetworkmap.network_a",
        "viperflow.logicalnetworkset",
        "viperflow.subnet.subnet_a",
        "viperflow.subnetmap.subnet_a",
        "viperflow.logicalport.lgport-1-1",
        "viperflow.logcialportset",
        "viperflow.vrouter.subnetrouter",
        "indices.viperflow++logicalport._mac_address_index.viperflow++logicnetwork++network_a.02:00:c6:12:01:0a",
        "indices.viperflow++logicalport._ip_address_index.viperflow++logicnetwork++network_a.198++18++1++2",
    ] {
        assert!(state.contains_key(key), "missing {key}; have {:?}", state.keys().collect::<Vec<_>>());
    }
    let get = |k: &str| -> Value { serde_json::from_slice(state[k].as_deref().unwrap()).unwrap() };
    let map = get("viperflow.physicalnetworkmap.vxlan");
    assert_eq!(map["network_allocation"]["10000"], "viperflow.logicnetwork.network_a");
    let smap = get("viperflow.subnetmap.subnet_a");
    let ip_key = u32::from("198.18.1.2".parse::<std::net::Ipv4Addr>().unwrap()).to_string();
    assert_eq!(smap["allocated_ips"][&ip_key], "viperflow.logicalport.lgport-1-1");
    assert_eq!(smap["routers"], json!(["viperflow.vrouter.subnetrouter"]));
    let port = get("viperflow.logicalport.lgport-1-1");
    assert_eq!(port["network"], "viperflow.logicnetwork.network_a");
    assert_eq!(port["kvdb_updateversion"], 1);
    assert!(port["kvdb_createtime"].as_u64().is_some());
}

#[test]
fn discover_lists_every_api_with_details() {
    let api = Api::embedded();
    let d = result(api.curl(&[], "/viperflow/discover?details=true"));
    for name in
        ["createlogicalport", "createlogicalports", "updatesubnets", "deletephysicalports", "listsubnets"]
    {
        assert!(d[name]["description"].is_string(), "{name}: {d}");
    }
    assert_eq!(d["createsubnet"]["parameters"][1], json!({"name": "cidr", "optional": false}));
    let d = result(api.curl(&[], "/vrouterapi/discover"));
    assert!(d["addrouterinterfaces"].is_string() && d.get("createlogicalport").is_none());
}

#[test]
fn json_bodies_and_batches_work_like_forms() {
    let api = Api::embedded();
    let json_post = |body: Value, path: &str| {
        api.curl(&["-H", "Content-Type: application/json", "-d", &body.to_string()], path)
    };
    result(json_post(
        json!({"type": "vxlan", "id": "vx", "vnirange": [[1, 100]]}),
        "/viperflow/createphysicalnetwork",
    ));
    let nets = result(json_post(
        json!({"networks": [
            {"physicalnetwork": "vx", "id": "auto"},
            {"physicalnetwork": "vx", "id": "fixed", "vni": 1},
        ]}),
        "/viperflow/createlogicalnetworks",
    ));
    // Explicit VNIs are taken first, so the automatic one does not grab 1.
    assert_eq!((nets[0]["id"].clone(), nets[0]["vni"].clone()), (json!("auto"), json!(2)));
    assert_eq!(nets[1]["vni"], 1);
    result(json_post(
        json!({"logicalnetwork": "auto", "cidr": "198.18.20.0/24", "id": "s", "allocated_start": "198.18.20.10", "allocated_end": "198.18.20.20", "host_routes": [["198.18.30.0/24", "198.18.20.1"]]}),
        "/viperflow/createsubnet",
    ));
    let ports = result(api.curl(
        &["-d", "ports=`[{'logicalnetwork': 'auto', 'subnet': 's'}, {'logicalnetwork': 'auto', 'subnet': 's', 'ip_address': '198.18.20.10', 'hostname': 'h1'}]`"],
        "/viperflow/createlogicalports",
    ));
    assert_eq!(ports[0]["ip_address"], "198.18.20.11", "the explicit address was placed first");
    assert_eq!(
        (ports[1]["ip_address"].clone(), ports[1]["hostname"].clone()),
        (json!("198.18.20.10"), json!("h1"))
    );
    assert!(ports[0]["id"].as_str().is_some_and(|id| id.len() == 36), "generated UUID id");
    let id = ports[0]["id"].as_str().unwrap().to_string();
    let up = result(api.curl(
        &["-d", &format!("id={id}&ip_address=198.18.20.15&color=blue")],
        "/viperflow/updatelogicalport",
    ));
    assert_eq!((up[0]["ip_address"].clone(), up[0]["color"].clone()), (json!("198.18.20.15"), json!("blue")));
    let again = result(api.curl(&[], "/viperflow/listlogicalports?color=blue"));
    assert_eq!(again.as_array().map(Vec::len), Some(1), "extra attributes filter lists");
    // The freed address is allocatable again.
    let p = result(api.curl(&["-d", "logicalnetwork=auto&subnet=s"], "/viperflow/createlogicalport"));
    assert_eq!(p[0]["ip_address"], "198.18.20.11");
}
