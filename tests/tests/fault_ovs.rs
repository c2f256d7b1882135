//! Open vSwitch restarted under running containers (issue 11): ovs-vswitchd `kill -9`ed and
//! started again on the same database. The bridge comes back empty of flows; the vlcp daemon's
//! controller sees the switch reconnect and installs the whole pipeline again — the same flows as
//! before — and the containers' traffic is restored. The time from the new ovs-vswitchd to the
//! first reply is printed (the target of issue 11 is 2 s; only a generous bound is asserted).

mod fault_common;

use std::time::{Duration, Instant};

use fault_common::{BRIDGE, Host};

fn flows(h: &Host) -> Vec<String> {
    let out = h.ovs.ofctl_br("dump-flows", BRIDGE, &["--no-stats"]).unwrap_or_default();
    let mut v: Vec<String> = out.lines().filter(|l| !l.starts_with("OFPST")).map(str::to_owned).collect();
    v.sort();
    v
}

#[test]
fn heavy_ovs_vswitchd_kill9_and_restart_restores_flows_and_traffic() {
    let mut h = Host::start();
    h.network("n1", 35);
    h.run("c1", "n1", &[]);
    h.run("c2", "n1", &[]);
    let (ip1, ip2) = (h.ip("c1"), h.ip("c2"));
    assert!(h.time_to_reach("c1", &ip2, Duration::from_secs(20)).is_some(), "c1 -> c2\n{}", h.logs());
    std::thread::sleep(Duration::from_secs(1));
    let before = flows(&h);
    assert!(before.len() > 10, "{before:#?}");

    let pid = h.ovs.vswitchd_pid().expect("ovs-vswitchd pid");
    // SAFETY: kill(2) on the ovs-vswitchd this test's lab started.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    h.ovs.stop_vswitchd(); // reaps it
    assert!(!h.ping("c1", &ip2), "traffic flowed with ovs-vswitchd dead");

    let t = Instant::now();
    h.ovs.restart_vswitchd().expect("ovs-vswitchd starts again");
    let vswitchd_up = t.elapsed();
    let reached = h.time_to_reach("c1", &ip2, Duration::from_secs(60));
    let reached = reached.map(|_| t.elapsed());
    let mut same_flows = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if flows(&h) == before {
            same_flows = Some(t.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "ovs-vswitchd restart: answering after {vswitchd_up:?}, c1 -> c2 reply after {reached:?}, \
         flows equal to before after {same_flows:?} ({} flows)",
        before.len()
    );
    assert!(reached.is_some(), "c1 -> c2 not restored within 60 s of the restart\n{}", h.logs());
    assert!(same_flows.is_some(), "flows differ after the restart:\n{:#?}\n{}", flows(&h), h.logs());
    assert!(reached.unwrap() < Duration::from_secs(30), "recovery took {reached:?}");
    assert!(h.ping("c2", &ip1), "c2 -> c1");
    assert!(h.ping("c1", "198.18.35.1"), "the gateway answers again (packet-in path)");

    // A container started after the restart works too.
    h.run("c3", "n1", &[]);
    assert!(h.time_to_reach("c3", &ip1, Duration::from_secs(20)).is_some(), "c3 -> c1\n{}", h.logs());
    let census = h.census(3);
    assert!(census.clean(), "{census:?}");
}
