//! The desired flows of one switch: a pure function of the configuration and the switch's
//! [`SwitchInput`], and the controller's answers to packet-ins.
//!
//! ```
//! use vlcp::sdn::{compute, config::SdnConfig, input::SwitchInput};
//! let cfg = SdnConfig::default();
//! let pipeline = compute::pipeline(&cfg).unwrap();
//! let flows = compute::desired(&pipeline, &cfg, &SwitchInput::default()).unwrap();
//! // Only the table defaults and the fixed l2input filters.
//! assert_eq!(flows.len(), pipeline.tables().len() + 2);
//! ```

use std::net::Ipv4Addr;

use etherparse::{NetSlice, SlicedPacket};

use super::config::SdnConfig;
use super::flow::{FlowEntry, FlowError, FlowTable, Owner};
use super::input::SwitchInput;
use super::stages::{Module, Pipeline, PipelineError, REQUESTS};
use super::{arp, dhcp, icmp, ioprocessing, l2switch, l3router};

/// The pipeline of the enabled modules.
pub fn pipeline(cfg: &SdnConfig) -> Result<Pipeline, PipelineError> {
    let mut modules = vec![Module::IoProcessing];
    modules.extend(cfg.modules.iter().copied().filter(|m| *m != Module::IoProcessing));
    Pipeline::build(&modules)
}

/// The priority-0 defaults: `ingress` and `egress` drop, every other table continues on its path
/// (or drops at the end of one).
pub fn default_flows(pipeline: &Pipeline, cfg: &SdnConfig) -> Vec<FlowEntry> {
    pipeline
        .tables()
        .iter()
        .map(|t| {
            let module = REQUESTS
                .iter()
                .find(|r| r.name == t.name && cfg.enabled(r.module))
                .map_or(Module::IoProcessing, |r| r.module);
            let mut f = FlowEntry::new(module, Owner::Pipeline, t.name, 0);
            if t.name == "l2output" && cfg.enabled(Module::L2Switch) && cfg.l2switch.learning {
                f = f.actions(l2switch::learning_lookup(pipeline));
            }
            let continues =
                t.name != "ingress" && t.name != "egress" && pipeline.default_next(t.name).is_some();
            if continues { f.goto_next() } else { f }
        })
        .collect()
}

/// Every flow entry the enabled modules want on this switch, in stage names.
pub fn entries(pipeline: &Pipeline, cfg: &SdnConfig, input: &SwitchInput) -> Vec<FlowEntry> {
    let mut out = default_flows(pipeline, cfg);
    out.extend(ioprocessing::ingress_flows(input));
    let learning = cfg.enabled(Module::L2Switch) && cfg.l2switch.learning;
    out.extend(ioprocessing::egress_flows(input, learning));
    if cfg.enabled(Module::L2Switch) {
        out.extend(l2switch::input_flows());
        if cfg.l2switch.learning {
            out.extend(l2switch::learning_input_flows(pipeline, &cfg.l2switch, input));
            out.extend(l2switch::learning_egress_flows(input));
        } else {
            out.extend(l2switch::output_flows(input));
        }
    }
    let with_arp = cfg.enabled(Module::ArpResponder);
    if with_arp {
        out.extend(arp::flows(input, &cfg.arp, cfg.icmp.router_mac));
    }
    if cfg.enabled(Module::DhcpServer) {
        out.extend(dhcp::flows(input, &cfg.dhcp, &cfg.arp, with_arp));
    }
    if cfg.enabled(Module::IcmpResponder) {
        out.extend(icmp::flows(input, &cfg.icmp));
    }
    if cfg.enabled(Module::L3Router) {
        out.extend(l3router::flows(input, cfg));
    }
    if cfg.enabled(Module::VxlanCast) {
        out.extend(super::vxlan::flows(input));
        super::vxlan::add_flood(&mut out, input);
    }
    out
}

/// The desired flow table of this switch (strict: any conflict is an error).
pub fn desired(pipeline: &Pipeline, cfg: &SdnConfig, input: &SwitchInput) -> Result<FlowTable, FlowError> {
    FlowTable::build(pipeline, &entries(pipeline, cfg, input))
}

/// The desired flow table, keeping the first of conflicting flows and reporting the others
/// (what the controller installs: one inconsistent model object must not stop a switch).
pub fn desired_lenient(
    pipeline: &Pipeline,
    cfg: &SdnConfig,
    input: &SwitchInput,
) -> Result<(FlowTable, Vec<FlowError>), FlowError> {
    FlowTable::build_lenient(pipeline, &entries(pipeline, cfg, input))
}

/// What to do with a packet-in: send `frame` out of OpenFlow port `port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketReply {
    pub port: u32,
    pub frame: Vec<u8>,
}

/// The controller's answer to a packet that came in on `in_port` (DHCP or a gateway ping), or
/// `None` for packets we do not answer (logged by the caller when `Err`).
pub fn packet_in(
    cfg: &SdnConfig,
    input: &SwitchInput,
    in_port: u32,
    frame: &[u8],
) -> Result<Option<PacketReply>, dhcp::DhcpError> {
    let Some(port) = input.port_by_ofport(in_port) else { return Ok(None) };
    let Some(net) = input.network(port.netid) else { return Ok(None) };
    let dst = match SlicedPacket::from_ethernet(frame) {
        Ok(SlicedPacket { net: Some(NetSlice::Ipv4(ip)), .. }) => ip.header().destination_addr(),
        _ => Ipv4Addr::UNSPECIFIED,
    };
    if cfg.enabled(Module::L3Router) && l3router::answers_ping(input, port.netid, dst) {
        return Ok(icmp::echo_reply(frame, dst, cfg.l3router.router_mac)
            .map(|f| PacketReply { port: in_port, frame: f }));
    }
    if cfg.enabled(Module::IcmpResponder) && icmp::gateway_for(input, port.netid, dst) {
        return Ok(icmp::echo_reply(frame, dst, cfg.icmp.router_mac)
            .map(|f| PacketReply { port: in_port, frame: f }));
    }
    if cfg.enabled(Module::DhcpServer) {
        return Ok(
            dhcp::answer(frame, port, net, &cfg.dhcp)?.map(|f| PacketReply { port: in_port, frame: f })
        );
    }
    Ok(None)
}
