//! # vlcp-plugin — the daemon's library side
//!
//! [`docker`]: the Docker network + IPAM plugin endpoint (libnetwork's remote driver protocol on a
//! unix socket). The `vlcp` binary (`main.rs`) embeds the controller core from the `vlcp` crate and
//! serves this endpoint.

pub mod docker;
