//! Fuzzes the Docker plugin's request handling: the first input byte picks a plugin method, the
//! rest is its request body. The body goes through every request type's decoder (each must give
//! a value or a typed error), the `-o` option grammar when it is a CreateNetwork, and then through
//! the real driver (`VlcpDriver::handle`) over an embedded store, with host plumbing that does
//! nothing. Any panic is a bug; errors are expected answers.
#![no_main]
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vlcp::model::Model;
use vlcp::objectdb::ObjectDb;
use vlcp::objectdb::embedded::EmbeddedStore;
use vlcp_plugin::docker::driver::{DriverConfig, VlcpDriver};
use vlcp_plugin::docker::naming::VethNames;
use vlcp_plugin::docker::options::parse_options;
use vlcp_plugin::docker::plumbing::{PlugSpec, PlumbError, Plumber};
use vlcp_plugin::docker::protocol::*;
use vlcp_plugin::docker::server::{BoxFuture, parse};

const PATHS: [&str; 21] = [
    "/Plugin.Activate",
    "/NetworkDriver.GetCapabilities",
    "/NetworkDriver.CreateNetwork",
    "/NetworkDriver.DeleteNetwork",
    "/NetworkDriver.AllocateNetwork",
    "/NetworkDriver.FreeNetwork",
    "/NetworkDriver.CreateEndpoint",
    "/NetworkDriver.EndpointOperInfo",
    "/NetworkDriver.DeleteEndpoint",
    "/NetworkDriver.Join",
    "/NetworkDriver.Leave",
    "/NetworkDriver.DiscoverNew",
    "/NetworkDriver.DiscoverDelete",
    "/NetworkDriver.ProgramExternalConnectivity",
    "/NetworkDriver.RevokeExternalConnectivity",
    "/IpamDriver.GetCapabilities",
    "/IpamDriver.GetDefaultAddressSpaces",
    "/IpamDriver.RequestPool",
    "/IpamDriver.ReleasePool",
    "/IpamDriver.RequestAddress",
    "/IpamDriver.ReleaseAddress",
];

/// Plumbing that succeeds without touching the host.
struct NoPlumbing;

impl Plumber for NoPlumbing {
    fn plug<'a>(&'a self, _spec: &'a PlugSpec) -> BoxFuture<'a, Result<(), PlumbError>> {
        Box::pin(async { Ok(()) })
    }
    fn unplug<'a>(&'a self, _names: &'a VethNames) -> BoxFuture<'a, Result<(), PlumbError>> {
        Box::pin(async { Ok(()) })
    }
}

struct World {
    rt: tokio::runtime::Runtime,
    driver: VlcpDriver,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        // The store lives in memory-backed /dev/shm and is unlinked at once (the open file stays).
        let dir = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let path = dir.join(format!("vlcp-fuzz-plugin-{}.redb", std::process::id()));
        let store = EmbeddedStore::open(&path).expect("store");
        let _ = std::fs::remove_file(&path);
        let model = Model::new(ObjectDb::new(Arc::new(store)));
        // Short timeouts: a RequestPool waiting for a pending CIDR must not stall the fuzzer.
        let cfg = DriverConfig {
            pool_timeout: Duration::from_millis(20),
            ip_timeout: Duration::from_secs(5),
            ..DriverConfig::default()
        };
        let driver = {
            let _g = rt.enter();
            VlcpDriver::with_plumber(cfg, model, Arc::new(NoPlumbing))
        };
        World { rt, driver }
    })
}

fn decode_all(method: Method, body: &[u8]) {
    if let Ok(r) = parse::<CreateNetworkRequest>(method, body) {
        let opts = r.generic_options();
        let _ = r.internal();
        let _ = parse_options(&opts);
    }
    if let Ok(r) = parse::<AllocateNetworkRequest>(method, body) {
        let _ = parse_options(&r.string_options());
    }
    let _ = parse::<NetworkRequest>(method, body);
    let _ = parse::<CreateEndpointRequest>(method, body);
    let _ = parse::<EndpointRequest>(method, body);
    let _ = parse::<JoinRequest>(method, body);
    let _ = parse::<RequestPoolRequest>(method, body);
    let _ = parse::<ReleasePoolRequest>(method, body);
    if let Ok(r) = parse::<RequestAddressRequest>(method, body) {
        let _ = r.is_gateway();
    }
    let _ = parse::<ReleaseAddressRequest>(method, body);
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let path = PATHS[pick as usize % PATHS.len()];
    let method = Method::from_path(path).expect("every listed path is a method");
    decode_all(method, body);
    let w = world();
    if let Ok(answer) = w.rt.block_on(w.driver.handle(method, body)) {
        // A success answer is a JSON object (Docker refuses anything else).
        assert!(answer.is_object(), "{path}: {answer}");
    }
});
