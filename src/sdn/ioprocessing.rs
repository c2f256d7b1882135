//! ioprocessing: the `ingress` and `egress` stages and the register convention.
//!
//! Ingress classifies a packet by its input port (and, for physical ports, by the network-type
//! driver's match), strips the encapsulation and sets:
//!
//! | register | meaning |
//! |---|---|
//! | REG4 | input logical network (per-switch id) |
//! | REG5 | output logical network (= REG4 until a router changes it) |
//! | REG6 | output port; [`FLOOD`] until a later stage knows the destination |
//! | REG7 | flags: [`FLAG_ALLOW_IN_PORT`], [`FLAG_FROM_LOGICAL`] |
//!
//! Egress outputs by REG6 (a logical port, or back through the input port when allowed), or
//! floods REG5's network: every local port of it (the switch never outputs to the input port)
//! and every physical port through the driver's egress actions. Packets of unbound ports match
//! nothing and are dropped.
//!
//! An OpenFlow message holds at most 65535 bytes, an output action 16: a network with more than
//! [`FLOOD_CHUNK`] outputs on one switch floods through a chain of flows in `egress`, each with
//! up to that many actions, told apart by a step number in REG7's low byte
//! ([`FLOOD_STEP_MASK`]): step `i` outputs its share, loads `i + 1` and resubmits to `egress`.

use crate::openflow::{Action, FieldSlice, NX_IN_PORT, NxAction, Oxm, OxmField, PortNo};

use super::drivers::driver;
use super::flow::{FlowEntry, Owner, set_reg};
use super::input::SwitchInput;
use super::stages::Module;

/// REG4: the input logical network.
pub const REG_IN_NET: u8 = 4;
/// REG5: the output logical network.
pub const REG_OUT_NET: u8 = 5;
/// REG6: the output port.
pub const REG_OUT_PORT: u8 = 6;
/// REG7: flags.
pub const REG_FLAGS: u8 = 7;
/// REG7 bit: output to the input port is allowed (answers sent back where they came from).
pub const FLAG_ALLOW_IN_PORT: u32 = 0x8000;
/// REG7 bit: the packet came in through a logical port.
pub const FLAG_FROM_LOGICAL: u32 = 0x4000;
/// REG7 bits of the flood chain's step (0 on every packet until a chained flood flow loads it).
pub const FLOOD_STEP_MASK: u32 = 0xff;
/// Most actions in one flood flow (2048 outputs: 32 kB of the 64 kB an OpenFlow message may have).
pub const FLOOD_CHUNK: usize = 2048;
/// REG6 value meaning "flood the output network".
pub const FLOOD: u32 = PortNo::ANY.0;

/// Priority of per-port classification and output flows.
pub const PRIO_PORT: u16 = 100;
/// Priority of "back through the input port" output flows.
pub const PRIO_IN_PORT: u16 = 200;
/// Priority of per-network flood flows.
pub const PRIO_FLOOD: u16 = 50;

const M: Module = Module::IoProcessing;

fn classify(netid: u16, flags: u32) -> [Action; 4] {
    let n = u32::from(netid);
    [set_reg(REG_IN_NET, n), set_reg(REG_OUT_NET, n), set_reg(REG_OUT_PORT, FLOOD), set_reg(REG_FLAGS, flags)]
}

/// The ingress flows of every bound port.
pub fn ingress_flows(input: &SwitchInput) -> Vec<FlowEntry> {
    let mut out = Vec::new();
    for p in &input.ports {
        out.push(
            FlowEntry::new(M, Owner::Port(p.id.clone()), "ingress", PRIO_PORT)
                .with(Oxm::in_port(PortNo(p.ofport)))
                .actions(classify(p.netid, FLAG_FROM_LOGICAL))
                .goto_next(),
        );
    }
    for net in &input.networks {
        for pp in input.physical_ports_of(net) {
            let Some(part) = driver(net.kind).ingress(net, pp) else { continue };
            let mut f = FlowEntry::new(M, Owner::PhysicalPort(pp.name.clone()), "ingress", PRIO_PORT)
                .with(Oxm::in_port(PortNo(pp.ofport)));
            for m in part.matches {
                f = f.with(m);
            }
            out.push(f.actions(part.actions).actions(classify(net.netid, 0)).goto_next());
        }
    }
    out
}

/// The egress flows: per-port output and per-network flood. With `check_network` (l2switch
/// learning mode) a port's output flow also matches its network in REG5, so a learned entry
/// that outlived its port can never send into another network through a reused port number.
pub fn egress_flows(input: &SwitchInput, check_network: bool) -> Vec<FlowEntry> {
    let mut out = Vec::new();
    for p in &input.ports {
        let owner = Owner::Port(p.id.clone());
        let net = check_network.then(|| Oxm::reg(REG_OUT_NET, u32::from(p.netid)));
        out.push(
            FlowEntry::new(M, owner.clone(), "egress", PRIO_IN_PORT)
                .with(Oxm::in_port(PortNo(p.ofport)))
                .with(Oxm::reg(REG_OUT_PORT, p.ofport))
                .with(Oxm::reg_masked(REG_FLAGS, FLAG_ALLOW_IN_PORT, FLAG_ALLOW_IN_PORT))
                .actions([Action::output(PortNo::IN_PORT)]),
        );
        let mut f = FlowEntry::new(M, owner, "egress", PRIO_PORT).with(Oxm::reg(REG_OUT_PORT, p.ofport));
        if let Some(net) = net {
            f = f.with(net);
        }
        out.push(f.actions([Action::output(PortNo(p.ofport))]));
    }
    for net in &input.networks {
        // One unit per destination: a port's output, or a physical port's driver actions (never
        // split across two flows of a chain).
        let mut units: Vec<Vec<Action>> =
            input.ports_of(net.netid).map(|p| vec![Action::output(PortNo(p.ofport))]).collect();
        for pp in input.physical_ports_of(net) {
            units.push(driver(net.kind).egress(net, pp));
        }
        if units.is_empty() {
            continue;
        }
        let chunks = flood_chunks(units);
        let chained = chunks.len() > 1;
        let last = chunks.len() - 1;
        for (step, mut actions) in chunks.into_iter().enumerate() {
            let mut f = FlowEntry::new(M, Owner::Network(net.id.clone()), "egress", PRIO_FLOOD)
                .with(Oxm::reg(REG_OUT_NET, u32::from(net.netid)))
                .with(Oxm::reg(REG_OUT_PORT, FLOOD));
            if chained {
                f = f.with(Oxm::reg_masked(REG_FLAGS, step as u32, FLOOD_STEP_MASK));
                if step < last {
                    actions.push(Action::Nx(NxAction::RegLoad {
                        dst: FieldSlice::new(OxmField::reg(REG_FLAGS), 0),
                        n_bits: FLOOD_STEP_MASK.count_ones() as u16,
                        value: step as u64 + 1,
                    }));
                    actions.push(Action::Nx(NxAction::ResubmitTable { in_port: NX_IN_PORT, table: 255 }));
                }
            }
            out.push(f.actions(actions));
        }
    }
    out
}

/// Packs the flood units into flows of at most [`FLOOD_CHUNK`] actions (a unit larger than that
/// gets a flow of its own); at most [`FLOOD_STEP_MASK`] + 1 flows, which is 500 000 ports.
fn flood_chunks(units: Vec<Vec<Action>>) -> Vec<Vec<Action>> {
    let mut chunks: Vec<Vec<Action>> = vec![Vec::new()];
    for u in units {
        let room = chunks.len() <= FLOOD_STEP_MASK as usize;
        let cur = chunks.last_mut().expect("never empty");
        if !cur.is_empty() && cur.len() + u.len() > FLOOD_CHUNK && room {
            chunks.push(u);
        } else {
            cur.extend(u);
        }
    }
    chunks
}
