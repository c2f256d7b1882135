//! # vlcp-e2e — the test lab and the end-to-end suites
//!
//! Every end-to-end test in `tests/tests/*.rs` builds its world from [`lab`]: isolated Open vSwitch
//! instances (userspace datapath) inside their own network namespaces, endpoint namespaces with
//! veths, a two-host VXLAN topology, ZooKeeper (single server or ensemble), Redis and a private
//! Docker engine. Fixtures clean up on `Drop` (also while a test panics), kill only the processes
//! they started, by pid, and take names from [`lab::unique`] so nextest can run tests in parallel.
//!
//! Addresses: only 198.18.0.0/15 inside namespaces and containers; services listen on 127.0.0.1.

pub mod lab;
