//! The SDN pipeline: from the model in ObjectDB and the ports in OVSDB, the flows that give each
//! logical network isolated L2, ARP/DHCP/ICMP answers and routing.
//!
//! The pipeline is data: [`stages`] declares every flow table (name, ancestors, path, the module
//! that asks for it) and derives table ids from the modules that are enabled — code, logs and tests
//! say `l2output`, never a number.
//!
//! Layout, in data-flow order (all pure, no IO; the tokio glue is `runtime::controller`):
//! - [`input`]: the model snapshot and the per-switch view the flow functions read;
//! - [`bind`]: ioprocessing's binding of OVS interfaces to logical/physical ports, network ids;
//! - [`flow`]: flows as data ([`flow::FlowEntry`] in stage names), checks, cookies with provenance;
//! - one module per stage owner: [`ioprocessing`] (+ [`drivers`] vlan/vxlan/native/local),
//!   [`l2switch`], [`arp`], [`dhcp`], [`icmp`], [`l3router`] (+ [`nexthop`], ARP resolution of
//!   next hops that are not logical ports),
//!   [`vxlan`] (vxlancast: hosts joined by tunnels);
//! - [`compute`]: all of them together, the desired flow table of a switch, packet-in answers;
//! - [`flowsync`]: desired against installed, the minimal FlowMods;
//! - [`trace`]: how one packet crosses a switch's computed flows (`vlcpctl trace`).

pub mod arp;
pub mod bind;
pub mod compute;
pub mod config;
pub mod dhcp;
pub mod drivers;
pub mod flow;
pub mod flowsync;
pub mod from_model;
pub mod icmp;
pub mod input;
pub mod ioprocessing;
pub mod l2switch;
pub mod l3router;
pub mod nexthop;
pub mod stages;
pub mod trace;
pub mod vxlan;

#[cfg(test)]
mod tests;
