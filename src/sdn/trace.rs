//! `trace`: how one packet crosses the pipeline of one switch, simulated over the flows the
//! controller computed for it (the desired table [`flowsync`](super::flowsync) installs), like
//! `ovn-trace` / `ofproto/trace`, with stage names instead of table numbers.
//!
//! Pure and sans-IO: a [`SwitchView`] (flows, stage names, ports, who owns each flow) and a
//! [`Packet`] in, a [`Trace`] out. The runtime keeps one view per switch
//! (`runtime::controller::ComputedFlows`); the web API answers `/vlcp/trace` with it.
//!
//! # What is simulated (OpenFlow 1.3 with the Nicira extensions the pipeline uses)
//! - lookup: per table the highest-priority flow whose every field matches under its mask;
//!   a field the packet does not have (an ARP field of an IP packet) never matches; equal
//!   priorities are reported as ambiguous; `conj_id` flows match when every clause of their
//!   conjunction matched a `conjunction(...)` flow of the same lookup; no match is the table-miss
//!   (drop, OpenFlow 1.3's default);
//! - instructions in the specification's order whatever their order in the flow: apply-actions,
//!   clear-actions, write-actions, write-metadata, goto-table; the action set runs when the
//!   pipeline ends (set-field/push/pop/dec-ttl first, then group or output);
//! - actions: output (to a port, `IN_PORT`, `CONTROLLER`, `LOCAL`, `NORMAL`/`FLOOD`/`ALL` are
//!   reported, not expanded; output to the input port without `IN_PORT` is skipped as OpenFlow
//!   requires), group (every bucket of `all`, the first of `select`/`indirect`/`ff`), set-field
//!   (OXM and NXM fields, registers, tunnel fields, `reg_load2` with mask), `move`, `load`,
//!   `output:reg`, `resubmit(port,table)` nested up to [`MAX_DEPTH`] (changes made inside
//!   persist, as in OVS), push/pop VLAN, `dec_ttl` (a TTL of 0 or 1 stops the packet), `note`,
//!   `learn` (reported as "would learn", nothing is learned), `conjunction`.
//!
//! The [`Verdict`] reads the outputs with the pipeline's conventions: a packet delivered to a
//! port, flooded (REG6 = FLOOD: the destination is unknown in its network), answered in the
//! datapath and sent back (ARP), handed to the controller (naming the responder: DHCP, ICMP echo),
//! or dropped, with the reason.
//!
//! ```
//! use vlcp::sdn::{compute, config::SdnConfig, input::SwitchInput, trace};
//! let cfg = SdnConfig::default();
//! let pipeline = compute::pipeline(&cfg).unwrap();
//! let entries = compute::entries(&pipeline, &cfg, &SwitchInput::default());
//! let flows = compute::desired(&pipeline, &cfg, &SwitchInput::default()).unwrap();
//! let view = trace::SwitchView::new(1, "br0", pipeline, &entries, flows, &[], &SwitchInput::default());
//! let t = trace::trace(&view, trace::Packet { in_port: 7, ..Default::default() });
//! assert_eq!(t.verdict.kind, trace::VerdictKind::Dropped);
//! assert_eq!(t.steps[0].stage, "ingress");
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;

use crate::model::FieldError;
use crate::openflow::{
    Action, FieldSlice, Instruction, LearnDst, LearnSrc, Match, NX_IN_PORT, NxAction, Oxm,
};
use crate::openflow::{OxmField, PortNo};

use super::flow::{Cookie, FlowBody, FlowEntry, FlowKey, FlowTable};
use super::input::{Mac, OvsInterface, SwitchInput, format_mac, parse_mac};
use super::ioprocessing::{
    FLAG_ALLOW_IN_PORT, FLAG_FROM_LOGICAL, FLOOD, REG_FLAGS, REG_IN_NET, REG_OUT_NET, REG_OUT_PORT,
};
use super::stages::{Module, Pipeline};

/// Deepest `resubmit` nesting followed (OVS stops at 64 too).
pub const MAX_DEPTH: usize = 64;
/// Most table visits in one trace (a guard against loops through resubmit).
pub const MAX_STEPS: usize = 1024;

/// One OpenFlow port of the switch, as the trace names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TracePort {
    pub ofport: u32,
    /// The OVS interface name.
    pub name: String,
    /// The logical port bound to it (`iface-id`), if any.
    pub logical_port: Option<String>,
    /// That logical port's network.
    pub network: Option<String>,
    /// That logical port's MAC.
    #[serde(serialize_with = "ser_opt_mac")]
    pub mac: Option<Mac>,
}

/// A group's type, for following `group:` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    All,
    Select,
    Indirect,
    FastFailover,
}

/// A group of the switch (the pipeline defines none today; the simulator follows them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceGroup {
    pub kind: GroupKind,
    /// The actions of each bucket.
    pub buckets: Vec<Vec<Action>>,
}

/// Everything the simulator reads about one switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchView {
    pub datapath_id: u64,
    pub bridge: String,
    pub pipeline: Pipeline,
    /// The desired flows, in table ids: shared with the controller, not copied per recompute.
    pub flows: Arc<FlowTable>,
    /// The model object each cookie stands for (`port:p1`, `subnet:s1`, `pipeline`).
    pub owners: BTreeMap<Cookie, String>,
    /// The ports, by ofport.
    pub ports: Vec<TracePort>,
    /// Logical network id by per-switch network id (REG4/REG5 values).
    pub networks: BTreeMap<u16, String>,
    pub groups: BTreeMap<u32, TraceGroup>,
}

impl SwitchView {
    /// The view of a switch from what the controller computed: the entries (for owners), the
    /// table built from them, the bridge's interfaces and the bound input.
    pub fn new(
        datapath_id: u64,
        bridge: &str,
        pipeline: Pipeline,
        entries: &[FlowEntry],
        flows: impl Into<Arc<FlowTable>>,
        interfaces: &[OvsInterface],
        input: &SwitchInput,
    ) -> SwitchView {
        let mut owners = BTreeMap::new();
        for e in entries {
            owners.entry(Cookie::new(e.module, &e.owner)).or_insert_with(|| e.owner.to_string());
        }
        let mut ports: Vec<TracePort> = interfaces
            .iter()
            .map(|i| {
                let lp = input.port_by_ofport(i.ofport);
                TracePort {
                    ofport: i.ofport,
                    name: i.name.clone(),
                    logical_port: lp.map(|p| p.id.clone()),
                    network: lp.map(|p| p.network.clone()),
                    mac: lp.map(|p| p.mac),
                }
            })
            .collect();
        ports.sort_by_key(|p| p.ofport);
        let networks = input.networks.iter().map(|n| (n.netid, n.id.clone())).collect();
        SwitchView {
            datapath_id,
            bridge: bridge.to_owned(),
            pipeline,
            flows: flows.into(),
            owners,
            ports,
            networks,
            groups: BTreeMap::new(),
        }
    }

    /// The port with OpenFlow number `ofport`.
    pub fn port(&self, ofport: u32) -> Option<&TracePort> {
        self.ports.iter().find(|p| p.ofport == ofport)
    }

    /// Resolves `in_port=`: an ofport number, an interface name or a logical port id.
    pub fn find_port(&self, s: &str) -> Option<&TracePort> {
        if let Ok(n) = s.parse::<u32>() {
            return self.port(n);
        }
        self.ports
            .iter()
            .find(|p| p.name == s)
            .or_else(|| self.ports.iter().find(|p| p.logical_port.as_deref() == Some(s)))
    }

    /// `name (port:p1)`-style label of a port number.
    pub fn port_label(&self, ofport: u32) -> String {
        match self.port(ofport) {
            Some(TracePort { name, logical_port: Some(lp), .. }) => format!("{name} (logical port {lp})"),
            Some(p) => p.name.clone(),
            None => match PortNo(ofport).name() {
                Some("LOCAL") => format!("LOCAL ({})", self.bridge),
                Some(n) => n.to_owned(),
                None => format!("port {ofport} (not on this switch)"),
            },
        }
    }
}

fn ser_mac<S: serde::Serializer>(m: &Mac, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_mac(m))
}

fn ser_opt_mac<S: serde::Serializer>(m: &Option<Mac>, s: S) -> Result<S::Ok, S::Error> {
    match m {
        Some(m) => s.serialize_str(&format_mac(m)),
        None => s.serialize_none(),
    }
}

/// A VLAN tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Vlan {
    pub vid: u16,
    pub pcp: u8,
}

/// The packet being traced: headers and pipeline metadata. Fields that do not apply to its
/// `eth_type` (ARP fields of an IPv4 packet) are ignored by matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Packet {
    pub in_port: u32,
    pub metadata: u64,
    pub regs: [u32; 16],
    pub tun_id: u64,
    pub tun_src: Ipv4Addr,
    pub tun_dst: Ipv4Addr,
    pub pkt_mark: u32,
    #[serde(serialize_with = "ser_mac")]
    pub eth_src: Mac,
    #[serde(serialize_with = "ser_mac")]
    pub eth_dst: Mac,
    pub vlan: Option<Vlan>,
    pub eth_type: u16,
    pub ip_src: Ipv4Addr,
    pub ip_dst: Ipv4Addr,
    pub ip_proto: u8,
    pub ttl: u8,
    pub tos: u8,
    pub l4_src: u16,
    pub l4_dst: u16,
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub arp_op: u16,
    pub arp_spa: Ipv4Addr,
    pub arp_tpa: Ipv4Addr,
    #[serde(serialize_with = "ser_mac")]
    pub arp_sha: Mac,
    #[serde(serialize_with = "ser_mac")]
    pub arp_tha: Mac,
    /// The conjunction id the current lookup matched (`conj_id`; set by the simulator).
    #[serde(skip)]
    pub conj_id: Option<u32>,
}

impl Default for Packet {
    fn default() -> Packet {
        let z = Ipv4Addr::UNSPECIFIED;
        Packet {
            in_port: 0,
            metadata: 0,
            regs: [0; 16],
            tun_id: 0,
            tun_src: z,
            tun_dst: z,
            pkt_mark: 0,
            eth_src: [0; 6],
            eth_dst: [0; 6],
            vlan: None,
            eth_type: 0,
            ip_src: z,
            ip_dst: z,
            ip_proto: 0,
            ttl: 64,
            tos: 0,
            l4_src: 0,
            l4_dst: 0,
            icmp_type: 0,
            icmp_code: 0,
            arp_op: 0,
            arp_spa: z,
            arp_tpa: z,
            arp_sha: [0; 6],
            arp_tha: [0; 6],
            conj_id: None,
        }
    }
}

/// `ETH_TYPE_IP`.
const IPV4: u16 = 0x0800;
/// `ETH_TYPE_ARP`.
const ARP: u16 = 0x0806;

/// The fields the simulator knows (OXM and NXM spellings of one field are one field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    InPort,
    InPort16,
    Metadata,
    Reg(u8),
    TunId,
    TunSrc,
    TunDst,
    PktMark,
    EthSrc,
    EthDst,
    EthType,
    VlanVid,
    VlanTci,
    VlanPcp,
    IpSrc,
    IpDst,
    IpProto,
    IpDscp,
    IpEcn,
    IpTos,
    TcpSrc,
    TcpDst,
    UdpSrc,
    UdpDst,
    IcmpType,
    IcmpCode,
    ArpOp,
    ArpSpa,
    ArpTpa,
    ArpSha,
    ArpTha,
    ConjId,
}

impl F {
    fn of(field: OxmField) -> Option<F> {
        use OxmField as O;
        Some(match field {
            O::IN_PORT => F::InPort,
            O::NXM_OF_IN_PORT => F::InPort16,
            O::METADATA => F::Metadata,
            O::TUNNEL_ID | O::NXM_NX_TUN_ID => F::TunId,
            O::NXM_NX_TUN_IPV4_SRC => F::TunSrc,
            O::NXM_NX_TUN_IPV4_DST => F::TunDst,
            O::NXM_NX_PKT_MARK => F::PktMark,
            O::ETH_SRC | O::NXM_OF_ETH_SRC => F::EthSrc,
            O::ETH_DST | O::NXM_OF_ETH_DST => F::EthDst,
            O::ETH_TYPE | O::NXM_OF_ETH_TYPE => F::EthType,
            O::VLAN_VID => F::VlanVid,
            O::NXM_OF_VLAN_TCI => F::VlanTci,
            O::VLAN_PCP => F::VlanPcp,
            O::IPV4_SRC | O::NXM_OF_IP_SRC => F::IpSrc,
            O::IPV4_DST | O::NXM_OF_IP_DST => F::IpDst,
            O::IP_PROTO | O::NXM_OF_IP_PROTO => F::IpProto,
            O::IP_DSCP => F::IpDscp,
            O::IP_ECN => F::IpEcn,
            O::NXM_OF_IP_TOS => F::IpTos,
            O::TCP_SRC | O::NXM_OF_TCP_SRC => F::TcpSrc,
            O::TCP_DST | O::NXM_OF_TCP_DST => F::TcpDst,
            O::UDP_SRC | O::NXM_OF_UDP_SRC => F::UdpSrc,
            O::UDP_DST | O::NXM_OF_UDP_DST => F::UdpDst,
            O::ICMPV4_TYPE | O::NXM_OF_ICMP_TYPE => F::IcmpType,
            O::ICMPV4_CODE | O::NXM_OF_ICMP_CODE => F::IcmpCode,
            O::ARP_OP | O::NXM_OF_ARP_OP => F::ArpOp,
            O::ARP_SPA | O::NXM_OF_ARP_SPA => F::ArpSpa,
            O::ARP_TPA | O::NXM_OF_ARP_TPA => F::ArpTpa,
            O::ARP_SHA | O::NXM_NX_ARP_SHA => F::ArpSha,
            O::ARP_THA | O::NXM_NX_ARP_THA => F::ArpTha,
            O::NXM_NX_CONJ_ID => F::ConjId,
            f if f.class() == crate::openflow::oxm::OFPXMC_NXM_1 && f.field() < 16 && f.len() == 4 => {
                F::Reg(f.field())
            }
            _ => return None,
        })
    }

    /// The ovs-ofctl name.
    fn name(self) -> String {
        match self {
            F::InPort | F::InPort16 => "in_port",
            F::Metadata => "metadata",
            F::Reg(n) => return format!("reg{n}"),
            F::TunId => "tun_id",
            F::TunSrc => "tun_src",
            F::TunDst => "tun_dst",
            F::PktMark => "pkt_mark",
            F::EthSrc => "dl_src",
            F::EthDst => "dl_dst",
            F::EthType => "dl_type",
            F::VlanVid => "vlan_vid",
            F::VlanTci => "vlan_tci",
            F::VlanPcp => "dl_vlan_pcp",
            F::IpSrc => "nw_src",
            F::IpDst => "nw_dst",
            F::IpProto => "nw_proto",
            F::IpDscp => "ip_dscp",
            F::IpEcn => "nw_ecn",
            F::IpTos => "nw_tos",
            F::TcpSrc => "tcp_src",
            F::TcpDst => "tcp_dst",
            F::UdpSrc => "udp_src",
            F::UdpDst => "udp_dst",
            F::IcmpType => "icmp_type",
            F::IcmpCode => "icmp_code",
            F::ArpOp => "arp_op",
            F::ArpSpa => "arp_spa",
            F::ArpTpa => "arp_tpa",
            F::ArpSha => "arp_sha",
            F::ArpTha => "arp_tha",
            F::ConjId => "conj_id",
        }
        .to_owned()
    }

    fn bits(self) -> u32 {
        match self {
            F::InPort | F::Reg(_) | F::TunSrc | F::TunDst | F::PktMark | F::IpSrc | F::IpDst => 32,
            F::ArpSpa | F::ArpTpa | F::ConjId => 32,
            F::InPort16 | F::EthType | F::VlanTci | F::TcpSrc | F::TcpDst | F::UdpSrc | F::UdpDst => 16,
            F::ArpOp => 16,
            F::Metadata | F::TunId => 64,
            F::EthSrc | F::EthDst | F::ArpSha | F::ArpTha => 48,
            F::VlanVid => 13,
            F::VlanPcp => 3,
            F::IpProto | F::IpTos | F::IcmpType | F::IcmpCode => 8,
            F::IpDscp => 6,
            F::IpEcn => 2,
        }
    }

    fn is_mac(self) -> bool {
        matches!(self, F::EthSrc | F::EthDst | F::ArpSha | F::ArpTha)
    }

    fn is_ip(self) -> bool {
        matches!(self, F::TunSrc | F::TunDst | F::IpSrc | F::IpDst | F::ArpSpa | F::ArpTpa)
    }

    /// `value` as ovs-ofctl prints it.
    fn show(self, v: u128) -> String {
        if self.is_mac() {
            return format_mac(&mac_of(v));
        }
        if self.is_ip() {
            return Ipv4Addr::from(v as u32).to_string();
        }
        match self {
            F::EthType => format!("{v:#06x}"),
            _ if v > 0xffff => format!("{v:#x}"),
            _ => v.to_string(),
        }
    }
}

fn mac_of(v: u128) -> Mac {
    let b = (v as u64).to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

fn mac_u(m: &Mac) -> u128 {
    m.iter().fold(0u128, |a, b| (a << 8) | u128::from(*b))
}

fn bytes_u(b: &[u8]) -> u128 {
    b.iter().take(16).fold(0u128, |a, x| (a << 8) | u128::from(*x))
}

fn ones(bits: u32) -> u128 {
    if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 }
}

impl Packet {
    fn is_ip(&self) -> bool {
        self.eth_type == IPV4
    }

    fn l4(&self, proto: u8) -> bool {
        self.is_ip() && self.ip_proto == proto
    }

    /// The value of `f`, or `None` when the packet has no such field.
    fn get(&self, f: F) -> Option<u128> {
        let ip = |a: Ipv4Addr| u128::from(u32::from(a));
        Some(match f {
            F::InPort => u128::from(self.in_port),
            F::InPort16 => u128::from(if self.in_port >= 0xffff_ff00 {
                0xff00 | (self.in_port & 0xff)
            } else {
                self.in_port & 0xffff
            }),
            F::Metadata => u128::from(self.metadata),
            F::Reg(n) => u128::from(self.regs[usize::from(n & 15)]),
            F::TunId => u128::from(self.tun_id),
            F::TunSrc => ip(self.tun_src),
            F::TunDst => ip(self.tun_dst),
            F::PktMark => u128::from(self.pkt_mark),
            F::EthSrc => mac_u(&self.eth_src),
            F::EthDst => mac_u(&self.eth_dst),
            F::EthType => u128::from(self.eth_type),
            F::VlanVid => u128::from(self.vlan.map_or(0, |v| 0x1000 | v.vid)),
            F::VlanTci => u128::from(self.vlan.map_or(0, |v| 0x1000 | (u16::from(v.pcp) << 13) | v.vid)),
            F::VlanPcp => u128::from(self.vlan?.pcp),
            F::IpSrc if self.is_ip() => ip(self.ip_src),
            F::IpDst if self.is_ip() => ip(self.ip_dst),
            F::IpProto if self.is_ip() => u128::from(self.ip_proto),
            F::IpDscp if self.is_ip() => u128::from(self.tos >> 2),
            F::IpEcn if self.is_ip() => u128::from(self.tos & 3),
            F::IpTos if self.is_ip() => u128::from(self.tos & 0xfc),
            F::TcpSrc if self.l4(6) => u128::from(self.l4_src),
            F::TcpDst if self.l4(6) => u128::from(self.l4_dst),
            F::UdpSrc if self.l4(17) => u128::from(self.l4_src),
            F::UdpDst if self.l4(17) => u128::from(self.l4_dst),
            F::IcmpType if self.l4(1) => u128::from(self.icmp_type),
            F::IcmpCode if self.l4(1) => u128::from(self.icmp_code),
            F::ArpOp if self.eth_type == ARP => u128::from(self.arp_op),
            F::ArpSpa if self.eth_type == ARP => ip(self.arp_spa),
            F::ArpTpa if self.eth_type == ARP => ip(self.arp_tpa),
            F::ArpSha if self.eth_type == ARP => mac_u(&self.arp_sha),
            F::ArpTha if self.eth_type == ARP => mac_u(&self.arp_tha),
            F::ConjId => u128::from(self.conj_id?),
            _ => return None,
        })
    }

    /// Writes `f`; `Err` when the packet has no such field (OVS would refuse the flow).
    fn set(&mut self, f: F, v: u128) -> Result<(), String> {
        if self.get(f).is_none() && !matches!(f, F::VlanPcp) {
            return Err(format!("the packet has no {} field", f.name()));
        }
        let ip = |v: u128| Ipv4Addr::from(v as u32);
        match f {
            F::InPort => self.in_port = v as u32,
            F::InPort16 => {
                let p = v as u32 & 0xffff;
                self.in_port = if p >= 0xff00 { 0xffff_ff00 | (p & 0xff) } else { p };
            }
            F::Metadata => self.metadata = v as u64,
            F::Reg(n) => self.regs[usize::from(n & 15)] = v as u32,
            F::TunId => self.tun_id = v as u64,
            F::TunSrc => self.tun_src = ip(v),
            F::TunDst => self.tun_dst = ip(v),
            F::PktMark => self.pkt_mark = v as u32,
            F::EthSrc => self.eth_src = mac_of(v),
            F::EthDst => self.eth_dst = mac_of(v),
            F::EthType => self.eth_type = v as u16,
            F::VlanVid => match &mut self.vlan {
                Some(t) => t.vid = v as u16 & 0xfff,
                None => return Err("set vlan_vid on an untagged packet (push_vlan first)".into()),
            },
            F::VlanTci => {
                let v = v as u16;
                self.vlan = (v & 0x1000 != 0).then_some(Vlan { vid: v & 0xfff, pcp: (v >> 13) as u8 });
            }
            F::VlanPcp => match &mut self.vlan {
                Some(t) => t.pcp = v as u8 & 7,
                None => return Err("set dl_vlan_pcp on an untagged packet".into()),
            },
            F::IpSrc => self.ip_src = ip(v),
            F::IpDst => self.ip_dst = ip(v),
            F::IpProto => self.ip_proto = v as u8,
            F::IpDscp => self.tos = (self.tos & 3) | ((v as u8) << 2),
            F::IpEcn => self.tos = (self.tos & 0xfc) | (v as u8 & 3),
            F::IpTos => self.tos = (self.tos & 3) | (v as u8 & 0xfc),
            F::TcpSrc | F::UdpSrc => self.l4_src = v as u16,
            F::TcpDst | F::UdpDst => self.l4_dst = v as u16,
            F::IcmpType => self.icmp_type = v as u8,
            F::IcmpCode => self.icmp_code = v as u8,
            F::ArpOp => self.arp_op = v as u16,
            F::ArpSpa => self.arp_spa = ip(v),
            F::ArpTpa => self.arp_tpa = ip(v),
            F::ArpSha => self.arp_sha = mac_of(v),
            F::ArpTha => self.arp_tha = mac_of(v),
            F::ConjId => return Err("conj_id cannot be written".into()),
        }
        Ok(())
    }

    /// The headers in ovs-ofctl notation (what a port receives).
    pub fn headers(&self) -> String {
        let mut s = String::new();
        match self.eth_type {
            ARP => s.push_str("arp,"),
            IPV4 => s.push_str(match self.ip_proto {
                1 => "icmp,",
                6 => "tcp,",
                17 => "udp,",
                _ => "ip,",
            }),
            _ => {}
        }
        let _ = write!(s, "dl_src={},dl_dst={}", format_mac(&self.eth_src), format_mac(&self.eth_dst));
        if let Some(v) = self.vlan {
            let _ = write!(s, ",dl_vlan={},dl_vlan_pcp={}", v.vid, v.pcp);
        }
        match self.eth_type {
            ARP => {
                let _ = write!(
                    s,
                    ",arp_op={},arp_spa={},arp_tpa={},arp_sha={},arp_tha={}",
                    self.arp_op,
                    self.arp_spa,
                    self.arp_tpa,
                    format_mac(&self.arp_sha),
                    format_mac(&self.arp_tha)
                );
            }
            IPV4 => {
                let _ = write!(s, ",nw_src={},nw_dst={},nw_ttl={}", self.ip_src, self.ip_dst, self.ttl);
                match self.ip_proto {
                    1 => {
                        let _ = write!(s, ",icmp_type={},icmp_code={}", self.icmp_type, self.icmp_code);
                    }
                    6 | 17 => {
                        let _ = write!(s, ",tp_src={},tp_dst={}", self.l4_src, self.l4_dst);
                    }
                    p => {
                        let _ = write!(s, ",nw_proto={p}");
                    }
                }
            }
            t => {
                let _ = write!(s, ",dl_type={t:#06x}");
            }
        }
        if self.tun_id != 0 || self.tun_dst != Ipv4Addr::UNSPECIFIED {
            let _ = write!(s, ",tun_id={:#x},tun_dst={}", self.tun_id, self.tun_dst);
        }
        s
    }
}

/// One match field of a flow in ovs-ofctl notation (`reg4=1`, `reg7=0x4000/0x4000`).
fn show_oxm(o: &Oxm) -> String {
    let field = F::of(o.field());
    let name = field.map_or_else(|| format!("{:?}", o.field()), F::name);
    let v = bytes_u(o.value());
    let val = field.map_or_else(|| format!("{v:#x}"), |f| f.show(v));
    match o.mask() {
        Some(m) => {
            let m = bytes_u(m);
            let mask = match field {
                Some(f) if f.is_mac() => format_mac(&mac_of(m)),
                Some(f) if f.is_ip() => Ipv4Addr::from(m as u32).to_string(),
                _ => format!("{m:#x}"),
            };
            let val = match field {
                Some(f) if f.is_mac() || f.is_ip() => val,
                _ => format!("{v:#x}"),
            };
            format!("{name}={val}/{mask}")
        }
        None => format!("{name}={val}"),
    }
}

/// A match in ovs-ofctl notation (`*` for an empty match).
pub fn show_match(m: &Match) -> String {
    if m.fields.is_empty() {
        return "*".into();
    }
    m.fields.iter().map(show_oxm).collect::<Vec<_>>().join(",")
}

fn slice_name(s: &FieldSlice, n_bits: u16) -> String {
    let f = s.field.name().map_or_else(|| format!("{:#x}", s.field.0), str::to_owned);
    if s.ofs == 0 && n_bits == s.field.bits() {
        format!("{f}[]")
    } else if n_bits == 1 {
        format!("{f}[{}]", s.ofs)
    } else {
        format!("{f}[{}..{}]", s.ofs, s.ofs + n_bits - 1)
    }
}

fn show_port(p: PortNo) -> String {
    p.name().map_or_else(|| p.0.to_string(), str::to_owned)
}

/// One action in ovs-ofctl notation.
pub fn show_action(a: &Action, pipeline: &Pipeline) -> String {
    let table = |t: u8| pipeline.name(t).map_or_else(|| t.to_string(), |n| format!("{n}({t})"));
    match a {
        Action::Output { port, max_len } if *port == PortNo::CONTROLLER => format!("CONTROLLER:{max_len}"),
        Action::Output { port, .. } => format!("output:{}", show_port(*port)),
        Action::Group(g) => format!("group:{}", g.0),
        Action::SetQueue(q) => format!("set_queue:{q}"),
        Action::PushVlan(t) => format!("push_vlan:{t:#06x}"),
        Action::PopVlan => "pop_vlan".into(),
        Action::SetNwTtl(t) => format!("set_nw_ttl:{t}"),
        Action::DecNwTtl | Action::Nx(NxAction::DecTtl) => "dec_ttl".into(),
        Action::CopyTtlOut => "copy_ttl_out".into(),
        Action::CopyTtlIn => "copy_ttl_in".into(),
        Action::SetField(o) | Action::Nx(NxAction::RegLoad2(o)) => {
            let s = show_oxm(o);
            let (name, val) = s.split_once('=').unwrap_or((&s, ""));
            format!("set_field:{val}->{name}")
        }
        Action::Nx(NxAction::RegMove { n_bits, src, dst }) => {
            format!("move:{}->{}", slice_name(src, *n_bits), slice_name(dst, *n_bits))
        }
        Action::Nx(NxAction::RegLoad { dst, n_bits, value }) => {
            format!("load:{value:#x}->{}", slice_name(dst, *n_bits))
        }
        Action::Nx(NxAction::Resubmit { in_port }) => format!("resubmit:{}", resubmit_port(*in_port)),
        Action::Nx(NxAction::ResubmitTable { in_port, table: t }) => {
            let p = if *in_port == NX_IN_PORT { String::new() } else { resubmit_port(*in_port) };
            let t = if *t == 255 { String::new() } else { table(*t) };
            format!("resubmit({p},{t})")
        }
        Action::Nx(NxAction::OutputReg { src, n_bits, .. }) => format!("output:{}", slice_name(src, *n_bits)),
        Action::Nx(NxAction::Note(b)) => format!("note:{}", note_text(b)),
        Action::Nx(NxAction::Learn(l)) => {
            format!("learn(table={},priority={},…)", table(l.table_id), l.priority)
        }
        Action::Nx(NxAction::Controller { max_len, .. }) => format!("controller(max_len={max_len})"),
        Action::Nx(NxAction::Conjunction { clause, n_clauses, id }) => {
            format!("conjunction({id},{}/{n_clauses})", clause + 1)
        }
        other => format!("{other:?}"),
    }
}

fn resubmit_port(p: u16) -> String {
    if p == NX_IN_PORT { "IN_PORT".into() } else { p.to_string() }
}

fn note_text(b: &[u8]) -> String {
    let trimmed: &[u8] = {
        let end = b.iter().rposition(|x| *x != 0).map_or(0, |i| i + 1);
        &b[..end]
    };
    match std::str::from_utf8(trimmed) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_owned(),
        _ => trimmed.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join("."),
    }
}

/// The instructions of a flow in ovs-ofctl notation.
pub fn show_instructions(ins: &[Instruction], pipeline: &Pipeline) -> String {
    let mut parts = Vec::new();
    for i in ins {
        match i {
            Instruction::ApplyActions(a) => parts.extend(a.iter().map(|a| show_action(a, pipeline))),
            Instruction::WriteActions(a) => parts.push(format!(
                "write_actions({})",
                a.iter().map(|a| show_action(a, pipeline)).collect::<Vec<_>>().join(",")
            )),
            Instruction::ClearActions => parts.push("clear_actions".into()),
            Instruction::WriteMetadata { metadata, mask } => {
                parts.push(format!("write_metadata:{metadata:#x}/{mask:#x}"))
            }
            Instruction::GotoTable(t) => parts.push(format!(
                "goto_table:{}",
                pipeline.name(*t).map_or_else(|| t.to_string(), |n| format!("{n}({t})"))
            )),
            Instruction::Meter(m) => parts.push(format!("meter:{m}")),
            Instruction::Raw(_) => parts.push("(unknown instruction)".into()),
        }
    }
    if parts.is_empty() { "drop".into() } else { parts.join(",") }
}

/// The flow a step matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchedFlow {
    pub priority: u16,
    #[serde(rename = "match")]
    pub matches: String,
    pub actions: String,
    /// The cookie, `0x5c…` for ours.
    pub cookie: String,
    /// The module that made the flow (`l2switch`), from the cookie.
    pub module: Option<&'static str>,
    /// The model object it exists for (`port:p1`), when known.
    pub owner: Option<String>,
}

/// A field a step changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    pub from: String,
    pub to: String,
}

/// Something a step's actions did besides changing fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A copy of the packet left through a port.
    Output { port: u32, name: String, headers: String },
    /// A copy went to the controller.
    Controller { responder: Option<String>, headers: String },
    /// A resubmit into a table (its steps follow, one level deeper).
    Resubmit { stage: String, table: u8 },
    /// A group's buckets were executed.
    Group { group: u32, detail: String },
    /// `learn`: what would be learned (nothing is).
    Learn { detail: String },
    /// `note`.
    Note { text: String },
    /// An action that did nothing, and why.
    Skipped { action: String, reason: String },
    /// Processing stopped here.
    Drop { reason: String },
}

/// One table visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Resubmit nesting (0 = the main pipeline).
    pub depth: usize,
    pub table: u8,
    /// The pipeline stage (`l2output`).
    pub stage: String,
    /// `None`: table-miss.
    pub flow: Option<MatchedFlow>,
    /// Other flows matched at the same priority (the switch's choice between them is arbitrary).
    pub ambiguous: usize,
    pub changes: Vec<Change>,
    pub events: Vec<Event>,
    /// Where processing continues (goto-table).
    pub next: Option<String>,
}

/// What happened to the packet, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// Sent out of one or more ports to a known destination.
    Output,
    /// Flooded in its network (destination unknown here).
    Flooded,
    /// Answered in the datapath and sent back through the input port (ARP responder).
    Reply,
    /// Sent to the controller (a responder answers it).
    Controller,
    /// Nothing left the switch.
    Dropped,
}

/// A port the packet left through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub port: u32,
    pub name: String,
    /// The logical port bound to it.
    pub logical_port: Option<String>,
    /// Back through the input port.
    pub in_port: bool,
    /// A copy of a flood (REG6 = FLOOD).
    pub flood: bool,
    /// The headers as they left.
    pub headers: String,
}

/// The outcome of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub kind: VerdictKind,
    /// One readable sentence.
    pub summary: String,
    pub outputs: Vec<Delivery>,
    /// The responder the controller copies are for (`dhcpserver`, `icmpresponder`, …), or
    /// the module that answered in the datapath (`arpresponder`).
    pub responder: Option<String>,
    /// Why nothing (or nothing else) left, when something stopped the packet.
    pub drop_reason: Option<String>,
}

/// A whole trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trace {
    pub datapath_id: String,
    pub bridge: String,
    pub in_port: String,
    /// The packet as it entered.
    pub packet: String,
    pub steps: Vec<Step>,
    /// Flows a `learn` action would add (none is added).
    pub learned: Vec<String>,
    pub verdict: Verdict,
}

/// The module responsible for answering packets of a controller action, with what it answers.
fn responder_name(m: Option<Module>, pkt: &Packet) -> Option<String> {
    let what = match m? {
        Module::DhcpServer => "dhcpserver (DHCP)",
        Module::IcmpResponder => "icmpresponder (ICMP echo to the gateway)",
        Module::L3Router if pkt.l4(1) => "l3router (ICMP echo to a router interface)",
        Module::ArpResponder => "arpresponder (ARP)",
        other => other.name(),
    };
    Some(what.to_owned())
}

#[derive(Default)]
struct ActionSet {
    pop_vlan: bool,
    push_vlan: Option<u16>,
    dec_ttl: bool,
    set: Vec<Oxm>,
    group: Option<u32>,
    output: Option<Action>,
}

impl ActionSet {
    fn write(&mut self, a: &Action) -> Result<(), String> {
        match a {
            Action::PopVlan => self.pop_vlan = true,
            Action::PushVlan(t) => self.push_vlan = Some(*t),
            Action::DecNwTtl | Action::Nx(NxAction::DecTtl) => self.dec_ttl = true,
            Action::SetField(o) => {
                self.set.retain(|x| x.field() != o.field());
                self.set.push(o.clone());
            }
            Action::Group(g) => self.group = Some(g.0),
            Action::Output { .. } => self.output = Some(a.clone()),
            other => return Err(format!("{other:?} is not allowed in an action set")),
        }
        Ok(())
    }

    /// The actions in the specification's execution order (group wins over output).
    fn ordered(self) -> Vec<Action> {
        let mut v = Vec::new();
        if self.pop_vlan {
            v.push(Action::PopVlan);
        }
        if let Some(t) = self.push_vlan {
            v.push(Action::PushVlan(t));
        }
        if self.dec_ttl {
            v.push(Action::DecNwTtl);
        }
        v.extend(self.set.into_iter().map(Action::SetField));
        match (self.group, self.output) {
            (Some(g), _) => v.push(Action::Group(crate::openflow::GroupId(g))),
            (None, Some(o)) => v.push(o),
            (None, None) => {}
        }
        v
    }
}

struct Sim<'a> {
    view: &'a SwitchView,
    pkt: Packet,
    steps: Vec<Step>,
    outputs: Vec<Delivery>,
    controller: Vec<Option<String>>,
    learned: Vec<String>,
    action_set: ActionSet,
    /// Processing stopped for good (TTL, loop guards).
    halted: Option<String>,
    /// Why the last path through the tables ended without output.
    stop_reason: Option<String>,
    skipped_in_port: usize,
    /// A responder turned the packet around in the datapath.
    answered_by: Option<Module>,
}

/// Traces `packet` through `view`'s flows.
pub fn trace(view: &SwitchView, packet: Packet) -> Trace {
    let start = packet.headers();
    let in_port = view.port_label(packet.in_port);
    let mut sim = Sim {
        view,
        pkt: packet,
        steps: Vec::new(),
        outputs: Vec::new(),
        controller: Vec::new(),
        learned: Vec::new(),
        action_set: ActionSet::default(),
        halted: None,
        stop_reason: None,
        skipped_in_port: 0,
        answered_by: None,
    };
    sim.run_table(0, 0);
    if sim.halted.is_none() {
        let set = std::mem::take(&mut sim.action_set).ordered();
        if !set.is_empty() {
            let idx = sim.steps.len().saturating_sub(1);
            for a in &set {
                sim.exec(a, 0, idx, None);
            }
        }
    }
    let verdict = sim.verdict();
    Trace {
        datapath_id: format!("{:016x}", view.datapath_id),
        bridge: view.bridge.clone(),
        in_port,
        packet: start,
        steps: sim.steps,
        learned: sim.learned,
        verdict,
    }
}

impl Sim<'_> {
    fn stage(&self, table: u8) -> String {
        self.view.pipeline.name(table).map_or_else(|| format!("table {table}"), str::to_owned)
    }

    fn matches(&self, m: &Match) -> bool {
        m.fields.iter().all(|o| {
            let Some(f) = F::of(o.field()) else { return false };
            let want = bytes_u(o.value());
            let mask = o.mask().map_or(ones(f.bits().max(o.value().len() as u32 * 8)), bytes_u);
            match self.pkt.get(f) {
                Some(have) => have & mask == want & mask,
                None => mask == 0,
            }
        })
    }

    /// The winning flow of `table` and how many others tie with it.
    fn lookup(&mut self, table: u8) -> Option<(&FlowKey, &FlowBody, usize)> {
        let view = self.view;
        let in_table: Vec<(&FlowKey, &FlowBody)> =
            view.flows.flows.iter().filter(|(k, _)| k.table == table).collect();
        // Conjunctions: ids whose every clause matched a conjunction flow here.
        let mut clauses: BTreeMap<u32, (u8, BTreeSet<u8>)> = BTreeMap::new();
        let conj_only = |b: &FlowBody| -> Option<Vec<(u32, u8, u8)>> {
            let [Instruction::ApplyActions(actions)] = b.instructions.as_slice() else { return None };
            let v: Vec<(u32, u8, u8)> = actions
                .iter()
                .map(|a| match a {
                    Action::Nx(NxAction::Conjunction { clause, n_clauses, id }) => {
                        Some((*id, *clause, *n_clauses))
                    }
                    _ => None,
                })
                .collect::<Option<_>>()?;
            (!v.is_empty()).then_some(v)
        };
        self.pkt.conj_id = None;
        for (_, b) in &in_table {
            if let Some(cs) = conj_only(b)
                && self.matches(&b.matches)
            {
                for (id, clause, n) in cs {
                    let e = clauses.entry(id).or_insert((n, BTreeSet::new()));
                    e.1.insert(clause);
                }
            }
        }
        let satisfied: BTreeSet<u32> = clauses
            .into_iter()
            .filter(|(_, (n, seen))| (0..*n).all(|c| seen.contains(&c)))
            .map(|(id, _)| id)
            .collect();
        let mut best: Option<(&FlowKey, &FlowBody)> = None;
        let mut ties = 0;
        for (k, b) in in_table {
            if conj_only(b).is_some() {
                continue;
            }
            let conj = b.matches.get(OxmField::NXM_NX_CONJ_ID).and_then(|o| o.value_u64());
            let ok = match conj {
                Some(id) => {
                    let id = id as u32;
                    satisfied.contains(&id) && {
                        self.pkt.conj_id = Some(id);
                        let r = self.matches(&b.matches);
                        self.pkt.conj_id = None;
                        r
                    }
                }
                None => self.matches(&b.matches),
            };
            if !ok {
                continue;
            }
            match best {
                Some((bk, _)) if bk.priority > k.priority => {}
                Some((bk, _)) if bk.priority == k.priority => ties += 1,
                _ => {
                    best = Some((k, b));
                    ties = 0;
                }
            }
        }
        if let Some((_, b)) = best
            && let Some(id) = b.matches.get(OxmField::NXM_NX_CONJ_ID).and_then(|o| o.value_u64())
        {
            self.pkt.conj_id = Some(id as u32);
        }
        best.map(|(k, b)| (k, b, ties))
    }

    fn run_table(&mut self, table: u8, depth: usize) {
        let mut table = table;
        loop {
            if self.halted.is_some() {
                return;
            }
            if self.steps.len() >= MAX_STEPS {
                self.halted = Some(format!("more than {MAX_STEPS} table visits: stopped (a loop?)"));
                return;
            }
            let stage = self.stage(table);
            let found = self.lookup(table).map(|(k, b, ties)| (k.priority, b.clone(), ties));
            let Some((priority, body, ties)) = found else {
                let reason = format!("no flow matched in {stage} (table-miss): dropped");
                self.steps.push(Step {
                    depth,
                    table,
                    stage,
                    flow: None,
                    ambiguous: 0,
                    changes: Vec::new(),
                    events: vec![Event::Drop { reason: reason.clone() }],
                    next: None,
                });
                self.stop_reason = Some(reason);
                return;
            };
            let module = body.cookie.module();
            let pipeline = &self.view.pipeline;
            let flow = MatchedFlow {
                priority,
                matches: show_match(&body.matches),
                actions: show_instructions(&body.instructions, pipeline),
                cookie: format!("{:#x}", body.cookie.0),
                module: module.map(Module::name),
                owner: self.view.owners.get(&body.cookie).cloned(),
            };
            let idx = self.steps.len();
            self.steps.push(Step {
                depth,
                table,
                stage: stage.clone(),
                flow: Some(flow),
                ambiguous: ties,
                changes: Vec::new(),
                events: Vec::new(),
                next: None,
            });
            if matches!(
                (module, stage.as_str()),
                (Some(Module::ArpResponder | Module::DhcpServer | Module::L3Router), "arp")
                    | (Some(Module::IcmpResponder), "l3input")
            ) {
                self.answered_by = module;
            }
            let outputs_before = self.outputs.len() + self.controller.len();
            let skipped_before = self.skipped_in_port;
            let mut goto = None;
            let ordered = order_instructions(&body.instructions);
            for ins in ordered {
                match ins {
                    Instruction::ApplyActions(actions) => {
                        for a in actions {
                            if self.halted.is_some() {
                                return;
                            }
                            self.exec(a, depth, idx, module);
                        }
                    }
                    Instruction::ClearActions => self.action_set = ActionSet::default(),
                    Instruction::WriteActions(actions) => {
                        for a in actions {
                            if let Err(reason) = self.action_set.write(a) {
                                let action = show_action(a, &self.view.pipeline);
                                self.steps[idx].events.push(Event::Skipped { action, reason });
                            }
                        }
                    }
                    Instruction::WriteMetadata { metadata, mask } => {
                        let old = self.pkt.metadata;
                        self.pkt.metadata = (old & !mask) | (metadata & mask);
                        self.record(idx, F::Metadata, u128::from(old));
                    }
                    Instruction::GotoTable(t) => goto = Some(*t),
                    Instruction::Meter(_) | Instruction::Raw(_) => {}
                }
            }
            if self.halted.is_some() {
                return;
            }
            match goto {
                Some(t) if t > table => {
                    self.steps[idx].next = Some(self.stage(t));
                    table = t;
                }
                Some(t) => {
                    let reason = format!("goto_table:{t} does not go forward from table {table}: stopped");
                    self.steps[idx].events.push(Event::Drop { reason: reason.clone() });
                    self.stop_reason = Some(reason);
                    return;
                }
                None => {
                    if depth == 0 && self.outputs.len() + self.controller.len() == outputs_before {
                        let reason = if self.skipped_in_port > skipped_before {
                            format!(
                                "the only output of the flow in {stage} is the input port {}, which OpenFlow \
                                 skips (no other port of the network is on this switch)",
                                self.view.port_label(self.pkt.in_port)
                            )
                        } else if body.instructions.is_empty() {
                            if priority == 0 {
                                format!("the default flow of {stage} drops it")
                            } else {
                                format!("the flow in {stage} (priority {priority}) drops it")
                            }
                        } else {
                            format!("processing ends in {stage} without an output")
                        };
                        self.steps[idx].events.push(Event::Drop { reason: reason.clone() });
                        self.stop_reason = Some(reason);
                    }
                    return;
                }
            }
        }
    }

    fn record(&mut self, idx: usize, f: F, old: u128) {
        let new = self.pkt.get(f).unwrap_or(0);
        if new != old {
            let ann = |v: u128| self.annotate(f, v);
            let change = Change { field: f.name(), from: ann(old), to: ann(new) };
            if let Some(s) = self.steps.get_mut(idx) {
                s.changes.push(change);
            }
        }
    }

    /// A value with what it means in the pipeline (`1 (network n1)`, `FLOOD`).
    fn annotate(&self, f: F, v: u128) -> String {
        let base = f.show(v);
        match f {
            F::Reg(REG_IN_NET) | F::Reg(REG_OUT_NET) => match self.view.networks.get(&(v as u16)) {
                Some(n) if v <= 0xffff => format!("{base} (network {n})"),
                _ => base,
            },
            F::Reg(REG_OUT_PORT) if v as u32 == FLOOD => "FLOOD".into(),
            F::Reg(REG_FLAGS) => {
                let mut names = Vec::new();
                if v as u32 & FLAG_FROM_LOGICAL != 0 {
                    names.push("from a logical port");
                }
                if v as u32 & FLAG_ALLOW_IN_PORT != 0 {
                    names.push("may go back to in_port");
                }
                if names.is_empty() { format!("{v:#x}") } else { format!("{v:#x} ({})", names.join(", ")) }
            }
            F::Reg(REG_OUT_PORT) | F::InPort => match self.view.port(v as u32) {
                Some(p) => format!("{base} ({})", p.name),
                None => base,
            },
            _ => base,
        }
    }

    fn field_get(&self, s: &FieldSlice, n_bits: u16) -> Result<(F, u128), String> {
        let f = F::of(s.field).ok_or_else(|| format!("unknown field {:?}", s.field))?;
        let v = self.pkt.get(f).ok_or_else(|| format!("the packet has no {} field", f.name()))?;
        Ok((f, (v >> s.ofs) & ones(u32::from(n_bits))))
    }

    fn field_put(&mut self, idx: usize, s: &FieldSlice, n_bits: u16, value: u128) -> Result<(), String> {
        let f = F::of(s.field).ok_or_else(|| format!("unknown field {:?}", s.field))?;
        let old = self.pkt.get(f).ok_or_else(|| format!("the packet has no {} field", f.name()))?;
        let mask = ones(u32::from(n_bits)) << s.ofs;
        let new = (old & !mask) | ((value << s.ofs) & mask);
        self.pkt.set(f, new)?;
        self.record(idx, f, old);
        Ok(())
    }

    fn exec(&mut self, a: &Action, depth: usize, idx: usize, module: Option<Module>) {
        let r = self.exec_inner(a, depth, idx, module);
        if let Err(reason) = r {
            let action = show_action(a, &self.view.pipeline);
            if let Some(s) = self.steps.get_mut(idx) {
                s.events.push(Event::Skipped { action, reason });
            }
        }
    }

    fn exec_inner(
        &mut self,
        a: &Action,
        depth: usize,
        idx: usize,
        module: Option<Module>,
    ) -> Result<(), String> {
        match a {
            Action::Output { port, .. } => self.output(*port, idx, module),
            Action::Nx(NxAction::OutputReg { src, n_bits, .. }) => {
                let (_, v) = self.field_get(src, *n_bits)?;
                self.output(PortNo(v as u32), idx, module)
            }
            Action::Nx(NxAction::Controller { .. }) => self.output(PortNo::CONTROLLER, idx, module),
            Action::Group(g) => self.group(g.0, depth, idx, module),
            Action::SetField(o) | Action::Nx(NxAction::RegLoad2(o)) => {
                let f = F::of(o.field()).ok_or_else(|| format!("unknown field {:?}", o.field()))?;
                let old = self.pkt.get(f).unwrap_or(0);
                let v = bytes_u(o.value());
                let new = match o.mask() {
                    Some(m) => {
                        let m = bytes_u(m);
                        (old & !m) | (v & m)
                    }
                    None => v,
                };
                self.pkt.set(f, new)?;
                self.record(idx, f, old);
                Ok(())
            }
            Action::Nx(NxAction::RegMove { n_bits, src, dst }) => {
                let (_, v) = self.field_get(src, *n_bits)?;
                self.field_put(idx, dst, *n_bits, v)
            }
            Action::Nx(NxAction::RegLoad { dst, n_bits, value }) => {
                self.field_put(idx, dst, *n_bits, u128::from(*value))
            }
            Action::PushVlan(_) => {
                let old = self.pkt.get(F::VlanTci).unwrap_or(0);
                let tag = self.pkt.vlan.unwrap_or(Vlan { vid: 0, pcp: 0 });
                self.pkt.vlan = Some(tag);
                self.record(idx, F::VlanTci, old);
                Ok(())
            }
            Action::PopVlan => {
                let old = self.pkt.get(F::VlanTci).unwrap_or(0);
                if self.pkt.vlan.take().is_none() {
                    return Err("the packet has no VLAN tag".into());
                }
                self.record(idx, F::VlanTci, old);
                Ok(())
            }
            Action::DecNwTtl | Action::Nx(NxAction::DecTtl) => {
                if !self.pkt.is_ip() {
                    return Err("not an IP packet".into());
                }
                let old = self.pkt.ttl;
                if old <= 1 {
                    let reason = format!("dec_ttl: TTL {old} expires: dropped");
                    if let Some(s) = self.steps.get_mut(idx) {
                        s.events.push(Event::Drop { reason: reason.clone() });
                    }
                    self.halted = Some(reason);
                    return Ok(());
                }
                self.pkt.ttl = old - 1;
                if let Some(s) = self.steps.get_mut(idx) {
                    s.changes.push(Change {
                        field: "nw_ttl".into(),
                        from: old.to_string(),
                        to: (old - 1).to_string(),
                    });
                }
                Ok(())
            }
            Action::SetNwTtl(t) => {
                if !self.pkt.is_ip() {
                    return Err("not an IP packet".into());
                }
                let old = self.pkt.ttl;
                self.pkt.ttl = *t;
                if let Some(s) = self.steps.get_mut(idx) {
                    s.changes.push(Change {
                        field: "nw_ttl".into(),
                        from: old.to_string(),
                        to: t.to_string(),
                    });
                }
                Ok(())
            }
            Action::Nx(NxAction::Resubmit { in_port }) => {
                let table = self.steps.get(idx).map_or(0, |s| s.table);
                self.resubmit(*in_port, table, depth, idx);
                Ok(())
            }
            Action::Nx(NxAction::ResubmitTable { in_port, table }) => {
                let t = if *table == 255 { self.steps.get(idx).map_or(0, |s| s.table) } else { *table };
                self.resubmit(*in_port, t, depth, idx);
                Ok(())
            }
            Action::Nx(NxAction::Note(b)) => {
                self.steps[idx].events.push(Event::Note { text: note_text(b) });
                Ok(())
            }
            Action::Nx(NxAction::Learn(l)) => {
                let detail = self.learn_detail(l);
                self.learned.push(detail.clone());
                self.steps[idx].events.push(Event::Learn { detail });
                Ok(())
            }
            Action::Nx(NxAction::Conjunction { .. }) => {
                Err("conjunction() in a flow with other actions is not valid".into())
            }
            Action::SetQueue(_) | Action::CopyTtlIn | Action::CopyTtlOut => Ok(()),
            other => Err(format!("{other:?} is not simulated")),
        }
    }

    fn resubmit(&mut self, in_port: u16, table: u8, depth: usize, idx: usize) {
        let stage = self.stage(table);
        self.steps[idx].events.push(Event::Resubmit { stage, table });
        if depth + 1 > MAX_DEPTH {
            self.halted = Some(format!("resubmit nesting deeper than {MAX_DEPTH}: stopped"));
            return;
        }
        let saved = self.pkt.in_port;
        if in_port != NX_IN_PORT {
            let _ = self.pkt.set(F::InPort16, u128::from(in_port));
        }
        self.run_table(table, depth + 1);
        if in_port != NX_IN_PORT {
            self.pkt.in_port = saved;
        }
    }

    fn learn_detail(&self, l: &crate::openflow::Learn) -> String {
        let mut parts = vec![format!("table={}", self.stage(l.table_id)), format!("priority={}", l.priority)];
        for s in &l.specs {
            let src = match &s.src {
                LearnSrc::Field(f) => match self.field_get(f, s.n_bits) {
                    Ok((field, v)) => field.show(v),
                    Err(_) => slice_name(f, s.n_bits),
                },
                LearnSrc::Immediate(b) => format!("{:#x}", bytes_u(b)),
            };
            parts.push(match &s.dst {
                LearnDst::Match(d) => format!("{}={src}", slice_name(d, s.n_bits)),
                LearnDst::Load(d) => format!("load:{src}->{}", slice_name(d, s.n_bits)),
                LearnDst::Output => format!("output:{src}"),
            });
        }
        parts.join(",")
    }

    fn group(&mut self, g: u32, depth: usize, idx: usize, module: Option<Module>) -> Result<(), String> {
        let group =
            self.view.groups.get(&g).cloned().ok_or_else(|| format!("group {g} does not exist: dropped"))?;
        let buckets: Vec<&Vec<Action>> = match group.kind {
            GroupKind::All => group.buckets.iter().collect(),
            _ => group.buckets.iter().take(1).collect(),
        };
        let detail =
            format!("{:?} group, {} of {} bucket(s)", group.kind, buckets.len(), group.buckets.len());
        self.steps[idx].events.push(Event::Group { group: g, detail });
        for b in buckets {
            let saved = self.pkt.clone();
            for a in b {
                self.exec(a, depth, idx, module);
            }
            self.pkt = saved;
        }
        Ok(())
    }

    fn output(&mut self, port: PortNo, idx: usize, module: Option<Module>) -> Result<(), String> {
        let headers = self.pkt.headers();
        let flood = self.pkt.regs[usize::from(REG_OUT_PORT)] == FLOOD;
        let deliver = |sim: &mut Self, p: u32, in_port: bool| {
            let name = sim.view.port_label(p);
            let logical_port = sim.view.port(p).and_then(|x| x.logical_port.clone());
            sim.steps[idx].events.push(Event::Output {
                port: p,
                name: name.clone(),
                headers: headers.clone(),
            });
            sim.outputs.push(Delivery {
                port: p,
                name,
                logical_port,
                in_port,
                flood,
                headers: headers.clone(),
            });
        };
        match port {
            PortNo::IN_PORT => {
                let p = self.pkt.in_port;
                deliver(self, p, true);
            }
            PortNo::CONTROLLER => {
                let responder = responder_name(module, &self.pkt);
                self.steps[idx].events.push(Event::Controller { responder: responder.clone(), headers });
                self.controller.push(responder);
            }
            PortNo::TABLE => return Err("output:TABLE is only valid in a packet-out".into()),
            PortNo::NORMAL | PortNo::FLOOD | PortNo::ALL => {
                deliver(self, port.0, false);
            }
            PortNo::LOCAL => deliver(self, port.0, false),
            PortNo(p) if p == self.pkt.in_port => {
                self.skipped_in_port += 1;
                return Err(format!(
                    "{} is the input port; OpenFlow sends back only with output:IN_PORT",
                    self.view.port_label(p)
                ));
            }
            PortNo(p) if self.view.port(p).is_none() => {
                return Err(format!("port {p} is not on this switch"));
            }
            PortNo(p) => deliver(self, p, false),
        }
        Ok(())
    }

    fn verdict(&self) -> Verdict {
        let responder_ctl = self.controller.iter().flatten().next().cloned();
        let drop_reason = self.halted.clone().or_else(|| {
            (self.outputs.is_empty() && self.controller.is_empty())
                .then(|| self.stop_reason.clone().unwrap_or_else(|| "no output action".into()))
        });
        let names = |v: &[&Delivery]| v.iter().map(|d| d.name.clone()).collect::<Vec<_>>().join(", ");
        let outs: Vec<&Delivery> = self.outputs.iter().collect();
        let (kind, responder, summary) = if !self.controller.is_empty() {
            let who = responder_ctl.clone().unwrap_or_else(|| "the controller".into());
            let mut s = format!("sent to the controller: answered by {who}");
            if !outs.is_empty() {
                let _ = write!(s, "; also output to {}", names(&outs));
            }
            (VerdictKind::Controller, responder_ctl, s)
        } else if outs.is_empty() {
            let why = drop_reason.clone().unwrap_or_default();
            (VerdictKind::Dropped, None, format!("dropped: {why}"))
        } else if let Some(m) = self.answered_by.filter(|_| outs.iter().all(|d| d.in_port)) {
            let who = responder_name(Some(m), &self.pkt).unwrap_or_default();
            let what = if self.pkt.eth_type == ARP {
                format!("ARP reply {} is-at {}", self.pkt.arp_spa, format_mac(&self.pkt.arp_sha))
            } else {
                "reply".to_owned()
            };
            (
                VerdictKind::Reply,
                Some(who.clone()),
                format!("answered by {who}: {what}, sent back out of {}", names(&outs)),
            )
        } else if outs.iter().all(|d| d.flood) {
            let s = format!("flooded (destination unknown in its network) to {}", names(&outs));
            (VerdictKind::Flooded, None, s)
        } else {
            (VerdictKind::Output, None, format!("output to {}", names(&outs)))
        };
        Verdict { kind, summary, outputs: self.outputs.clone(), responder, drop_reason }
    }
}

/// Instructions in the order OpenFlow 1.3 executes them (§5.9).
fn order_instructions(ins: &[Instruction]) -> Vec<&Instruction> {
    let rank = |i: &Instruction| match i {
        Instruction::Meter(_) => 0,
        Instruction::ApplyActions(_) => 1,
        Instruction::ClearActions => 2,
        Instruction::WriteActions(_) => 3,
        Instruction::WriteMetadata { .. } => 4,
        Instruction::GotoTable(_) => 5,
        Instruction::Raw(_) => 6,
    };
    let mut v: Vec<&Instruction> = ins.iter().collect();
    v.sort_by_key(|i| rank(i));
    v
}

/// The packet fields a trace request may give (ovs-ofctl names and common aliases).
pub const PACKET_FIELDS: &[&str] = &[
    "in_port",
    "dl_src",
    "eth_src",
    "dl_dst",
    "eth_dst",
    "dl_vlan",
    "vlan",
    "dl_vlan_pcp",
    "dl_type",
    "eth_type",
    "proto",
    "arp_op",
    "arp_spa",
    "arp_tpa",
    "arp_sha",
    "arp_tha",
    "nw_src",
    "ip_src",
    "nw_dst",
    "ip_dst",
    "nw_proto",
    "ip_proto",
    "nw_ttl",
    "ttl",
    "nw_tos",
    "tp_src",
    "tp_dst",
    "udp_src",
    "udp_dst",
    "tcp_src",
    "tcp_dst",
    "icmp_type",
    "icmp_code",
    "tun_id",
    "tun_src",
    "tun_dst",
    "metadata",
    "pkt_mark",
    "reg0",
    "reg1",
    "reg2",
    "reg3",
    "reg4",
    "reg5",
    "reg6",
    "reg7",
    "reg8",
    "reg9",
    "reg10",
    "reg11",
    "reg12",
    "reg13",
    "reg14",
    "reg15",
];

fn int(field: &str, s: &str, max: u64) -> Result<u64, FieldError> {
    let t = s.trim();
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse::<u64>(),
    }
    .map_err(|_| FieldError::invalid(field, format!("{s:?} is not a number")))?;
    if v > max {
        return Err(FieldError::invalid(field, format!("{v} is larger than {max}")));
    }
    Ok(v)
}

fn mac(field: &str, s: &str) -> Result<Mac, FieldError> {
    parse_mac(s.trim()).ok_or_else(|| FieldError::invalid(field, format!("{s:?} is not a MAC address")))
}

fn ipv4(field: &str, s: &str) -> Result<Ipv4Addr, FieldError> {
    s.trim().parse().map_err(|_| FieldError::invalid(field, format!("{s:?} is not an IPv4 address")))
}

/// Builds the packet of a trace request: `fields` are `name → value` with the names of
/// [`PACKET_FIELDS`]. `in_port` (an ofport, interface name or logical port id) is required and
/// must be a port of `view`; `dl_src` defaults to the MAC of the logical port on `in_port`; the
/// ethertype follows from the fields given (ARP fields or `proto=arp` → ARP, IP fields → IPv4;
/// `dl_type` wins), ARP defaults to a broadcast request (`arp_op=1`, `arp_sha=dl_src`,
/// `arp_spa`/`arp_tpa` from `nw_src`/`nw_dst`), IPv4 to TTL 64 and, with `proto=icmp` or an
/// ICMP field, an echo request.
pub fn parse_packet(view: &SwitchView, fields: &BTreeMap<String, String>) -> Result<Packet, FieldError> {
    if let Some(k) = fields.keys().find(|k| !PACKET_FIELDS.contains(&k.as_str())) {
        return Err(FieldError::invalid(
            k.clone(),
            format!("unknown packet field (one of {})", PACKET_FIELDS.join(", ")),
        ));
    }
    let get = |names: &[&'static str]| -> Option<(&'static str, &str)> {
        names.iter().find_map(|n| fields.get(*n).map(|v| (*n, v.as_str())))
    };
    let (_, in_port) = get(&["in_port"]).ok_or_else(|| {
        FieldError::invalid(
            "in_port",
            "is required (an OpenFlow port number, interface name or logical port id)",
        )
    })?;
    let port = view.find_port(in_port).ok_or_else(|| {
        FieldError::not_found("in_port", &format!("port on bridge {}", view.bridge), in_port)
    })?;
    let mut p = Packet { in_port: port.ofport, ..Packet::default() };
    p.eth_src = match get(&["dl_src", "eth_src"]) {
        Some((k, v)) => mac(k, v)?,
        None => port.mac.ok_or_else(|| {
            FieldError::invalid("dl_src", format!("is required: {} has no logical port MAC", port.name))
        })?,
    };
    let proto = get(&["proto"]).map(|(_, v)| v.to_ascii_lowercase());
    let has = |names: &[&str]| names.iter().any(|n| fields.contains_key(*n));
    let arp_given = has(&["arp_op", "arp_spa", "arp_tpa", "arp_sha", "arp_tha"]);
    let ip_given = has(&["nw_proto", "ip_proto", "nw_ttl", "ttl", "nw_tos", "tp_src", "tp_dst"])
        || has(&["udp_src", "udp_dst", "tcp_src", "tcp_dst", "icmp_type", "icmp_code"]);
    let mut ip_proto = None;
    p.eth_type = match (get(&["dl_type", "eth_type"]), proto.as_deref()) {
        (Some((k, v)), _) => int(k, v, 0xffff)? as u16,
        (None, Some("arp")) => ARP,
        (None, Some("ip")) => IPV4,
        (None, Some("icmp")) => {
            ip_proto = Some(1);
            IPV4
        }
        (None, Some("tcp")) => {
            ip_proto = Some(6);
            IPV4
        }
        (None, Some("udp")) => {
            ip_proto = Some(17);
            IPV4
        }
        (None, Some(other)) => {
            return Err(FieldError::invalid("proto", format!("{other:?}: use arp, ip, icmp, tcp or udp")));
        }
        (None, None) if arp_given => ARP,
        (None, None) if ip_given || has(&["nw_src", "ip_src", "nw_dst", "ip_dst"]) => IPV4,
        (None, None) => {
            return Err(FieldError::invalid(
                "dl_type",
                "the packet needs a type: dl_type=, proto=arp|ip|icmp|tcp|udp, or ARP/IP fields",
            ));
        }
    };
    let is_arp = p.eth_type == ARP;
    p.eth_dst = match get(&["dl_dst", "eth_dst"]) {
        Some((k, v)) => mac(k, v)?,
        None if is_arp => [0xff; 6],
        None => return Err(FieldError::invalid("dl_dst", "is required (only ARP defaults to broadcast)")),
    };
    if let Some((k, v)) = get(&["dl_vlan", "vlan"]) {
        let vid = int(k, v, 4095)? as u16;
        let pcp = match get(&["dl_vlan_pcp"]) {
            Some((k, v)) => int(k, v, 7)? as u8,
            None => 0,
        };
        p.vlan = Some(Vlan { vid, pcp });
    }
    let src = get(&["nw_src", "ip_src"]).map(|(k, v)| ipv4(k, v)).transpose()?;
    let dst = get(&["nw_dst", "ip_dst"]).map(|(k, v)| ipv4(k, v)).transpose()?;
    if is_arp {
        p.arp_op = match get(&["arp_op"]) {
            Some((_, "request")) => 1,
            Some((_, "reply")) => 2,
            Some((k, v)) => int(k, v, 0xffff)? as u16,
            None => 1,
        };
        p.arp_sha = get(&["arp_sha"]).map(|(k, v)| mac(k, v)).transpose()?.unwrap_or(p.eth_src);
        p.arp_tha = get(&["arp_tha"]).map(|(k, v)| mac(k, v)).transpose()?.unwrap_or([0; 6]);
        p.arp_spa =
            get(&["arp_spa"]).map(|(k, v)| ipv4(k, v)).transpose()?.or(src).unwrap_or(Ipv4Addr::UNSPECIFIED);
        p.arp_tpa = get(&["arp_tpa"])
            .map(|(k, v)| ipv4(k, v))
            .transpose()?
            .or(dst)
            .ok_or_else(|| FieldError::invalid("arp_tpa", "is required for an ARP packet (or nw_dst)"))?;
    } else if p.eth_type == IPV4 {
        p.ip_src = src.unwrap_or(Ipv4Addr::UNSPECIFIED);
        p.ip_dst = dst.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let icmp_given = has(&["icmp_type", "icmp_code"]);
        p.ip_proto = match get(&["nw_proto", "ip_proto"]) {
            Some((k, v)) => int(k, v, 255)? as u8,
            None if icmp_given => 1,
            None if has(&["udp_src", "udp_dst"]) => 17,
            None if has(&["tcp_src", "tcp_dst"]) => 6,
            None => ip_proto.unwrap_or(0),
        };
        if let Some((k, v)) = get(&["nw_ttl", "ttl"]) {
            p.ttl = int(k, v, 255)? as u8;
        }
        if let Some((k, v)) = get(&["nw_tos"]) {
            p.tos = int(k, v, 255)? as u8;
        }
        if p.ip_proto == 1 {
            p.icmp_type = get(&["icmp_type"]).map(|(k, v)| int(k, v, 255)).transpose()?.unwrap_or(8) as u8;
            p.icmp_code = get(&["icmp_code"]).map(|(k, v)| int(k, v, 255)).transpose()?.unwrap_or(0) as u8;
        }
        let l4 = |names: &[&'static str]| -> Result<u16, FieldError> {
            Ok(get(names).map(|(k, v)| int(k, v, 0xffff)).transpose()?.unwrap_or(0) as u16)
        };
        p.l4_src = l4(&["tp_src", "udp_src", "tcp_src"])?;
        p.l4_dst = l4(&["tp_dst", "udp_dst", "tcp_dst"])?;
    } else if src.is_some() || dst.is_some() || arp_given || ip_given {
        return Err(FieldError::invalid("dl_type", format!("{:#06x} has no IP or ARP fields", p.eth_type)));
    }
    if let Some((k, v)) = get(&["tun_id"]) {
        p.tun_id = int(k, v, u64::MAX)?;
    }
    if let Some((k, v)) = get(&["tun_src"]) {
        p.tun_src = ipv4(k, v)?;
    }
    if let Some((k, v)) = get(&["tun_dst"]) {
        p.tun_dst = ipv4(k, v)?;
    }
    if let Some((k, v)) = get(&["metadata"]) {
        p.metadata = int(k, v, u64::MAX)?;
    }
    if let Some((k, v)) = get(&["pkt_mark"]) {
        p.pkt_mark = int(k, v, u64::from(u32::MAX))? as u32;
    }
    for n in 0..16u8 {
        let name = format!("reg{n}");
        if let Some(v) = fields.get(&name) {
            p.regs[usize::from(n)] = int(&name, v, u64::from(u32::MAX))? as u32;
        }
    }
    Ok(p)
}

#[cfg(test)]
#[path = "trace_tests.rs"]
mod tests;
