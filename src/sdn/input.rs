//! What the flow functions read: a plain snapshot of the network model ([`ModelSnapshot`]) and,
//! after binding it to one switch's OVSDB interfaces, the per-switch view ([`SwitchInput`]).
//!
//! These are owned, plain structs on purpose: the flow computation is a pure function of them, so
//! it is unit-tested without ObjectDB or OVS. The one place that converts the ObjectDB network
//! model into a [`ModelSnapshot`] lives next to the model; the one place that turns a snapshot and
//! an OVSDB view into a [`SwitchInput`] is [`crate::sdn::bind`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

/// A MAC address.
pub type Mac = [u8; 6];

/// Parses `aa:bb:cc:dd:ee:ff` (also `-` separated), case-insensitive.
pub fn parse_mac(s: &str) -> Option<Mac> {
    let mut out = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in out.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(m: &Mac) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// How a physical network carries its logical networks (the network-type driver).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetworkType {
    /// 802.1Q tags, one VLAN id per logical network.
    Vlan,
    /// VXLAN tunnels, one VNI per logical network.
    Vxlan,
    /// Untagged on the physical port; one logical network per physical network.
    Native,
    /// No physical ports: endpoints on this switch only.
    Local,
}

impl NetworkType {
    /// Parses the model's `type` string (`vlan`, `vxlan`, `native`, `local`).
    pub fn parse(s: &str) -> Option<NetworkType> {
        match s {
            "vlan" => Some(NetworkType::Vlan),
            "vxlan" => Some(NetworkType::Vxlan),
            "native" => Some(NetworkType::Native),
            "local" => Some(NetworkType::Local),
            _ => None,
        }
    }
}

/// A physical network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalNetwork {
    pub id: String,
    pub kind: NetworkType,
}

/// A physical port declaration: an OVS port named `name` on matching switches. `systemid` and
/// `bridge` may be `%` (any), as in the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalPort {
    pub vhost: String,
    pub systemid: String,
    pub bridge: String,
    pub name: String,
    pub physical_network: String,
}

/// DHCP-related settings shared by networks and subnets (a subnet's value wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DhcpSettings {
    pub mtu: Option<u16>,
    pub dns_nameservers: Vec<Ipv4Addr>,
    pub domain_name: Option<String>,
    pub lease_time: Option<u32>,
}

/// A logical network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalNetwork {
    pub id: String,
    pub physical_network: String,
    /// The VLAN id (vlan type) or VNI (vxlan type); `None` for native and local.
    pub segment: Option<u32>,
    pub dhcp: DhcpSettings,
}

/// A subnet of a logical network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub id: String,
    pub network: String,
    pub cidr: Ipv4Network,
    pub gateway: Option<Ipv4Addr>,
    /// `host_routes`: `(destination, next hop)`, sent as DHCP option 121.
    pub host_routes: Vec<(Ipv4Network, Ipv4Addr)>,
    /// External subnets get no DHCP and no gateway answers.
    pub external: bool,
    pub dhcp: DhcpSettings,
}

/// A logical port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalPort {
    pub id: String,
    pub network: String,
    pub subnet: Option<String>,
    pub mac: Mac,
    pub ip: Option<Ipv4Addr>,
    pub hostname: Option<String>,
}

/// A virtual router's interface (router port) on a subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterInterface {
    /// The router port id.
    pub id: String,
    pub subnet: String,
    /// The explicit address; the subnet gateway when `None`.
    pub ip: Option<Ipv4Addr>,
}

/// A virtual router: interfaces and static routes `(destination, next hop)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    pub id: String,
    pub interfaces: Vec<RouterInterface>,
    pub routes: Vec<(Ipv4Network, Ipv4Addr)>,
}

/// Everything the pipeline reads from the network model, as of one consistent read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelSnapshot {
    pub physical_networks: BTreeMap<String, PhysicalNetwork>,
    pub physical_ports: Vec<PhysicalPort>,
    pub logical_networks: BTreeMap<String, LogicalNetwork>,
    pub subnets: BTreeMap<String, Subnet>,
    pub logical_ports: BTreeMap<String, LogicalPort>,
    /// vxlancast: flood lists and port locations.
    pub vxlan: super::vxlan::VxlanModel,
    pub routers: BTreeMap<String, Router>,
}

/// One OVS interface of the bridge, as the OVSDB view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvsInterface {
    pub name: String,
    pub ofport: u32,
    /// `external_ids:iface-id`.
    pub iface_id: Option<String>,
}

/// Which switch this is (to match physical port declarations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwitchIdentity {
    pub vhost: String,
    pub systemid: String,
    pub bridge: String,
}

/// A logical network present on this switch, with its per-switch id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkView {
    pub id: String,
    /// The per-switch 16-bit network id carried in REG4/REG5 (not the VNI).
    pub netid: u16,
    pub physical_network: String,
    pub kind: NetworkType,
    pub segment: Option<u32>,
    pub dhcp: DhcpSettings,
    pub subnets: Vec<Subnet>,
}

/// A logical port bound to an OpenFlow port of this switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortView {
    pub id: String,
    pub ofport: u32,
    pub netid: u16,
    pub network: String,
    pub subnet: Option<String>,
    pub mac: Mac,
    pub ip: Option<Ipv4Addr>,
    pub hostname: Option<String>,
}

/// A physical port bound on this switch, carrying every logical network of its physical network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalPortView {
    pub name: String,
    pub ofport: u32,
    pub physical_network: String,
    pub kind: NetworkType,
}

/// A host a router delivers to: a logical port (anywhere, not only on this switch) with an
/// address in a router interface's subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterHost {
    pub port: String,
    pub ip: Ipv4Addr,
    pub mac: Mac,
}

/// A router interface whose network is on this switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterInterfaceView {
    /// The router port id.
    pub id: String,
    pub subnet: String,
    pub network: String,
    pub netid: u16,
    pub cidr: Ipv4Network,
    /// The interface address (explicit, or the subnet gateway).
    pub ip: Ipv4Addr,
    /// The subnet is external: its gateway is the router's default next hop.
    pub external: bool,
    /// The subnet's gateway.
    pub gateway: Option<Ipv4Addr>,
    /// Logical ports in this subnet, sorted by address.
    pub hosts: Vec<RouterHost>,
}

/// A virtual router with at least one interface on a network of this switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterView {
    pub id: String,
    pub interfaces: Vec<RouterInterfaceView>,
    pub routes: Vec<(Ipv4Network, Ipv4Addr)>,
}

/// Everything the flow functions need for one switch. Vectors are sorted by id (ports by
/// ofport), so the computed flows are deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwitchInput {
    pub networks: Vec<NetworkView>,
    pub ports: Vec<PortView>,
    pub physical_ports: Vec<PhysicalPortView>,
    /// vxlancast: other hosts and remote ports of the VXLAN networks here.
    pub vxlan: super::vxlan::VxlanView,
    pub routers: Vec<RouterView>,
    /// l3router: next hops that are not logical ports, resolved by ARP at runtime (not from the
    /// model: the controller fills this after binding; see [`crate::sdn::nexthop`]).
    pub neighbors: super::nexthop::Neighbors,
}

impl SwitchInput {
    /// The network with per-switch id `netid`.
    pub fn network(&self, netid: u16) -> Option<&NetworkView> {
        self.networks.iter().find(|n| n.netid == netid)
    }

    /// The logical port bound to `ofport`.
    pub fn port_by_ofport(&self, ofport: u32) -> Option<&PortView> {
        self.ports.iter().find(|p| p.ofport == ofport)
    }

    /// The logical ports of network `netid`.
    pub fn ports_of(&self, netid: u16) -> impl Iterator<Item = &PortView> {
        self.ports.iter().filter(move |p| p.netid == netid)
    }

    /// The physical ports carrying network `net`.
    pub fn physical_ports_of<'a>(
        &'a self,
        net: &'a NetworkView,
    ) -> impl Iterator<Item = &'a PhysicalPortView> {
        self.physical_ports.iter().filter(move |p| p.physical_network == net.physical_network)
    }
}
