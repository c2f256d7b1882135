//! vlcp-bench against our driver on real OVS: the plugin socket served in-process (as
//! `docker_common` does, without dockerd), veths in the OVS namespace, ports on a userspace bridge,
//! the model in an embedded store, the management API for the logical-port probe. The load
//! generator makes dockerd's calls; these tests check what it reports, and that its leak probes do
//! see leaks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::runtime::Runtime;
use vlcp::model::{Model, Params, PhysicalNetworkSpec};
use vlcp::objectdb::ObjectDb;
use vlcp::objectdb::embedded::EmbeddedStore;
use vlcp::runtime::ovsdb::{ClientConfig, OvsdbClient};
use vlcp::web::{ListenAddr, WebConfig, WebHandle};
use vlcp_bench::{BenchConfig, Probes, Report};
use vlcp_e2e::lab::{self, Ovs};
use vlcp_plugin::docker::driver::{DriverConfig, PluginServer, VlcpDriver, start};
use vlcp_plugin::docker::protocol::Method;
use vlcp_plugin::docker::server::{BoxFuture, Driver, PluginError};

const BRIDGE: &str = "dockerbr0";
const PHYSNET: &str = "ph";

/// OVS with the bridge, our driver on a plugin socket, the management API.
struct Bed {
    server: Option<PluginServer>,
    web: Option<WebHandle>,
    model: Model,
    ovs: Ovs,
    rt: Runtime,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

/// Wraps the real driver but answers `DeleteEndpoint` without doing anything: a driver that
/// leaks every endpoint, for checking the probes.
struct SkipsDelete(Arc<VlcpDriver>);

impl Driver for SkipsDelete {
    fn call(&self, method: Method, body: Bytes) -> BoxFuture<'_, Result<Value, PluginError>> {
        if method == Method::DeleteEndpoint {
            return Box::pin(async { Ok(serde_json::json!({})) });
        }
        self.0.call(method, body)
    }
}

impl Bed {
    fn new(leaky: bool) -> Bed {
        let rt = Runtime::new().unwrap();
        let ovs = Ovs::start().expect("ovs");
        ovs.add_bridge(BRIDGE).unwrap();
        let dir = lab::temp_dir().unwrap();
        let socket = dir.path().join("plugin.sock");
        let store = EmbeddedStore::open(dir.path().join("objectdb.redb")).unwrap();
        let model = Model::new(ObjectDb::new(Arc::new(store)));
        let (server, web) = rt.block_on(async {
            let p = serde_json::json!({"id": PHYSNET, "type": "local"});
            model
                .create_physical_networks(vec![
                    PhysicalNetworkSpec::from_params(Params::new(p.as_object().unwrap().clone())).unwrap(),
                ])
                .await
                .unwrap();
            let (ovsdb, _events) = OvsdbClient::connect(ClientConfig::new(&ovs.db_url())).expect("ovsdb");
            ovsdb.wait_synced(Duration::from_secs(10)).await.expect("ovsdb synced");
            let cfg = DriverConfig {
                bridge: BRIDGE.into(),
                netns: Some(PathBuf::from(format!("/run/netns/{}", ovs.netns().name))),
                ..DriverConfig::default()
            };
            let driver = Arc::new(VlcpDriver::new(cfg, model.clone(), ovsdb).expect("driver"));
            let served: Arc<dyn Driver> = if leaky { Arc::new(SkipsDelete(driver)) } else { driver };
            let web_cfg = WebConfig { listen: ListenAddr::Tcp("127.0.0.1:0".into()), ..WebConfig::default() };
            let web = vlcp::web::start(&web_cfg, model.clone()).await.expect("management API");
            (start(&socket, served).expect("plugin socket"), web)
        });
        Bed { server: Some(server), web: Some(web), model, ovs, rt, socket, _dir: dir }
    }

    fn config(&self, endpoints: usize, concurrency: usize, keep: usize) -> BenchConfig {
        let api = self.web.as_ref().and_then(WebHandle::local_addr).expect("API address");
        BenchConfig {
            endpoints,
            concurrency,
            keep,
            subnet: "198.19.0.0/16".into(),
            probes: Probes {
                netns: Some(self.ovs.netns().name.clone()),
                ovsdb: Some(self.ovs.db_url()),
                bridge: Some(BRIDGE.into()),
                bridge_mgmt: Some(self.ovs.mgmt_sock(BRIDGE)),
                pid: Some(std::process::id()),
                api: Some(format!("http://{api}")),
            },
            ..BenchConfig::new(&self.socket, PHYSNET)
        }
    }

    fn run(&self, cfg: &BenchConfig) -> Report {
        self.rt.block_on(vlcp_bench::run(cfg)).expect("the bench run starts")
    }

    /// Every key the model holds under `prefix`.
    fn keys(&self, prefix: &str) -> Vec<String> {
        self.rt.block_on(self.model.db().store().scan_prefix(prefix)).unwrap()
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.stop());
        }
        if let Some(w) = self.web.take() {
            self.rt.block_on(w.shutdown());
        }
    }
}

#[test]
fn bench_churn_leaves_no_leaks() {
    let bed = Bed::new(false);
    let ports_before = bed.ovs.vsctl(&["list-ports", BRIDGE]).unwrap();
    let r = bed.run(&bed.config(20, 4, 3));
    let md = r.to_markdown();
    println!("{md}");
    assert_eq!(r.errors, 0, "{md}");
    assert_eq!(r.leaks.count(), 0, "{md}");
    assert!(r.leaks.not_checked.is_empty(), "every probe ran: {md}");
    assert!(r.clean());
    // Every endpoint call of Docker's sequence ran once per endpoint (EndpointOperInfo twice),
    // plus the leak probe's EndpointOperInfo/RequestAddress calls are not counted.
    let count = |name: &str| r.calls.iter().find(|c| c.call == name).map_or(0, |c| c.count);
    for call in
        ["RequestAddress", "CreateEndpoint", "Join", "ProgramExternalConnectivity", "Leave", "DeleteEndpoint"]
    {
        assert_eq!(count(call), 23, "{call}: {md}");
    }
    assert_eq!(count("EndpointOperInfo"), 46, "{md}");
    assert_eq!(count("RequestAddress (gateway)"), 1);
    assert_eq!(count("DeleteNetwork"), 1);
    // The three kept endpoints were real: distinct addresses, and flows were counted on the bridge.
    let mut kept = r.addresses_kept.clone();
    kept.sort();
    kept.dedup();
    assert_eq!(kept.len(), 3, "{:?}", r.addresses_kept);
    assert!(r.flows_with_kept.is_some(), "{md}");
    let sc = r.scale.as_ref().expect("process figures");
    assert!(sc.after_churn.rss_kb > 0 && sc.errors.is_empty(), "{sc:?}");
    // Independently of the bench's own probes: nothing of the run is left.
    assert_eq!(bed.ovs.vsctl(&["list-ports", BRIDGE]).unwrap(), ports_before);
    // (The bench's probes waited for the background veth removal; the DockerInfo that recorded
    // it goes just after.)
    let _ = lab::wait_until("DockerInfo to go", Duration::from_secs(10), || {
        bed.keys("viperflow.dockerplugin.portinfo.").is_empty().then_some(())
    });
    let links = bed.ovs.netns().run(&["ip", "-o", "link", "show"]).unwrap();
    assert!(!links.contains("vlcp"), "{links}");
    assert!(bed.keys("viperflow.logicalport.").is_empty(), "{:?}", bed.keys("viperflow.logicalport."));
    assert!(bed.keys("viperflow.dockerplugin.portinfo.").is_empty());
    assert!(
        bed.keys("viperflow.dockerplugin.ipamreserve.").is_empty(),
        "{:?}",
        bed.keys("viperflow.dockerplugin")
    );
}

#[test]
fn bench_reports_the_leaks_of_a_driver_that_skips_delete_endpoint() {
    let bed = Bed::new(true);
    let r = bed.run(&bed.config(4, 2, 0));
    let md = r.to_markdown();
    assert!(!r.clean(), "{md}");
    // Each of the 4 endpoints leaves two veth ends, an OVS port, a logical port (seen through the
    // plugin and through the API) and its address.
    assert_eq!(r.leaks.veths.len(), 8, "{md}");
    assert!(r.leaks.veths.iter().all(|v| v.starts_with("vlcp")), "{md}");
    assert_eq!(r.leaks.ovs_ports.len(), 4, "{md}");
    assert!(r.leaks.ovs_ports.iter().all(|p| p.ends_with("-tap")), "{md}");
    assert_eq!(r.leaks.logical_ports.len(), 8, "{md}");
    assert_eq!(r.leaks.logical_ports.iter().filter(|p| p.ends_with("(API)")).count(), 4, "{md}");
    assert_eq!(r.leaks.addresses.len(), 4, "{md}");
    assert!(r.leaks.probe_errors.is_empty(), "{md}");
}

#[test]
fn heavy_fifty_concurrent_endpoints_get_distinct_ips() {
    let bed = Bed::new(false);
    // 50 endpoints brought up at once, held, then torn down; no churn.
    let r = bed.run(&bed.config(0, 50, 50));
    let md = r.to_markdown();
    println!("{md}");
    assert_eq!(r.errors, 0, "{md}");
    assert_eq!(r.addresses_kept.len(), 50, "{md}");
    let distinct: std::collections::BTreeSet<&String> = r.addresses_kept.iter().collect();
    assert_eq!(distinct.len(), 50, "duplicate addresses: {:?}", r.addresses_kept);
    assert!(r.addresses_kept.iter().all(|a| a.starts_with("198.19.")), "{:?}", r.addresses_kept);
    assert_eq!(r.leaks.count(), 0, "{md}");
}
