//! The tokio side of the core: the drivers that own sockets and timers and feed bytes into the
//! sans-IO protocol rooms (`openflow`, `ovsdb`). Nothing else in the library spawns tasks.

pub mod controller;
pub mod ofswitch;
pub mod ovsdb;
pub mod vxlan;
