//! Benchmark (issue 8), no timed assertion: `docker run -d` on a vlcp network against the same on
//! Docker's own bridge network, on one lab dockerd (`--bip 198.18.250.1/24 --iptables=false`,
//! in the OVS namespace) with the real vlcp daemon, alternating the two so that machine load hits
//! both alike. Prints per-driver p50 / p99 / mean of the `docker run` wall time, the vlcp/bridge
//! ratio, and the plugin-side CreateEndpoint and Join latency from the daemon's `/metrics`
//! histogram (estimated inside its buckets). `VLCP_BENCH_RUNS` sets the runs per driver
//! (default 10). Figures go to BENCHMARKS.md.

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
    let runs: usize = std::env::var("VLCP_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let opts =
        HostOpts { dockerd: DockerdOpts { bip: Some("198.18.250.1/24".into()) }, ..Default::default() };
    let h = Host::start_with(&opts);
    h.network("n1", 37);
    // One untimed warm-up per driver (first container start pays for caches).
    for net in ["bridge", "n1"] {
        h.run(&format!("warm-{net}"), net, &[]);
        h.docker(&["rm", "-f", &format!("warm-{net}")]);
    }
    let before = h.metrics();
    let (mut bridge, mut vlcp) = (Vec::new(), Vec::new());
    for i in 0..runs {
        for (net, times) in [("bridge", &mut bridge), ("n1", &mut vlcp)] {
            let name = format!("{net}-{i}");
            let t = Instant::now();
            h.run(&name, net, &[]);
            times.push(t.elapsed());
            let ip = h.ip(&name);
            let want = if net == "bridge" { "198.18.250." } else { "198.18.37." };
            assert!(ip.starts_with(want), "{name}: {ip}");
            h.docker(&["rm", "-f", &name]);
        }
    }
    let after = h.metrics();
    let (b50, b99, bmean) = (percentile(&mut bridge, 50), percentile(&mut bridge, 99), mean(&bridge));
    let (v50, v99, vmean) = (percentile(&mut vlcp, 50), percentile(&mut vlcp, 99), mean(&vlcp));
    println!("docker run -d, {runs} runs each, alternating:");
    println!("| network | p50 | p99 | mean |");
    println!("|---|---|---|---|");
    println!("| Docker bridge | {b50:.2?} | {b99:.2?} | {bmean:.2?} |");
    println!("| vlcp | {v50:.2?} | {v99:.2?} | {vmean:.2?} |");
    println!(
        "ratio vlcp/bridge: p50 {:.2}, mean {:.2}",
        v50.as_secs_f64() / b50.as_secs_f64(),
        vmean.as_secs_f64() / bmean.as_secs_f64()
    );
    for m in [
        "NetworkDriver.CreateEndpoint",
        "NetworkDriver.Join",
        "IpamDriver.RequestAddress",
        "NetworkDriver.DeleteEndpoint",
    ] {
        let q = |text: &str, q| histogram_quantile(text, HIST, m, q);
        match (q(&after, 0.5), q(&after, 0.99), q(&before, 0.5)) {
            (Some((p50, n)), Some((p99, _)), _) => println!(
                "plugin {m}: p50 ≈ {:.1} ms, p99 ≈ {:.1} ms over {n} calls (whole daemon life, bucket estimates)",
                p50 * 1e3,
                p99 * 1e3
            ),
            _ => println!("plugin {m}: no samples in /metrics"),
        }
    }
    assert_eq!(bridge.len(), runs);
    assert_eq!(vlcp.len(), runs);
}
