//! The rooms the daemon runs, built from the config: the store (ObjectDB over the configured
//! backend) and the management API. Each `start_*` binds its sockets before returning, so a bad
//! address fails startup, and returns a future that serves until the stop signal.

use std::future::Future;

use tokio::sync::watch;
use vlcp::config::{Config, Value};
use vlcp::model::Model;
use vlcp::objectdb::ObjectDb;

/// A room's serving future; it resolves when the stop signal fires (or the room fails).
pub type RoomFuture = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// The string value of a config key as the rooms' `from_lookup` constructors read it: strings
/// as they are, other literals in their Python form, `None` and absent keys as `None`.
pub fn lookup(config: &Config) -> impl Fn(&str) -> Option<String> + '_ {
    move |key| match config.get(key) {
        None | Some(Value::None) => None,
        Some(Value::Str(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

/// Opens the configured store (embedded by default) and the network model over it.
pub async fn open_model(config: &Config) -> Result<Model, String> {
    let store = vlcp::objectdb::open_from_config(lookup(config)).await.map_err(|e| format!("store: {e}"))?;
    Ok(Model::new(ObjectDb::new(store)))
}

/// Binds the management API (`module.httpserver.vhost.api.url`, default 127.0.0.1:8081) and
/// returns its serving future. `/vlcp/trace` reads `flows`, which the SDN room fills.
pub async fn start_webapi(
    config: &Config,
    model: Model,
    flows: vlcp::runtime::controller::ComputedFlows,
    mut stop: watch::Receiver<bool>,
) -> Result<RoomFuture, String> {
    let web = vlcp::web::WebConfig::from_lookup(lookup(config)).map_err(|e| format!("webapi: {e}"))?;
    let listener = vlcp::web::Listener::bind(&web.listen)
        .await
        .map_err(|e| format!("webapi: cannot listen on {:?}: {e}", web.listen))?;
    tracing::info!(listen = ?web.listen, "management API listening");
    let state = vlcp::web::WebState::with_flows(model, &web, flows);
    Ok(Box::pin(async move {
        vlcp::web::serve(listener, state, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
        Ok(())
    }))
}

/// `unix:///path` / `tcp://host:port/` (the original's URL form) → the `unix:/path` /
/// `tcp:host:port` form our clients take.
fn client_url(url: &str) -> String {
    if let Some(path) = url.strip_prefix("unix://") {
        return format!("unix:{path}");
    }
    if let Some(rest) = url.strip_prefix("tcp://").or_else(|| url.strip_prefix("ssl://")) {
        return format!("tcp:{}", rest.trim_end_matches('/'));
    }
    url.to_string()
}

/// The OVSDB client on the local ovsdb-server (`module.jsonrpcserver.url`, default the Debian
/// socket), reconnecting by itself; its events are logged.
pub fn start_ovsdb(config: &Config) -> Result<vlcp::runtime::ovsdb::OvsdbClient, String> {
    use vlcp::runtime::ovsdb::{ClientConfig, ClientEvent, OvsdbClient};
    let url = lookup(config)("module.jsonrpcserver.url")
        .unwrap_or_else(|| "unix:///var/run/openvswitch/db.sock".into());
    let (client, mut events) = OvsdbClient::connect(ClientConfig::new(&client_url(&url)))
        .map_err(|e| format!("ovsdb {url}: {e}"))?;
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            match ev {
                ClientEvent::Synced { resync } => {
                    tracing::info!(%url, resync, "OVSDB view in sync");
                    vlcp::metrics::set_component("ovsdb", true, format!("in sync with {url}"));
                }
                ClientEvent::Disconnected { reason } => {
                    tracing::warn!(%url, %reason, "OVSDB disconnected");
                    vlcp::metrics::set_component("ovsdb", false, reason.to_string());
                }
                _ => {}
            }
        }
    });
    Ok(client)
}

/// The Docker network + IPAM plugin on `module.httpserver.vhost.docker.url` (default
/// `unix:///run/docker/plugins/vlcp.sock`).
pub fn start_dockerplugin(
    config: &Config,
    model: Model,
    ovsdb: vlcp::runtime::ovsdb::OvsdbClient,
    mut stop: watch::Receiver<bool>,
) -> Result<RoomFuture, String> {
    use vlcp_plugin::docker::driver::{DriverConfig, VlcpDriver, start};
    let cfg = DriverConfig::from_config(config).map_err(|e| format!("dockerplugin: {e}"))?;
    let url = lookup(config)("module.httpserver.vhost.docker.url")
        .unwrap_or_else(|| "unix:///run/docker/plugins/vlcp.sock".into());
    let Some(socket) = url.strip_prefix("unix://") else {
        return Err(format!(
            "module.httpserver.vhost.docker.url = {url:?}: the plugin needs a unix:// socket"
        ));
    };
    let driver =
        std::sync::Arc::new(VlcpDriver::new(cfg, model, ovsdb).map_err(|e| format!("dockerplugin: {e}"))?);
    let server = start(std::path::Path::new(socket), driver.clone())
        .map_err(|e| format!("dockerplugin: cannot serve {socket}: {e}"))?;
    tracing::info!(socket, "Docker plugin listening");
    vlcp::metrics::set_component("dockerplugin", true, format!("serving {socket}"));
    let repair = tokio::spawn(repair_at_start(driver.clone()));
    Ok(Box::pin(async move {
        let _ = stop.wait_for(|s| *s).await;
        server.stop().await;
        repair.abort();
        let left = driver.settle(std::time::Duration::from_secs(5)).await;
        if left > 0 {
            tracing::warn!(left, "veth removals still pending at exit (the next start finishes them)");
        }
        Ok(())
    }))
}

/// Runs the driver's startup repair until it succeeds (the store or OVSDB may still be coming
/// up), backing off from 1 s to 30 s.
async fn repair_at_start(driver: std::sync::Arc<vlcp_plugin::docker::driver::VlcpDriver>) {
    let mut wait = std::time::Duration::from_secs(1);
    loop {
        match driver.repair_interrupted().await {
            Ok(r) if r.failed.is_empty() => {
                if r.creates + r.deletes > 0 {
                    tracing::warn!(
                        creates = r.creates,
                        deletes = r.deletes,
                        "startup repair: finished endpoints an earlier daemon left half-made or half-removed"
                    );
                }
                return;
            }
            Ok(r) => tracing::warn!(failed = ?r.failed, "startup repair incomplete; retrying"),
            Err(e) => tracing::warn!(error = %e, "startup repair failed; retrying"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(std::time::Duration::from_secs(30));
    }
}

/// The pipeline settings from `server.startup` (which modules) and `module.<name>.*` keys,
/// defaults as the original's (vxlancast: prepush only; `learning` is logged and ignored).
pub fn sdn_config(config: &Config, startup: &[&str]) -> Result<vlcp::sdn::config::SdnConfig, String> {
    use vlcp::sdn::stages::Module;
    let get = lookup(config);
    let modules: Vec<Module> = [
        ("l2switch", Module::L2Switch),
        ("arpresponder", Module::ArpResponder),
        ("dhcpserver", Module::DhcpServer),
        ("icmpresponder", Module::IcmpResponder),
        ("l3router", Module::L3Router),
        ("vxlancast", Module::VxlanCast),
    ]
    .into_iter()
    .filter(|(name, _)| startup.contains(name))
    .map(|(_, m)| m)
    .collect();
    let mut sdn = vlcp::sdn::config::SdnConfig { modules, ..Default::default() };
    let flag = |key: &str, default: bool| -> Result<bool, String> {
        match get(key).as_deref() {
            None => Ok(default),
            Some("True") => Ok(true),
            Some("False") => Ok(false),
            Some(v) => Err(format!("{key} = {v}: expected True or False")),
        }
    };
    let mac = |key: &str, default| -> Result<[u8; 6], String> {
        match get(key) {
            None => Ok(default),
            Some(v) => {
                vlcp::sdn::input::parse_mac(&v).ok_or_else(|| format!("{key} = {v:?}: not a MAC address"))
            }
        }
    };
    let secs = |key: &str| -> Result<Option<u32>, String> {
        get(key).map(|v| v.parse::<u32>().map_err(|_| format!("{key} = {v}: expected seconds"))).transpose()
    };
    sdn.l2switch.learning = flag("module.l2switch.learning", sdn.l2switch.learning)?;
    sdn.l2switch.nxlearn = flag("module.l2switch.nxlearn", sdn.l2switch.nxlearn)?;
    if let Some(v) = get("module.l2switch.learntimeout") {
        let t = seconds(&v).filter(|t| t.as_secs() <= u64::from(u16::MAX));
        let t = t.ok_or_else(|| format!("module.l2switch.learntimeout = {v}: expected 0..=65535 seconds"))?;
        sdn.l2switch.learn_timeout = t.as_secs() as u16;
    }
    if sdn.enabled(Module::L2Switch) && sdn.l2switch.learning && !sdn.l2switch.nxlearn {
        tracing::warn!(
            "module.l2switch: controller learning (nxlearn = False) is not built; learning in the switch"
        );
    }
    sdn.arp.broadcast_only = flag("module.arpresponder.broadcastonly", sdn.arp.broadcast_only)?;
    sdn.arp.disable_others = flag("module.arpresponder.disableothers", sdn.arp.disable_others)?;
    if let Some(v) = get("module.dhcpserver.serveraddress") {
        sdn.dhcp.server_address =
            v.parse().map_err(|_| format!("module.dhcpserver.serveraddress = {v:?}: not an IPv4 address"))?;
    }
    sdn.dhcp.server_mac = mac("module.dhcpserver.servermac", sdn.dhcp.server_mac)?;
    sdn.dhcp.lease_time = secs("module.dhcpserver.leasetime")?.or(sdn.dhcp.lease_time);
    sdn.dhcp.t1 = secs("module.dhcpserver.t1")?;
    sdn.dhcp.t2 = secs("module.dhcpserver.t2")?;
    sdn.icmp.prepush = flag("module.icmpresponder.prepush", sdn.icmp.prepush)?;
    sdn.icmp.router_mac = mac("module.icmpresponder.inroutermac", sdn.icmp.router_mac)?;
    sdn.l3router.router_mac = mac("module.l3router.inroutermac", sdn.l3router.router_mac)?;
    let duration = |key: &str, default: std::time::Duration| -> Result<std::time::Duration, String> {
        match get(key) {
            None => Ok(default),
            Some(v) => seconds(&v).ok_or_else(|| format!("{key} = {v}: expected seconds")),
        }
    };
    sdn.l3router.arp_cycle_time = duration("module.l3router.arp_cycle_time", sdn.l3router.arp_cycle_time)?;
    sdn.l3router.arp_complete_timeout =
        duration("module.l3router.arp_complete_timeout", sdn.l3router.arp_complete_timeout)?;
    sdn.l3router.arp_incomplete_timeout =
        duration("module.l3router.arp_incomplete_timeout", sdn.l3router.arp_incomplete_timeout)?;
    if sdn.l3router.arp_cycle_time < std::time::Duration::from_millis(100) {
        return Err("module.l3router.arp_cycle_time: at least 0.1 seconds".into());
    }
    sdn.vxlan.prepush = flag("module.vxlancast.prepush", sdn.vxlan.prepush)?;
    sdn.vxlan.learning = flag("module.vxlancast.learning", sdn.vxlan.learning)?;
    let vx_secs = |key: &str, default: u64| secs(key).map(|v| v.map_or(default, u64::from));
    sdn.vxlan.refresh_interval = vx_secs("module.vxlancast.refreshinterval", sdn.vxlan.refresh_interval)?;
    sdn.vxlan.allowed_migration_time =
        vx_secs("module.vxlancast.allowedmigrationtime", sdn.vxlan.allowed_migration_time)?;
    if sdn.enabled(Module::VxlanCast) && (sdn.vxlan.learning || !sdn.vxlan.prepush) {
        tracing::warn!("module.vxlancast: only prepush is built; learning is ignored and prepush stays on");
    }
    Ok(sdn.with_dependencies())
}

/// A non-negative number of seconds (int or float literal text).
fn seconds(v: &str) -> Option<std::time::Duration> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(std::time::Duration::from_secs_f64)
}

/// The SDN controller: OpenFlow listener (`module.openflowserver.url`, default
/// `tcp://127.0.0.1:6653`), the model feed from ObjectDB and the flow pipeline on every switch
/// that connects; each switch's computed flows are published into `flows` (for `/vlcp/trace`).
pub async fn start_sdn(
    config: &Config,
    modules: &[&str],
    model: &Model,
    ovsdb: vlcp::runtime::ovsdb::OvsdbClient,
    flows: vlcp::runtime::controller::ComputedFlows,
    mut stop: watch::Receiver<bool>,
) -> Result<RoomFuture, String> {
    use vlcp::runtime::controller::{SdnController, model_feed};
    use vlcp::runtime::ofswitch::{Controller, ControllerConfig};
    let sdn = sdn_config(config, modules)?;
    let url = lookup(config)("module.openflowserver.url").unwrap_or_else(|| "tcp://127.0.0.1:6653".into());
    let listen = url.trim_end_matches('/').to_string();
    let of =
        Controller::start(ControllerConfig { listen: vec![listen.clone()], ..ControllerConfig::default() })
            .await
            .map_err(|e| format!("openflowserver: cannot listen on {listen}: {e}"))?;
    tracing::info!(%listen, "OpenFlow listening");
    let (snapshots, feed) =
        model_feed(model.db().clone()).await.map_err(|e| format!("sdn: reading the model: {e}"))?;
    let vxlan = sdn.enabled(vlcp::sdn::stages::Module::VxlanCast).then(|| sdn.vxlan.clone());
    let controller =
        SdnController::spawn_sharing(std::sync::Arc::new(of), ovsdb.clone(), snapshots.clone(), sdn, flows)
            .map_err(|e| format!("sdn: {e}"))?;
    tokio::spawn(vlcp::metrics::sdn::export_controller_status(controller.watch_status()));
    let publisher = vxlan.map(|cfg| {
        let status = controller.watch_status();
        vlcp::runtime::vxlan::VxlanPublisher::spawn(model.db().clone(), ovsdb, status, snapshots, cfg)
    });
    Ok(Box::pin(async move {
        let _ = stop.wait_for(|s| *s).await;
        drop(publisher);
        drop(controller);
        feed.abort();
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn learning_and_arp_timers_are_read_with_the_original_names() {
        let text = "module.l2switch.learning = True\nmodule.l2switch.learntimeout = 120\n\
                    module.l3router.arp_cycle_time = 2.5\nmodule.l3router.arp_complete_timeout = 10\n\
                    module.l3router.arp_incomplete_timeout = 20\n";
        let cfg = Config::parse(text).unwrap();
        let sdn = sdn_config(&cfg, &["l2switch", "l3router"]).unwrap();
        assert!(sdn.l2switch.learning && sdn.l2switch.nxlearn);
        assert_eq!(sdn.l2switch.learn_timeout, 120);
        assert_eq!(sdn.l3router.arp_cycle_time, Duration::from_millis(2500));
        assert_eq!(sdn.l3router.arp_complete_timeout, Duration::from_secs(10));
        assert_eq!(sdn.l3router.arp_incomplete_timeout, Duration::from_secs(20));
        let defaults = sdn_config(&Config::parse("").unwrap(), &["l2switch"]).unwrap();
        assert!(!defaults.l2switch.learning, "prepush stays the default");
        assert_eq!(defaults.l2switch.learn_timeout, 300);
        assert_eq!(defaults.l3router.arp_cycle_time, Duration::from_secs(5));
        let bad = Config::parse("module.l2switch.learntimeout = 100000\n").unwrap();
        assert!(sdn_config(&bad, &["l2switch"]).unwrap_err().contains("learntimeout"));
    }
}
