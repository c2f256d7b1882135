//! `vlcp-cleanup`: one safe command to recover a host after a Docker engine panic, a kernel
//! panic or a power loss left veths, OVS ports, logical ports, DockerInfo and IPAM
//! reservations behind (the original's `python -m vlcp_docker.cleanup`, host-scoped and on a
//! negotiated Docker API version).
//!
//! Flow: read the config ([`cli`]), reach the store, Docker and OVSDB ([`connect`]: the
//! store-access rules are there), take two [`sample::Sample`]s `--interval` apart
//! ([`gather`]), plan the repairs both agree on ([`passes`]), print the plan (`--dry-run`) or
//! carry it out ([`act`]), and report ([`report`]). Exit status: 0 nothing to repair, 3
//! repaired (dry run: repairs planned), 1 failed, 2 usage or config error.

mod act;
mod cli;
mod connect;
mod gather;
mod passes;
mod report;
mod sample;

use std::path::PathBuf;
use std::process::ExitCode;

use vlcp::config::Config;
use vlcp::model::Model;
use vlcp_plugin::docker::driver::DriverConfig;
use vlcp_plugin::docker::naming::host_id;
use vlcp_plugin::docker::plumbing::{HostPlumber, netlink_in};

use cli::{Command, Options};
use report::{Report, Status};

/// Exit status: usage or config error.
const EXIT_USAGE: u8 = 2;
/// Exit status: a source unreachable or a repair failed.
const EXIT_FAILED: u8 = 1;

fn main() -> ExitCode {
    let opts = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("vlcp-cleanup: {e}\nTry 'vlcp-cleanup --help'.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
    let config = match Config::load(&opts.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vlcp-cleanup: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let driver = match DriverConfig::from_config(&config) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("vlcp-cleanup: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vlcp-cleanup: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    match rt.block_on(run(&opts, &config, &driver)) {
        Ok(report) => {
            report.print(opts.json);
            ExitCode::from(report.status.code())
        }
        Err(e) => {
            if opts.json {
                println!("{}", serde_json::json!({ "status": "failed", "error": e }));
            }
            eprintln!("vlcp-cleanup: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

async fn run(opts: &Options, config: &Config, driver: &DriverConfig) -> Result<Report, String> {
    let netns = opts.netns.as_ref().map(|n| PathBuf::from(format!("/run/netns/{n}")));
    let docker_host = connect::docker_host(opts.docker.as_deref());
    let (db, embedded) = connect::store(config).await.map_err(|e| e.to_string())?;
    let docker = connect::docker(&docker_host).await.map_err(|e| e.to_string())?;
    let ovsdb = connect::ovsdb(config, opts.ovsdb.as_deref()).await.map_err(|e| e.to_string())?;
    let host = ovsdb.with_view(host_id).ok_or("ovsdb: no Open_vSwitch row (is the database initialised?)")?;
    let links = netlink_in(netns.as_deref()).map_err(|e| e.to_string())?;
    let scope = passes::Scope {
        host_id: host.clone(),
        veth_prefix: driver.veth_prefix.clone(),
        embedded,
        no_docker_info: opts.no_docker_info,
        skip_ovs: opts.skip_ovs,
        skip_iplink: opts.skip_iplink,
        skip_logical_port: opts.skip_logical_port,
    };
    let sources = gather::Sources { docker, links, ovsdb: ovsdb.clone(), db: db.clone() };
    let a = gather::sample(&sources).await.map_err(|e| e.to_string())?;
    tokio::time::sleep(opts.interval).await;
    let b = gather::sample(&sources).await.map_err(|e| e.to_string())?;
    let plan = passes::plan(&a, &b, &scope);
    let mut report = Report::new(&host, &docker_host, driver, embedded, opts.dry_run, plan);
    if opts.dry_run || report.plan.actions.is_empty() {
        report.status = if report.plan.actions.is_empty() { Status::Clean } else { Status::Planned };
        return Ok(report);
    }
    let plumber = HostPlumber::new(ovsdb, &driver.bridge, netns.as_deref()).map_err(|e| e.to_string())?;
    let actor = act::Actor { plumber, model: Model::new(db), keep_docker_info: opts.no_docker_info };
    let outcomes = actor.act(&report.plan.actions).await;
    report.finish(outcomes);
    Ok(report)
}
