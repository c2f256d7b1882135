//! The SDN pipeline: from the model in ObjectDB and the ports in OVSDB, the flows that give each
//! logical network isolated L2, ARP/DHCP/ICMP answers and routing.
//!
//! The pipeline is data: [`stages`] declares every flow table (name, ancestors, path, the module
//! that asks for it) and derives table ids from the modules that are enabled — code, logs and tests
//! say `l2output`, never a number.

pub mod stages;
