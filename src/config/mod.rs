//! The `vlcp.conf` configuration: file format, typed access with defaults, and validation.
//!
//! The format is the original VLCP's (manual §3.1): one `<key> = <Python literal>` per line,
//! `#` comments, indented continuation lines for multi-line values. Keys follow the original's
//! naming (`module.<name>.<key>`, `protocol.<name>.<key>`, `server.<key>`, `proxy.<name>`, …) with
//! the spelling the upstream code reads, not the manual's misprints.
//!
//! Layout:
//! - [`literal`]: the safe Python-literal parser ([`Value`]), also used by the web API for
//!   backtick parameters;
//! - `file`: the line grammar (continuations, comments, line numbers);
//! - [`keys`]: the tables of every known key with type and default, the modules with their
//!   loading paths and dependencies, the proxies, and the manual's misprints;
//! - [`schema`]: matching a key against those tables, type checks, "did you mean";
//! - `typed`: [`FromValue`], the conversions behind the typed getters;
//! - `modules`: `server.startup` resolution and logging settings.
//!
//! Using it:
//! ```
//! use vlcp::config::Config;
//! let cfg = Config::parse("module.dockerplugin.mtu = 1450\nserver.startup = ('vlcp_docker.dockerplugin.DockerPlugin',)\n")
//!     .expect("valid config");
//! assert_eq!(cfg.get_int("module.dockerplugin.mtu").unwrap(), 1450);
//! // Unset keys fall back to the default in `keys` (here 'dockerbr0').
//! assert_eq!(cfg.get_str("module.dockerplugin.ovsbridge").unwrap(), "dockerbr0");
//! // Dependencies start first; proxies resolve to modules (embeddeddb by default).
//! assert_eq!(cfg.startup_modules().unwrap(), ["httpserver", "embeddeddb", "objectdb", "viperflow", "dockerplugin"]);
//! ```
//!
//! Lookup rules ([`Config::get`]): the exact key, then for `module.<m>.<k>` the key
//! `module.default.<k>`, for `protocol.<p>.<k>` the parent protocol's and `protocol.default.<k>`
//! (the original's priority order), then — in the typed getters — the schema default. A getter on
//! a key missing from the schema is an error ([`ConfigError::NotInSchema`]): every key the code
//! reads is one that `--check-config` accepts, and its default lives in one place.
//!
//! Not implemented: environment overrides (`VLCP_<KEY>`): key names contain `_`, so an
//! environment name cannot be mapped back to a key unambiguously; logging honours `RUST_LOG`.
//! The original's tree semantics where `a.b = 1` followed by `a.b.c = 2` replaces the value by a
//! sub-tree are approximated: both keys are kept and [`Config::subtree`] merges them.

mod diag;
mod file;
pub mod keys;
pub mod literal;
mod modules;
pub mod schema;
#[cfg(test)]
mod tests;
mod typed;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, Problem, Report, Severity};
pub use literal::{LiteralError, Value};
pub use modules::{LogFormat, LogSettings};
pub use typed::FromValue;

/// Where the daemon reads its config when `-f` is not given.
pub const DEFAULT_PATH: &str = "/etc/vlcp.conf";

/// Largest config file accepted.
pub const MAX_FILE_LEN: u64 = 4 << 20;

/// A config file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read (missing, permissions, not UTF-8).
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// The file is larger than [`MAX_FILE_LEN`].
    #[error("{} is {len} bytes; the limit is {max}", path.display())]
    TooLarge { path: PathBuf, len: u64, max: u64 },
    /// The file has errors; the report lists them by line and key.
    #[error("{} has errors:\n{report}", path.display())]
    Invalid { path: PathBuf, report: Report },
}

/// A typed getter could not produce a value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The value has the wrong type.
    #[error("{}{key}: expected {expected}, found {found}", at(*.line))]
    WrongType { key: String, line: Option<usize>, expected: String, found: String },
    /// The value has the right type but is unusable.
    #[error("{}{key}: {reason}", at(*.line))]
    BadValue { key: String, line: Option<usize>, reason: String },
    /// The code asked for a key the schema does not know (a bug: add it to [`keys`]).
    #[error("{key}: not a known config key")]
    NotInSchema { key: String },
}

fn at(line: Option<usize>) -> String {
    line.map(|l| format!("line {l}: ")).unwrap_or_default()
}

/// One value and where it was set.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// The 1-based line of the key in the file; `None` when set in code (CLI overrides).
    pub line: Option<usize>,
}

/// A loaded configuration: keys → values with their lines. Cheap to query, immutable once the
/// daemon runs (CLI overrides are applied with [`Config::set`] before).
#[derive(Clone, Debug, Default)]
pub struct Config {
    entries: BTreeMap<String, Entry>,
    /// (key, first line, later line) for keys set twice.
    duplicates: Vec<(String, usize, usize)>,
    source: Option<PathBuf>,
}

impl Config {
    /// An empty configuration: every getter returns the schema default.
    pub fn empty() -> Self {
        Config::default()
    }

    /// Parses and validates config text; fails with every error found (syntax, unknown keys,
    /// bad types). Warnings (keys set twice) do not fail; see [`Config::check`].
    pub fn parse(text: &str) -> Result<Config, Report> {
        let (config, report) = Config::parse_lenient(text);
        if report.has_errors() { Err(report) } else { Ok(config) }
    }

    /// Parses config text, keeping every well-formed entry, and returns all findings (syntax and
    /// schema, errors and warnings) — what `--check-config` prints.
    pub fn parse_lenient(text: &str) -> (Config, Report) {
        let (raw, syntax) = file::parse_text(text);
        let mut config = Config::default();
        for e in raw {
            if let Some(old) = config.entries.get(&e.key).and_then(|old| old.line) {
                config.duplicates.push((e.key.clone(), old, e.line));
            }
            config.entries.insert(e.key, Entry { value: e.value, line: Some(e.line) });
        }
        let mut report = config.check();
        report.diagnostics.extend(syntax);
        report.sort();
        (config, report)
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, LoadError> {
        let (config, report) = Config::load_lenient(path)?;
        if report.has_errors() {
            return Err(LoadError::Invalid { path: path.to_path_buf(), report });
        }
        Ok(config)
    }

    /// Reads a config file and returns it with all findings; fails only if it cannot be read.
    pub fn load_lenient(path: &Path) -> Result<(Config, Report), LoadError> {
        let io = |source| LoadError::Io { path: path.to_path_buf(), source };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_FILE_LEN {
            return Err(LoadError::TooLarge { path: path.to_path_buf(), len, max: MAX_FILE_LEN });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let (mut config, report) = Config::parse_lenient(&text);
        config.source = Some(path.to_path_buf());
        Ok((config, report))
    }

    /// The file this config was read from.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// Validates every entry against the schema: unknown keys (with suggestions), wrong types,
    /// bad values (URLs, module paths, log settings), keys set twice (warnings).
    pub fn check(&self) -> Report {
        let mut report = Report::default();
        for (key, entry) in &self.entries {
            let line = entry.line;
            match schema::lookup(key) {
                None => {
                    report.diagnostics.push(Diagnostic::error(line, Some(key), schema::explain_unknown(key)))
                }
                Some(schema::KeyKind::Open) => {}
                Some(schema::KeyKind::Typed(k)) => {
                    if let Err(expected) = schema::type_check(&k.ty, &entry.value) {
                        let found = describe_value(&entry.value);
                        report.diagnostics.push(Diagnostic::error(
                            line,
                            Some(key),
                            Problem::WrongType { expected, found },
                        ));
                    }
                }
            }
        }
        report.diagnostics.extend(self.check_values());
        for (key, first_line, line) in &self.duplicates {
            let problem = Problem::Duplicate { first_line: *first_line };
            report.diagnostics.push(Diagnostic::warning(Some(*line), Some(key), problem));
        }
        report.sort();
        report
    }

    /// Sets (or overrides) a value, as the CLI does for start modules.
    pub fn set(&mut self, key: &str, value: Value) {
        self.entries.insert(key.to_string(), Entry { value, line: None });
    }

    /// Every explicitly set key with its value and line, sorted by key.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), e))
    }

    /// The explicitly set value for `key`, following the `<type>.default.<key>` inheritance; no
    /// schema default.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).map(|(_, e)| &e.value)
    }

    /// The line where the value [`Config::get`] returns was set.
    pub fn line(&self, key: &str) -> Option<usize> {
        self.find(key).and_then(|(_, e)| e.line)
    }

    /// The entry for `key`: exact, then the original's inheritance (see the module doc).
    fn find(&self, key: &str) -> Option<(&str, &Entry)> {
        let exact = |k: &str| self.entries.get_key_value(k).map(|(k, e)| (k.as_str(), e));
        if let Some(found) = exact(key) {
            return Some(found);
        }
        let mut parts = key.splitn(3, '.');
        let (kind, name, rest) = (parts.next()?, parts.next()?, parts.next()?);
        if name == "default" {
            return None;
        }
        if kind == "protocol"
            && let Some(parent) = keys::PROTOCOLS.iter().find(|p| p.name == name).and_then(|p| p.parent)
            && let Some(found) = exact(&format!("protocol.{parent}.{rest}"))
        {
            return Some(found);
        }
        match kind {
            "module" | "protocol" => exact(&format!("{kind}.default.{rest}")),
            _ => None,
        }
    }

    /// The value for `key` converted to `T`: the set value, or the schema default.
    pub fn get_as<T: FromValue>(&self, key: &str) -> Result<T, ConfigError> {
        match self.find(key) {
            Some((_, entry)) => convert(key, &entry.value, entry.line),
            None => {
                let Some(schema::KeyKind::Typed(k)) = schema::lookup(key) else {
                    return Err(ConfigError::NotInSchema { key: key.to_string() });
                };
                let default = literal::parse(k.default).map_err(|e| ConfigError::BadValue {
                    key: key.to_string(),
                    line: None,
                    reason: format!("schema default {:?} is not a literal: {e}", k.default),
                })?;
                convert(key, &default, None)
            }
        }
    }

    /// The value for `key` converted to `T`, or `default` when unset (for keys whose default
    /// depends on context, such as a vhost's URL). The key need not be in the schema.
    pub fn get_or<T: FromValue>(&self, key: &str, default: T) -> Result<T, ConfigError> {
        match self.find(key) {
            Some((_, entry)) => convert(key, &entry.value, entry.line),
            None => Ok(default),
        }
    }

    /// A str value (set or schema default).
    pub fn get_str(&self, key: &str) -> Result<String, ConfigError> {
        self.get_as(key)
    }

    /// A str-or-None value (set or schema default).
    pub fn get_opt_str(&self, key: &str) -> Result<Option<String>, ConfigError> {
        self.get_as(key)
    }

    /// An int value (set or schema default).
    pub fn get_int(&self, key: &str) -> Result<i64, ConfigError> {
        self.get_as(key)
    }

    /// A number (int or float) value as `f64` (set or schema default).
    pub fn get_float(&self, key: &str) -> Result<f64, ConfigError> {
        self.get_as(key)
    }

    /// A bool value (set or schema default).
    pub fn get_bool(&self, key: &str) -> Result<bool, ConfigError> {
        self.get_as(key)
    }

    /// A list, tuple or set value as its members (set or schema default).
    pub fn get_list(&self, key: &str) -> Result<Vec<Value>, ConfigError> {
        self.get_as(key)
    }

    /// A non-negative number of seconds (set or schema default).
    pub fn get_duration(&self, key: &str) -> Result<std::time::Duration, ConfigError> {
        self.get_as(key)
    }

    /// Everything set at or below `prefix` as one dict: a dict value at `prefix` merged with the
    /// keys below it (`server.logging.version = 1` + `server.logging.root = {...}` →
    /// `{'version': 1, 'root': {...}}`); `None` if nothing is set.
    pub fn subtree(&self, prefix: &str) -> Option<Value> {
        let mut root = self.entries.get(prefix).map(|e| e.value.clone());
        let below = format!("{prefix}.");
        for (key, entry) in self.entries.range(below.clone()..) {
            let Some(rest) = key.strip_prefix(&below) else { break };
            let node = root.get_or_insert_with(|| Value::Dict(Vec::new()));
            insert_path(node, rest.split('.'), entry.value.clone());
        }
        root
    }

    /// The distinct names directly below `prefix` (`module.httpserver.vhost` → `{"api", "docker"}`).
    pub fn children(&self, prefix: &str) -> BTreeSet<String> {
        let below = format!("{prefix}.");
        self.entries
            .range(below.clone()..)
            .map_while(|(k, _)| k.strip_prefix(&below))
            .filter_map(|rest| rest.split('.').next())
            .map(str::to_string)
            .collect()
    }
}

fn insert_path<'a>(node: &mut Value, mut path: impl Iterator<Item = &'a str>, value: Value) {
    let Some(part) = path.next() else {
        *node = value;
        return;
    };
    if !matches!(node, Value::Dict(_)) {
        *node = Value::Dict(Vec::new());
    }
    let Value::Dict(items) = node else { return };
    let idx = match items.iter().position(|(k, _)| k.as_str() == Some(part)) {
        Some(i) => i,
        None => {
            items.push((Value::Str(part.to_string()), Value::Dict(Vec::new())));
            items.len() - 1
        }
    };
    insert_path(&mut items[idx].1, path, value);
}

fn convert<T: FromValue>(key: &str, value: &Value, line: Option<usize>) -> Result<T, ConfigError> {
    T::from_value(value).ok_or_else(|| ConfigError::WrongType {
        key: key.to_string(),
        line,
        expected: T::expected(),
        found: describe_value(value),
    })
}

/// `int 1500`, `str 'abc'`, shortened to stay on one line.
pub(crate) fn describe_value(value: &Value) -> String {
    let mut text = value.to_string();
    if text.chars().count() > 60 {
        text = text.chars().take(57).collect::<String>() + "...";
    }
    format!("{} {text}", value.type_name())
}
