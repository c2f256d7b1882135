//! The Docker plugin metrics follow real calls: our driver (real plumbing into a lab OVS, real
//! embedded store) serves a plugin socket in this process, the captured Docker 20.10 call trace
//! is replayed against it with `curl`, and the management server of the same process is scraped
//! between the calls: per-method call counts and latency, endpoints created/deleted/active, and a
//! refused call counted under its status.

mod metrics_common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use metrics_common::{Exposition, Target, scrape};
use serde_json::Value;
use vlcp::model::{Model, Params, PhysicalNetworkSpec};
use vlcp::objectdb::ObjectDb;
use vlcp::objectdb::embedded::EmbeddedStore;
use vlcp::runtime::ovsdb::{ClientConfig, OvsdbClient};
use vlcp::web::{ListenAddr, WebConfig};
use vlcp_e2e::lab::{Ovs, run};
use vlcp_plugin::docker::driver::{DriverConfig, VlcpDriver, start};
use vlcp_plugin::docker::ipam::LOCAL_ADDRESS_SPACE;

const TRACE: &str = include_str!("../../plugin/tests/data/docker-20.10-plugin-call-trace.log");
const BRIDGE: &str = "dockerbr0";

/// POSTs `body` to `/<method>` on the plugin socket; returns the status and JSON body.
fn call(sock: &std::path::Path, path: &str, body: &str) -> (u16, Value) {
    let out = run(std::process::Command::new("curl")
        .args(["-s", "--max-time", "60", "-w", "\n%{http_code}", "-X", "POST", "--data-binary", body])
        .arg("--unix-socket")
        .arg(sock)
        .arg(format!("http://docker{path}")))
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or_else(|| panic!("curl: {text:?}"));
    (code.parse().unwrap(), serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body:?}")))
}

fn calls(e: &Exposition, method: &str, code: &str) -> f64 {
    e.value("vlcp_docker_plugin_calls_total", &[("method", method), ("code", code)]).unwrap_or(0.0)
}

fn endpoints(e: &Exposition) -> (f64, f64, f64) {
    let v = |n| e.value(n, &[]).unwrap_or_else(|| panic!("{n} missing"));
    (
        v("vlcp_docker_endpoints_created_total"),
        v("vlcp_docker_endpoints_deleted_total"),
        v("vlcp_docker_endpoints_active"),
    )
}

#[test]
fn plugin_metrics_follow_a_replayed_docker_trace() {
    let ovs = Ovs::start().expect("ovs");
    ovs.add_bridge(BRIDGE).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let model = Model::new(ObjectDb::new(Arc::new(EmbeddedStore::open(dir.path().join("db.redb")).unwrap())));
    let sock = dir.path().join("plugins").join("vlcp.sock");
    let (server, web) = rt.block_on(async {
        let p = serde_json::json!({"id": "ph", "type": "local"});
        let spec = PhysicalNetworkSpec::from_params(Params::new(p.as_object().unwrap().clone())).unwrap();
        model.create_physical_networks(vec![spec]).await.unwrap();
        let (ovsdb, _events) = OvsdbClient::connect(ClientConfig::new(&ovs.db_url())).expect("ovsdb");
        ovsdb.wait_synced(Duration::from_secs(10)).await.expect("ovsdb synced");
        let cfg = DriverConfig {
            netns: Some(PathBuf::from(format!("/run/netns/{}", ovs.netns().name))),
            ..DriverConfig::default()
        };
        let driver = VlcpDriver::new(cfg, model.clone(), ovsdb).expect("driver");
        let server = start(&sock, Arc::new(driver)).expect("plugin socket");
        let config = WebConfig { listen: ListenAddr::Tcp("127.0.0.1:0".into()), ..WebConfig::default() };
        (server, vlcp::web::start(&config, model.clone()).await.expect("web"))
    });
    let t = Target::Tcp(web.local_addr().unwrap().port());
    let before = scrape(&t, &[]);
    assert_eq!(endpoints(&before), (0.0, 0.0, 0.0));

    // A refused call is counted under its status (no physical network given).
    let bad = r#"{"NetworkID":"n0","Options":{"com.docker.network.generic":{}},"IPv4Data":[],"IPv6Data":[]}"#;
    let (status, v) = call(&sock, "/NetworkDriver.CreateNetwork", bad);
    assert_eq!(status, 400, "{v}");
    assert_eq!(calls(&scrape(&t, &[]), "NetworkDriver.CreateNetwork", "400"), 1.0);

    let mut sent: Vec<&str> = Vec::new();
    let (mut pool_id, mut address) = (String::new(), String::new());
    for line in TRACE.lines().filter(|l| l.starts_with('/')) {
        let (path, body) = line.split_once(' ').unwrap_or((line, ""));
        let body = body
            .trim()
            .replace("\"vtl\"", &format!("\"{LOCAL_ADDRESS_SPACE}\""))
            .replace("\"pool1\"", &format!("\"{pool_id}\""))
            .replace(
                "\"com.docker.network.generic\":{}",
                "\"com.docker.network.generic\":{\"physicalnetwork\":\"ph\"}",
            );
        let body = if address.is_empty() { body } else { body.replace("198.18.5.7", &address) };
        let (status, v) = call(&sock, path, &body);
        assert_eq!(status, 200, "{path} {body}: {v}");
        sent.push(path);
        match path {
            "/IpamDriver.RequestPool" => pool_id = v["PoolID"].as_str().unwrap().to_string(),
            "/IpamDriver.RequestAddress" if !body.contains("gateway") => {
                address = v["Address"].as_str().unwrap().trim_end_matches("/24").to_string();
            }
            "/NetworkDriver.CreateEndpoint" => {
                // The endpoint is real: an OVS port on the bridge.
                assert_eq!(ovs.vsctl(&["list-ports", BRIDGE]).unwrap().lines().count(), 1);
                let mid = scrape(&t, &[]);
                assert_eq!(endpoints(&mid), (1.0, 0.0, 1.0));
            }
            "/NetworkDriver.DeleteEndpoint" => {
                assert_eq!(ovs.vsctl(&["list-ports", BRIDGE]).unwrap(), "");
                assert_eq!(endpoints(&scrape(&t, &[])), (1.0, 1.0, 0.0));
            }
            _ => {}
        }
    }
    assert!(sent.contains(&"/NetworkDriver.DeleteEndpoint"), "the trace removes its endpoint");

    let after = scrape(&t, &[]);
    let mut counted = std::collections::BTreeMap::new();
    for p in &sent {
        *counted.entry(p.trim_start_matches('/')).or_insert(0.0) += 1.0;
    }
    for (method, n) in &counted {
        assert_eq!(calls(&after, method, "200"), *n, "{method}");
        let timed = after
            .value("vlcp_docker_plugin_call_duration_seconds_count", &[("method", method)])
            .unwrap_or_else(|| panic!("no latency for {method}"));
        let refused = calls(&after, method, "400");
        assert_eq!(timed, n + refused, "{method}: every call is timed");
    }
    assert_eq!(endpoints(&after), (1.0, 1.0, 0.0));
    // A repeated DeleteEndpoint succeeds (idempotent) but never drives the gauge below zero.
    let eid = TRACE.split("\"EndpointID\":\"").nth(1).and_then(|s| s.split('"').next()).unwrap();
    let nid = TRACE.split("\"NetworkID\":\"").nth(1).and_then(|s| s.split('"').next()).unwrap();
    let again = format!(r#"{{"NetworkID":"{nid}","EndpointID":"{eid}"}}"#);
    let (status, v) = call(&sock, "/NetworkDriver.DeleteEndpoint", &again);
    assert_eq!(status, 200, "{v}");
    assert_eq!(endpoints(&scrape(&t, &[])), (1.0, 2.0, 0.0));

    rt.block_on(async {
        server.stop().await;
        web.shutdown().await;
    });
}
