//! l2switch (prepush mode): the `l2input` filters and the `l2output` MAC table.
//!
//! `l2input` drops frames that must never be forwarded (multicast source MAC, IEEE 802.1D
//! link-local destinations such as STP). `l2output` maps, per output network, each known port's
//! MAC to its OpenFlow port in REG6; anything else (broadcast, multicast, unknown unicast) leaves
//! REG6 at FLOOD and egress floods the network. Learning mode (nx_learn into `l2learning`) is a
//! later slice and plugs in here.

use crate::openflow::Oxm;

use super::flow::{FlowEntry, Owner, set_reg};
use super::input::SwitchInput;
use super::ioprocessing::{PRIO_PORT, REG_OUT_NET, REG_OUT_PORT};
use super::stages::Module;

/// Priority of the `l2input` drop filters.
pub const PRIO_FILTER: u16 = 1000;

const M: Module = Module::L2Switch;

/// The fixed `l2input` filters.
pub fn input_flows() -> Vec<FlowEntry> {
    vec![
        FlowEntry::new(M, Owner::Pipeline, "l2input", PRIO_FILTER).with(Oxm::masked(
            crate::openflow::OxmField::ETH_SRC,
            &[1, 0, 0, 0, 0, 0],
            &[1, 0, 0, 0, 0, 0],
        )),
        FlowEntry::new(M, Owner::Pipeline, "l2input", PRIO_FILTER)
            .with(Oxm::eth_dst_masked([0x01, 0x80, 0xc2, 0, 0, 0], [0xff, 0xff, 0xff, 0xff, 0xff, 0xf0])),
    ]
}

/// `reg5=<network>, eth_dst=<mac>` → `reg6=<ofport>` for every bound logical port.
pub fn output_flows(input: &SwitchInput) -> Vec<FlowEntry> {
    input
        .ports
        .iter()
        .map(|p| {
            FlowEntry::new(M, Owner::Port(p.id.clone()), "l2output", PRIO_PORT)
                .with(Oxm::reg(REG_OUT_NET, u32::from(p.netid)))
                .with(Oxm::eth_dst(p.mac))
                .actions([set_reg(REG_OUT_PORT, p.ofport)])
                .goto_next()
        })
        .collect()
}
