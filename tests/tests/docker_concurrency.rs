//! 50 `docker run` at once on one vlcp network of a real dockerd (issue 11): every one starts,
//! with 50 distinct addresses, one logical port, OVS port and veth each, and connectivity; removing
//! them all leaves nothing. (`heavy_fifty_concurrent_endpoints_get_distinct_ips` drives the plugin
//! socket directly; this goes through the engine, with its own ordering of IPAM and driver calls.)

mod fault_common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fault_common::{Host, percentile};

const N: usize = 50;

#[test]
fn heavy_fifty_concurrent_docker_runs_get_distinct_ips() {
    let h = Host::start();
    h.network("n1", 34);
    let t = Instant::now();
    let results: Vec<(String, Result<String, String>, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let h = &h;
                s.spawn(move || {
                    let name = format!("p{i}");
                    let start = Instant::now();
                    // No lab timeout: 50 starts on two shared cores can take more than a minute.
                    let out = h
                        .dockerd
                        .cmd()
                        .args(["run", "-d", "--network", "n1", "--name", &name, "bb:latest", "sleep", "3600"])
                        .output()
                        .expect("docker run");
                    let r = if out.status.success() {
                        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
                    } else {
                        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
                    };
                    (name, r, start.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|j| j.join().unwrap()).collect()
    });
    let wall = t.elapsed();
    let errors: Vec<String> =
        results.iter().filter_map(|(n, r, _)| r.as_ref().err().map(|e| format!("{n}: {e}"))).collect();
    let mut times: Vec<Duration> = results.iter().map(|r| r.2).collect();
    println!(
        "{N} concurrent docker run: {:?} wall, per run p50 {:?} p99 {:?}, {} failed",
        wall,
        percentile(&mut times, 50),
        percentile(&mut times, 99),
        errors.len()
    );
    assert!(
        errors.is_empty(),
        "{} of {N} docker run failed:\n{}\n{}",
        errors.len(),
        errors.join("\n"),
        h.logs()
    );

    let ips: Vec<String> = (0..N).map(|i| h.ip(&format!("p{i}"))).collect();
    let distinct: BTreeSet<&String> = ips.iter().collect();
    assert_eq!(distinct.len(), N, "addresses handed out twice: {ips:?}");
    assert!(ips.iter().all(|ip| ip.starts_with("198.18.34.")), "{ips:?}");
    let census = h.census(N);
    assert!(census.clean(), "{census:?}");
    // A few pairs across the batch (first, middle, last) reach each other.
    for (a, b) in [(0, N - 1), (N / 2, 0), (N - 1, N / 2)] {
        let r = h.time_to_reach(&format!("p{a}"), &ips[b], Duration::from_secs(30));
        assert!(r.is_some(), "p{a} -> p{b} ({})\n{}", ips[b], h.logs());
    }

    let names: Vec<String> = (0..N).map(|i| format!("p{i}")).collect();
    let mut args = vec!["rm", "-f"];
    args.extend(names.iter().map(String::as_str));
    let out = h.dockerd.cmd().args(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let census = h.census(0);
    assert!(census.clean(), "after removing all {N}: {census:?}");
    h.docker(&["network", "rm", "n1"]);
}
