//! The report: a readable summary by default, the plan with `--dry-run`, JSON with `--json`
//! (`{"status", "host", "docker", "store", "dry_run", "actions": [{"kind", …, "error"?}],
//! "skipped": [{"what", "reason"}]}`), and the exit status.

use serde::Serialize;
use vlcp_plugin::docker::driver::DriverConfig;

use crate::act::Outcome;
use crate::passes::{Action, Plan};

/// How the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing to repair (exit 0).
    Clean,
    /// Dry run: repairs planned, nothing changed (exit 3).
    Planned,
    /// Every repair done (exit 3).
    Repaired,
    /// A repair failed (exit 1).
    Failed,
}

impl Status {
    /// The exit status.
    pub fn code(self) -> u8 {
        match self {
            Status::Clean => 0,
            Status::Planned | Status::Repaired => 3,
            Status::Failed => 1,
        }
    }
}

/// What the run found and did.
#[derive(Debug, Serialize)]
pub struct Report {
    /// How it ended.
    pub status: Status,
    /// This host's identity.
    pub host: String,
    /// The Docker endpoint.
    pub docker: String,
    /// The bridge.
    pub bridge: String,
    /// The veth prefix.
    pub veth_prefix: String,
    /// `embedded` or `shared`.
    pub store: &'static str,
    /// `--dry-run`.
    pub dry_run: bool,
    /// The plan.
    #[serde(flatten)]
    pub plan: Plan,
    /// What acting did (empty on a dry run).
    #[serde(skip)]
    pub outcomes: Vec<Outcome>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(flatten)]
    head: &'a Report,
    results: &'a [Outcome],
}

impl Report {
    /// A report of `plan`, not acted on yet.
    pub fn new(
        host: &str,
        docker: &str,
        d: &DriverConfig,
        embedded: bool,
        dry_run: bool,
        plan: Plan,
    ) -> Report {
        Report {
            status: Status::Clean,
            host: host.into(),
            docker: docker.into(),
            bridge: d.bridge.clone(),
            veth_prefix: d.veth_prefix.clone(),
            store: if embedded { "embedded" } else { "shared" },
            dry_run,
            plan,
            outcomes: Vec::new(),
        }
    }

    /// Records what acting did.
    pub fn finish(&mut self, outcomes: Vec<Outcome>) {
        self.status =
            if outcomes.iter().any(|o| o.error.is_some()) { Status::Failed } else { Status::Repaired };
        self.outcomes = outcomes;
    }

    /// Prints to stdout.
    pub fn print(&self, json: bool) {
        if json {
            let j = JsonReport { head: self, results: &self.outcomes };
            println!(
                "{}",
                serde_json::to_string_pretty(&j).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
            );
        } else {
            print!("{}", self.human());
        }
    }

    /// The readable form.
    pub fn human(&self) -> String {
        let mut s = format!(
            "host {} · docker {} · bridge {} · veth prefix {} · {} store\n",
            self.host, self.docker, self.bridge, self.veth_prefix, self.store
        );
        let n = self.plan.actions.len();
        if n == 0 {
            s.push_str("Nothing to clean up.\n");
        } else {
            let count = |p: &str| self.plan.actions.iter().filter(|a| a.pass() == p).count();
            s.push_str(&format!(
                "{} {n} orphan{} (OVS ports {}, veths {}, store objects {}):\n",
                if self.dry_run { "Would remove" } else { "Found" },
                if n == 1 { "" } else { "s" },
                count("ovs"),
                count("iplink"),
                count("logicalport")
            ));
            let errors: Vec<(&Action, &str)> =
                self.outcomes.iter().filter_map(|o| o.error.as_deref().map(|e| (&o.action, e))).collect();
            for a in &self.plan.actions {
                let failed = errors.iter().find(|(x, _)| *x == a).map(|(_, e)| format!("  FAILED: {e}"));
                s.push_str(&format!("  - {}{}\n", a.describe(), failed.unwrap_or_default()));
            }
        }
        for k in &self.plan.skipped {
            s.push_str(&format!("  (left alone) {}: {}\n", k.what, k.reason));
        }
        s.push_str(&match self.status {
            Status::Clean => String::new(),
            Status::Planned => "Dry run: nothing changed.\n".into(),
            Status::Repaired => format!("Removed {n} of {n}.\n"),
            Status::Failed => {
                let bad = self.outcomes.iter().filter(|o| o.error.is_some()).count();
                format!("Removed {} of {n}; {bad} failed (see above).\n", n - bad)
            }
        });
        s
    }
}
