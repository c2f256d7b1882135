//! dockerd restarted under the vlcp daemon (issue 8): stopped cleanly, then `kill -9`ed, and
//! started again on the same data-root. Containers with `--restart always` and
//! `--restart unless-stopped` come back on their vlcp network and reach each other again; the
//! daemon is left with exactly their logical ports, OVS ports and veths (the engine's calls on
//! the way down and its sandbox cleanup on the way up were served).
//!
//! Addresses: Docker asks IPAM for a container's previous address again only when the user gave
//! one (`--ip`); otherwise restarted containers request any address, concurrently, so two of them
//! may swap. The pinned containers must get theirs back — after the `kill -9` too, where the
//! crashed engine's endpoints still hold them until its sandbox cleanup releases them — and the
//! unpinned one must come back with an address of the subnet and connectivity (printed).
//!
//! Docker 20.10 itself: after a `kill -9`, the new engine kills the containers the old one left
//! running and marks them "manually stopped", so an `unless-stopped` container stays down (an
//! `always` one restarts); the test then starts it by hand and checks it as the others. Containers
//! run with `--stop-timeout 1` (busybox `sleep` as PID 1 ignores SIGTERM; Docker's default 10 s
//! would only slow the test).

mod fault_common;

use std::time::{Duration, Instant};

use fault_common::Host;
use vlcp_e2e::lab::wait_until;

const PINNED_ALWAYS: &str = "198.18.33.10";
const PINNED_UNLESS: &str = "198.18.33.11";

#[test]
fn heavy_dockerd_stop_and_kill9_restart_policy_containers_return_with_their_ips() {
    let mut h = Host::start();
    h.network("n1", 33);
    let stop = ["--stop-timeout", "1"];
    h.run("always", "n1", &[&stop[..], &["--restart", "always", "--ip", PINNED_ALWAYS]].concat());
    h.run("unless", "n1", &[&stop[..], &["--restart", "unless-stopped", "--ip", PINNED_UNLESS]].concat());
    h.run("any", "n1", &[&stop[..], &["--restart", "always"]].concat());
    assert_eq!((h.ip("always"), h.ip("unless")), (PINNED_ALWAYS.to_string(), PINNED_UNLESS.to_string()));
    assert!(
        h.time_to_reach("always", PINNED_UNLESS, Duration::from_secs(20)).is_some(),
        "before\n{}",
        h.logs()
    );

    for crash in [false, true] {
        let what = if crash { "kill -9" } else { "clean stop" };
        let t = Instant::now();
        if crash {
            h.dockerd.kill9();
        } else {
            h.dockerd.stop();
        }
        let stopped = t.elapsed();
        let t = Instant::now();
        h.dockerd.start_again().unwrap_or_else(|e| panic!("dockerd after {what}: {e}\n{}", h.logs()));
        let engine_up = t.elapsed();
        let want = if crash { 2 } else { 3 };
        let running = wait_until("the containers running", Duration::from_secs(60), || {
            (h.running().len() >= want).then_some(())
        });
        assert!(running.is_ok(), "after dockerd's {what}: {}\n{}", h.docker(&["ps", "-a"]), h.logs());
        if crash {
            // Give Docker a moment to (not) restart the unless-stopped one, then start it.
            std::thread::sleep(Duration::from_secs(2));
            let state = h.docker(&["inspect", "-f", "{{.State.Status}}", "unless"]);
            println!("after dockerd's kill -9 the unless-stopped container is {state}");
            if state != "running" {
                h.docker(&["start", "unless"]);
            }
        }
        assert_eq!(h.ip("always"), PINNED_ALWAYS, "pinned address after {what}\n{}", h.logs());
        assert_eq!(h.ip("unless"), PINNED_UNLESS, "pinned address after {what}\n{}", h.logs());
        let reach = h.time_to_reach("always", PINNED_UNLESS, Duration::from_secs(20));
        assert!(reach.is_some(), "always -> unless after dockerd's {what}\n{}", h.logs());
        assert!(h.ping("unless", PINNED_ALWAYS), "unless -> always after {what}");
        let ip_any = h.ip("any");
        assert!(
            ip_any.starts_with("198.18.33.") && ip_any != PINNED_ALWAYS && ip_any != PINNED_UNLESS,
            "{ip_any}"
        );
        assert!(
            h.time_to_reach("any", PINNED_ALWAYS, Duration::from_secs(20)).is_some(),
            "any ({ip_any}) -> always after {what}\n{}",
            h.logs()
        );
        println!(
            "dockerd {what}: stopped in {stopped:?}, answering after {engine_up:?}, containers back and \
             pinging after {:?}; the unpinned container is at {ip_any}",
            t.elapsed()
        );
        let census = h.census(3);
        assert!(census.clean(), "after dockerd's {what}: {census:?}\n{}", h.logs());
    }

    // The engine still makes new containers on the network.
    h.run("new", "n1", &[]);
    assert!(
        h.time_to_reach("new", PINNED_ALWAYS, Duration::from_secs(20)).is_some(),
        "new -> always\n{}",
        h.logs()
    );
    let census = h.census(4);
    assert!(census.clean(), "{census:?}");
}
