//! Benchmark (issue 8), no timed assertion: `docker run -d` on a vlcp network against the same on
//! Docker's own bridge network, on one lab dockerd (`--bip 198.18.250.1/24 --iptables=false`,
//! in the OVS namespace) with the real vlcp daemon, alternating the two so that machine load hits
//! both alike. Prints per-driver p50 / p99 / mean of the `docker run` wall time, the vlcp/bridge
//! ratio, and the plugin-side CreateEndpoint and Join latency of the timed runs: exact, from the
//! daemon's per-call debug lines (`plugin call ok call=/NetworkDriver.Join elapsed_ms=…`), and as
//! the `/metrics` histogram estimates them (inside its buckets, over the daemon's life).
//! `VLCP_BENCH_RUNS` sets the runs per driver (default 20). Figures go to BENCHMARKS.md.

mod fault_common;

use std::time::{Duration, Instant};

use fault_common::{Host, HostOpts, histogram_quantile, percentile};
use vlcp_e2e::lab::DockerdOpts;

const HIST: &str = "vlcp_docker_plugin_call_duration_seconds";

fn mean(v: &[Duration]) -> Duration {
    v.iter().sum::<Duration>() / v.len().max(1) as u32
}

#[test]
fn heavy_bench_docker_run_vlcp_vs_bridge() {
    let runs: usize = std::env::var("VLCP_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let opts = HostOpts {
        dockerd: DockerdOpts { bip: Some("198.18.250.1/24".into()), ..Default::default() },
        ..Default::default()
    };
    let h = Host::start_with(&opts);
    h.network("n1", 37);
    // A user-defined network of Docker's own bridge driver: like every user-defined network (ours
    // included) it gets Docker's embedded DNS resolver, which the default `bridge` does not.
    h.docker(&["network", "create", "-d", "bridge", "--subnet", "198.18.251.0/24", "ubr"]);
    // One untimed warm-up per driver (first container start pays for caches).
    for net in ["bridge", "ubr", "n1"] {
        h.run(&format!("warm-{net}"), net, &[]);
        h.docker(&["rm", "-f", &format!("warm-{net}")]);
    }
    let log_start = h.daemon_log().len();
    let (mut bridge, mut ubr, mut vlcp) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        for (net, times) in [("bridge", &mut bridge), ("ubr", &mut ubr), ("n1", &mut vlcp)] {
            let name = format!("{net}-{i}");
            let t = Instant::now();
            h.run(&name, net, &[]);
            times.push(t.elapsed());
            let ip = h.ip(&name);
            let want = match net {
                "bridge" => "198.18.250.",
                "ubr" => "198.18.251.",
                _ => "198.18.37.",
            };
            assert!(ip.starts_with(want), "{name}: {ip}");
            h.docker(&["rm", "-f", &name]);
        }
    }
    let after = h.metrics();
    let log = h.daemon_log();
    let calls = |method: &str| -> Vec<Duration> {
        let tag = format!("plugin call ok call=/{method} elapsed_ms=");
        log[log_start..]
            .lines()
            .filter_map(|l| l.split(&tag).nth(1))
            .filter_map(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map(|ms| Duration::from_secs_f64(ms / 1e3))
            .collect()
    };
    let (mut create, mut join) = (calls("NetworkDriver.CreateEndpoint"), calls("NetworkDriver.Join"));
    // Runs are sequential: the i-th CreateEndpoint and the i-th Join are one container's.
    let mut both: Vec<Duration> = create.iter().zip(&join).map(|(c, j)| *c + *j).collect();
    let (b50, b99, bmean) = (percentile(&mut bridge, 50), percentile(&mut bridge, 99), mean(&bridge));
    let (u50, u99, umean) = (percentile(&mut ubr, 50), percentile(&mut ubr, 99), mean(&ubr));
    let (v50, v99, vmean) = (percentile(&mut vlcp, 50), percentile(&mut vlcp, 99), mean(&vlcp));
    println!("docker run -d, {runs} runs each, alternating:");
    println!("| network | p50 | p99 | mean |");
    println!("|---|---|---|---|");
    println!("| Docker bridge (default `bridge`) | {b50:.2?} | {b99:.2?} | {bmean:.2?} |");
    println!("| Docker bridge (user-defined) | {u50:.2?} | {u99:.2?} | {umean:.2?} |");
    println!("| vlcp | {v50:.2?} | {v99:.2?} | {vmean:.2?} |");
    println!(
        "ratio vlcp/bridge: p50 {:.2}, mean {:.2}; vlcp/user-defined bridge: p50 {:.2}, mean {:.2}",
        v50.as_secs_f64() / b50.as_secs_f64(),
        vmean.as_secs_f64() / bmean.as_secs_f64(),
        v50.as_secs_f64() / u50.as_secs_f64(),
        vmean.as_secs_f64() / umean.as_secs_f64()
    );
    assert_eq!(create.len(), runs, "CreateEndpoint lines in the daemon log");
    assert_eq!(join.len(), runs, "Join lines in the daemon log");
    for (name, v) in
        [("CreateEndpoint", &mut create), ("Join", &mut join), ("CreateEndpoint + Join", &mut both)]
    {
        println!(
            "plugin {name} (daemon log, {} calls): p50 {:.1?} p99 {:.1?} max {:.1?}",
            v.len(),
            percentile(v, 50),
            percentile(v, 99),
            v.iter().max().copied().unwrap_or_default()
        );
    }
    for m in ["NetworkDriver.CreateEndpoint", "NetworkDriver.Join"] {
        match (histogram_quantile(&after, HIST, m, 0.5), histogram_quantile(&after, HIST, m, 0.99)) {
            (Some((p50, n)), Some((p99, _))) => println!(
                "plugin {m} (/metrics histogram, {n} calls over the daemon's life, bucket estimates): \
                 p50 ≈ {:.1} ms, p99 ≈ {:.1} ms",
                p50 * 1e3,
                p99 * 1e3
            ),
            _ => println!("plugin {m}: no samples in /metrics"),
        }
    }
    assert_eq!(bridge.len(), runs);
    assert_eq!(ubr.len(), runs);
    assert_eq!(vlcp.len(), runs);
}
