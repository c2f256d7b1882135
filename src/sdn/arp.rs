//! arpresponder: answers ARP requests for known addresses in the datapath.
//!
//! For each `(network, ip, mac)` entry, a flow in `arp` turns the request into the reply in
//! place (the classic OVS ARP responder): destination MAC := source MAC, source MAC := the
//! answer, op := reply, THA := SHA, TPA := SPA, SHA := the answer, SPA := the address; then REG6
//! := the input port with the "allow input port" flag, and the packet goes to `egress`, which
//! sends it back where it came from. The entries are every bound port's address, every subnet
//! gateway (answered with the router MAC) and, from dhcpserver, the DHCP server address.

use std::net::Ipv4Addr;

use crate::openflow::{Action, FieldSlice, NxAction, Oxm, OxmField};

use super::config::ArpConfig;
use super::flow::{FlowEntry, Owner, set_reg};
use super::input::{Mac, SwitchInput};
use super::ioprocessing::{
    FLAG_ALLOW_IN_PORT, FLAG_FROM_LOGICAL, REG_FLAGS, REG_IN_NET, REG_OUT_NET, REG_OUT_PORT,
};
use super::stages::Module;

/// `ETH_TYPE_ARP`.
pub const ETH_TYPE_ARP: u16 = 0x0806;
/// Priority of an answer flow.
pub const PRIO_ANSWER: u16 = 100;
/// Priority of the "drop unknown requests" flow (`disableothers`).
pub const PRIO_DROP_OTHERS: u16 = 10;

/// Who may get an answer (the original's `local` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Only requests from logical ports.
    LogicalOnly,
    /// Only requests from physical ports.
    PhysicalOnly,
    /// Everyone.
    Both,
}

/// One proxy-ARP entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpEntry {
    pub ip: Ipv4Addr,
    pub mac: Mac,
    pub netid: u16,
    pub answer: Answer,
}

fn mv(n_bits: u16, src: OxmField, dst: OxmField) -> Action {
    Action::Nx(NxAction::RegMove { n_bits, src: FieldSlice::whole(src), dst: FieldSlice::whole(dst) })
}

/// The actions that turn an ARP request (for `ip`) into the reply from `mac`, sent back
/// through the input port via `egress`.
pub fn reply_actions(ip: Ipv4Addr, mac: Mac) -> Vec<Action> {
    vec![
        mv(48, OxmField::NXM_OF_ETH_SRC, OxmField::NXM_OF_ETH_DST),
        Action::SetField(Oxm::eth_src(mac)),
        Action::SetField(Oxm::arp_op(2)),
        mv(48, OxmField::NXM_NX_ARP_SHA, OxmField::NXM_NX_ARP_THA),
        Action::SetField(Oxm::arp_sha(mac)),
        mv(32, OxmField::NXM_OF_ARP_SPA, OxmField::NXM_OF_ARP_TPA),
        Action::SetField(Oxm::arp_spa(ip)),
        mv(32, OxmField::reg(REG_IN_NET), OxmField::reg(REG_OUT_NET)),
        set_reg(REG_OUT_PORT, 0),
        Action::Nx(NxAction::RegMove {
            n_bits: 16,
            src: FieldSlice::whole(OxmField::NXM_OF_IN_PORT),
            dst: FieldSlice::whole(OxmField::reg(REG_OUT_PORT)),
        }),
        Action::Nx(NxAction::RegLoad {
            dst: FieldSlice::new(OxmField::reg(REG_FLAGS), FLAG_ALLOW_IN_PORT.trailing_zeros() as u16),
            n_bits: 1,
            value: 1,
        }),
    ]
}

/// The answer flow of one entry, made by `module` for `owner`.
pub fn answer_flow(module: Module, owner: Owner, e: &ArpEntry, cfg: &ArpConfig) -> FlowEntry {
    let mut f = FlowEntry::new(module, owner, "arp", PRIO_ANSWER)
        .with(Oxm::reg(REG_IN_NET, u32::from(e.netid)))
        .with(Oxm::eth_type(ETH_TYPE_ARP))
        .with(Oxm::arp_op(1))
        .with(Oxm::arp_tpa(e.ip));
    if cfg.broadcast_only {
        f = f.with(Oxm::eth_dst([0xff; 6]));
    }
    match e.answer {
        Answer::LogicalOnly => f = f.with(Oxm::reg_masked(REG_FLAGS, FLAG_FROM_LOGICAL, FLAG_FROM_LOGICAL)),
        Answer::PhysicalOnly => f = f.with(Oxm::reg_masked(REG_FLAGS, 0, FLAG_FROM_LOGICAL)),
        Answer::Both => {}
    }
    f.actions(reply_actions(e.ip, e.mac)).goto("egress")
}

/// Answers for every bound port's address and every (non-external) subnet gateway.
pub fn flows(input: &SwitchInput, cfg: &ArpConfig, router_mac: Mac) -> Vec<FlowEntry> {
    let m = Module::ArpResponder;
    let mut out = Vec::new();
    for p in &input.ports {
        let Some(ip) = p.ip else { continue };
        let e = ArpEntry { ip, mac: p.mac, netid: p.netid, answer: Answer::Both };
        out.push(answer_flow(m, Owner::Port(p.id.clone()), &e, cfg));
    }
    for net in &input.networks {
        for s in net.subnets.iter().filter(|s| !s.external) {
            let Some(gw) = s.gateway else { continue };
            let e = ArpEntry { ip: gw, mac: router_mac, netid: net.netid, answer: Answer::LogicalOnly };
            out.push(answer_flow(m, Owner::Subnet(s.id.clone()), &e, cfg));
        }
        if cfg.disable_others {
            out.push(
                FlowEntry::new(m, Owner::Network(net.id.clone()), "arp", PRIO_DROP_OTHERS)
                    .with(Oxm::reg(REG_IN_NET, u32::from(net.netid)))
                    .with(Oxm::eth_type(ETH_TYPE_ARP))
                    .with(Oxm::arp_op(1)),
            );
        }
    }
    out
}
