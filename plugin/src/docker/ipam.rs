//! The IPAM driver: address pools and addresses kept in ObjectDB, so every host of a cluster
//! sees the same reservations.
//!
//! Every Docker network using this IPAM gets its own address space: a pool is bound to exactly
//! one VLCP subnet, so two networks may use the same CIDR and even the same addresses. Objects
//! (the original's prefixes):
//!
//! - [`IpamPoolReserve`] (`viperflow.dockerplugin.ipampool`, singleton): pools requested but not
//!   yet bound to a network, `PoolID → [cidr, expiry µs]`, and the cursor of automatic /24 picks
//!   in `cidrrange`.
//! - [`IpamReserve`] (`viperflow.dockerplugin.ipamreserve.<PoolID>`): one pool: its CIDR, sub-pool,
//!   options, addresses handed out and not yet owned by a logical port (`ip → expiry µs`, null
//!   = kept), and once bound the subnet map it serves (`subnetmap`).
//!
//! Docker's `CreateNetwork` does not carry the PoolID, so the network claims the pending pool
//! with its CIDR ([`Ipam::claim_pool`]); two pending pools with one CIDR would be ambiguous, so a
//! second `RequestPool` for a CIDR that is pending waits (up to `pooltimeout`) for the first to
//! be claimed or released. Expired reservations are dropped by the next transaction that reads
//! them. An address handed out by `RequestAddress` is reserved for `iptimeout`; the logical port
//! created by `CreateEndpoint` then owns it in the subnet map and the reservation is dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vlcp::model::rules::{AddressPlan, Cidr};
use vlcp::model::{SubNet, SubNetMap};
use vlcp::objectdb::object::parse_object_key;
use vlcp::objectdb::{DataObject, ObjectDb, TxnError, WeakRef, WriteTxn};

use super::protocol::{
    AddressSpaces, IpamCapabilities, ReleaseAddressRequest, RequestAddressRequest, RequestAddressResponse,
    RequestPoolRequest, RequestPoolResponse,
};
use super::server::PluginError;

/// Our local default address space (local-scope networks).
pub const LOCAL_ADDRESS_SPACE: &str = "VLCPLocalAddressSpace";
/// Our global default address space (global-scope networks).
pub const GLOBAL_ADDRESS_SPACE: &str = "VLCPGlobalAddressSpace";
/// The subnet attribute naming the pool bound to it.
pub const POOL_ID_ATTR: &str = "docker_ipam_poolid";
/// How often a `RequestPool` waiting for a pending CIDR looks again.
const BUSY_POLL: Duration = Duration::from_millis(100);

/// `viperflow.dockerplugin.ipampool`: pools between `RequestPool` and `CreateNetwork`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamPoolReserve {
    /// PoolID → (CIDR, expiry in µs since the epoch).
    #[serde(default)]
    pub reserved_pools: BTreeMap<String, (String, u64)>,
    /// Next /24 slot of `cidrrange` to try for an automatic pool.
    #[serde(default)]
    pub nextalloc: u64,
}

impl DataObject for IpamPoolReserve {
    const PREFIX: &'static str = "viperflow.dockerplugin.ipampool";
    fn key_parts(&self) -> Vec<String> {
        Vec::new()
    }
}

/// `viperflow.dockerplugin.ipamreserve.<PoolID>`: one pool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamReserve {
    /// The PoolID.
    pub id: String,
    /// The pool, `a.b.c.d/n` (network form).
    pub pool: String,
    /// `--ip-range`: addresses are handed out from here only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpool: Option<String>,
    /// `--ipam-opt` options, as given.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Addresses handed out and not yet owned by a port: ip → expiry µs (null = kept).
    #[serde(default)]
    pub reserved_ips: BTreeMap<String, Option<u64>>,
    /// The subnet map of the network the pool is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnetmap: Option<WeakRef<SubNetMap>>,
    /// The Docker NetworkID the pool is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_network: Option<String>,
}

impl DataObject for IpamReserve {
    const PREFIX: &'static str = "viperflow.dockerplugin.ipamreserve";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

impl IpamReserve {
    /// The key of pool `id`.
    pub fn key_for(id: &str) -> String {
        Self::key_of(&[id])
    }

    fn subnet_id(&self) -> Option<String> {
        parse_object_key(SubNetMap::PREFIX, self.subnetmap.as_ref()?.key()).and_then(|mut v| v.pop())
    }
}

/// Limits of the IPAM driver (`module.dockerplugin.pooltimeout`, `iptimeout`, `cidrrange`).
#[derive(Clone, Debug)]
pub struct IpamConfig {
    /// How long a requested pool waits for its network.
    pub pool_timeout: Duration,
    /// How long a handed-out address waits for its endpoint.
    pub ip_timeout: Duration,
    /// Where automatic /24 pools are carved from (prefix length at most 24).
    pub cidr_range: Cidr,
}

/// The IPAM operations over one ObjectDB.
#[derive(Clone)]
pub struct Ipam {
    db: ObjectDb,
    cfg: IpamConfig,
}

fn store(e: TxnError) -> PluginError {
    PluginError::Internal(format!("storage: {e}"))
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

/// A fresh PoolID (a version-1 UUID in hex, as the original).
fn new_pool_id() -> String {
    vlcp::model::rules::new_uuid().replace('-', "")
}

fn parse_pool(field: &str, s: &str) -> Result<Cidr, PluginError> {
    let c = Cidr::parse(s, false).map_err(|e| PluginError::BadRequest(format!("{field}: {e}")))?;
    if c.prefix > 30 {
        return Err(PluginError::BadRequest(format!("{field}: {s} has no usable host address")));
    }
    Ok(Cidr { addr: c.network(), prefix: c.prefix })
}

enum PoolPick {
    Taken(String),
    Busy,
    Exhausted,
}

/// Drops expired pool reservations (and their pool objects); true if any was dropped.
fn drop_expired_pools(t: &mut WriteTxn<'_>, reg: &mut IpamPoolReserve) -> Result<bool, TxnError> {
    let now = t.now_micros();
    let expired: Vec<String> =
        reg.reserved_pools.iter().filter(|(_, (_, exp))| *exp <= now).map(|(id, _)| id.clone()).collect();
    for id in &expired {
        reg.reserved_pools.remove(id);
        t.delete::<IpamReserve>(&IpamReserve::key_for(id))?;
    }
    Ok(!expired.is_empty())
}

fn drop_expired_ips(now: u64, r: &mut IpamReserve) {
    r.reserved_ips.retain(|_, exp| exp.is_none_or(|e| e > now));
}

impl Ipam {
    /// The IPAM over `db`.
    pub fn new(db: ObjectDb, cfg: IpamConfig) -> Self {
        Ipam { db, cfg }
    }

    /// `/IpamDriver.GetCapabilities`: no MAC needed, no replay (state is persistent).
    pub fn capabilities() -> IpamCapabilities {
        IpamCapabilities { requires_mac_address: false, requires_request_replay: false }
    }

    /// `/IpamDriver.GetDefaultAddressSpaces`.
    pub fn address_spaces() -> AddressSpaces {
        AddressSpaces {
            local_default_address_space: LOCAL_ADDRESS_SPACE.into(),
            global_default_address_space: GLOBAL_ADDRESS_SPACE.into(),
        }
    }

    /// `/IpamDriver.RequestPool`.
    pub async fn request_pool(&self, req: &RequestPoolRequest) -> Result<RequestPoolResponse, PluginError> {
        if req.v6 {
            return Err(PluginError::BadRequest("IPv6 is not supported by this IPAM driver".into()));
        }
        if req.address_space != LOCAL_ADDRESS_SPACE && req.address_space != GLOBAL_ADDRESS_SPACE {
            return Err(PluginError::BadRequest(format!(
                "address space {:?} is not this driver's ({LOCAL_ADDRESS_SPACE} or {GLOBAL_ADDRESS_SPACE})",
                req.address_space
            )));
        }
        let pool = match req.pool.as_str() {
            "" if !req.sub_pool.is_empty() => {
                return Err(PluginError::BadRequest(
                    "a sub-pool (--ip-range) needs a pool (--subnet)".into(),
                ));
            }
            "" => None,
            p => Some(parse_pool("Pool", p)?),
        };
        let subpool = match (req.sub_pool.as_str(), &pool) {
            ("", _) | (_, None) => None,
            (s, Some(p)) => {
                let c =
                    Cidr::parse(s, false).map_err(|e| PluginError::BadRequest(format!("SubPool: {e}")))?;
                let c = Cidr { addr: c.network(), prefix: c.prefix };
                if c.prefix < p.prefix || !p.contains(c.network()) {
                    return Err(PluginError::BadRequest(format!("SubPool {c} is not inside the pool {p}")));
                }
                Some(c.to_string())
            }
        };
        let pool_id = new_pool_id();
        let (timeout_us, range) = (micros(self.cfg.pool_timeout), self.cfg.cidr_range);
        let deadline = tokio::time::Instant::now() + self.cfg.pool_timeout;
        loop {
            let picked = self
                .db
                .transact(&[IpamPoolReserve::key_of(&[])], |t| {
                    let key = IpamPoolReserve::key_of(&[]);
                    let mut reg: IpamPoolReserve = t.get(&key)?.map(|s| s.data).unwrap_or_default();
                    let changed = drop_expired_pools(t, &mut reg)?;
                    let pending: BTreeSet<&str> =
                        reg.reserved_pools.values().map(|(c, _)| c.as_str()).collect();
                    let cidr = match pool {
                        Some(p) if pending.contains(p.to_string().as_str()) => None,
                        Some(p) => Some(p.to_string()),
                        None => {
                            let slots = 1u64 << (24 - range.prefix.min(24));
                            let base = u32::from(range.network());
                            let free = (0..slots)
                                .map(|i| (reg.nextalloc + i) % slots)
                                .map(|s| (s, format!("{}/24", Ipv4Addr::from(base + ((s as u32) << 8)))))
                                .find(|(_, c)| !pending.contains(c.as_str()));
                            match free {
                                Some((slot, c)) => {
                                    reg.nextalloc = (slot + 1) % slots;
                                    Some(c)
                                }
                                None => {
                                    if changed {
                                        t.put(&reg)?;
                                    }
                                    return Ok(PoolPick::Exhausted);
                                }
                            }
                        }
                    };
                    let Some(cidr) = cidr else {
                        if changed {
                            t.put(&reg)?;
                        }
                        return Ok(PoolPick::Busy);
                    };
                    reg.reserved_pools.insert(pool_id.clone(), (cidr.clone(), t.now_micros() + timeout_us));
                    t.put(&reg)?;
                    t.put(&IpamReserve {
                        id: pool_id.clone(),
                        pool: cidr.clone(),
                        subpool: subpool.clone(),
                        options: req.options.clone(),
                        ..Default::default()
                    })?;
                    Ok(PoolPick::Taken(cidr))
                })
                .await
                .map_err(store)?
                .value;
            match picked {
                PoolPick::Taken(cidr) => {
                    return Ok(RequestPoolResponse { pool_id, pool: cidr, data: BTreeMap::new() });
                }
                PoolPick::Exhausted => {
                    return Err(PluginError::Conflict(format!(
                        "no /24 of cidrrange {range} is free for an automatic pool; give --subnet"
                    )));
                }
                PoolPick::Busy if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(BUSY_POLL).await;
                }
                PoolPick::Busy => {
                    return Err(PluginError::Conflict(format!(
                        "pool {} is being requested by another network creation; retry",
                        req.pool
                    )));
                }
            }
        }
    }

    /// `/IpamDriver.ReleasePool`: forgets the pool (pending or bound); unknown pools are fine.
    pub async fn release_pool(&self, pool_id: &str) -> Result<(), PluginError> {
        let key = IpamPoolReserve::key_of(&[]);
        self.db
            .transact(&[key.clone(), IpamReserve::key_for(pool_id)], |t| {
                let mut reg: IpamPoolReserve = t.get(&key)?.map(|s| s.data).unwrap_or_default();
                let changed = drop_expired_pools(t, &mut reg)?;
                if reg.reserved_pools.remove(pool_id).is_some() || changed {
                    t.put(&reg)?;
                }
                t.delete::<IpamReserve>(&IpamReserve::key_for(pool_id))?;
                Ok(())
            })
            .await
            .map_err(store)?;
        Ok(())
    }

    /// `/IpamDriver.RequestAddress`: the requested address (checked) or the first free one of
    /// the (sub-)pool, clipped to the subnet's allocation range once the pool is bound.
    pub async fn request_address(
        &self,
        req: &RequestAddressRequest,
    ) -> Result<RequestAddressResponse, PluginError> {
        let want = match req.address.as_str() {
            "" => None,
            a => Some(
                a.parse::<Ipv4Addr>()
                    .map_err(|_| PluginError::BadRequest(format!("Address {a:?} is not an IPv4 address")))?,
            ),
        };
        let timeout_us = micros(self.cfg.ip_timeout);
        let gateway_request = req.is_gateway();
        let key = IpamReserve::key_for(&req.pool_id);
        let out = self
            .db
            .transact(std::slice::from_ref(&key), |t| {
                let Some(mut r) = t.get::<IpamReserve>(&key)?.map(|s| s.data) else {
                    return Ok(Err(PluginError::NotFound(format!("pool {} does not exist", req.pool_id))));
                };
                let now = t.now_micros();
                drop_expired_ips(now, &mut r);
                let pool = match Cidr::parse(&r.pool, false) {
                    Ok(c) => c,
                    Err(e) => return Ok(Err(PluginError::Internal(format!("pool {}: {e}", req.pool_id)))),
                };
                let range = r.subpool.as_deref().and_then(|s| Cidr::parse(s, false).ok()).unwrap_or(pool);
                let mut plan: Option<AddressPlan> = None;
                let mut taken: BTreeSet<u32> =
                    r.reserved_ips.keys().filter_map(|k| k.parse::<Ipv4Addr>().ok()).map(u32::from).collect();
                if let (Some(sid), Some(sm)) = (r.subnet_id(), r.subnetmap.clone())
                    && let Some(subnet) = t.get::<SubNet>(&SubNet::key_of(&[&sid]))?
                {
                    let smap = t.get::<SubNetMap>(sm.key())?.map(|s| s.data);
                    taken.extend(smap.map(|m| m.taken()).unwrap_or_default());
                    plan = subnet.data.plan().ok();
                }
                let ip = match want {
                    Some(ip) => {
                        if !range.is_host(ip) || !pool.is_host(ip) {
                            return Ok(Err(PluginError::BadRequest(format!(
                                "{ip} is not a usable address of {range}"
                            ))));
                        }
                        if let Some(p) = &plan {
                            if gateway_request && p.gateway == Some(ip) {
                                return Ok(Ok(format!("{ip}/{}", pool.prefix)));
                            }
                            if let Some(why) = p.refuse_port_ip(ip) {
                                return Ok(Err(PluginError::BadRequest(why)));
                            }
                        }
                        if taken.contains(&u32::from(ip)) {
                            return Ok(Err(PluginError::Conflict(format!(
                                "{ip} is already in use in pool {}",
                                r.pool
                            ))));
                        }
                        ip
                    }
                    None => {
                        let (mut s, mut e) =
                            (u32::from(range.network()) + 1, u32::from(range.broadcast()) - 1);
                        if let Some(p) = &plan {
                            s = s.max(u32::from(p.start));
                            e = e.min(u32::from(p.end));
                            taken.extend(p.gateway.map(u32::from));
                        }
                        match (s..=e).find(|v| !taken.contains(v)) {
                            Some(v) => Ipv4Addr::from(v),
                            None => {
                                return Ok(Err(PluginError::Conflict(format!(
                                    "no free address left in {range}"
                                ))));
                            }
                        }
                    }
                };
                r.reserved_ips.insert(ip.to_string(), Some(now + timeout_us));
                t.put(&r)?;
                Ok(Ok(format!("{ip}/{}", pool.prefix)))
            })
            .await
            .map_err(store)?
            .value?;
        Ok(RequestAddressResponse { address: out, data: BTreeMap::new() })
    }

    /// `/IpamDriver.ReleaseAddress`: drops the reservation; unknown pools and addresses are fine.
    pub async fn release_address(&self, req: &ReleaseAddressRequest) -> Result<(), PluginError> {
        self.forget_address(&req.pool_id, &req.address).await
    }

    /// Reserves `address` in pool `pool_id` for `iptimeout` (no-op when the pool is unknown).
    ///
    /// DeleteEndpoint holds the address of the port it removes: Docker sends ReleaseAddress only
    /// after DeleteEndpoint, and without the hold a RequestAddress in between could take the
    /// address, whose reservation the late ReleaseAddress would then drop, letting a third
    /// endpoint get the same address.
    pub async fn hold_address(&self, pool_id: &str, address: &str) -> Result<(), PluginError> {
        let key = IpamReserve::key_for(pool_id);
        self.db
            .transact(std::slice::from_ref(&key), |t| self.hold_in(t, pool_id, address))
            .await
            .map_err(store)?;
        Ok(())
    }

    /// [`Ipam::hold_address`] inside a transaction that read [`IpamReserve::key_for`]`(pool_id)`.
    pub(crate) fn hold_in(&self, t: &mut WriteTxn<'_>, pool_id: &str, address: &str) -> Result<(), TxnError> {
        let key = IpamReserve::key_for(pool_id);
        let ip = address.split('/').next().unwrap_or_default().to_string();
        if let Some(mut r) = t.get::<IpamReserve>(&key)?.map(|s| s.data) {
            drop_expired_ips(t.now_micros(), &mut r);
            r.reserved_ips.insert(ip, Some(t.now_micros() + micros(self.cfg.ip_timeout)));
            t.put(&r)?;
        }
        Ok(())
    }

    /// Drops the reservation of `address` in pool `pool_id` (if both exist).
    pub async fn forget_address(&self, pool_id: &str, address: &str) -> Result<(), PluginError> {
        let key = IpamReserve::key_for(pool_id);
        self.db
            .transact(std::slice::from_ref(&key), |t| forget_in(t, pool_id, address))
            .await
            .map_err(store)?;
        Ok(())
    }

    /// Binds the pending pool with CIDR `pool` to Docker network `network_id` and its subnet
    /// `subnet_id`; the gateway's reservation is dropped (the subnet keeps it from now on).
    /// Returns the PoolID.
    pub async fn claim_pool(
        &self,
        pool: &str,
        gateway: Option<Ipv4Addr>,
        network_id: &str,
        subnet_id: &str,
    ) -> Result<String, PluginError> {
        let cidr = parse_pool("Pool", pool)?.to_string();
        let key = IpamPoolReserve::key_of(&[]);
        let smap_key = SubNetMap::key_of(&[subnet_id]);
        let timeout = self.cfg.pool_timeout;
        self.db
            .transact(std::slice::from_ref(&key), |t| {
                let mut reg: IpamPoolReserve = t.get(&key)?.map(|s| s.data).unwrap_or_default();
                let changed = drop_expired_pools(t, &mut reg)?;
                let found = reg.reserved_pools.iter().find(|(_, (c, _))| *c == cidr).map(|(id, _)| id.clone());
                let Some(pool_id) = found else {
                    if changed {
                        t.put(&reg)?;
                    }
                    return Ok(Err(PluginError::BadRequest(format!(
                        "pool {cidr} was not requested from this IPAM driver (or waited more than {}s for its \
                         network); use the same plugin for -d and --ipam-driver",
                        timeout.as_secs()
                    ))));
                };
                reg.reserved_pools.remove(&pool_id);
                t.put(&reg)?;
                let rkey = IpamReserve::key_for(&pool_id);
                let mut r = t.get::<IpamReserve>(&rkey)?.map(|s| s.data).unwrap_or_else(|| IpamReserve {
                    id: pool_id.clone(),
                    pool: cidr.clone(),
                    ..Default::default()
                });
                if let Some(g) = gateway {
                    r.reserved_ips.remove(&g.to_string());
                }
                r.subnetmap = Some(WeakRef::from_key(smap_key.clone()));
                r.docker_network = Some(network_id.to_string());
                t.put(&r)?;
                Ok(Ok(pool_id))
            })
            .await
            .map_err(store)?
            .value
    }

    /// Undoes [`Ipam::claim_pool`] after a failed `CreateNetwork`: the pool is pending again
    /// (Docker releases it when it gives up).
    pub async fn unclaim_pool(&self, pool_id: &str) -> Result<(), PluginError> {
        let key = IpamPoolReserve::key_of(&[]);
        let rkey = IpamReserve::key_for(pool_id);
        let timeout_us = micros(self.cfg.pool_timeout);
        self.db
            .transact(&[key.clone(), rkey.clone()], |t| {
                let Some(mut r) = t.get::<IpamReserve>(&rkey)?.map(|s| s.data) else { return Ok(()) };
                let mut reg: IpamPoolReserve = t.get(&key)?.map(|s| s.data).unwrap_or_default();
                reg.reserved_pools.insert(pool_id.to_string(), (r.pool.clone(), t.now_micros() + timeout_us));
                r.subnetmap = None;
                r.docker_network = None;
                t.put(&reg)?;
                t.put(&r)?;
                Ok(())
            })
            .await
            .map_err(store)?;
        Ok(())
    }

    /// The pool, if it exists.
    pub async fn pool(&self, pool_id: &str) -> Result<Option<IpamReserve>, PluginError> {
        let key = IpamReserve::key_for(pool_id);
        self.db
            .walk(std::slice::from_ref(&key), |w| Ok(w.get::<IpamReserve>(&key)?.map(|s| s.data)))
            .await
            .map_err(store)
    }

    /// The pending pools.
    pub async fn pending(&self) -> Result<IpamPoolReserve, PluginError> {
        let key = IpamPoolReserve::key_of(&[]);
        self.db
            .walk(std::slice::from_ref(&key), |w| {
                Ok(w.get::<IpamPoolReserve>(&key)?.map(|s| s.data).unwrap_or_default())
            })
            .await
            .map_err(store)
    }
}

#[cfg(test)]
#[path = "ipam_tests.rs"]
mod tests;

/// [`Ipam::forget_address`] inside a transaction that read [`IpamReserve::key_for`]`(pool_id)`.
pub(crate) fn forget_in(t: &mut WriteTxn<'_>, pool_id: &str, address: &str) -> Result<(), TxnError> {
    let key = IpamReserve::key_for(pool_id);
    let ip = address.split('/').next().unwrap_or_default();
    if let Some(mut r) = t.get::<IpamReserve>(&key)?.map(|s| s.data) {
        let n = r.reserved_ips.len();
        drop_expired_ips(t.now_micros(), &mut r);
        if r.reserved_ips.remove(ip).is_some() || r.reserved_ips.len() != n {
            t.put(&r)?;
        }
    }
    Ok(())
}
