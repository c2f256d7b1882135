//! dockerd restarted under the vlcp daemon (issue 8): stopped cleanly, then `kill -9`ed, and
//! started again on the same data-root. Containers with `--restart always` and
//! `--restart unless-stopped` come back on their vlcp network with the same addresses and reach
//! each other again; the daemon is left with exactly their logical ports, OVS ports and veths
//! (the engine's calls on the way down and its sandbox cleanup on the way up were served).

mod fault_common;

use std::time::{Duration, Instant};

use fault_common::Host;

#[test]
fn heavy_dockerd_stop_and_kill9_restart_policy_containers_return_with_their_ips() {
    let mut h = Host::start();
    h.network("n1", 33);
    h.run("always", "n1", &["--restart", "always"]);
    h.run("unless", "n1", &["--restart", "unless-stopped"]);
    let (ip_a, ip_u) = (h.ip("always"), h.ip("unless"));
    assert!(h.time_to_reach("always", &ip_u, Duration::from_secs(20)).is_some(), "before\n{}", h.logs());

    for crash in [false, true] {
        let what = if crash { "kill -9" } else { "clean stop" };
        if crash {
            h.dockerd.kill9();
        } else {
            h.dockerd.stop();
        }
        let t = Instant::now();
        h.dockerd.start_again().unwrap_or_else(|e| panic!("dockerd after {what}: {e}\n{}", h.logs()));
        let engine_up = t.elapsed();
        let running = vlcp_e2e::lab::wait_until("both containers running", Duration::from_secs(60), || {
            (h.running().len() == 2).then_some(())
        });
        assert!(running.is_ok(), "after dockerd's {what}: {:?}\n{}", h.docker(&["ps", "-a"]), h.logs());
        assert_eq!((h.ip("always"), h.ip("unless")), (ip_a.clone(), ip_u.clone()), "addresses after {what}");
        let reach = h.time_to_reach("always", &ip_u, Duration::from_secs(20));
        assert!(reach.is_some(), "always -> unless after dockerd's {what}\n{}", h.logs());
        assert!(h.ping("unless", &ip_a), "unless -> always after {what}");
        println!(
            "dockerd {what}: engine answering after {engine_up:?}, containers back and pinging after {:?}",
            t.elapsed()
        );
        let census = h.census(2);
        assert!(census.clean(), "after dockerd's {what}: {census:?}\n{}", h.logs());
    }

    // The engine still makes new containers on the network.
    h.run("new", "n1", &[]);
    assert!(h.time_to_reach("new", &ip_a, Duration::from_secs(20)).is_some(), "new -> always\n{}", h.logs());
    let census = h.census(3);
    assert!(census.clean(), "{census:?}");
}
