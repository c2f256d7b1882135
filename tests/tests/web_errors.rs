//! Every bad input of the issue gets a clear 4xx naming the offending field, and the store is
//! byte-identical before and after (a full scan of every key and value is compared).

mod web_common;

use std::sync::Arc;

use serde_json::Value;
use vlcp::objectdb::KvStore;
use vlcp::objectdb::embedded::EmbeddedStore;
use web_common::{Api, result};

/// A store holding: physical network `vx` (VNIs 100..=101) with logical network `n1` (VNI 100),
/// subnet `s1` 198.18.5.0/24 (gateway .1, range .10–.20), port `p1` (198.18.5.10), and an empty
/// logical network `empty` (VNI 101) plus physical network `full` (VNIs 7..=7, all taken).
fn seeded() -> Api {
    let api = Api::embedded();
    for (args, path) in [
        ("type=vxlan&id=vx&vnirange=`[[100, 101]]`", "/viperflow/createphysicalnetwork"),
        ("physicalnetwork=vx&id=n1", "/viperflow/createlogicalnetwork"),
        ("physicalnetwork=vx&id=empty", "/viperflow/createlogicalnetwork"),
        (
            "logicalnetwork=n1&id=s1&cidr=198.18.5.0/24&gateway=198.18.5.1&allocated_start=198.18.5.10&allocated_end=198.18.5.20",
            "/viperflow/createsubnet",
        ),
        ("logicalnetwork=n1&subnet=s1&id=p1&mac_address=02:00:00:00:05:0a", "/viperflow/createlogicalport"),
        ("type=vxlan&id=full&vnirange=`[[7, 7]]`", "/viperflow/createphysicalnetwork"),
        ("physicalnetwork=full&id=n7", "/viperflow/createlogicalnetwork"),
    ] {
        result(api.curl(&["-d", args], path));
    }
    api
}

/// Sends a refused request: checks the status, that the message names `field` (and says
/// `mentions`), and that the store did not change at all.
fn refused(api: &Api, args: &[&str], path: &str, status: u16, field: &str, mentions: &str) {
    let before = api.scan();
    let (code, body) = api.curl(args, path);
    let msg = body["error"].as_str().unwrap_or_else(|| panic!("{path} {args:?}: no error message in {body}"));
    assert_eq!(code, status, "{path} {args:?}: {msg}");
    assert!(msg.contains(field), "{path} {args:?}: message {msg:?} does not name {field:?}");
    assert!(msg.contains(mentions), "{path} {args:?}: message {msg:?} does not say {mentions:?}");
    assert!(body.get("result").is_none());
    assert_eq!(api.scan(), before, "{path} {args:?} changed the store");
}

#[test]
fn bad_subnets_are_refused_without_a_trace() {
    let api = seeded();
    let p = "/viperflow/createsubnet";
    refused(&api, &["-d", "logicalnetwork=empty&cidr=198.18.6.0/33"], p, 400, "cidr", "prefix");
    refused(&api, &["-d", "logicalnetwork=empty&cidr=198.18.6.7/24"], p, 400, "cidr", "host bits");
    refused(&api, &["-d", "logicalnetwork=empty&cidr=not-a-cidr"], p, 400, "cidr", "not a CIDR");
    refused(
        &api,
        &["-d", "logicalnetwork=empty&cidr=198.18.6.0/24&gateway=198.18.7.1"],
        p,
        400,
        "gateway",
        "198.18.6.0/24",
    );
    refused(
        &api,
        &["-d", "logicalnetwork=empty&cidr=198.18.6.0/24&allocated_start=198.18.9.1"],
        p,
        400,
        "allocated_start",
        "not a usable",
    );
    refused(
        &api,
        &["-d", "logicalnetwork=empty&cidr=198.18.6.0/24&allocated_end=198.18.6.255"],
        p,
        400,
        "allocated_end",
        "not a usable",
    );
    refused(
        &api,
        &[
            "-d",
            "logicalnetwork=empty&cidr=198.18.6.0/24&allocated_start=198.18.6.50&allocated_end=198.18.6.40",
        ],
        p,
        400,
        "allocated_end",
        "below",
    );
    refused(
        &api,
        &["-d", "logicalnetwork=nonet&cidr=198.18.6.0/24"],
        p,
        404,
        "logicalnetwork",
        "\"nonet\" does not exist",
    );
    refused(&api, &["-d", "logicalnetwork=n1&cidr=198.18.5.128/25"], p, 409, "cidr", "overlaps");
    refused(&api, &["-d", "logicalnetwork=empty&cidr=198.18.6.0/24&id=s1"], p, 409, "id", "already exists");
    refused(&api, &["-d", "cidr=198.18.6.0/24"], p, 400, "logicalnetwork", "required");
    refused(
        &api,
        &["-d", "logicalnetwork=empty&cidr=198.18.6.0/24&host_routes=`[[1, 2]]`"],
        p,
        400,
        "host_routes",
        "cidr",
    );
}

#[test]
fn bad_logical_networks_are_refused_without_a_trace() {
    let api = seeded();
    let p = "/viperflow/createlogicalnetwork";
    refused(&api, &["-d", "physicalnetwork=vx&vni=5000"], p, 400, "vni", "not in the ranges");
    refused(&api, &["-d", "physicalnetwork=vx&vni=100"], p, 409, "vni", "already allocated");
    refused(&api, &["-d", "physicalnetwork=vx&vni=`16777216`"], p, 400, "vni", "outside");
    refused(&api, &["-d", "physicalnetwork=vx&vni=abc"], p, 400, "vni", "integer");
    refused(&api, &["-d", "physicalnetwork=vx&vlanid=5"], p, 400, "vlanid", "vni");
    refused(&api, &["-d", "physicalnetwork=full"], p, 409, "vni", "no free");
    refused(&api, &["-d", "physicalnetwork=nophys"], p, 404, "physicalnetwork", "does not exist");
    refused(&api, &["-d", "physicalnetwork=vx&id=n1"], p, 409, "id", "already exists");
    refused(&api, &["-d", "physicalnetwork=vx&mtu=`10`"], p, 400, "mtu", "outside");
    refused(&api, &["-d", "physicalnetwork=vx&_key=x"], p, 400, "_key", "not a settable");
    let p = "/viperflow/createphysicalnetwork";
    refused(&api, &["-d", "type=vxlan&vnirange=`[[0, 10]]`"], p, 400, "vnirange", "outside");
    refused(&api, &["-d", "type=vxlan&vnirange=`[[10, 20], [15, 30]]`"], p, 400, "vnirange", "overlap");
    refused(&api, &["-d", "type=vlan&vlanrange=`[[1, 4095]]`"], p, 400, "vlanrange", "outside");
    refused(&api, &["-d", "type=vxlan"], p, 400, "vnirange", "required");
    refused(&api, &["-d", "type=gre&id=g"], p, 400, "type", "unknown network type");
    refused(&api, &["-d", "type=vxlan&id=vx&vnirange=`[[1, 2]]`"], p, 409, "id", "already exists");
    refused(
        &api,
        &["-d", "physicalnetwork=nophys&name=eth9"],
        "/viperflow/createphysicalport",
        404,
        "physicalnetwork",
        "does not exist",
    );
}

#[test]
fn bad_logical_ports_are_refused_without_a_trace() {
    let api = seeded();
    let p = "/viperflow/createlogicalport";
    refused(
        &api,
        &["-d", "logicalnetwork=n1&subnet=s1&ip_address=198.18.5.10"],
        p,
        409,
        "ip_address",
        "already used by viperflow.logicalport.p1",
    );
    refused(
        &api,
        &["-d", "logicalnetwork=n1&subnet=s1&ip_address=198.18.5.30"],
        p,
        400,
        "ip_address",
        "outside the allocation range",
    );
    refused(
        &api,
        &["-d", "logicalnetwork=n1&subnet=s1&ip_address=198.18.9.10"],
        p,
        400,
        "ip_address",
        "outside",
    );
    refused(
        &api,
        &["-d", "logicalnetwork=n1&subnet=s1&ip_address=198.18.5.300"],
        p,
        400,
        "ip_address",
        "not an IPv4",
    );
    refused(
        &api,
        &["-d", "logicalnetwork=n1&ip_address=198.18.5.11"],
        p,
        400,
        "ip_address",
        "needs a subnet",
    );
    refused(&api, &["-d", "logicalnetwork=n1&subnet=nosub"], p, 404, "subnet", "\"nosub\" does not exist");
    refused(&api, &["-d", "logicalnetwork=empty&subnet=s1"], p, 400, "subnet", "belongs to");
    refused(&api, &["-d", "logicalnetwork=nonet"], p, 404, "logicalnetwork", "does not exist");
    refused(&api, &["-d", "logicalnetwork=n1&id=p1"], p, 409, "id", "already exists");
    refused(
        &api,
        &["-d", "logicalnetwork=n1&mac_address=02:00:00:00:05:0A"],
        p,
        409,
        "mac_address",
        "already used by viperflow.logicalport.p1",
    );
    refused(
        &api,
        &["-d", "logicalnetwork=n1&mac_address=01:00:5e:00:00:01"],
        p,
        400,
        "mac_address",
        "multicast",
    );
    refused(&api, &["-d", "logicalnetwork=n1&mac_address=zz"], p, 400, "mac_address", "not a MAC");
    refused(&api, &["-d", "logicalnetwork=n1&id="], p, 400, "id", "empty");
    // A batch is one transaction: the third port fails, so the first two are not created either.
    refused(
        &api,
        &[
            "-d",
            "ports=`[{'logicalnetwork': 'n1', 'subnet': 's1', 'id': 'b1'}, {'logicalnetwork': 'n1', 'id': 'b2'}, {'logicalnetwork': 'n1', 'subnet': 's1', 'ip_address': '198.18.5.10'}]`",
        ],
        "/viperflow/createlogicalports",
        409,
        "ports[2].ip_address",
        "already used",
    );
    refused(
        &api,
        &["-d", "ports=`[{'logicalnetwork': 'n1', 'id': 'dup'}, {'logicalnetwork': 'n1', 'id': 'dup'}]`"],
        "/viperflow/createlogicalports",
        400,
        "ports[1].id",
        "repeated",
    );
    refused(
        &api,
        &["-d", "ports=`[1, 2]`"],
        "/viperflow/createlogicalports",
        400,
        "ports[0]",
        "expected an object",
    );
    refused(
        &api,
        &["-d", "ports=`{'a': 1}`"],
        "/viperflow/createlogicalports",
        400,
        "ports",
        "list of objects",
    );
    // An exhausted subnet: fill the range .10–.20 (p1 holds .10), then one more fails.
    let batch: Vec<String> =
        (0..10).map(|_| "{'logicalnetwork': 'n1', 'subnet': 's1'}".to_string()).collect();
    let ports = result(
        api.curl(&["-d", &format!("ports=`[{}]`", batch.join(", "))], "/viperflow/createlogicalports"),
    );
    assert_eq!(ports.as_array().map(Vec::len), Some(10));
    refused(&api, &["-d", "logicalnetwork=n1&subnet=s1"], p, 409, "subnet", "no free address");
}

#[test]
fn deletes_in_use_and_unknown_are_refused_without_a_trace() {
    let api = seeded();
    refused(&api, &[], "/viperflow/deletelogicalnetwork?id=n1", 409, "id", "still has 1 subnet");
    refused(&api, &[], "/viperflow/deletesubnet?id=s1", 409, "id", "still has 1 logical port");
    refused(&api, &[], "/viperflow/deletephysicalnetwork?id=vx", 409, "id", "logical network");
    refused(&api, &[], "/viperflow/deletelogicalport?id=nope", 404, "id", "does not exist");
    refused(&api, &[], "/viperflow/deletelogicalnetwork?id=nope", 404, "id", "does not exist");
    refused(&api, &[], "/viperflow/deletephysicalport?name=nope", 404, "name", "does not exist");
    refused(&api, &[], "/viperflow/deletesubnet", 400, "id", "required");
    refused(&api, &[], "/viperflow/deletesubnet?id=s1&force=1", 400, "force", "unexpected");
    // The port goes first; then the subnet with a router interface still attached is refused.
    result(api.curl(&["-d", "id=r"], "/vrouterapi/createvirtualrouter"));
    result(api.curl(&["-d", "router=r&subnet=s1"], "/vrouterapi/addrouterinterface"));
    refused(
        &api,
        &["-d", "router=r&subnet=s1"],
        "/vrouterapi/addrouterinterface",
        409,
        "subnet",
        "already has an interface",
    );
    refused(&api, &[], "/vrouterapi/deletevirtualrouter?id=r", 409, "id", "interface");
    result(api.curl(&[], "/viperflow/deletelogicalport?id=p1"));
    refused(&api, &[], "/viperflow/deletesubnet?id=s1", 409, "id", "router interface");
    // A batch delete where the second item is unknown deletes nothing.
    refused(
        &api,
        &["-d", "networks=`[{'id': 'empty'}, {'id': 'ghost'}]`"],
        "/viperflow/deletelogicalnetworks",
        404,
        "networks[1].id",
        "ghost",
    );
}

#[test]
fn protocol_mistakes_get_4xx() {
    let api = seeded();
    refused(
        &api,
        &["-d", "physicalnetwork=vx&mtu=`[1, 2`"],
        "/viperflow/createlogicalnetwork",
        400,
        "mtu",
        "malformed literal",
    );
    refused(
        &api,
        &["-d", "interfaces=`[{'router': 'r'`"],
        "/vrouterapi/addrouterinterfaces",
        400,
        "interfaces",
        "malformed literal",
    );
    refused(
        &api,
        &["-d", "x=`__import__('os').system('true')`"],
        "/viperflow/createlogicalnetwork",
        400,
        "x",
        "not a literal",
    );
    refused(
        &api,
        &["-H", "Content-Type: application/json", "-d", "[1, 2]"],
        "/viperflow/createlogicalnetwork",
        400,
        "request body",
        "JSON object",
    );
    refused(
        &api,
        &["-H", "Content-Type: application/json", "-d", "{\"id\": "],
        "/viperflow/createlogicalnetwork",
        400,
        "request body",
        "invalid JSON",
    );
    refused(&api, &[], "/viperflow/nosuchapi", 404, "viperflow", "nosuchapi");
    refused(&api, &[], "/nosuchmodule/createlogicalport", 404, "/nosuchmodule/createlogicalport", "no API");
    refused(&api, &[], "/", 404, "/", "no API");
    refused(&api, &["-X", "DELETE"], "/viperflow/listsubnets", 405, "DELETE", "not allowed");
    refused(&api, &["-d", "a=%zz"], "/viperflow/createlogicalnetwork", 400, "a", "URL encoding");
    let big = format!("x={}", "a".repeat(5 << 20));
    let path = std::env::temp_dir().join(format!("vlcp-web-big-{}", std::process::id()));
    std::fs::write(&path, big).unwrap();
    refused(
        &api,
        &["--data-binary", &format!("@{}", path.display())],
        "/viperflow/createlogicalnetwork",
        413,
        "body",
        "larger",
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_configured_token_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn KvStore> = Arc::new(EmbeddedStore::open(dir.path().join("db.redb")).unwrap());
    let api = Api::on(store, Some("s3cret"));
    refused(&api, &[], "/viperflow/listsubnets", 401, "token", "missing or wrong");
    refused(&api, &["-H", "Authorization: Bearer nope"], "/viperflow/listsubnets", 401, "token", "wrong");
    let ok = result(api.curl(&["-H", "Authorization: Bearer s3cret"], "/viperflow/listsubnets"));
    assert_eq!(ok, Value::Array(vec![]));
    let ok = result(api.curl(&["-H", "X-Auth-Token: s3cret"], "/viperflow/listsubnets"));
    assert_eq!(ok, Value::Array(vec![]));
}
