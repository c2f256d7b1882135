//! The SDN controller glue: for every connected datapath, its OVSDB view and the network model,
//! compute the desired flows and keep the switch in line with them; answer DHCP and gateway
//! pings that come up as packet-ins.
//!
//! Inputs, all handed in by the caller:
//! - an [`ofswitch::Controller`](crate::runtime::ofswitch::Controller) (switch connections);
//! - an [`OvsdbClient`] on the same host's ovsdb-server (bridges, ports, `iface-id`, ofports);
//! - a `watch` channel of [`ModelSnapshot`]s, the network model as of the last consistent
//!   ObjectDB read (the channel's first value must already be a real read: the controller
//!   treats it as truth and removes the flows of ports it does not list).
//!
//! One task does everything in order (so the flow state of a switch has a single writer):
//! on a datapath coming up it reads the switch's flows back (flow-stats) and applies only the
//! difference, never delete-all; on an OVSDB or model change it recomputes every switch and sends
//! the minimal FlowMods followed by a barrier. Nothing is sent while the OVSDB view is not in
//! sync (a half-empty view would remove live ports' flows). [`SdnController::status`] reports,
//! per datapath, whether the last recompute is installed, so callers can wait for "flows in".
//! [`SdnController::computed`] shares what the last recompute of each switch produced (flows,
//! owners, ports) with readers such as the trace API (`sdn::trace`).
//!
//! With l3router on, the same task runs the ARP cycle of next hops that are not logical ports
//! ([`crate::sdn::nexthop`]): every `module.l3router.arp_cycle_time` (and at once when a switch
//! gets a new one) it sends the due ARP requests as packet-outs, and ARP replies that come up as
//! packet-ins update the switch's resolved MACs; a change recomputes the switch's flows.
//!
//! ```no_run
//! # async fn demo(of: std::sync::Arc<vlcp::runtime::ofswitch::Controller>,
//! #               ovsdb: vlcp::runtime::ovsdb::OvsdbClient) {
//! use std::sync::Arc;
//! use vlcp::runtime::controller::SdnController;
//! use vlcp::sdn::{config::SdnConfig, input::ModelSnapshot};
//! let (model_tx, model_rx) = tokio::sync::watch::channel(Arc::new(ModelSnapshot::default()));
//! let sdn = SdnController::spawn(of, ovsdb, model_rx, SdnConfig::default()).unwrap();
//! // ... model_tx.send(Arc::new(new_snapshot)) on every ObjectDB change ...
//! # drop(model_tx); drop(sdn);
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::objectdb::{Notification, ObjectDb, TxnError};
use crate::openflow::{FlowStatsRequest, Message, OxmField, PacketIn, PacketOut, PortNo};
use crate::ovsdb::view::View;
use crate::runtime::ofswitch::{Controller, Datapath, DatapathEvent};
use crate::runtime::ovsdb::OvsdbClient;
use crate::sdn::bind::{IdAssigner, bind};
use crate::sdn::compute;
use crate::sdn::config::SdnConfig;
use crate::sdn::flow::{FlowError, FlowTable};
use crate::sdn::flowsync;
use crate::sdn::from_model;
use crate::sdn::input::{ModelSnapshot, OvsInterface, SwitchIdentity, SwitchInput};
use crate::sdn::ioprocessing::REG_IN_NET;
use crate::sdn::nexthop::{self, ArpTable};
use crate::sdn::stages::{Module, Pipeline, PipelineError};
use crate::sdn::trace::SwitchView;

/// Why the controller cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("the enabled modules give no valid pipeline: {0}")]
    Pipeline(#[from] PipelineError),
}

/// What one switch looks like to the controller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwitchStatus {
    /// The OVSDB bridge of this datapath, once known.
    pub bridge: Option<String>,
    /// True when the flows of the latest recompute are installed (acknowledged by a barrier).
    pub synced: bool,
    /// Number of our flows on the switch.
    pub flows: usize,
    /// Logical ports bound on this switch.
    pub ports: Vec<String>,
    /// FlowMods sent since the datapath came up.
    pub flow_mods: u64,
    /// OFPT_ERROR messages received from this switch.
    pub errors: u64,
    /// Packet-ins answered (DHCP, gateway pings).
    pub answered: u64,
    /// Flows of the last recompute dropped because another object wanted the same flow.
    pub conflicts: usize,
    /// l3router: ARP requests sent for next hops that are not logical ports.
    pub arp_requests: u64,
    /// l3router: next hops that are not logical ports, resolved now (`network/ip` → MAC).
    pub neighbors: Vec<String>,
}

/// Status of every connected datapath, by datapath id.
pub type Status = BTreeMap<u64, SwitchStatus>;

/// The flows the controller computed for each switch, as of its last recompute, for readers
/// outside the controller task (the trace API). A cheap handle: clones share one state. Empty
/// until a controller runs with it, and emptied again when that controller stops.
#[derive(Clone, Default)]
pub struct ComputedFlows(Arc<std::sync::RwLock<ComputedState>>);

#[derive(Default)]
struct ComputedState {
    running: bool,
    switches: BTreeMap<u64, Arc<LazyView>>,
    /// Datapaths whose switch has the published flows installed (acknowledged by a barrier).
    installed: std::collections::BTreeSet<u64>,
}

/// What a switch's [`SwitchView`] is made from, kept as the recompute left it: the view itself
/// (an owner string per cookie, a port list) is only built when a reader asks, not on every
/// recompute.
struct ViewSource {
    datapath_id: u64,
    pipeline: Pipeline,
    /// The flow entries (with their owners) are computed again from `input` when a reader asks:
    /// keeping them would hold a second copy of every flow (5 per endpoint) between recomputes.
    config: Arc<SdnConfig>,
    desired: Arc<FlowTable>,
    interfaces: BridgeInterfaces,
    input: Arc<SwitchInput>,
}

/// A bridge's identity and its usable interfaces, as binding reads them from OVSDB.
type BridgeInterfaces = Arc<(SwitchIdentity, Vec<OvsInterface>)>;

/// A switch's view, built from its source on first use.
struct LazyView {
    source: Option<ViewSource>,
    built: std::sync::OnceLock<Arc<SwitchView>>,
}

impl LazyView {
    fn view(&self) -> Arc<SwitchView> {
        Arc::clone(self.built.get_or_init(|| {
            let s = self.source.as_ref().expect("a lazy view without a built view has a source");
            Arc::new(SwitchView::new(
                s.datapath_id,
                &s.interfaces.0.bridge,
                s.pipeline.clone(),
                &compute::entries(&s.pipeline, &s.config, &s.input),
                Arc::clone(&s.desired),
                &s.interfaces.1,
                &s.input,
            ))
        }))
    }
}

impl ComputedFlows {
    /// True while a controller publishes into this handle.
    pub fn is_running(&self) -> bool {
        self.read(|s| s.running)
    }

    /// The view of datapath `dpid`.
    pub fn get(&self, dpid: u64) -> Option<Arc<SwitchView>> {
        self.read(|s| s.switches.get(&dpid).cloned()).map(|l| l.view())
    }

    /// Every switch's view, by datapath id.
    pub fn switches(&self) -> Vec<Arc<SwitchView>> {
        let lazy: Vec<Arc<LazyView>> = self.read(|s| s.switches.values().cloned().collect());
        lazy.iter().map(|l| l.view()).collect()
    }

    /// True when datapath `dpid` has the flows of its published view installed (false while a
    /// recompute is being sent, or after a failed sync).
    pub fn is_installed(&self, dpid: u64) -> bool {
        self.read(|s| s.installed.contains(&dpid))
    }

    /// Publishes an already built `view` as its switch's current one (for tests that serve a
    /// trace without a controller; the controller publishes lazily built views).
    pub fn publish(&self, view: SwitchView) {
        let id = view.datapath_id;
        let built = std::sync::OnceLock::from(Arc::new(view));
        self.insert(id, LazyView { source: None, built });
    }

    /// Publishes what a recompute produced; the view is built when first read. Returns the
    /// view it replaces, for the caller to drop where it costs nothing.
    fn publish_source(&self, source: ViewSource) -> Option<Arc<LazyView>> {
        self.insert(source.datapath_id, LazyView { source: Some(source), built: Default::default() })
    }

    fn insert(&self, id: u64, view: LazyView) -> Option<Arc<LazyView>> {
        let mut old = None;
        self.write(|s| {
            s.running = true;
            s.installed.remove(&id);
            old = s.switches.insert(id, Arc::new(view));
        });
        old
    }

    fn set_installed(&self, dpid: u64, installed: bool) {
        self.write(|s| {
            if installed && s.switches.contains_key(&dpid) {
                s.installed.insert(dpid);
            } else {
                s.installed.remove(&dpid);
            }
        });
    }

    fn read<R>(&self, f: impl FnOnce(&ComputedState) -> R) -> R {
        f(&self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn write(&self, f: impl FnOnce(&mut ComputedState)) {
        f(&mut self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// A running SDN controller task. Dropping the handle stops it.
pub struct SdnController {
    status: watch::Receiver<Status>,
    computed: ComputedFlows,
    task: JoinHandle<()>,
}

impl Drop for SdnController {
    fn drop(&mut self) {
        self.task.abort();
        self.computed.write(|s| *s = ComputedState::default());
    }
}

impl SdnController {
    /// Starts the controller task (needs a tokio runtime).
    pub fn spawn(
        of: Arc<Controller>,
        ovsdb: OvsdbClient,
        model: watch::Receiver<Arc<ModelSnapshot>>,
        config: SdnConfig,
    ) -> Result<SdnController, ControllerError> {
        Self::spawn_sharing(of, ovsdb, model, config, ComputedFlows::default())
    }

    /// Like [`SdnController::spawn`], publishing every switch's computed flows into `computed`
    /// (a handle created before the controller, e.g. for a web server started earlier).
    pub fn spawn_sharing(
        of: Arc<Controller>,
        ovsdb: OvsdbClient,
        model: watch::Receiver<Arc<ModelSnapshot>>,
        config: SdnConfig,
        computed: ComputedFlows,
    ) -> Result<SdnController, ControllerError> {
        let pipeline = compute::pipeline(&config)?;
        let (status_tx, status) = watch::channel(Status::new());
        let events = of.subscribe();
        computed.write(|s| *s = ComputedState { running: true, ..ComputedState::default() });
        let worker = Worker {
            of,
            ovsdb,
            model,
            config: Arc::new(config),
            pipeline,
            switches: BTreeMap::new(),
            digest: 0,
            ovsdb_gen: 0,
            status: status_tx,
            computed: computed.clone(),
        };
        let task = tokio::spawn(worker.run(events));
        Ok(SdnController { status, computed, task })
    }

    /// What the last recompute of each switch produced (shared, see [`ComputedFlows`]).
    pub fn computed(&self) -> ComputedFlows {
        self.computed.clone()
    }

    /// The current status of every datapath.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Waits until `check` accepts the status.
    pub async fn wait_status<R>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Status) -> Option<R>,
    ) -> Option<R> {
        let mut rx = self.status.clone();
        tokio::time::timeout(timeout, async {
            loop {
                if let Some(r) = check(&rx.borrow_and_update()) {
                    return Some(r);
                }
                rx.changed().await.ok()?;
            }
        })
        .await
        .ok()
        .flatten()
    }
}

/// Reads the network model from ObjectDB and keeps a `watch` channel of snapshots up to date:
/// every commit touching a `viperflow.*` key (or a notifier resync) triggers a fresh consistent
/// read, published when it differs. The first value is a real read, as [`SdnController::spawn`]
/// requires. The returned task stops when every receiver is gone or the store closes.
pub async fn model_feed(
    db: ObjectDb,
) -> Result<(watch::Receiver<Arc<ModelSnapshot>>, JoinHandle<()>), TxnError> {
    // Subscribe before the first read, so no commit falls between the two.
    let mut sub = db.store().subscribe();
    let mut cache = crate::objectdb::WalkCache::default();
    let first = from_model::read_snapshot_cached(&db, &mut cache).await?;
    let (tx, rx) = watch::channel(Arc::new(first));
    let task = tokio::spawn(async move {
        while let Some(n) = sub.recv().await {
            let relevant = match &n {
                Notification::Changed { changes, .. } => {
                    let mut any = false;
                    for c in changes.iter().filter(|c| c.key.starts_with(from_model::PREFIX)) {
                        any = true;
                        // A key the commit created is probably one the next read needs.
                        if !c.deleted {
                            cache.hint(&c.key);
                        }
                    }
                    any
                }
                Notification::Resync { .. } => true,
            };
            if !relevant {
                continue;
            }
            let snap = loop {
                match from_model::read_snapshot_cached(&db, &mut cache).await {
                    Ok(s) => break s,
                    Err(e) => {
                        tracing::warn!("reading the network model failed, retrying: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            };
            let mut old = None;
            tx.send_if_modified(|cur| {
                let changed = **cur != snap;
                if changed {
                    old = Some(std::mem::replace(cur, Arc::new(snap)));
                }
                changed
            });
            drop_elsewhere(old);
            if tx.is_closed() {
                return;
            }
        }
    });
    Ok((rx, task))
}

struct Switch {
    dp: Datapath,
    ids: IdAssigner,
    input: Arc<SwitchInput>,
    /// The bridge's identity and interfaces, and the OVSDB view digest they were read at.
    bound: Option<(u64, BridgeInterfaces)>,
    /// What the switch has, when known; `None` forces a flow-stats read.
    installed: Option<Arc<FlowTable>>,
    dirty: bool,
    status: SwitchStatus,
    /// l3router: the ARP state of next hops that are not logical ports.
    arp: ArpTable,
    /// A new ARP target appeared: run its cycle now instead of at the next tick.
    arp_due: bool,
}

struct Worker {
    of: Arc<Controller>,
    ovsdb: OvsdbClient,
    model: watch::Receiver<Arc<ModelSnapshot>>,
    config: Arc<SdnConfig>,
    pipeline: Pipeline,
    switches: BTreeMap<u64, Switch>,
    /// [`view_digest`] of the OVSDB view as the run loop last saw it.
    digest: u64,
    /// The OVSDB view's generation when `digest` was taken.
    ovsdb_gen: u64,
    status: watch::Sender<Status>,
    computed: ComputedFlows,
}

/// The interfaces of the bridge of datapath `dpid`, as binding input.
fn bridge_view(view: &View, dpid: u64) -> Option<(SwitchIdentity, Vec<OvsInterface>)> {
    let bridge = view.bridges.values().find(|b| b.datapath_id == Some(dpid))?;
    let mut ifaces = Vec::new();
    for port in bridge.ports.iter().filter_map(|u| view.ports.get(u)) {
        for iface in port.interfaces.iter().filter_map(|u| view.interfaces.get(u)) {
            let Some(ofport) = iface.usable_ofport() else { continue };
            ifaces.push(OvsInterface {
                name: iface.name.clone(),
                ofport,
                iface_id: iface.iface_id().map(str::to_owned),
            });
        }
    }
    let id = SwitchIdentity {
        vhost: String::new(),
        systemid: view.system_id().unwrap_or_default().to_owned(),
        bridge: bridge.name.clone(),
    };
    Some((id, ifaces))
}

/// A digest of what binding reads from the view, to notice relevant OVSDB changes: a hash of
/// every bridge's datapath id, name and usable interfaces (name, ofport, iface-id) and the
/// system id. It runs on every OVSDB update (statistics too), so it hashes in place instead of
/// cloning the interfaces; bridges combine by wrapping sum, so their map order does not matter.
fn view_digest(view: &View) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut total = {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        view.system_id().hash(&mut h);
        h.finish()
    };
    for b in view.bridges.values() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (b.datapath_id, &b.name).hash(&mut h);
        if b.datapath_id.is_some() {
            for port in b.ports.iter().filter_map(|u| view.ports.get(u)) {
                for iface in port.interfaces.iter().filter_map(|u| view.interfaces.get(u)) {
                    let Some(ofport) = iface.usable_ofport() else { continue };
                    (&iface.name, ofport, iface.iface_id()).hash(&mut h);
                }
            }
        }
        total = total.wrapping_add(h.finish());
    }
    total
}

impl Worker {
    async fn run(mut self, mut events: broadcast::Receiver<DatapathEvent>) {
        for dp in self.of.datapaths() {
            self.add(dp);
        }
        self.ovsdb_gen = self.ovsdb.generation();
        self.digest = self.ovsdb.with_view(view_digest);
        let mut retry = tokio::time::interval(Duration::from_secs(1));
        let routing = self.config.enabled(Module::L3Router);
        let cycle = self.config.l3router.arp_cycle_time.max(Duration::from_millis(100));
        let mut arp_tick = tokio::time::interval(if routing { cycle } else { Duration::from_secs(3600) });
        arp_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.reconcile_dirty().await;
            if routing && self.switches.values().any(|s| s.arp_due) {
                self.arp_cycle(true).await;
                self.reconcile_dirty().await;
            }
            // The digest is computed only when the view moved (it walks every interface).
            let ovsdb = self.ovsdb.clone();
            let seen = self.ovsdb_gen;
            let ovsdb_change = async move { ovsdb.changed_after(seen).await };
            tokio::select! {
                ev = events.recv() => match ev {
                    Ok(ev) => self.on_event(ev).await,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("controller missed {n} datapath events; resyncing every switch");
                        for dp in self.of.datapaths() {
                            self.add(dp);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                g = ovsdb_change => match g {
                    Ok(g) => {
                        self.ovsdb_gen = g;
                        let d = self.ovsdb.with_view(view_digest);
                        if self.ovsdb.is_synced() && d != self.digest {
                            self.digest = d;
                            self.mark_all_dirty();
                        }
                    }
                    Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                },
                r = self.model.changed() => {
                    if r.is_err() {
                        return;
                    }
                    self.mark_all_dirty();
                }
                _ = retry.tick() => {}
                _ = arp_tick.tick(), if routing => self.arp_cycle(false).await,
            }
        }
    }

    fn add(&mut self, dp: Datapath) {
        let id = dp.id;
        let sw = Switch {
            dp,
            ids: IdAssigner::default(),
            input: Arc::default(),
            bound: None,
            installed: None,
            dirty: true,
            status: SwitchStatus::default(),
            arp: ArpTable::default(),
            arp_due: false,
        };
        self.switches.insert(id, sw);
        self.publish();
    }

    fn mark_all_dirty(&mut self) {
        for sw in self.switches.values_mut() {
            sw.dirty = true;
            sw.status.synced = false;
        }
        self.publish();
    }

    fn publish(&self) {
        let status: Status = self.switches.iter().map(|(id, s)| (*id, s.status.clone())).collect();
        self.status.send_if_modified(|old| {
            let changed = *old != status;
            *old = status;
            changed
        });
    }

    async fn on_event(&mut self, ev: DatapathEvent) {
        match ev {
            DatapathEvent::Up(dp) => {
                tracing::info!("datapath {:#018x} up", dp.id);
                self.add(dp);
            }
            DatapathEvent::Down { datapath_id, reason } => {
                tracing::info!("datapath {datapath_id:#018x} down: {reason:?}");
                if self.switches.get(&datapath_id).is_some_and(|s| !s.dp.is_connected()) {
                    self.switches.remove(&datapath_id);
                    self.computed.write(|s| {
                        s.switches.remove(&datapath_id);
                        s.installed.remove(&datapath_id);
                    });
                    self.publish();
                }
            }
            DatapathEvent::PacketIn { datapath_id, packet_in } => {
                if self.arp_reply(datapath_id, &packet_in) {
                    return;
                }
                let Some(sw) = self.switches.get_mut(&datapath_id) else { return };
                let Some(in_port) = packet_in.in_port() else { return };
                match compute::packet_in(&self.config, &sw.input, in_port.0, &packet_in.data) {
                    Ok(Some(reply)) => {
                        let out = PacketOut::to_port(PortNo(reply.port), reply.frame);
                        if let Err(e) = sw.dp.send(Message::PacketOut(out)).await {
                            tracing::warn!("datapath {datapath_id:#018x}: packet-out failed: {e}");
                        } else {
                            sw.status.answered += 1;
                            self.publish();
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::debug!("datapath {datapath_id:#018x} port {in_port}: no answer: {e}"),
                }
            }
            DatapathEvent::Error { datapath_id, error } => {
                tracing::warn!("datapath {datapath_id:#018x} sent an error: {error:?}");
                if let Some(sw) = self.switches.get_mut(&datapath_id) {
                    sw.status.errors += 1;
                    sw.installed = None;
                    sw.dirty = true;
                    self.publish();
                }
            }
            _ => {}
        }
    }

    /// An ARP reply from a next hop the router resolves: records it (a new MAC recomputes the
    /// switch) and returns true; false for every other packet.
    fn arp_reply(&mut self, datapath_id: u64, packet_in: &PacketIn) -> bool {
        if !self.config.enabled(Module::L3Router) {
            return false;
        }
        let Some(sw) = self.switches.get_mut(&datapath_id) else { return false };
        let netid = packet_in
            .matches
            .fields
            .iter()
            .find(|o| o.field() == OxmField::reg(REG_IN_NET))
            .and_then(|o| o.value_u64())
            .and_then(|v| u16::try_from(v).ok());
        let Some((target, mac)) = nexthop::parse_reply(&sw.input, netid, &packet_in.data) else {
            return false;
        };
        if sw.arp.answer(&target, mac, Instant::now()) {
            tracing::info!(
                "datapath {datapath_id:#018x}: next hop {} on {} is at {}",
                target.ip,
                target.network,
                crate::sdn::input::format_mac(&mac)
            );
            sw.dirty = true;
            sw.status.synced = false;
            self.publish();
        }
        true
    }

    /// One ARP cycle on every switch (`only_due`: only switches with a new target): expire and
    /// ask, as [`ArpTable::cycle`] decides.
    async fn arp_cycle(&mut self, only_due: bool) {
        let now = Instant::now();
        let mac = self.config.l3router.router_mac;
        let mut changed = false;
        for (id, sw) in self.switches.iter_mut() {
            if only_due && !sw.arp_due {
                continue;
            }
            sw.arp_due = false;
            let targets = nexthop::targets(&sw.input);
            let (ask, expired) = sw.arp.cycle(now, &targets, &self.config.l3router);
            if expired {
                tracing::info!("datapath {id:#018x}: a next hop stopped answering ARP; its routes go");
                sw.dirty = true;
                sw.status.synced = false;
                changed = true;
            }
            for t in ask {
                let Some(out) = nexthop::request_packet_out(&self.pipeline, &t, mac) else { continue };
                match sw.dp.send(Message::PacketOut(out)).await {
                    Ok(()) => sw.status.arp_requests += 1,
                    Err(e) => tracing::warn!("datapath {id:#018x}: ARP request for {} failed: {e}", t.ip),
                }
            }
            changed |= sw.status.arp_requests > 0;
        }
        if changed {
            self.publish();
        }
    }

    async fn reconcile_dirty(&mut self) {
        if !self.ovsdb.is_synced() {
            return;
        }
        let dirty: Vec<u64> = self.switches.iter().filter(|(_, s)| s.dirty).map(|(id, _)| *id).collect();
        for id in dirty {
            if let Err(e) = self.reconcile(id).await {
                tracing::warn!("datapath {id:#018x}: flow sync failed, retrying: {e}");
            }
        }
        self.publish();
    }

    async fn reconcile(&mut self, id: u64) -> Result<(), SyncError> {
        let model = self.model.borrow().clone();
        let Some(sw) = self.switches.get_mut(&id) else { return Ok(()) };
        // The bridge's interfaces change far less often than the model: read them again only
        // when the digest the run loop last saw moved (any later OVSDB change moves it again
        // and marks the switch dirty, so a stale read never outlives one recompute).
        let digest = self.digest;
        let bound = match sw.bound.clone() {
            Some((d, b)) if d == digest => (d, b),
            _ => (digest, Arc::new(self.ovsdb.with_view(|v| bridge_view(v, id)).unwrap_or_default())),
        };
        let interfaces = Arc::clone(&bound.1);
        sw.bound = Some(bound);
        let (identity, ifaces) = &*interfaces;
        let mut input = bind(&model, identity, ifaces, &mut sw.ids);
        if self.config.enabled(Module::L3Router) {
            let targets = nexthop::targets(&input);
            sw.arp_due |= targets.iter().any(|t| !sw.arp.knows(t));
            // Only targets of this model: a next hop that became a logical port is the model's.
            input.neighbors = sw.arp.neighbors();
            input.neighbors.retain(|k, _| targets.iter().any(|t| t.key() == *k));
            sw.status.neighbors = input
                .neighbors
                .iter()
                .map(|((n, ip), m)| format!("{n}/{ip}={}", crate::sdn::input::format_mac(m)))
                .collect();
        }
        sw.input = Arc::new(input);
        sw.status.bridge = (!identity.bridge.is_empty()).then(|| identity.bridge.clone());
        sw.status.ports = sw.input.ports.iter().map(|p| p.id.clone()).collect();
        let entries = compute::entries(&self.pipeline, &self.config, &sw.input);
        let (desired, conflicts) = FlowTable::build_lenient(&self.pipeline, &entries)?;
        let desired = Arc::new(desired);
        let old_view = self.computed.publish_source(ViewSource {
            datapath_id: id,
            pipeline: self.pipeline.clone(),
            config: Arc::clone(&self.config),
            desired: Arc::clone(&desired),
            interfaces: Arc::clone(&interfaces),
            input: Arc::clone(&sw.input),
        });
        for c in &conflicts {
            tracing::warn!("datapath {id:#018x}: {c}");
        }
        sw.status.conflicts = conflicts.len();
        let installed = match sw.installed.take() {
            Some(t) => t,
            None => Arc::new(read_installed(&sw.dp).await?),
        };
        let plan = flowsync::plan(&installed, &desired);
        let n = plan.len();
        if n > 0 {
            let mods: Vec<Message> = plan.into_mods().into_iter().map(Message::FlowMod).collect();
            if let Err(e) = sw.dp.batch(mods).await {
                sw.status.errors += e
                    .failed()
                    .filter(|(_, e)| matches!(e, crate::runtime::ofswitch::OfError::Switch(_)))
                    .count() as u64;
                return Err(SyncError::Batch(e.to_string()));
            }
            tracing::debug!("datapath {id:#018x}: {n} flow mods");
        }
        sw.status.flow_mods += n as u64;
        // Usually the switch has only our flows: then what it has now is exactly `desired`.
        let foreign_left =
            installed.flows.iter().any(|(k, b)| !b.cookie.is_ours() && !desired.flows.contains_key(k));
        sw.installed = Some(if foreign_left {
            Arc::new(flowsync::applied(&installed, &desired))
        } else {
            Arc::clone(&desired)
        });
        sw.status.flows = desired.len();
        sw.status.synced = true;
        self.computed.set_installed(id, true);
        // The last recompute's tables and input (thousands of small allocations at scale) are
        // freed on a blocking thread, not on the path to the next change's flows.
        drop_elsewhere((old_view, installed));
        sw.dirty = false;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error("reading installed flows: {0}")]
    Read(#[from] crate::runtime::ofswitch::OfError),
    #[error("flow batch: {0}")]
    Batch(String),
}

/// Drops `garbage` on tokio's blocking pool (at once when there is no runtime).
fn drop_elsewhere<T: Send + 'static>(garbage: T) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn_blocking(move || drop(garbage));
        }
        Err(_) => drop(garbage),
    }
}

/// Every flow the switch has, keyed like our desired table.
async fn read_installed(dp: &Datapath) -> Result<FlowTable, crate::runtime::ofswitch::OfError> {
    let flows = dp.flow_stats(FlowStatsRequest::default()).await?;
    let mut t = FlowTable::default();
    for f in flows {
        t.insert_reported(f.table_id, f.priority, f.cookie, &f.matches, f.instructions);
    }
    Ok(t)
}
