//! Switch failures: a restarted ovs-vswitchd is redialled and re-handshaken; a SIGSTOPped one is
//! detected by the echo keepalive (shortened intervals here; the mechanism is the one that runs
//! with the 10 s / 3 s defaults).

mod openflow_common;

use std::time::Duration;

use openflow_common::{GUARD, Switch, connect, next_event};
use vlcp::openflow::conn::CloseReason;
use vlcp::runtime::ofswitch::{DatapathEvent, DownReason};

#[tokio::test]
async fn vswitchd_restart_reconnects_and_handshakes_again() {
    let mut sw = Switch::start();
    // A fixed datapath id so the restarted switch is recognisably the same.
    sw.ovs.vsctl(&["set", "bridge", &sw.bridge, "other-config:datapath-id=00000000000a0b0c"]).unwrap();
    let (c, dp, mut tap) = connect(&sw, |_| {}).await;
    assert_eq!(dp.id, 0x000a_0b0c);
    let mut events = c.subscribe();
    sw.ovs.restart_vswitchd().unwrap();
    let reason = next_event(&mut events, "datapath down", |e| match e {
        DatapathEvent::Down { datapath_id, reason } if *datapath_id == dp.id => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(matches!(reason, DownReason::Eof | DownReason::Io(_)), "{reason:?}");
    assert!(!dp.is_connected());
    assert!(dp.barrier().await.is_err(), "the old handle must fail, not hang");
    let again = next_event(&mut events, "datapath up again", |e| match e {
        DatapathEvent::Up(d) if d.id == dp.id => Some(d.clone()),
        _ => None,
    })
    .await;
    again.barrier().await.unwrap();
    assert_eq!(c.datapath(dp.id).map(|d| d.is_connected()), Some(true));
    tap.check();
}

/// Sends SIGCONT on drop, so a failing test never leaves vswitchd stopped.
struct Continue(u32);

impl Drop for Continue {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the lab's vswitchd pid; no memory-safety preconditions.
        unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGCONT) };
    }
}

#[tokio::test]
async fn stopped_vswitchd_is_detected_by_echo_timeout() {
    let sw = Switch::start();
    let (c, dp, mut tap) = connect(&sw, |cfg| {
        cfg.conn.keepalive_interval = Duration::from_secs(2);
        cfg.conn.keepalive_timeout = Duration::from_secs(1);
    })
    .await;
    let mut events = c.subscribe();
    let pid = sw.ovs.vswitchd_pid().expect("vswitchd pid");
    // SAFETY: kill(2) on the lab's vswitchd pid.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) }, 0);
    let cont = Continue(pid);
    let reason = next_event(&mut events, "echo timeout", |e| match e {
        DatapathEvent::Down { datapath_id, reason } if *datapath_id == dp.id => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, DownReason::Protocol(CloseReason::EchoTimeout));
    drop(cont);
    // Once it runs again the controller reconnects.
    let again = c.wait_datapath(dp.id, GUARD).await.unwrap();
    again.barrier().await.unwrap();
    tap.check();
}
