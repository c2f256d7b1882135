//! The driver end to end over its unix socket, on a real embedded store, with a recording
//! plumber (the real plumbing runs in the `docker_*` e2e suites against OVS and dockerd).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use serde_json::{Value, json};
use vlcp::model::{Model, Params, PhysicalNetworkSpec};
use vlcp::objectdb::embedded::EmbeddedStore;
use vlcp::objectdb::{DataObject, ObjectDb};

use super::DockerInfo;
use super::driver::{DriverConfig, PluginServer, VlcpDriver, start};
use super::ipam::{IpamPoolReserve, IpamReserve, LOCAL_ADDRESS_SPACE};
use super::naming::VethNames;
use super::plumbing::{PlugSpec, PlumbError, Plumber};
use super::server::BoxFuture;

const TRACE: &str = include_str!("../../tests/data/docker-20.10-plugin-call-trace.log");
const NID: &str = "5f177ed2d6eb1b24fc602e94bcfdf3ced9222208a054438e37fd523b1fda0fe4";
const EID: &str = "fef0c71bc56fb890a1ab219be63a4043fd93ab9f7ca42c20704dc75c4574cb71";

#[derive(Default)]
struct Recorder {
    log: Mutex<Vec<String>>,
    fail_plug: Mutex<bool>,
}

impl Plumber for Recorder {
    fn plug<'a>(&'a self, spec: &'a PlugSpec) -> BoxFuture<'a, Result<(), PlumbError>> {
        Box::pin(async move {
            let line = format!(
                "plug {} {} {} mtu={} iface-id={}",
                spec.names.container,
                spec.names.host,
                super::naming::format_mac(&spec.mac),
                spec.mtu,
                spec.iface_id
            );
            self.log.lock().unwrap().push(line);
            if *self.fail_plug.lock().unwrap() {
                return Err(PlumbError::Exists(spec.names.host.clone()));
            }
            Ok(())
        })
    }
    fn unplug<'a>(&'a self, names: &'a VethNames) -> BoxFuture<'a, Result<(), PlumbError>> {
        Box::pin(async move {
            self.log.lock().unwrap().push(format!("unplug {}", names.host));
            Ok(())
        })
    }
}

struct Harness {
    sock: PathBuf,
    server: Option<PluginServer>,
    model: Model,
    plumber: Arc<Recorder>,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let db = ObjectDb::new(Arc::new(EmbeddedStore::open(dir.path().join("db.redb")).unwrap()));
        let model = Model::new(db);
        let p = json!({"id": "ph", "type": "local"});
        model
            .create_physical_networks(vec![
                PhysicalNetworkSpec::from_params(Params::new(p.as_object().unwrap().clone())).unwrap(),
            ])
            .await
            .unwrap();
        let plumber = Arc::new(Recorder::default());
        let driver = VlcpDriver::with_plumber(DriverConfig::default(), model.clone(), plumber.clone());
        let sock = dir.path().join("plugins").join("t.sock");
        let server = start(&sock, Arc::new(driver)).unwrap();
        Harness { sock, server: Some(server), model, plumber, _dir: dir }
    }

    async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        post(&self.sock, path, body).await
    }

    async fn ok(&self, path: &str, body: &str) -> Value {
        let (s, v) = self.post(path, body).await;
        assert_eq!(s, StatusCode::OK, "{path} {body}: {v}");
        v
    }

    async fn raw(&self, key: &str) -> Option<Value> {
        let key = key.to_string();
        self.model.db().walk(std::slice::from_ref(&key), |w| w.value(&key)).await.unwrap()
    }

    fn plumbing(&self) -> Vec<String> {
        std::mem::take(&mut *self.plumber.log.lock().unwrap())
    }

    async fn stop(mut self) {
        self.server.take().unwrap().stop().await;
        assert!(!self.sock.exists());
    }
}

async fn post(sock: &Path, path: &str, body: &str) -> (StatusCode, Value) {
    let client: Client<hyperlocal::UnixConnector, Full<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build(hyperlocal::UnixConnector);
    let uri: hyper::Uri = hyperlocal::Uri::new(sock, path).into();
    let req = Request::post(uri).body(Full::new(Bytes::from(body.to_string()))).unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path}: body {bytes:?} is not JSON: {e}"));
    (status, v)
}

fn create_network(nid: &str, pool: &str, gw: &str, opts: Value) -> String {
    json!({"NetworkID": nid, "Options": {"com.docker.network.enable_ipv6": false, "com.docker.network.generic": opts},
           "IPv4Data": [{"AddressSpace": LOCAL_ADDRESS_SPACE, "Gateway": gw, "Pool": pool}], "IPv6Data": []})
    .to_string()
}

fn create_endpoint(nid: &str, eid: &str, addr: &str, mac: &str) -> String {
    json!({"NetworkID": nid, "EndpointID": eid, "Interface": {"Address": addr, "AddressIPv6": "", "MacAddress": mac},
           "Options": {"com.docker.network.endpoint.exposedports": [], "com.docker.network.portmap": []}})
    .to_string()
}

#[tokio::test]
async fn the_captured_docker_call_trace_replays_and_leaves_nothing_behind() {
    let h = Harness::new().await;
    let (mut pool_id, mut address) = (String::new(), String::new());
    for line in TRACE.lines().filter(|l| l.starts_with('/')) {
        let (path, body) = line.split_once(' ').unwrap_or((line, ""));
        // Our address space, our PoolID, our address; the trace's network had no -o options.
        let body = body
            .trim()
            .replace("\"vtl\"", &format!("\"{LOCAL_ADDRESS_SPACE}\""))
            .replace("\"pool1\"", &format!("\"{pool_id}\""))
            .replace(
                "\"com.docker.network.generic\":{}",
                "\"com.docker.network.generic\":{\"physicalnetwork\":\"ph\"}",
            );
        let body = if address.is_empty() { body } else { body.replace("198.18.5.7", &address) };
        let v = h.ok(path, &body).await;
        match path {
            "/Plugin.Activate" => assert_eq!(v, json!({"Implements": ["NetworkDriver", "IpamDriver"]})),
            "/NetworkDriver.GetCapabilities" => {
                assert_eq!(v, json!({"Scope": "local", "ConnectivityScope": "global"}))
            }
            "/IpamDriver.GetCapabilities" => assert_eq!(v["RequiresMACAddress"], false),
            "/IpamDriver.GetDefaultAddressSpaces" => {
                assert_eq!(v["LocalDefaultAddressSpace"], LOCAL_ADDRESS_SPACE);
            }
            "/IpamDriver.RequestPool" => {
                assert_eq!(v["Pool"], "198.18.5.0/24");
                pool_id = v["PoolID"].as_str().unwrap().to_string();
            }
            "/IpamDriver.RequestAddress" if body.contains("gateway") => {
                assert_eq!(v["Address"], "198.18.5.1/24")
            }
            "/IpamDriver.RequestAddress" => {
                assert_eq!(v["Address"], "198.18.5.2/24");
                address = "198.18.5.2".into();
            }
            "/NetworkDriver.CreateNetwork" => {
                assert_eq!(v, json!({}));
                let net = h.model.logical_network(&format!("docker-{NID}-lognet")).await.unwrap().unwrap();
                assert_eq!(net.physicalnetwork_id(), "ph");
                let s = h.model.subnet(&format!("docker-{NID}-subnet")).await.unwrap().unwrap();
                assert_eq!((s.cidr.as_str(), s.gateway.as_deref()), ("198.18.5.0/24", Some("198.18.5.1")));
                assert_eq!(s.extra["docker_ipam_poolid"], json!(pool_id));
                let pool = h.raw(&IpamReserve::key_for(&pool_id)).await.unwrap();
                assert_eq!(pool["docker_network"], NID);
            }
            "/NetworkDriver.CreateEndpoint" => {
                // Docker gave both address and MAC: nothing to fill in.
                assert_eq!(v, json!({}));
                let p = h.model.logical_port(&format!("docker-{EID}")).await.unwrap().unwrap();
                assert_eq!(p.ip_address.as_deref(), Some("198.18.5.2"));
                assert_eq!(p.mac_address, "02:42:ce:3b:c0:ba");
                assert_eq!(
                    h.plumbing(),
                    [format!(
                        "plug vlcpfef0c71 vlcpfef0c71-tap 02:42:ce:3b:c0:ba mtu=1500 iface-id=docker-{EID}"
                    )]
                );
                let pool = h.raw(&IpamReserve::key_for(&pool_id)).await.unwrap();
                assert_eq!(pool["reserved_ips"], json!({}), "the port owns the address now");
            }
            "/NetworkDriver.Join" => {
                assert_eq!(
                    v,
                    json!({"InterfaceName": {"SrcName": "vlcpfef0c71", "DstPrefix": "eth"}, "Gateway": "198.18.5.1"})
                );
                let info = h.raw(&DockerInfo::key_of(&[&format!("docker-{EID}")])).await.unwrap();
                assert!(info["docker_sandbox"].as_str().unwrap().ends_with("/netns/b90f53d093e9"));
            }
            "/NetworkDriver.EndpointOperInfo" => {
                assert_eq!(v["Value"]["ip_address"], "198.18.5.2");
                assert_eq!(v["Value"]["host_veth"], "vlcpfef0c71-tap");
            }
            "/NetworkDriver.Leave" => {
                let info = h.raw(&DockerInfo::key_of(&[&format!("docker-{EID}")])).await.unwrap();
                assert_eq!(info["docker_sandbox"], Value::Null);
            }
            "/NetworkDriver.DeleteEndpoint" => {
                assert_eq!(h.plumbing(), ["unplug vlcpfef0c71-tap"]);
                assert!(h.model.logical_port(&format!("docker-{EID}")).await.unwrap().is_none());
                assert!(h.raw(&DockerInfo::key_of(&[&format!("docker-{EID}")])).await.is_none());
            }
            _ => assert_eq!(v, json!({}), "{path}"),
        }
    }
    assert!(h.model.logical_network(&format!("docker-{NID}-lognet")).await.unwrap().is_none());
    assert!(h.model.subnet(&format!("docker-{NID}-subnet")).await.unwrap().is_none());
    assert!(h.raw(&IpamReserve::key_for(&pool_id)).await.is_none());
    let pending = h.raw(&IpamPoolReserve::key_of(&[])).await.unwrap();
    assert_eq!(pending["reserved_pools"], json!({}));
    assert!(h.plumbing().is_empty());
    h.stop().await;
}

async fn network_with_pool(h: &Harness, nid: &str, pool: &str, opts: Value) -> (String, Value) {
    let p = h
        .ok(
            "/IpamDriver.RequestPool",
            &json!({"AddressSpace": LOCAL_ADDRESS_SPACE, "Pool": pool}).to_string(),
        )
        .await;
    let pid = p["PoolID"].as_str().unwrap().to_string();
    let gw = h
        .ok(
            "/IpamDriver.RequestAddress",
            &json!({"PoolID": pid, "Address": "", "Options": {"RequestAddressType": "com.docker.network.gateway"}})
                .to_string(),
        )
        .await;
    let gw = gw["Address"].as_str().unwrap().to_string();
    let r = h.post("/NetworkDriver.CreateNetwork", &create_network(nid, pool, &gw, opts)).await;
    (pid, json!({"status": r.0.as_u16(), "body": r.1}))
}

#[tokio::test]
async fn two_networks_share_a_cidr_and_macs_are_derived_when_docker_gives_none() {
    let h = Harness::new().await;
    let (mut pools, mut macs) = (Vec::new(), Vec::new());
    for nid in ["na", "nb"] {
        let (pid, r) =
            network_with_pool(&h, nid, "198.18.5.0/24", json!({"physicalnetwork": "ph", "mtu": "1400"}))
                .await;
        assert_eq!(r["status"], 200, "{r}");
        let a = h.ok("/IpamDriver.RequestAddress", &json!({"PoolID": pid, "Address": ""}).to_string()).await;
        assert_eq!(a["Address"], "198.18.5.2/24", "each network is its own address space");
        let eid = format!("e{nid}0123456789");
        let v = h.ok("/NetworkDriver.CreateEndpoint", &create_endpoint(nid, &eid, "198.18.5.2/24", "")).await;
        let mac = v["Interface"]["MacAddress"].as_str().unwrap().to_string();
        let derived = super::naming::derive_mac(
            [2, 0, 0, 0, 0, 0],
            Some(&format!("docker-{nid}-subnet")),
            Some("198.18.5.2".parse().unwrap()),
            "unused",
        );
        assert_eq!(mac, super::naming::format_mac(&derived));
        assert_eq!(v["Interface"].get("Address"), None, "Docker gave the address: not echoed");
        let logged = h.plumbing();
        assert!(logged[0].contains(&mac) && logged[0].contains("mtu=1400"), "{logged:?}");
        pools.push(pid);
        macs.push(mac);
    }
    assert_ne!(pools[0], pools[1]);
    assert_ne!(macs[0], macs[1], "same IP on two subnets, different MACs");
    // Retries are harmless: the same network and endpoint again.
    h.ok(
        "/NetworkDriver.CreateNetwork",
        &create_network("na", "198.18.5.0/24", "198.18.5.1/24", json!({"physicalnetwork": "ph"})),
    )
    .await;
    let again = h
        .ok("/NetworkDriver.CreateEndpoint", &create_endpoint("na", "ena0123456789", "198.18.5.2/24", ""))
        .await;
    assert_eq!(again["Interface"]["MacAddress"], json!(macs[0]));
    // No Address from Docker (no IPAM address): the driver's is returned with the prefix.
    let v = h.ok("/NetworkDriver.CreateEndpoint", &create_endpoint("na", "ena9999999999", "", "")).await;
    assert_eq!(v["Interface"]["Address"], "198.18.5.3/24");
    // Deleting twice is fine.
    for _ in 0..2 {
        h.ok(
            "/NetworkDriver.DeleteEndpoint",
            &json!({"NetworkID": "na", "EndpointID": "ena9999999999"}).to_string(),
        )
        .await;
    }
    h.stop().await;
}

#[tokio::test]
async fn bad_options_and_failed_plumbing_leave_nothing_half_created() {
    let h = Harness::new().await;
    for (opts, expect) in [
        (json!({"physicalnetwork": "ph", "vni": "ten"}), "option vni"),
        (json!({"physicalnetwork": "nope"}), "physicalnetwork"),
        (json!({"vni": "5"}), "physicalnetwork: is required"),
        (json!({"physicalnetwork": "ph", "subnet:host_routes": "`[['x', 'y']]`"}), "host_routes"),
        (json!({"physicalnetwork": "ph", "subnet:allocated_start": "198.18.6.1"}), "allocated_start"),
    ] {
        let (pid, r) = network_with_pool(&h, "nx", "198.18.5.0/24", opts.clone()).await;
        assert!(r["status"].as_u64().unwrap() >= 400, "{opts}: {r}");
        let err = r["body"]["Err"].as_str().unwrap();
        assert!(err.contains(expect), "{opts}: {err}");
        assert!(h.model.logical_network("docker-nx-lognet").await.unwrap().is_none(), "{opts}");
        assert!(h.model.subnet("docker-nx-subnet").await.unwrap().is_none(), "{opts}");
        // Docker releases the pool after a failed create; the pool is pending again until then.
        let pending = h.raw(&IpamPoolReserve::key_of(&[])).await.unwrap();
        assert!(pending["reserved_pools"].get(&pid).is_some(), "{opts}: {pending}");
        h.ok("/IpamDriver.ReleasePool", &json!({"PoolID": pid}).to_string()).await;
    }
    let (pid, r) = network_with_pool(&h, "ny", "198.18.5.0/24", json!({"physicalnetwork": "ph"})).await;
    assert_eq!(r["status"], 200, "{r}");
    *h.plumber.fail_plug.lock().unwrap() = true;
    let (s, v) = h
        .post("/NetworkDriver.CreateEndpoint", &create_endpoint("ny", "eyy0123456789", "198.18.5.9/24", ""))
        .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(v["Err"].as_str().unwrap().contains("host plumbing failed"), "{v}");
    assert!(h.model.logical_port("docker-eyy0123456789").await.unwrap().is_none());
    assert!(h.raw(&DockerInfo::key_of(&["docker-eyy0123456789"])).await.is_none());
    *h.plumber.fail_plug.lock().unwrap() = false;
    // The address is free again for the retry.
    h.ok("/NetworkDriver.CreateEndpoint", &create_endpoint("ny", "eyy0123456789", "198.18.5.9/24", "")).await;
    // Unknown network, bad address.
    let (s, v) = h.post("/NetworkDriver.CreateEndpoint", &create_endpoint("zz", "e1", "", "")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["Err"].as_str().unwrap().contains("unknown to this driver"), "{v}");
    let (s, _) =
        h.post("/NetworkDriver.CreateEndpoint", &create_endpoint("ny", "e2", "198.18.7.1/24", "")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) =
        h.post("/NetworkDriver.Join", &json!({"NetworkID": "ny", "EndpointID": "nope"}).to_string()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["Err"].as_str().unwrap().contains("not found"));
    // Deleting a network with an endpoint fails clearly; after the endpoint goes, it works.
    let (s, v) = h.post("/NetworkDriver.DeleteNetwork", &json!({"NetworkID": "ny"}).to_string()).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    h.ok(
        "/NetworkDriver.DeleteEndpoint",
        &json!({"NetworkID": "ny", "EndpointID": "eyy0123456789"}).to_string(),
    )
    .await;
    h.ok("/NetworkDriver.DeleteNetwork", &json!({"NetworkID": "ny"}).to_string()).await;
    h.ok("/NetworkDriver.DeleteNetwork", &json!({"NetworkID": "ny"}).to_string()).await;
    assert!(h.raw(&IpamReserve::key_for(&pid)).await.is_none());
    h.stop().await;
}

#[tokio::test]
async fn subnet_options_reach_join_as_routes_and_no_gateway() {
    let h = Harness::new().await;
    let opts = json!({"physicalnetwork": "ph", "subnet:disablegateway": "",
        "subnet:host_routes": "`[['198.19.0.0/16', '198.18.5.254'], ['198.18.200.0/24', '0.0.0.0']]`"});
    let (_, r) = network_with_pool(&h, "nr", "198.18.5.0/24", opts).await;
    assert_eq!(r["status"], 200, "{r}");
    h.ok("/NetworkDriver.CreateEndpoint", &create_endpoint("nr", "err0123456789", "", "")).await;
    let v = h
        .ok(
            "/NetworkDriver.Join",
            &json!({"NetworkID": "nr", "EndpointID": "err0123456789", "SandboxKey": "/x"}).to_string(),
        )
        .await;
    assert_eq!(
        v,
        json!({"InterfaceName": {"SrcName": "vlcperr0123", "DstPrefix": "eth"},
               "StaticRoutes": [{"Destination": "198.19.0.0/16", "RouteType": 0, "NextHop": "198.18.5.254"},
                                {"Destination": "198.18.200.0/24", "RouteType": 1}]})
    );
    h.stop().await;
}

/// Docker calls DeleteEndpoint, then ReleaseAddress. A container starting in between must not
/// get the departing address: the late ReleaseAddress would drop its reservation and a third
/// container would get the same address (seen under churn by vlcp-bench).
#[tokio::test]
async fn an_address_is_held_between_delete_endpoint_and_release_address() {
    let h = Harness::new().await;
    let (pid, r) = network_with_pool(&h, "nr", "198.18.7.0/24", json!({"physicalnetwork": "ph"})).await;
    assert_eq!(r["status"], 200, "{r}");
    let request = || async {
        let a = h.ok("/IpamDriver.RequestAddress", &json!({"PoolID": pid, "Address": ""}).to_string()).await;
        a["Address"].as_str().unwrap().to_string()
    };
    let x = request().await;
    h.ok("/NetworkDriver.CreateEndpoint", &create_endpoint("nr", "ex0123456789", &x, "")).await;
    h.ok(
        "/NetworkDriver.DeleteEndpoint",
        &json!({"NetworkID": "nr", "EndpointID": "ex0123456789"}).to_string(),
    )
    .await;
    // Another container asks before X's ReleaseAddress arrives.
    let y = request().await;
    assert_ne!(y, x, "the departing address was handed out before its release");
    let x_ip = x.split('/').next().unwrap();
    h.ok("/IpamDriver.ReleaseAddress", &json!({"PoolID": pid, "Address": x_ip}).to_string()).await;
    let z = request().await;
    assert_ne!(z, y, "two containers got the same address");
    // After the release, X's address is free again.
    assert_eq!(z, x, "the released address is reused first");
    h.stop().await;
}

/// What swarm sends: `AllocateNetwork` on the manager (flat options, IPAM data without address
/// space), `CreateNetwork` on a node with the options `AllocateNetwork` answered.
fn allocate_network(nid: &str, pool: &str, gw: &str, opts: Value) -> String {
    json!({"NetworkID": nid, "Options": opts, "IPv4Data": [{"Pool": pool, "Gateway": gw}], "IPv6Data": null})
        .to_string()
}

fn swarm_create(nid: &str, space: &str, pool: &str, gw: &str, opts: &Value) -> String {
    json!({"NetworkID": nid, "Options": {"com.docker.network.enable_ipv6": false, "com.docker.network.generic": opts},
           "IPv4Data": [{"AddressSpace": space, "Gateway": gw, "Pool": pool}], "IPv6Data": []})
    .to_string()
}

const SNID: &str = "ua5xg3lmt3aekulilb8my0sco";

#[tokio::test]
async fn a_swarm_network_lives_from_allocate_until_free_and_the_last_node_delete() {
    let h = Harness::new().await;
    let lognet = format!("viperflow.logicnetwork.docker-{SNID}-lognet");
    // Bad options are refused by AllocateNetwork, before swarm accepts the network.
    let (s, v) = h
        .post(
            "/NetworkDriver.AllocateNetwork",
            &allocate_network(
                SNID,
                "198.18.5.0/24",
                "198.18.5.1/24",
                json!({"physicalnetwork": "ph", "vni": "x"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(h.raw(&lognet).await.is_none());

    let opts = json!({"physicalnetwork": "ph", "mtu": "1400", "com.docker.network.something": "x"});
    let r = h
        .ok("/NetworkDriver.AllocateNetwork", &allocate_network(SNID, "198.18.5.0/24", "198.18.5.1/24", opts))
        .await;
    assert_eq!(r["Options"], json!({"physicalnetwork": "ph", "mtu": "1400", "vlcp.swarm": "1"}), "{r}");
    let net = h.raw(&lognet).await.expect("AllocateNetwork creates the logical network");
    assert_eq!(net["mtu"], 1400, "{net}");
    // Allocating again (a new swarm leader) changes nothing.
    let again = h
        .ok(
            "/NetworkDriver.AllocateNetwork",
            &allocate_network(SNID, "198.18.5.0/24", "198.18.5.1/24", r["Options"].clone()),
        )
        .await;
    assert_eq!(again, r);

    // A node: CreateNetwork with the answered options, a task, then the node's DeleteNetwork
    // after FreeNetwork (swarm only waits for the tasks): the network goes with the later one.
    let create = swarm_create(SNID, "LocalDefault", "198.18.5.0/24", "198.18.5.1/24", &r["Options"]);
    h.ok("/NetworkDriver.CreateNetwork", &create).await;
    h.ok("/NetworkDriver.CreateEndpoint", &create_endpoint(SNID, EID, "198.18.5.2/24", "")).await;
    h.ok("/NetworkDriver.DeleteEndpoint", &json!({"NetworkID": SNID, "EndpointID": EID}).to_string()).await;
    h.ok("/NetworkDriver.FreeNetwork", &json!({"NetworkID": SNID}).to_string()).await;
    assert!(h.raw(&lognet).await.is_some(), "still on a node");
    h.ok("/NetworkDriver.DeleteNetwork", &json!({"NetworkID": SNID}).to_string()).await;
    assert!(h.raw(&lognet).await.is_none(), "freed and on no node");
    assert!(h.raw(&format!("viperflow.dockerplugin.swarmnetwork.{SNID}")).await.is_none());

    // The other order: the node's DeleteNetwork first, then FreeNetwork.
    h.ok(
        "/NetworkDriver.AllocateNetwork",
        &allocate_network(SNID, "198.18.5.0/24", "198.18.5.1/24", json!({"physicalnetwork": "ph"})),
    )
    .await;
    h.ok("/NetworkDriver.CreateNetwork", &create).await;
    h.ok("/NetworkDriver.DeleteNetwork", &json!({"NetworkID": SNID}).to_string()).await;
    assert!(h.raw(&lognet).await.is_some(), "swarm still has it");
    h.ok("/NetworkDriver.FreeNetwork", &json!({"NetworkID": SNID}).to_string()).await;
    assert!(h.raw(&lognet).await.is_none());
    h.stop().await;
}

#[tokio::test]
async fn a_swarm_network_on_this_ipam_binds_the_managers_and_the_nodes_pool() {
    let h = Harness::new().await;
    let pool = |space: &str| json!({"AddressSpace": space, "Pool": "198.18.6.0/24"}).to_string();
    // The manager's allocator: a global-space pool, its gateway and a task address.
    let p = h.ok("/IpamDriver.RequestPool", &pool(super::ipam::GLOBAL_ADDRESS_SPACE)).await;
    let mgr = p["PoolID"].as_str().unwrap().to_string();
    let gw = json!({"PoolID": mgr, "Address": "", "Options": {"RequestAddressType": "com.docker.network.gateway"}});
    assert_eq!(h.ok("/IpamDriver.RequestAddress", &gw.to_string()).await["Address"], "198.18.6.1/24");
    let a = h.ok("/IpamDriver.RequestAddress", &json!({"PoolID": mgr, "Address": ""}).to_string()).await;
    assert_eq!(a["Address"], "198.18.6.2/24");
    let r = h
        .ok(
            "/NetworkDriver.AllocateNetwork",
            &allocate_network(SNID, "198.18.6.0/24", "198.18.6.1/24", json!({"physicalnetwork": "ph"})),
        )
        .await;
    assert!(
        h.raw(&IpamPoolReserve::key_of(&[])).await.is_none_or(|v| v["reserved_pools"].get(&mgr).is_none()),
        "claimed"
    );
    let subnet = h.raw(&format!("viperflow.subnet.docker-{SNID}-subnet")).await.unwrap();
    assert_eq!(subnet["docker_ipam_poolid"], mgr.as_str(), "{subnet}");

    // The node's libnetwork: a local-space pool of the same CIDR (served at once: the manager's
    // is not pending any more),
    // the address the manager chose, CreateNetwork binding the pool to the same subnet.
    let p = h.ok("/IpamDriver.RequestPool", &pool(LOCAL_ADDRESS_SPACE)).await;
    let node = p["PoolID"].as_str().unwrap().to_string();
    let want = json!({"PoolID": node, "Address": "198.18.6.2"});
    h.ok("/IpamDriver.RequestAddress", &want.to_string()).await;
    let create = swarm_create(SNID, LOCAL_ADDRESS_SPACE, "198.18.6.0/24", "198.18.6.1/24", &r["Options"]);
    h.ok("/NetworkDriver.CreateNetwork", &create).await;
    let reserve = h.raw(&IpamReserve::key_for(&node)).await.unwrap();
    assert!(reserve["subnetmap"].is_string() || reserve["subnetmap"].is_object(), "bound: {reserve}");
    let rec = h.raw(&format!("viperflow.dockerplugin.swarmnetwork.{SNID}")).await.unwrap();
    assert_eq!(rec["pools"].as_object().map(|m| m.len()), Some(1), "{rec}");

    // The node's DeleteNetwork releases its pool; FreeNetwork the rest.
    h.ok("/NetworkDriver.DeleteNetwork", &json!({"NetworkID": SNID}).to_string()).await;
    assert!(h.raw(&IpamReserve::key_for(&node)).await.is_none());
    h.ok("/NetworkDriver.FreeNetwork", &json!({"NetworkID": SNID}).to_string()).await;
    h.ok("/IpamDriver.ReleasePool", &json!({"PoolID": mgr}).to_string()).await;
    assert!(h.raw(&IpamReserve::key_for(&mgr)).await.is_none());
    assert!(h.raw(&format!("viperflow.subnet.docker-{SNID}-subnet")).await.is_none());
    h.stop().await;
}

/// Sets the state of the DockerInfo of endpoint `eid` (what a crash at that point leaves).
async fn set_state(h: &Harness, eid: &str, state: super::EndpointState) {
    let key = DockerInfo::key_of(&[&format!("docker-{eid}")]);
    h.model
        .db()
        .transact(std::slice::from_ref(&key), |t| {
            let mut i = t.get::<DockerInfo>(&key)?.expect("DockerInfo").data;
            i.state = state;
            t.put(&i)
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn startup_repair_finishes_what_a_crash_interrupted_and_nothing_else() {
    use super::EndpointState::*;
    let h = Harness::new().await;
    let (pid, r) = network_with_pool(&h, "nx", "198.18.8.0/24", json!({"physicalnetwork": "ph"})).await;
    assert_eq!(r["status"], 200, "{r}");
    for (i, eid) in ["eready0123456", "ecreating0123", "edeleting0123", "etouched01234"].iter().enumerate() {
        let ip = format!("198.18.8.{}", 10 + i);
        h.ok("/IpamDriver.RequestAddress", &json!({"PoolID": pid, "Address": ip}).to_string()).await;
        let ip = format!("{ip}/24");
        h.ok("/NetworkDriver.CreateEndpoint", &create_endpoint("nx", eid, &ip, "")).await;
    }
    // A finished CreateEndpoint leaves no state in the object (the original's layout).
    let ready = h.raw(&DockerInfo::key_of(&["docker-eready0123456"])).await.unwrap();
    assert_eq!(ready.get("state"), None, "{ready}");
    // What crashes leave: a CreateEndpoint cut short, and a DeleteEndpoint whose veth removal
    // was still pending (its logical port is gone already).
    set_state(&h, "ecreating0123", Creating).await;
    set_state(&h, "etouched01234", Creating).await;
    set_state(&h, "edeleting0123", Deleting).await;
    h.model.delete_logical_ports(vec!["docker-edeleting0123".into()]).await.unwrap();
    h.plumbing();

    // The next daemon: its repair runs while it already serves; the endpoint it has worked on
    // since it started (a retried CreateEndpoint, say) is not touched.
    let plumber = Arc::new(Recorder::default());
    let driver = VlcpDriver::with_plumber(DriverConfig::default(), h.model.clone(), plumber.clone());
    driver.note_touched("docker-etouched01234");
    let report = driver.repair_interrupted().await.unwrap();
    assert_eq!((report.creates, report.deletes, report.failed.len()), (1, 1, 0), "{report:?}");
    let mut log = std::mem::take(&mut *plumber.log.lock().unwrap());
    log.sort();
    let names = |eid: &str| VethNames::for_endpoint("vlcp", eid).host;
    assert_eq!(log, {
        let mut v =
            vec![format!("unplug {}", names("ecreating0123")), format!("unplug {}", names("edeleting0123"))];
        v.sort();
        v
    });
    let ports: Vec<String> = h
        .model
        .list_logical_ports(None, None, &[])
        .await
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ports, vec!["docker-eready0123456".to_string(), "docker-etouched01234".to_string()]);
    for (eid, kept) in
        [("eready0123456", true), ("ecreating0123", false), ("edeleting0123", false), ("etouched01234", true)]
    {
        let info = h.raw(&DockerInfo::key_of(&[&format!("docker-{eid}")])).await;
        assert_eq!(info.is_some(), kept, "{eid}: {info:?}");
    }
    // A later start finishes the one left alone.
    let again = VlcpDriver::with_plumber(DriverConfig::default(), h.model.clone(), plumber.clone());
    assert_eq!(again.repair_interrupted().await.unwrap().creates, 1);
    h.stop().await;
}
