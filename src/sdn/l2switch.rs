//! l2switch: the `l2input` filters and the MAC → port table, prepushed (`l2output`) or learned
//! (`l2learning`).
//!
//! `l2input` drops frames that must never be forwarded (multicast source MAC, IEEE 802.1D
//! link-local destinations such as STP).
//!
//! **Prepush** (`module.l2switch.learning = False`, the default): `l2output` maps, per output
//! network, each bound port's MAC to its OpenFlow port in REG6; anything else (broadcast,
//! multicast, unknown unicast) leaves REG6 at FLOOD and egress floods the network.
//!
//! **Learning** (`learning = True`, with OVS's `learn` action as `nxlearn = True` asks): no
//! per-port `l2output` flows. In `l2input`, every frame that came in through a logical port runs
//! `learn(table=l2learning, idle_timeout=learntimeout, reg5 = <its reg4>, eth_dst = <its
//! eth_src>, load in_port → reg6)` and continues; the `l2output` default resubmits into
//! `l2learning` (a learned flow loads the port into REG6, a miss leaves FLOOD) and goes on.
//! Unknown destinations are flooded within the output network only, as in prepush mode; a
//! learned entry never crosses networks because it matches the network id. Frames from physical
//! ports of vlan and native networks are learned too: for them `egress` gets, per network and
//! physical port, `reg5 = <network>, reg6 = <physical port>` → the driver's encapsulation and
//! output. Frames from VXLAN tunnels are not learned (the tunnel destination is per host, which
//! a learned port number cannot carry): destinations behind them are found by vxlancast's
//! prepushed flows or flooded. Learned flows carry [`LEARNED_COOKIE`], which is not our cookie
//! mark, so the flow sync never deletes them; they age out by the idle timeout (and a moved MAC
//! is re-learned by its next frame). A learned entry can outlive its port (until it idles out);
//! in learning mode a port's `egress` output flow also matches the port's network, so such an
//! entry never sends into another network through a reused OpenFlow port number.

use crate::openflow::{
    Action, FieldSlice, Learn, LearnDst, LearnSpec, LearnSrc, NX_IN_PORT, NxAction, Oxm, OxmField, PortNo,
};

use super::config::L2SwitchConfig;
use super::drivers::driver;
use super::flow::{FlowEntry, Owner, set_reg};
use super::input::{NetworkType, SwitchInput};
use super::ioprocessing::{FLAG_FROM_LOGICAL, PRIO_PORT, REG_FLAGS, REG_IN_NET, REG_OUT_NET, REG_OUT_PORT};
use super::stages::{Module, Pipeline};

/// Priority of the `l2input` drop filters.
pub const PRIO_FILTER: u16 = 1000;
/// Priority of the `l2input` learn flow (below the filters).
pub const PRIO_LEARN: u16 = 10;
/// Priority of learned flows in `l2learning`.
pub const PRIO_LEARNED: u16 = PRIO_PORT;
/// Cookie of learned flows: marker byte `0x5d` ("learned by the switch"), not ours (`0x5c`), so
/// [`crate::sdn::flowsync`] leaves them alone; then l2switch's module byte (`0x01`) as in our cookies.
pub const LEARNED_COOKIE: u64 = 0x5d01_0000_0000_0000;

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

/// `reg5=<network>, eth_dst=<mac>` → `reg6=<ofport>` for every bound logical port (prepush).
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

/// The `learn` action of learning mode: into table `table`, a flow matching `reg5 = reg4`,
/// `eth_dst = eth_src` that loads the (16-bit) input port into REG6, clearing its upper half
/// (REG6 holds FLOOD, all ones, until then).
pub fn learn_action(table: u8, cfg: &L2SwitchConfig) -> Action {
    Action::Nx(NxAction::Learn(Learn {
        idle_timeout: cfg.learn_timeout,
        priority: PRIO_LEARNED,
        cookie: LEARNED_COOKIE,
        table_id: table,
        specs: vec![
            LearnSpec::match_field(OxmField::reg(REG_OUT_NET), OxmField::reg(REG_IN_NET)),
            LearnSpec::match_field(OxmField::NXM_OF_ETH_DST, OxmField::NXM_OF_ETH_SRC),
            LearnSpec::load_field(OxmField::NXM_OF_IN_PORT, OxmField::reg(REG_OUT_PORT)),
            LearnSpec {
                n_bits: 16,
                src: LearnSrc::Immediate(vec![0, 0]),
                dst: LearnDst::Load(FieldSlice::new(OxmField::reg(REG_OUT_PORT), 16)),
            },
        ],
        ..Learn::default()
    }))
}

/// True for physical ports whose frames are learned (vlan and native; not VXLAN tunnels, not
/// local networks, which have none).
fn learns_on(kind: NetworkType) -> bool {
    matches!(kind, NetworkType::Vlan | NetworkType::Native)
}

/// Learning mode's `l2input` flows: frames from logical ports, and from vlan/native physical
/// ports, learn their source and continue. Empty when the pipeline has no `l2learning` table.
pub fn learning_input_flows(
    pipeline: &Pipeline,
    cfg: &L2SwitchConfig,
    input: &SwitchInput,
) -> Vec<FlowEntry> {
    let Some(table) = pipeline.id("l2learning") else { return Vec::new() };
    let mut out = vec![
        FlowEntry::new(M, Owner::Pipeline, "l2input", PRIO_LEARN)
            .with(Oxm::reg_masked(REG_FLAGS, FLAG_FROM_LOGICAL, FLAG_FROM_LOGICAL))
            .actions([learn_action(table, cfg)])
            .goto_next(),
    ];
    for pp in input.physical_ports.iter().filter(|pp| learns_on(pp.kind)) {
        out.push(
            FlowEntry::new(M, Owner::PhysicalPort(pp.name.clone()), "l2input", PRIO_LEARN)
                .with(Oxm::in_port(PortNo(pp.ofport)))
                .actions([learn_action(table, cfg)])
                .goto_next(),
        );
    }
    out
}

/// Learning mode's `egress` flows for destinations learned behind a physical port: per network
/// and vlan/native physical port, the driver's encapsulation and output.
pub fn learning_egress_flows(input: &SwitchInput) -> Vec<FlowEntry> {
    let mut out = Vec::new();
    for net in &input.networks {
        for pp in input.physical_ports_of(net).filter(|pp| learns_on(pp.kind)) {
            out.push(
                FlowEntry::new(M, Owner::PhysicalPort(pp.name.clone()), "egress", PRIO_PORT)
                    .with(Oxm::reg(REG_OUT_NET, u32::from(net.netid)))
                    .with(Oxm::reg(REG_OUT_PORT, pp.ofport))
                    .actions(driver(net.kind).egress(net, pp)),
            );
        }
    }
    out
}

/// The actions of learning mode's `l2output` default: look the destination up in `l2learning`
/// (a learned flow sets REG6; a miss leaves FLOOD), then the default goes on.
pub fn learning_lookup(pipeline: &Pipeline) -> Vec<Action> {
    pipeline
        .id("l2learning")
        .map(|t| Action::Nx(NxAction::ResubmitTable { in_port: NX_IN_PORT, table: t }))
        .into_iter()
        .collect()
}
