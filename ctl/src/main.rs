//! `vlcpctl`: the command-line client of the vlcp management API (the VLCP-compatible
//! `/viperflow/…` and `/vrouterapi/…` calls, and vlcp's `/vlcp/trace`).
//!
//! ```text
//! vlcpctl [--url http://127.0.0.1:8081] [--json] <object> <verb> [key=value…]
//! vlcpctl discover
//! vlcpctl trace [--bridge B] in_port=<port> [field=value…]
//! ```
//!
//! [`cli`] parses the command line, [`objects`] maps object types and verbs to API calls and
//! columns, [`client`] talks HTTP, [`render`] prints tables and records, [`trace`] explains a
//! packet trace. Exit status: 0 success, 1 the server refused or could not be reached, 2 bad
//! command line.

mod cli;
mod client;
mod objects;
mod render;
mod trace;

use std::process::ExitCode;

use serde_json::{Map, Value};

use cli::{Call, Command, Options, TraceCall, Verb};
use client::{CallError, Client, UrlError};
use objects::Object;

/// Exit status when the server refuses or cannot be reached.
const EXIT_SERVER: u8 = 1;
/// Exit status for a bad command line.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let command = match cli::parse(std::env::args().skip(1).collect(), env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vlcpctl: {e}\nTry 'vlcpctl --help'.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build();
    let result = match command {
        Command::Help => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("vlcpctl {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Discover(options) => {
            runtime().map_err(Failure::Runtime).and_then(|rt| rt.block_on(discover(&options)))
        }
        Command::Call(call) => runtime().map_err(Failure::Runtime).and_then(|rt| rt.block_on(run(&call))),
        Command::Trace(t) => runtime().map_err(Failure::Runtime).and_then(|rt| rt.block_on(run_trace(&t))),
    };
    match result {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vlcpctl: {e}");
            ExitCode::from(e.exit_status())
        }
    }
}

/// Why a command failed after parsing.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// `--url` is unusable (a usage error).
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The call failed; `{0}` carries the server's message.
    #[error("{0}")]
    Call(#[from] CallError),
    /// `show` matched nothing.
    #[error("{object} {ident} not found")]
    NotFound {
        /// The object type.
        object: &'static str,
        /// `key=value …` that named it.
        ident: String,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl Failure {
    fn exit_status(&self) -> u8 {
        match self {
            Failure::Url(_) => EXIT_USAGE,
            Failure::Call(_) | Failure::NotFound { .. } | Failure::Runtime(_) => EXIT_SERVER,
        }
    }
}

fn client(options: &Options) -> Result<Client, Failure> {
    Ok(Client::new(&options.url, options.token.clone())?)
}

fn pretty(v: &Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()))
}

/// A list of objects as JSON or as the type's table.
fn objects_out(options: &Options, object: &Object, objects: Vec<Value>) -> String {
    if options.json { pretty(&Value::Array(objects)) } else { render::table(object.columns, &objects) }
}

fn as_list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        other => vec![other],
    }
}

/// Runs one verb on one object type; the text to print.
async fn run(call: &Call) -> Result<String, Failure> {
    let c = client(&call.options)?;
    let o = call.object;
    let module = o.module;
    match call.verb {
        Verb::List => Ok(objects_out(&call.options, o, list(&c, o, &call.params).await?)),
        Verb::Show => {
            let found = list(&c, o, &call.params).await?;
            if found.is_empty() {
                let ident = o
                    .ident
                    .iter()
                    .filter_map(|k| call.params.iter().find(|(p, _)| p == k))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                return Err(Failure::NotFound { object: o.name, ident });
            }
            Ok(match (call.options.json, found.as_slice()) {
                (true, [one]) => pretty(one),
                (true, _) => pretty(&Value::Array(found)),
                (false, _) => found.iter().map(render::record).collect::<Vec<_>>().join("\n"),
            })
        }
        Verb::Create => {
            let created = c.call(module, o.create, &call.params).await?;
            Ok(objects_out(&call.options, o, as_list(created)))
        }
        Verb::Update => {
            // The parser refuses `update` on types without an update API.
            let api = o.update.unwrap_or(o.create);
            let updated = c.call(module, api, &call.params).await?;
            Ok(objects_out(&call.options, o, as_list(updated)))
        }
        Verb::Delete => {
            let r = c.call(module, o.delete, &call.params).await?;
            if call.options.json {
                return Ok(pretty(&r));
            }
            let what = call.params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
            Ok(format!("deleted {} {what}\n", o.name))
        }
    }
}

/// The objects of type `o` matching `params`: server-side filters go to the list API, local
/// ones (references) are compared here; a scoped type without its parent walks every parent.
async fn list(c: &Client, o: &Object, params: &[(String, String)]) -> Result<Vec<Value>, Failure> {
    let (local, mut server): (Vec<_>, Vec<_>) =
        params.iter().cloned().partition(|(k, _)| o.local_filters.contains(&k.as_str()));
    let mut found = Vec::new();
    match &o.scope {
        None => found = as_list(c.call(o.module, o.list, &server).await?),
        Some(scope) => {
            let parents = match server.iter().position(|(k, _)| k == scope.param) {
                Some(i) => vec![server.remove(i).1],
                None => as_list(c.call(o.module, scope.parents_api, &[]).await?)
                    .iter()
                    .filter_map(|p| p.get("id").and_then(Value::as_str).map(String::from))
                    .collect(),
            };
            for parent in parents {
                let mut p = vec![(scope.api_param.to_string(), parent)];
                p.extend(server.iter().cloned());
                found.extend(as_list(c.call(o.module, o.list, &p).await?));
            }
        }
    }
    found.retain(|obj| local.iter().all(|(k, v)| render::field(obj, k) == *v));
    Ok(found)
}

/// `trace`: the server's trace, explained (or as JSON).
async fn run_trace(t: &TraceCall) -> Result<String, Failure> {
    let c = client(&t.options)?;
    let r = c.call(trace::MODULE, trace::API, &t.params).await?;
    Ok(if t.options.json { pretty(&r) } else { trace::render(&r) })
}

/// `discover` of every module: a table of API names and descriptions, or the raw results.
async fn discover(options: &Options) -> Result<String, Failure> {
    let c = client(options)?;
    let mut all = Map::new();
    for module in ["viperflow", "vrouterapi", trace::MODULE] {
        all.insert(module.to_string(), c.call(module, "discover", &[]).await?);
    }
    if options.json {
        return Ok(pretty(&Value::Object(all)));
    }
    let mut rows = vec![vec!["MODULE".to_string(), "API".to_string(), "DESCRIPTION".to_string()]];
    for (module, apis) in &all {
        for (name, desc) in apis.as_object().into_iter().flatten() {
            rows.push(vec![module.clone(), name.clone(), render::cell(desc)]);
        }
    }
    Ok(render::aligned(&rows))
}
