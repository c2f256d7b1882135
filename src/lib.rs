//! # vlcp — the controller core
//!
//! A Rust re-implementation of VLCP, the SDN controller for Open vSwitch. This crate is the
//! library every binary embeds (`vlcp` daemon in `plugin/`, `vlcp-cleanup` in `cleanup/`).
//!
//! Rooms (see `ARCHITECTURE.md` for the map):
//! - [`config`]: the `vlcp.conf` format (`module.x.key = literal`) and the safe literal parser.
//! - [`openflow`]: OpenFlow 1.3 + Nicira extensions, a sans-IO codec and switch connections.
//! - [`ovsdb`]: RFC 7047 JSON-RPC client and a typed view of the switch database.
//! - [`objectdb`]: the transactional object store over redb, ZooKeeper and Redis.
//! - [`model`]: the network model (physical/logical networks, subnets, ports, routers) and its rules.
//! - [`web`]: the VLCP-compatible management API (`/viperflow/...`, `/vrouterapi/...`).
//! - [`runtime`]: the tokio drivers for switch connections.
//! - [`sdn`]: the flow pipeline: declared stages and the flows computed from the model.

pub mod config;
pub mod metrics;
pub mod model;
pub mod objectdb;
pub mod openflow;
pub mod ovsdb;
pub mod runtime;
pub mod sdn;
pub mod web;
