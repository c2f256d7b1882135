//! A small metrics registry rendered in the Prometheus text exposition format 0.0.4.
//!
//! Three metric kinds, all lock-free to update:
//! - [`Counter`]: a monotonically increasing integer (`_total` names by convention);
//! - [`Gauge`]: a value that goes up and down (an `f64`);
//! - [`Histogram`]: observations counted into fixed cumulative buckets, with `_sum` and `_count`.
//!
//! Metrics live in a [`Family`]: one name, one help text, fixed label names, and one series per
//! distinct tuple of label values (created on first use by [`Family::with`]). A [`Registry`] owns
//! families in registration order and renders them all with [`Registry::render`]:
//!
//! ```
//! use vlcp::metrics::registry::{Registry, DEFAULT_BUCKETS};
//! let r = Registry::new();
//! let calls = r.counter("demo_calls_total", "Calls served.", &["method"]);
//! let latency = r.histogram("demo_call_seconds", "Call latency.", &["method"], DEFAULT_BUCKETS);
//! calls.with(&["Join"]).inc();
//! latency.with(&["Join"]).observe(0.003);
//! let text = r.render();
//! assert!(text.contains("demo_calls_total{method=\"Join\"} 1\n"));
//! assert!(text.contains("demo_call_seconds_bucket{method=\"Join\",le=\"0.005\"} 1\n"));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Latency buckets in seconds, from 0.5 ms to 10 s (Prometheus' defaults plus finer low end).
pub const DEFAULT_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The `Content-Type` of a rendered registry.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that can go up and down.
#[derive(Debug)]
pub struct Gauge(AtomicU64);

impl Default for Gauge {
    fn default() -> Self {
        Gauge(AtomicU64::new(0f64.to_bits()))
    }
}

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Adds `d` (negative to subtract).
    pub fn add(&self, d: f64) {
        add_f64(&self.0, d);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

fn add_f64(cell: &AtomicU64, d: f64) {
    let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
        Some((f64::from_bits(bits) + d).to_bits())
    });
}

/// Observations counted into cumulative buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative); the last one is `+Inf`.
    counts: Vec<AtomicU64>,
    sum: AtomicU64,
}

impl Histogram {
    /// A histogram with these upper bounds (ascending; `+Inf` is implied).
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Records one observation (NaN is ignored).
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        let i = self.bounds.iter().position(|b| v <= *b).unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        add_f64(&self.sum, v);
    }

    /// Records a duration in seconds.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Sum of the observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }
}

/// What a [`Family`] holds.
pub trait Metric: Send + Sync + 'static {
    /// Construction parameters shared by the family's series.
    type Opts: Send + Sync + 'static;
    /// The `# TYPE` word.
    const TYPE: &'static str;
    /// A fresh series.
    fn create(opts: &Self::Opts) -> Self;
    /// Appends this series' sample lines; `labels` is the rendered label pairs (may be empty).
    fn write(&self, name: &str, labels: &str, out: &mut String);
}

impl Metric for Counter {
    type Opts = ();
    const TYPE: &'static str = "counter";
    fn create(_: &()) -> Self {
        Counter::default()
    }
    fn write(&self, name: &str, labels: &str, out: &mut String) {
        let _ = writeln!(out, "{name}{} {}", braces(labels), self.get());
    }
}

impl Metric for Gauge {
    type Opts = ();
    const TYPE: &'static str = "gauge";
    fn create(_: &()) -> Self {
        Gauge::default()
    }
    fn write(&self, name: &str, labels: &str, out: &mut String) {
        let _ = writeln!(out, "{name}{} {}", braces(labels), fmt_f64(self.get()));
    }
}

impl Metric for Histogram {
    type Opts = &'static [f64];
    const TYPE: &'static str = "histogram";
    fn create(bounds: &&'static [f64]) -> Self {
        Histogram::new(bounds)
    }
    fn write(&self, name: &str, labels: &str, out: &mut String) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            let le = self.bounds.get(i).map_or_else(|| "+Inf".to_string(), |b| fmt_f64(*b));
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), fmt_f64(self.sum()));
        let _ = writeln!(out, "{name}_count{} {cumulative}", braces(labels));
    }
}

fn braces(labels: &str) -> String {
    if labels.is_empty() { String::new() } else { format!("{{{labels}}}") }
}

/// A float as Prometheus writes it: `+Inf`, `-Inf`, `NaN`, else the shortest decimal form.
pub fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Whether `name` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`), or with `colon = false`
/// a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`).
pub fn valid_name(name: &str, colon: bool) -> bool {
    let ok = |c: char, first: bool| {
        c.is_ascii_alphabetic() || c == '_' || (colon && c == ':') || (!first && c.is_ascii_digit())
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| ok(c, true))
        && chars.all(|c| ok(c, false))
        && (colon || !name.starts_with("__"))
}

/// One metric name with its series, keyed by label values.
pub struct Family<M: Metric> {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    opts: M::Opts,
    series: Mutex<BTreeMap<Vec<String>, Arc<M>>>,
}

impl<M: Metric> Family<M> {
    /// A family; names must be valid ([`valid_name`]), label names unique.
    pub fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        opts: M::Opts,
    ) -> Self {
        debug_assert!(valid_name(name, true), "bad metric name {name:?}");
        debug_assert!(labels.iter().all(|l| valid_name(l, false) && *l != "le"), "bad label in {labels:?}");
        Family { name, help, labels, opts, series: Mutex::new(BTreeMap::new()) }
    }

    /// The metric name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn key(&self, values: &[&str]) -> Vec<String> {
        // One value per label name: extra values are dropped, missing ones are empty.
        (0..self.labels.len()).map(|i| values.get(i).copied().unwrap_or("").to_string()).collect()
    }

    /// The series for these label values (in label-name order), created at zero on first use.
    pub fn with(&self, values: &[&str]) -> Arc<M> {
        debug_assert_eq!(values.len(), self.labels.len(), "{}: label values {values:?}", self.name);
        let key = self.key(values);
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        series.entry(key).or_insert_with(|| Arc::new(M::create(&self.opts))).clone()
    }

    /// The series for these label values, if it exists.
    pub fn get(&self, values: &[&str]) -> Option<Arc<M>> {
        let key = self.key(values);
        self.series.lock().unwrap_or_else(PoisonError::into_inner).get(&key).cloned()
    }

    /// Removes a series (it is no longer rendered).
    pub fn remove(&self, values: &[&str]) {
        let key = self.key(values);
        self.series.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
    }

    /// Removes every series.
    pub fn clear(&self) {
        self.series.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Label values of every series.
    pub fn label_values(&self) -> Vec<Vec<String>> {
        self.series.lock().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect()
    }
}

/// Rendering, type-erased so a [`Registry`] can hold every kind.
pub trait Render: Send + Sync {
    /// Appends `# HELP`, `# TYPE` and every series.
    fn render(&self, out: &mut String);
}

impl<M: Metric> Render for Family<M> {
    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(self.help));
        let _ = writeln!(out, "# TYPE {} {}", self.name, M::TYPE);
        let series: Vec<(Vec<String>, Arc<M>)> = self
            .series
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (values, metric) in series {
            let labels = self
                .labels
                .iter()
                .zip(&values)
                .map(|(n, v)| format!("{n}=\"{}\"", escape_label_value(v)))
                .collect::<Vec<_>>()
                .join(",");
            metric.write(self.name, &labels, out);
        }
    }
}

/// Families in registration order.
#[derive(Default)]
pub struct Registry {
    families: Mutex<Vec<(&'static str, Arc<dyn Render>)>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    fn add<M: Metric>(&self, family: Family<M>) -> Arc<Family<M>> {
        let family = Arc::new(family);
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        debug_assert!(families.iter().all(|(n, _)| *n != family.name), "{} registered twice", family.name);
        families.push((family.name, family.clone()));
        family
    }

    /// Registers a counter family.
    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<Family<Counter>> {
        self.add(Family::new(name, help, labels, ()))
    }

    /// Registers a gauge family.
    pub fn gauge(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<Family<Gauge>> {
        self.add(Family::new(name, help, labels, ()))
    }

    /// Registers a histogram family with these bucket bounds.
    pub fn histogram(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        bounds: &'static [f64],
    ) -> Arc<Family<Histogram>> {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{name}: buckets not ascending");
        self.add(Family::new(name, help, labels, bounds))
    }

    /// Every family in the text format, in registration order.
    pub fn render(&self) -> String {
        let families: Vec<Arc<dyn Render>> = self
            .families
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
        let mut out = String::new();
        for f in families {
            f.render(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_kind_in_the_text_format() {
        let r = Registry::new();
        let c = r.counter("t_requests_total", "Requests.\nSecond line with \\.", &["code", "path"]);
        let g = r.gauge("t_temperature", "A gauge.", &[]);
        let h = r.histogram("t_seconds", "Latency.", &["op"], &[0.1, 1.0]);
        c.with(&["200", "/a\"b\\c\nd"]).add(3);
        c.with(&["404", "/x"]).inc();
        g.with(&[]).set(-2.5);
        for v in [0.05, 0.1, 0.5, 7.0] {
            h.with(&["get"]).observe(v);
        }
        h.with(&["get"]).observe(f64::NAN);
        let want = "\
# HELP t_requests_total Requests.\\nSecond line with \\\\.
# TYPE t_requests_total counter
t_requests_total{code=\"200\",path=\"/a\\\"b\\\\c\\nd\"} 3
t_requests_total{code=\"404\",path=\"/x\"} 1
# HELP t_temperature A gauge.
# TYPE t_temperature gauge
t_temperature -2.5
# HELP t_seconds Latency.
# TYPE t_seconds histogram
t_seconds_bucket{op=\"get\",le=\"0.1\"} 2
t_seconds_bucket{op=\"get\",le=\"1\"} 3
t_seconds_bucket{op=\"get\",le=\"+Inf\"} 4
t_seconds_sum{op=\"get\"} 7.65
t_seconds_count{op=\"get\"} 4
";
        assert_eq!(r.render(), want);
    }

    #[test]
    fn series_come_and_go_and_gauges_move_both_ways() {
        let r = Registry::new();
        let g = r.gauge("t_flows", "Flows.", &["bridge"]);
        g.with(&["br0"]).set(10.0);
        g.with(&["br0"]).add(-3.0);
        assert_eq!(g.get(&["br0"]).unwrap().get(), 7.0);
        g.remove(&["br0"]);
        assert!(g.get(&["br0"]).is_none());
        assert!(!r.render().contains("t_flows{"));
        let h = r.histogram("t_h", "H.", &[], &[1.0]);
        h.with(&[]).observe_duration(Duration::from_millis(1500));
        assert_eq!((h.with(&[]).count(), h.with(&[]).sum()), (1, 1.5));
        assert!(r.render().contains("t_h_bucket{le=\"+Inf\"} 1\n"));
    }

    #[test]
    fn names_are_checked_and_floats_formatted() {
        assert!(valid_name("vlcp_up", true) && valid_name("a:b_c1", true));
        assert!(!valid_name("1abc", true) && !valid_name("", true) && !valid_name("a-b", true));
        assert!(!valid_name("a:b", false) && !valid_name("__x", false));
        assert_eq!(fmt_f64(f64::INFINITY), "+Inf");
        assert_eq!(fmt_f64(f64::NEG_INFINITY), "-Inf");
        assert_eq!(fmt_f64(f64::NAN), "NaN");
        assert_eq!(fmt_f64(1.0), "1");
        assert_eq!(fmt_f64(0.0005), "0.0005");
    }
}
