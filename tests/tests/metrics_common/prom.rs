//! A strict parser of the Prometheus text exposition format 0.0.4, the oracle of the metrics
//! suites. Beyond the grammar (names, label escapes, float values) it checks what a scraper relies
//! on: `# TYPE`/`# HELP` at most once and before the family's samples, a family's samples
//! contiguous, no duplicate series, counters non-negative, histogram buckets ascending and
//! cumulative with a `+Inf` bucket equal to `_count`, and the text ending with a newline. Blank
//! lines are refused (the format tolerates them; vlcp never writes one).

use std::collections::{BTreeMap, BTreeSet};

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One metric family: its `# TYPE`, `# HELP` and samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: Option<String>,
    pub samples: Vec<Sample>,
}

/// One histogram series as read: `(le, cumulative count)` buckets, `_count`, whether `_sum` was
/// seen.
type HistogramParts = (Vec<(f64, f64)>, Option<f64>, bool);

/// A parsed scrape.
#[derive(Clone, Debug, Default)]
pub struct Exposition {
    pub families: Vec<Family>,
}

fn valid_name(s: &str, colon: bool) -> bool {
    let ok = |c: char, first: bool| {
        c.is_ascii_alphabetic() || c == '_' || (colon && c == ':') || (!first && c.is_ascii_digit())
    };
    let mut it = s.chars();
    it.next().is_some_and(|c| ok(c, true)) && it.all(|c| ok(c, false))
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => {
            let ok = !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
            if !ok {
                return Err(format!("bad value {s:?}"));
            }
            s.parse::<f64>().map_err(|_| format!("bad value {s:?}"))
        }
    }
}

fn unescape_help(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                other => return Err(format!("bad escape \\{other:?} in HELP")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Parses `{a="x",b="y"}` at the start of `s`; returns the labels and the rest.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{').ok_or("expected {")?;
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !valid_name(name, false) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..].strip_prefix('"').ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape in label value: {other:?}")),
                },
                Some((_, '\n')) => return Err("raw newline in label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} repeated"));
        }
        rest = &rest[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err("expected , or } after a label".into());
        }
    }
}

/// The family a sample name belongs to, given the declared types.
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types.get(base).is_some_and(|k| k == "histogram" || (k == "summary" && suffix != "_bucket"))
        {
            return base;
        }
    }
    name
}

impl Exposition {
    /// Parses and checks `text`.
    pub fn parse(text: &str) -> Result<Exposition, String> {
        if !text.is_empty() && !text.ends_with('\n') {
            return Err("text does not end with a newline".into());
        }
        let mut types: BTreeMap<String, String> = BTreeMap::new();
        let mut helps: BTreeSet<String> = BTreeSet::new();
        let mut families: Vec<Family> = Vec::new();
        let mut closed: BTreeSet<String> = BTreeSet::new();
        let mut series: BTreeSet<(String, Vec<(String, String)>)> = BTreeSet::new();
        let index = |families: &mut Vec<Family>,
                     closed: &mut BTreeSet<String>,
                     name: &str|
         -> Result<usize, String> {
            if families.last().is_some_and(|f| f.name == name) {
                return Ok(families.len() - 1);
            }
            if let Some(last) = families.last() {
                closed.insert(last.name.clone());
            }
            if closed.contains(name) {
                return Err(format!("family {name} is not contiguous"));
            }
            families.push(Family {
                name: name.into(),
                kind: "untyped".into(),
                help: None,
                samples: Vec::new(),
            });
            Ok(families.len() - 1)
        };
        for (n, line) in text.lines().enumerate() {
            let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
            if line.is_empty() {
                return Err(at("blank line".into()));
            }
            if let Some(comment) = line.strip_prefix('#') {
                let mut parts = comment.trim_start().splitn(3, ' ');
                let (word, name, rest) = (parts.next().unwrap_or(""), parts.next(), parts.next());
                if word != "HELP" && word != "TYPE" {
                    continue;
                }
                let name = name.ok_or_else(|| at("no metric name".into()))?;
                if !valid_name(name, true) {
                    return Err(at(format!("bad metric name {name:?}")));
                }
                let i = index(&mut families, &mut closed, name).map_err(at)?;
                if !families[i].samples.is_empty() {
                    return Err(at(format!("{word} after samples")));
                }
                if word == "HELP" {
                    if !helps.insert(name.into()) {
                        return Err(at("second HELP".into()));
                    }
                    families[i].help = Some(unescape_help(rest.unwrap_or("")).map_err(at)?);
                } else {
                    let kind = rest.ok_or_else(|| at("TYPE without a type".into()))?;
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(at(format!("unknown type {kind}")));
                    }
                    if types.insert(name.into(), kind.into()).is_some() {
                        return Err(at("second TYPE".into()));
                    }
                    families[i].kind = kind.into();
                }
                continue;
            }
            let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
            let name = &line[..name_end];
            if !valid_name(name, true) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            let (labels, rest) = if line[name_end..].starts_with('{') {
                parse_labels(&line[name_end..]).map_err(at)?
            } else {
                (BTreeMap::new(), &line[name_end..])
            };
            let rest =
                rest.strip_prefix(' ').ok_or_else(|| at("expected a space before the value".into()))?;
            let mut fields = rest.split(' ');
            let value = parse_value(fields.next().unwrap_or("")).map_err(at)?;
            if let Some(ts) = fields.next() {
                ts.parse::<i64>().map_err(|_| at(format!("bad timestamp {ts:?}")))?;
            }
            if fields.next().is_some() {
                return Err(at("trailing fields".into()));
            }
            let fam = family_of(name, &types).to_string();
            let i = index(&mut families, &mut closed, &fam).map_err(at)?;
            let kind = families[i].kind.clone();
            if kind == "histogram" && name.ends_with("_bucket") && !labels.contains_key("le") {
                return Err(at("bucket without le".into()));
            }
            if kind == "histogram" && name == fam {
                return Err(at("histogram sample without _bucket/_sum/_count".into()));
            }
            if kind == "counter" && (value.is_nan() || value < 0.0) {
                return Err(at("counter below zero or NaN".into()));
            }
            let key = (name.to_string(), labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
            if !series.insert(key) {
                return Err(at("duplicate series".into()));
            }
            families[i].samples.push(Sample { name: name.into(), labels, value });
        }
        let e = Exposition { families };
        e.check_histograms()?;
        Ok(e)
    }

    fn check_histograms(&self) -> Result<(), String> {
        for f in self.families.iter().filter(|f| f.kind == "histogram") {
            let mut groups: BTreeMap<Vec<(String, String)>, HistogramParts> = BTreeMap::new();
            for s in &f.samples {
                let key: Vec<(String, String)> = s
                    .labels
                    .iter()
                    .filter(|(k, _)| *k != "le")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let g = groups.entry(key).or_default();
                if s.name.ends_with("_bucket") {
                    g.0.push((parse_value(&s.labels["le"])?, s.value));
                } else if s.name.ends_with("_count") {
                    g.1 = Some(s.value);
                } else {
                    g.2 = true;
                }
            }
            for (labels, (buckets, count, has_sum)) in groups {
                let what = format!("histogram {}{labels:?}", f.name);
                if !buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1) {
                    return Err(format!("{what}: buckets not ascending and cumulative: {buckets:?}"));
                }
                let inf = buckets
                    .last()
                    .filter(|b| b.0 == f64::INFINITY)
                    .ok_or(format!("{what}: no +Inf bucket"))?;
                if count != Some(inf.1) || !has_sum {
                    return Err(format!(
                        "{what}: _count {count:?} / _sum {has_sum} do not match +Inf {}",
                        inf.1
                    ));
                }
            }
        }
        Ok(())
    }

    /// The family called `name`.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The value of the sample `name` whose labels are exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> =
            labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.families
            .iter()
            .flat_map(|f| &f.samples)
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// The sum of every sample `name` whose labels include `labels` (0 when there is none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.families
            .iter()
            .flat_map(|f| &f.samples)
            .filter(|s| {
                s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }
}

#[test]
fn the_parser_refuses_what_a_scraper_would() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\\\"\\n\\\\\"} 2\n\
                # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n";
    let e = Exposition::parse(good).unwrap();
    assert_eq!(e.value("a_total", &[("x", "1\"\n\\")]), Some(2.0));
    assert_eq!(e.family("h").unwrap().samples.len(), 4);
    for bad in [
        "a 1",                      // no final newline
        "a{x=\"1\"} 1\n\nb 2\n",    // blank line
        "a{x=1} 1\n",               // unquoted
        "a{x=\"\\t\"} 1\n",         // bad escape
        "a{x=\"1\",x=\"2\"} 1\n",   // repeated label
        "a one\n",                  // bad value
        "1a 1\n",                   // bad name
        "a 1\nb 1\na 2\n",          // not contiguous
        "a 1\na 1\n",               // duplicate series
        "a 1\n# TYPE a gauge\n",    // TYPE after samples
        "# TYPE c counter\nc -1\n", // negative counter
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", // no +Inf
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n", // count mismatch
    ] {
        assert!(Exposition::parse(bad).is_err(), "accepted {bad:?}");
    }
}
