//! Per-call latency samples and their summary (count, failures, p50, p99, max).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// A plugin call as the figures name it. The gateway's RequestAddress and ReleaseAddress are
/// counted apart from the endpoints'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Call {
    Activate,
    NetGetCapabilities,
    IpamGetCapabilities,
    GetDefaultAddressSpaces,
    RequestPool,
    RequestGateway,
    CreateNetwork,
    RequestAddress,
    CreateEndpoint,
    Join,
    ProgramExternalConnectivity,
    EndpointOperInfo,
    RevokeExternalConnectivity,
    Leave,
    DeleteEndpoint,
    ReleaseAddress,
    ReleaseGateway,
    ReleasePool,
    DeleteNetwork,
}

impl Call {
    /// The request path.
    pub fn path(self) -> &'static str {
        use Call::*;
        match self {
            Activate => "/Plugin.Activate",
            NetGetCapabilities => "/NetworkDriver.GetCapabilities",
            IpamGetCapabilities => "/IpamDriver.GetCapabilities",
            GetDefaultAddressSpaces => "/IpamDriver.GetDefaultAddressSpaces",
            RequestPool => "/IpamDriver.RequestPool",
            RequestGateway | RequestAddress => "/IpamDriver.RequestAddress",
            CreateNetwork => "/NetworkDriver.CreateNetwork",
            CreateEndpoint => "/NetworkDriver.CreateEndpoint",
            Join => "/NetworkDriver.Join",
            ProgramExternalConnectivity => "/NetworkDriver.ProgramExternalConnectivity",
            EndpointOperInfo => "/NetworkDriver.EndpointOperInfo",
            RevokeExternalConnectivity => "/NetworkDriver.RevokeExternalConnectivity",
            Leave => "/NetworkDriver.Leave",
            DeleteEndpoint => "/NetworkDriver.DeleteEndpoint",
            ReleaseAddress | ReleaseGateway => "/IpamDriver.ReleaseAddress",
            ReleasePool => "/IpamDriver.ReleasePool",
            DeleteNetwork => "/NetworkDriver.DeleteNetwork",
        }
    }

    /// The name in figures (`RequestAddress (gateway)` for the gateway's).
    pub fn name(self) -> &'static str {
        match self {
            Call::RequestGateway => "RequestAddress (gateway)",
            Call::ReleaseGateway => "ReleaseAddress (gateway)",
            Call::NetGetCapabilities => "NetworkDriver.GetCapabilities",
            Call::IpamGetCapabilities => "IpamDriver.GetCapabilities",
            other => other.path().rsplit('.').next().unwrap_or(""),
        }
    }
}

/// Latencies recorded by one worker; [`Samples::merge`] joins workers'.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    by_call: BTreeMap<Call, Vec<Duration>>,
    failed: BTreeMap<Call, u64>,
}

impl Samples {
    /// Records one call.
    pub fn record(&mut self, call: Call, took: Duration, ok: bool) {
        self.by_call.entry(call).or_default().push(took);
        if !ok {
            *self.failed.entry(call).or_default() += 1;
        }
    }

    /// Adds another worker's samples.
    pub fn merge(&mut self, other: Samples) {
        for (c, v) in other.by_call {
            self.by_call.entry(c).or_default().extend(v);
        }
        for (c, n) in other.failed {
            *self.failed.entry(c).or_default() += n;
        }
    }

    /// Number of calls recorded.
    pub fn calls(&self) -> usize {
        self.by_call.values().map(Vec::len).sum()
    }

    /// One row per call kind, in sequence order.
    pub fn summary(&self) -> Vec<CallStats> {
        self.by_call
            .iter()
            .map(|(call, v)| {
                let mut v = v.clone();
                v.sort_unstable();
                CallStats {
                    call: call.name(),
                    count: v.len() as u64,
                    failed: self.failed.get(call).copied().unwrap_or(0),
                    p50_ms: ms(percentile(&v, 50.0)),
                    p99_ms: ms(percentile(&v, 99.0)),
                    max_ms: ms(v.last().copied().unwrap_or_default()),
                }
            })
            .collect()
    }

    /// All calls of the kinds in `calls` together, as one row named `name`.
    pub fn combined(&self, name: &'static str, calls: &[Call]) -> CallStats {
        let mut v: Vec<Duration> =
            calls.iter().filter_map(|c| self.by_call.get(c)).flatten().copied().collect();
        v.sort_unstable();
        CallStats {
            call: name,
            count: v.len() as u64,
            failed: calls.iter().filter_map(|c| self.failed.get(c)).sum(),
            p50_ms: ms(percentile(&v, 50.0)),
            p99_ms: ms(percentile(&v, 99.0)),
            max_ms: ms(v.last().copied().unwrap_or_default()),
        }
    }
}

/// Nearest-rank percentile of sorted samples (zero for none).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// The figures of one call kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallStats {
    pub call: &'static str,
    pub count: u64,
    pub failed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(d).collect();
        assert_eq!(percentile(&v, 50.0), d(50));
        assert_eq!(percentile(&v, 99.0), d(99));
        assert_eq!(percentile(&v, 100.0), d(100));
        assert_eq!(percentile(&[d(7)], 99.0), d(7));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
        let v = [d(1), d(2), d(3)];
        assert_eq!(percentile(&v, 50.0), d(2));
        assert_eq!(percentile(&v, 99.0), d(3));
    }

    #[test]
    fn samples_merge_and_summarise_per_call() {
        let mut a = Samples::default();
        a.record(Call::Join, d(4), true);
        a.record(Call::Join, d(2), false);
        let mut b = Samples::default();
        b.record(Call::Join, d(9), true);
        b.record(Call::RequestGateway, d(1), true);
        a.merge(b);
        assert_eq!(a.calls(), 4);
        let s = a.summary();
        let join = s.iter().find(|r| r.call == "Join").unwrap();
        assert_eq!((join.count, join.failed, join.p50_ms, join.max_ms), (3, 1, 4.0, 9.0));
        assert!(s.iter().any(|r| r.call == "RequestAddress (gateway)"));
        let all = a.combined("all", &[Call::Join, Call::RequestGateway]);
        assert_eq!((all.count, all.failed, all.max_ms), (4, 1, 9.0));
    }

    #[test]
    fn calls_name_their_paths() {
        assert_eq!(Call::Join.name(), "Join");
        assert_eq!(Call::RequestAddress.path(), Call::RequestGateway.path());
        assert_eq!(Call::IpamGetCapabilities.path(), "/IpamDriver.GetCapabilities");
    }
}
