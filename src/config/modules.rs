//! What the config asks the daemon to run: the start-up module list (`server.startup`, with
//! dependencies and proxies resolved like the original's module loader) and the log settings.

use super::diag::{Diagnostic, Problem};
use super::keys::{MODULES, ModuleDef, PROXIES};
use super::literal::Value;
use super::{Config, ConfigError, schema};

/// Which module may serve each proxy.
const PROXY_IMPLS: &[(&str, &[&str])] = &[
    ("kvstorage", &["embeddeddb", "zookeeperdb", "redisdb"]),
    ("updatenotifier", &["embeddeddb", "zookeeperdb", "redisnotifier"]),
    ("memorystorage", &["knowledge"]),
];

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging as configured: a `tracing` filter directive and a line format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// An `EnvFilter` directive such as `info` or `vlcp=debug,info`.
    pub filter: String,
    /// Text or JSON lines.
    pub format: LogFormat,
}

const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];

impl Config {
    /// The modules to start, dependencies first, each once: `server.startup` (loading paths such
    /// as `'vlcp.service.sdn.l2switch.L2Switch'`, matched on the lower-cased class name) expanded
    /// with each module's dependencies; the proxies (`kvstorage`, `updatenotifier`,
    /// `memorystorage`) become the module [`Config::proxy_target`] names. `autoload` brings the
    /// four network drivers, as the original's autoload of `vlcp.service.sdn.plugins` does.
    pub fn startup_modules(&self) -> Result<Vec<&'static str>, ConfigError> {
        let paths: Vec<String> = self.get_as("server.startup")?;
        let line = self.line("server.startup");
        let mut order = Vec::new();
        for path in &paths {
            let module = schema::module_by_path(path).ok_or_else(|| ConfigError::BadValue {
                key: "server.startup".into(),
                line,
                reason: unknown_module_reason(path),
            })?;
            self.visit(module, &mut order, 0)?;
        }
        Ok(order)
    }

    fn visit(
        &self,
        module: &'static ModuleDef,
        order: &mut Vec<&'static str>,
        depth: usize,
    ) -> Result<(), ConfigError> {
        if order.contains(&module.name) || depth > MODULES.len() {
            return Ok(());
        }
        for dep in module.deps {
            let name = if PROXIES.iter().any(|p| p.name == *dep) { self.proxy_target(dep)? } else { dep };
            if let Some(def) = MODULES.iter().find(|m| m.name == name) {
                self.visit(def, order, depth + 1)?;
            }
        }
        if !order.contains(&module.name) {
            order.push(module.name);
        }
        Ok(())
    }

    /// The module serving proxy `proxy` (`kvstorage`, `updatenotifier`, `memorystorage`):
    /// `proxy.<name>` (a loading path) if set; otherwise `embeddeddb` for kvstorage (the original
    /// defaults to redisdb), for updatenotifier the notifier paired with kvstorage
    /// (redisdb → redisnotifier, the others notify themselves), `knowledge` for memorystorage.
    pub fn proxy_target(&self, proxy: &str) -> Result<&'static str, ConfigError> {
        let key = format!("proxy.{proxy}");
        let Some(def) = PROXIES.iter().find(|p| p.name == proxy) else {
            return Err(ConfigError::NotInSchema { key });
        };
        if let Some(path) = self.get_as::<Option<String>>(&key)? {
            let line = self.line(&key);
            let module = schema::module_by_path(&path).ok_or_else(|| ConfigError::BadValue {
                key: key.clone(),
                line,
                reason: unknown_module_reason(&path),
            })?;
            let allowed = PROXY_IMPLS.iter().find(|(p, _)| *p == proxy).map_or(&[][..], |(_, m)| m);
            if !allowed.contains(&module.name) {
                let reason =
                    format!("{} cannot serve {proxy}; use one of: {}", module.name, allowed.join(", "));
                return Err(ConfigError::BadValue { key, line, reason });
            }
            return Ok(module.name);
        }
        match def.default {
            Some(name) => Ok(name),
            None => Ok(match self.proxy_target("kvstorage")? {
                "redisdb" => "redisnotifier",
                other => other,
            }),
        }
    }

    /// The log settings: `server.loglevel` (ours, a tracing filter directive) if set, else the
    /// original's `server.logging.root.level` ('DEBUG', 'INFO', 'WARNING', …), else `debug` when
    /// `server.debugging` is True, else `info`; `server.logformat` 'text' or 'json'. The daemon
    /// lets `RUST_LOG` and `-d` override the filter.
    pub fn log_settings(&self) -> Result<LogSettings, ConfigError> {
        let filter = match self.get_opt_str("server.loglevel")? {
            Some(filter) => {
                let line = self.line("server.loglevel");
                check_filter(&filter).map_err(|reason| ConfigError::BadValue {
                    key: "server.loglevel".into(),
                    line,
                    reason,
                })?;
                filter
            }
            None => match self.python_root_level()? {
                Some(level) => level.to_string(),
                None if self.get_bool("server.debugging")? => "debug".into(),
                None => "info".into(),
            },
        };
        let format = match self.get_str("server.logformat")?.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::BadValue {
                    key: "server.logformat".into(),
                    line: self.line("server.logformat"),
                    reason: format!("expected 'text' or 'json', found {other:?}"),
                });
            }
        };
        Ok(LogSettings { filter, format })
    }

    /// `server.logging.root.level` mapped to a tracing level.
    fn python_root_level(&self) -> Result<Option<&'static str>, ConfigError> {
        let Some(tree) = self.subtree("server.logging") else { return Ok(None) };
        let Some(level) = tree.dict_get("root").and_then(|r| r.dict_get("level")) else { return Ok(None) };
        let mapped = match level {
            Value::Str(s) => match s.to_ascii_uppercase().as_str() {
                "NOTSET" | "DEBUG" => Some("debug"),
                "INFO" => Some("info"),
                "WARN" | "WARNING" => Some("warn"),
                "ERROR" | "CRITICAL" | "FATAL" => Some("error"),
                _ => None,
            },
            Value::Int(n) if *n <= 10 => Some("debug"),
            Value::Int(n) if *n <= 20 => Some("info"),
            Value::Int(n) if *n <= 30 => Some("warn"),
            Value::Int(_) => Some("error"),
            _ => None,
        };
        mapped.map(Some).ok_or_else(|| ConfigError::BadValue {
            key: "server.logging.root".into(),
            line: self.line("server.logging.root").or(self.line("server.logging")),
            reason: format!("unknown log level {level}; use DEBUG, INFO, WARNING, ERROR or CRITICAL"),
        })
    }

    /// Value checks beyond types: module paths, proxies, log settings.
    pub(crate) fn check_values(&self) -> Vec<Diagnostic> {
        let mut found = Vec::new();
        let mut push = |e: ConfigError| {
            if let ConfigError::BadValue { key, line, reason } = e {
                let d = Diagnostic::error(line, Some(&key), Problem::BadValue { reason });
                if !found.contains(&d) {
                    found.push(d);
                }
            }
        };
        if let Ok(paths) = self.get_as::<Vec<String>>("server.startup") {
            for path in paths.iter().filter(|p| schema::module_by_path(p).is_none()) {
                push(ConfigError::BadValue {
                    key: "server.startup".into(),
                    line: self.line("server.startup"),
                    reason: unknown_module_reason(path),
                });
            }
        }
        for proxy in PROXIES {
            if let Err(e) = self.proxy_target(proxy.name) {
                push(e);
            }
        }
        if let Err(e) = self.log_settings() {
            push(e);
        }
        found
    }
}

fn unknown_module_reason(path: &str) -> String {
    match schema::nearest_module(path) {
        Some(m) => format!("unknown module {path:?}; did you mean {:?}?", m.path),
        None => {
            format!("unknown module {path:?} (a loading path such as 'vlcp.service.sdn.l2switch.L2Switch')")
        }
    }
}

/// A light check of an `EnvFilter` directive: comma-separated `level` or `target=level`.
fn check_filter(filter: &str) -> Result<(), String> {
    for part in filter.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let level = part.rsplit_once('=').map_or(part, |(_, l)| l);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "bad log directive {part:?}: expected a level ({}) or target=level",
                LEVELS.join(", ")
            ));
        }
    }
    Ok(())
}
