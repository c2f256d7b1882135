//! The settings of the pipeline modules, with the original's key names and defaults
//! (`module.<name>.<key>` in vlcp.conf). Which modules are enabled decides the tables.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::input::Mac;
use super::stages::Module;

/// The router/gateway MAC of the original (`inroutermac`, also the DHCP `servermac`).
pub const DEFAULT_ROUTER_MAC: Mac = [0x1a, 0x23, 0x67, 0x59, 0x63, 0x33];

/// `module.l2switch.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2SwitchConfig {
    /// `learning` (False): False prepushes the MAC → port flows; True learns them with OVS's
    /// `learn` action into `l2learning` (see [`crate::sdn::l2switch`]).
    pub learning: bool,
    /// `nxlearn` (True): learn in the switch (`learn` action). Controller learning by packet-in
    /// (`nxlearn = False`) is not built; the daemon logs it and learns in the switch.
    pub nxlearn: bool,
    /// `learntimeout` (300 s): idle timeout of a learned MAC → port flow.
    pub learn_timeout: u16,
}

impl Default for L2SwitchConfig {
    fn default() -> L2SwitchConfig {
        L2SwitchConfig { learning: false, nxlearn: true, learn_timeout: 300 }
    }
}

/// `module.arpresponder.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpConfig {
    /// `broadcastonly` (True): answer only broadcast requests; unicast ones reach the owner.
    pub broadcast_only: bool,
    /// `disableothers` (False): drop ARP requests for addresses we do not know.
    pub disable_others: bool,
}

/// `module.dhcpserver.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpConfig {
    /// `serveraddress` ('169.254.169.254').
    pub server_address: Ipv4Addr,
    /// `servermac` ('1a:23:67:59:63:33').
    pub server_mac: Mac,
    /// `leasetime` (None = infinite unless the network or subnet sets `lease_time`).
    pub lease_time: Option<u32>,
    /// `t1`, `t2` (None: the client's defaults).
    pub t1: Option<u32>,
    pub t2: Option<u32>,
}

/// `module.icmpresponder.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpConfig {
    /// `prepush` (False): False answers through the controller, True with flows.
    pub prepush: bool,
    /// `inroutermac`: the gateway's MAC.
    pub router_mac: Mac,
}

/// `module.l3router.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L3RouterConfig {
    /// `inroutermac` ('1a:23:67:59:63:33'): the MAC of every virtual router interface. Keep it
    /// equal to `module.icmpresponder.inroutermac`, which answers ARP for gateways.
    pub router_mac: Mac,
    /// `arp_cycle_time` (5 s): the ARP cycle of next hops that are not logical ports; every
    /// cycle, unresolved ones and resolved ones due for a refresh are asked for.
    pub arp_cycle_time: Duration,
    /// `arp_complete_timeout` (30 s): a resolved next hop is asked for again (every cycle) once
    /// its answer is this old.
    pub arp_complete_timeout: Duration,
    /// `arp_incomplete_timeout` (60 s): how long a resolved next hop that stopped answering keeps
    /// its MAC after `arp_complete_timeout`; then its route flows go (packets are dropped) until
    /// it answers again.
    pub arp_incomplete_timeout: Duration,
}

/// `module.vxlancast.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanConfig {
    /// `prepush` (True): push MAC → tunnel destination flows from `LogicalPortVXLANInfo`.
    pub prepush: bool,
    /// `learning` (True in the original): learn remote MACs from received packets. Not built:
    /// with `prepush` on, known ports never need it; it is logged and ignored.
    pub learning: bool,
    /// `refreshinterval` (3600 s): how often a host renews its flood-list entry (which expires
    /// after twice this).
    pub refresh_interval: u64,
    /// `allowedmigrationtime` (120 s): how long a port's previous host stays in its location list.
    pub allowed_migration_time: u64,
}

impl Default for VxlanConfig {
    fn default() -> VxlanConfig {
        VxlanConfig { prepush: true, learning: true, refresh_interval: 3600, allowed_migration_time: 120 }
    }
}

/// The whole pipeline configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdnConfig {
    /// Enabled modules (`server.startup`); ioprocessing is always on.
    pub modules: Vec<Module>,
    pub l2switch: L2SwitchConfig,
    pub arp: ArpConfig,
    pub dhcp: DhcpConfig,
    pub icmp: IcmpConfig,
    pub vxlan: VxlanConfig,
    pub l3router: L3RouterConfig,
}

impl Default for SdnConfig {
    fn default() -> SdnConfig {
        SdnConfig {
            modules: vec![
                Module::IoProcessing,
                Module::L2Switch,
                Module::ArpResponder,
                Module::DhcpServer,
                Module::IcmpResponder,
            ],
            l2switch: L2SwitchConfig::default(),
            arp: ArpConfig { broadcast_only: true, disable_others: false },
            dhcp: DhcpConfig {
                server_address: Ipv4Addr::new(169, 254, 169, 254),
                server_mac: DEFAULT_ROUTER_MAC,
                lease_time: None,
                t1: None,
                t2: None,
            },
            icmp: IcmpConfig { prepush: false, router_mac: DEFAULT_ROUTER_MAC },
            vxlan: VxlanConfig::default(),
            l3router: L3RouterConfig {
                router_mac: DEFAULT_ROUTER_MAC,
                arp_cycle_time: Duration::from_secs(5),
                arp_complete_timeout: Duration::from_secs(30),
                arp_incomplete_timeout: Duration::from_secs(60),
            },
        }
    }
}

impl SdnConfig {
    /// True when `m` is enabled.
    pub fn enabled(&self, m: Module) -> bool {
        m == Module::IoProcessing || self.modules.contains(&m)
    }

    /// Adds the modules the enabled ones depend on, as the original loads dependencies:
    /// l3router needs arpresponder and icmpresponder (their `l3input` table and gateway answers).
    pub fn with_dependencies(mut self) -> SdnConfig {
        if self.enabled(Module::L3Router) {
            for dep in [Module::ArpResponder, Module::IcmpResponder] {
                if !self.enabled(dep) {
                    self.modules.push(dep);
                }
            }
        }
        self
    }
}
