//! Crash injection for tests: with `VLCP_FAILPOINT=<name>` in its environment, the daemon aborts
//! (no destructors, no cleanup: what `kill -9` would leave) when it reaches the named point.
//!
//! | name | where |
//! |---|---|
//! | `create_endpoint:after_port` | the logical port exists; no DockerInfo, no veth, no OVS port |
//! | `plumbing:after_veth` | the veth pair exists; no OVS port |
//! | `create_endpoint:after_plug` | everything exists; Docker never gets the answer |
//! | `join` | at the start of Join |
//! | `delete_endpoint:after_unplug` | OVS port and veth gone; the logical port remains |

use std::sync::OnceLock;

/// Aborts the process when `VLCP_FAILPOINT` names `point`.
pub fn hit(point: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("VLCP_FAILPOINT").ok().filter(|s| !s.is_empty()));
    if armed.as_deref() == Some(point) {
        eprintln!("vlcp: failpoint {point} reached: aborting");
        std::process::abort();
    }
}
