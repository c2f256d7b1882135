//! The figures of a run: [`Report`], printed as markdown ([`Report::to_markdown`]) or JSON
//! (it is `Serialize`).

use std::fmt::Write;

use serde::Serialize;

use crate::BenchConfig;
use crate::probe::{Leaks, ProcSample};
use crate::stats::{Call, CallStats, Samples};

/// The endpoint calls, for the "all endpoint calls" row.
const ENDPOINT_CALLS: [Call; 10] = [
    Call::RequestAddress,
    Call::CreateEndpoint,
    Call::Join,
    Call::ProgramExternalConnectivity,
    Call::EndpointOperInfo,
    Call::RevokeExternalConnectivity,
    Call::Leave,
    Call::DeleteEndpoint,
    Call::ReleaseAddress,
    Call::RequestGateway,
];

/// The daemon process while endpoints were held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scale {
    pub pid: u32,
    /// Endpoints up when `after_keep` was read.
    pub endpoints_kept: usize,
    pub at_start: ProcSample,
    pub after_keep: ProcSample,
    pub after_churn: ProcSample,
    /// Probes of the process that failed.
    pub errors: Vec<String>,
}

/// Everything [`Report::new`] takes.
pub(crate) struct Parts<'a> {
    pub cfg: &'a BenchConfig,
    pub samples: &'a Samples,
    pub churn_samples: &'a Samples,
    pub churn_seconds: f64,
    pub keep_seconds: f64,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub addresses_kept: Vec<String>,
    pub scale: Option<Scale>,
    pub flows_with_kept: Option<u64>,
    pub leaks: Leaks,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub endpoints: usize,
    pub concurrency: usize,
    pub keep: usize,
    /// Wall time of the churn phase.
    pub churn_seconds: f64,
    /// Endpoint lifecycles (up and down) per minute during the churn phase.
    pub lifecycles_per_min: f64,
    /// Wall time to bring the kept endpoints up.
    pub keep_seconds: f64,
    /// Every call of the run, per kind.
    pub calls: Vec<CallStats>,
    /// All endpoint calls of the churn phase together.
    pub churn_calls: CallStats,
    /// Calls that failed (the run is not clean if any did).
    pub errors: u64,
    /// The first failures, with their messages.
    pub error_samples: Vec<String>,
    /// Addresses of the kept endpoints, in bring-up order.
    pub addresses_kept: Vec<String>,
    pub scale: Option<Scale>,
    /// Flows on the bridge while the kept endpoints were up.
    pub flows_with_kept: Option<u64>,
    pub leaks: Leaks,
}

impl Report {
    pub(crate) fn new(p: Parts<'_>) -> Report {
        let lifecycles_per_min =
            if p.churn_seconds > 0.0 { p.cfg.endpoints as f64 * 60.0 / p.churn_seconds } else { 0.0 };
        Report {
            endpoints: p.cfg.endpoints,
            concurrency: p.cfg.concurrency,
            keep: p.cfg.keep,
            churn_seconds: p.churn_seconds,
            lifecycles_per_min,
            keep_seconds: p.keep_seconds,
            calls: p.samples.summary(),
            churn_calls: p.churn_samples.combined("all endpoint calls (churn)", &ENDPOINT_CALLS),
            errors: p.errors,
            error_samples: p.error_samples,
            addresses_kept: p.addresses_kept,
            scale: p.scale,
            flows_with_kept: p.flows_with_kept,
            leaks: p.leaks,
        }
    }

    /// No failed call and nothing leaked.
    pub fn clean(&self) -> bool {
        self.errors == 0 && self.leaks.count() == 0
    }

    /// The figures as markdown: a summary table, the per-call table, leaks and errors.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "| figure | value |\n|---|---|");
        if self.endpoints > 0 {
            let _ = writeln!(
                s,
                "| churn | {} lifecycles at concurrency {} in {:.2} s: **{:.0} lifecycles/min** |",
                self.endpoints, self.concurrency, self.churn_seconds, self.lifecycles_per_min
            );
            let c = &self.churn_calls;
            let _ = writeln!(
                s,
                "| endpoint calls during churn | {} calls, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms |",
                c.count, c.p50_ms, c.p99_ms, c.max_ms
            );
        }
        if self.keep > 0 {
            let _ = writeln!(
                s,
                "| kept endpoints | {} up in {:.2} s ({:.0}/min) |",
                self.addresses_kept.len(),
                self.keep_seconds,
                if self.keep_seconds > 0.0 {
                    self.addresses_kept.len() as f64 * 60.0 / self.keep_seconds
                } else {
                    0.0
                }
            );
        }
        if let Some(f) = self.flows_with_kept {
            let _ = writeln!(s, "| flows on the bridge with the kept endpoints up | {f} |");
        }
        if let Some(sc) = &self.scale {
            let mb = |kb: u64| kb as f64 / 1024.0;
            let _ = writeln!(
                s,
                "| daemon RSS (pid {}) | start {:.1} MB, {} endpoints up {:.1} MB, after churn {:.1} MB, peak {:.1} MB |",
                sc.pid,
                mb(sc.at_start.rss_kb),
                sc.endpoints_kept,
                mb(sc.after_keep.rss_kb),
                mb(sc.after_churn.rss_kb),
                mb(sc.after_churn.hwm_kb)
            );
            let keep_cpu = sc.after_keep.cpu_s - sc.at_start.cpu_s;
            let churn_cpu = sc.after_churn.cpu_s - sc.after_keep.cpu_s;
            let cores = if self.churn_seconds > 0.0 { churn_cpu / self.churn_seconds } else { 0.0 };
            let per = if self.endpoints > 0 { churn_cpu * 1000.0 / self.endpoints as f64 } else { 0.0 };
            let _ = writeln!(
                s,
                "| daemon CPU | keep phase {keep_cpu:.2} s; churn {churn_cpu:.2} s ({cores:.2} cores, {per:.2} ms per lifecycle) |"
            );
        }
        let l = &self.leaks;
        let _ = writeln!(
            s,
            "| leaks | veths {}, OVS ports {}, logical ports {}, addresses {}, probe errors {} |",
            l.veths.len(),
            l.ovs_ports.len(),
            l.logical_ports.len(),
            l.addresses.len(),
            l.probe_errors.len()
        );
        let _ = writeln!(s, "| failed calls | {} |", self.errors);
        let _ = writeln!(
            s,
            "\n| call | count | failed | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|"
        );
        for r in self.calls.iter().chain(std::iter::once(&self.churn_calls)) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} |",
                r.call, r.count, r.failed, r.p50_ms, r.p99_ms, r.max_ms
            );
        }
        for (what, list) in [
            ("leaked veths", &l.veths),
            ("leaked OVS ports", &l.ovs_ports),
            ("leaked logical ports", &l.logical_ports),
            ("addresses still taken", &l.addresses),
            ("probes that failed", &l.probe_errors),
        ] {
            if !list.is_empty() {
                let _ = writeln!(s, "\n{what} ({}): {}", list.len(), preview(list));
            }
        }
        if !l.not_checked.is_empty() {
            let _ = writeln!(s, "\nnot checked: {}", l.not_checked.join("; "));
        }
        if let Some(sc) = &self.scale
            && !sc.errors.is_empty()
        {
            let _ = writeln!(s, "\nprocess probes that failed: {}", sc.errors.join("; "));
        }
        if !self.error_samples.is_empty() {
            let _ = writeln!(s, "\nfirst failures:");
            for e in &self.error_samples {
                let _ = writeln!(s, "- {e}");
            }
        }
        s
    }
}

fn preview(list: &[String]) -> String {
    let mut s = list.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    if list.len() > 10 {
        s.push_str(", …");
    }
    s
}
