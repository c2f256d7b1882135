//! The declared flow-table pipeline and the derivation of table ids.
//!
//! Each pipeline module asks for tables as `(name, ancestors, path)` (VLCP's `gettablerequest`).
//! The same name from several modules is one table; a table's ancestors get smaller ids; a *path* is
//! a chain of tables linked by priority-0 "goto next" defaults (the default path is `""`). Ids are
//! assigned 0..N in a topological order; among unconstrained tables the declaration order below
//! decides, so the result is deterministic. With every module enabled:
//!
//! ```text
//! ingress l2input arp vxlaninput l3input l3router l3output l2output l2learning vxlanoutput
//! vxlanlearning egress      (paths: "" except l3router=router, l3output=l3, l2learning,
//!                            vxlanlearning)
//! ```
//!
//! (`arp` and `vxlaninput` are unordered by ancestry; the declaration order puts `arp` first, as the
//! original's allocation does.)

use std::collections::{BTreeSet, HashMap};

/// A pipeline module that requests tables (the original's module names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Module {
    IoProcessing,
    L2Switch,
    ArpResponder,
    DhcpServer,
    IcmpResponder,
    L3Router,
    VxlanCast,
}

impl Module {
    /// The original's module name (`module.<name>.*` in vlcp.conf).
    pub fn name(self) -> &'static str {
        match self {
            Module::IoProcessing => "ioprocessing",
            Module::L2Switch => "l2switch",
            Module::ArpResponder => "arpresponder",
            Module::DhcpServer => "dhcpserver",
            Module::IcmpResponder => "icmpresponder",
            Module::L3Router => "l3router",
            Module::VxlanCast => "vxlancast",
        }
    }

    /// Every module, in declaration order.
    pub const ALL: [Module; 7] = [
        Module::IoProcessing,
        Module::L2Switch,
        Module::ArpResponder,
        Module::DhcpServer,
        Module::IcmpResponder,
        Module::L3Router,
        Module::VxlanCast,
    ];
}

/// One table request: `module` wants table `name` after `ancestors`, on `path`.
#[derive(Debug, Clone, Copy)]
pub struct TableRequest {
    pub module: Module,
    pub name: &'static str,
    pub ancestors: &'static [&'static str],
    pub path: &'static str,
}

const fn req(
    module: Module,
    name: &'static str,
    ancestors: &'static [&'static str],
    path: &'static str,
) -> TableRequest {
    TableRequest { module, name, ancestors, path }
}

/// Every table request of every module, as the original modules make them. The order of first
/// appearance of a name is the tie-break between unconstrained tables.
pub const REQUESTS: &[TableRequest] = &[
    req(Module::IoProcessing, "ingress", &[], ""),
    req(Module::L2Switch, "l2input", &["ingress"], ""),
    req(Module::ArpResponder, "arp", &["l2input"], ""),
    req(Module::VxlanCast, "vxlaninput", &["l2input"], ""),
    req(Module::ArpResponder, "l3input", &["arp"], ""),
    req(Module::DhcpServer, "l3input", &["l2input"], ""),
    req(Module::IcmpResponder, "l3input", &["l2input"], ""),
    req(Module::VxlanCast, "l3input", &["vxlaninput"], ""),
    req(Module::L3Router, "l3router", &["l3input"], "router"),
    req(Module::L3Router, "l3output", &["l3router"], "l3"),
    req(Module::L2Switch, "l2output", &["l2input"], ""),
    req(Module::ArpResponder, "l2output", &["l3input"], ""),
    req(Module::DhcpServer, "l2output", &["l3input"], ""),
    req(Module::IcmpResponder, "l2output", &["l3input"], ""),
    req(Module::VxlanCast, "l2output", &["l3input"], ""),
    req(Module::L3Router, "l2output", &["l3output"], ""),
    req(Module::L2Switch, "l2learning", &["l2output"], "l2learning"),
    req(Module::VxlanCast, "vxlanoutput", &["l2output", "vxlaninput"], ""),
    req(Module::VxlanCast, "vxlanlearning", &["vxlanoutput"], "vxlanlearning"),
    req(Module::IoProcessing, "egress", &["ingress"], ""),
    req(Module::L2Switch, "egress", &["l2output", "l2learning"], ""),
    req(Module::ArpResponder, "egress", &["l2output"], ""),
    req(Module::VxlanCast, "egress", &["vxlanoutput", "vxlanlearning"], ""),
];

/// Why a set of requests has no valid allocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    #[error("table {0} is requested on two paths: {1:?} and {2:?}")]
    TwoPaths(&'static str, &'static str, &'static str),
    #[error("the table requests form a cycle through {0}")]
    Cycle(&'static str),
    #[error("{0} tables requested; OpenFlow allows 255")]
    TooMany(usize),
}

/// One allocated table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub id: u8,
    pub path: &'static str,
}

/// The allocated pipeline: table ids by name, and the default "goto next on the same path" chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    tables: Vec<Table>,
}

impl Pipeline {
    /// Allocates ids for the tables requested by `modules` (ancestors that no enabled module
    /// requests are ignored, as in the original).
    pub fn build(modules: &[Module]) -> Result<Pipeline, PipelineError> {
        let enabled: BTreeSet<Module> = modules.iter().copied().collect();
        let reqs: Vec<&TableRequest> = REQUESTS.iter().filter(|r| enabled.contains(&r.module)).collect();
        let mut order: Vec<&'static str> = Vec::new();
        let mut path: HashMap<&'static str, &'static str> = HashMap::new();
        for r in &reqs {
            match path.get(r.name) {
                Some(p) if *p != r.path => return Err(PipelineError::TwoPaths(r.name, p, r.path)),
                Some(_) => {}
                None => {
                    path.insert(r.name, r.path);
                    order.push(r.name);
                }
            }
        }
        if order.len() > 255 {
            return Err(PipelineError::TooMany(order.len()));
        }
        let mut parents: HashMap<&'static str, BTreeSet<&'static str>> = HashMap::new();
        for r in &reqs {
            let e = parents.entry(r.name).or_default();
            e.extend(r.ancestors.iter().copied().filter(|a| path.contains_key(a)));
        }
        // Kahn's algorithm; among ready tables the earliest declared goes first.
        let mut placed: Vec<&'static str> = Vec::with_capacity(order.len());
        while placed.len() < order.len() {
            let next = order.iter().copied().find(|t| {
                !placed.contains(t) && parents.get(t).is_none_or(|ps| ps.iter().all(|p| placed.contains(p)))
            });
            match next {
                Some(t) => placed.push(t),
                None => {
                    let stuck = order.iter().copied().find(|t| !placed.contains(t)).unwrap_or("?");
                    return Err(PipelineError::Cycle(stuck));
                }
            }
        }
        let tables =
            placed.iter().enumerate().map(|(i, n)| Table { name: n, id: i as u8, path: path[n] }).collect();
        Ok(Pipeline { tables })
    }

    /// The id of table `name`, if some enabled module requested it.
    pub fn id(&self, name: &str) -> Option<u8> {
        self.tables.iter().find(|t| t.name == name).map(|t| t.id)
    }

    /// The name of table `id` (for logs, traces and flow dumps).
    pub fn name(&self, id: u8) -> Option<&'static str> {
        self.tables.get(id as usize).map(|t| t.name)
    }

    /// All tables in id order.
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// The table a priority-0 default flow of `name` goes to: the next table on the same path, or
    /// `None` for the last table of a path (its default is drop, or the module's own choice).
    pub fn default_next(&self, name: &str) -> Option<&Table> {
        let me = self.tables.iter().position(|t| t.name == name)?;
        let path = self.tables[me].path;
        self.tables[me + 1..].iter().find(|t| t.path == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &Pipeline) -> Vec<&'static str> {
        p.tables().iter().map(|t| t.name).collect()
    }

    #[test]
    fn all_modules_give_the_original_order() {
        let p = Pipeline::build(&Module::ALL).unwrap();
        assert_eq!(
            names(&p),
            [
                "ingress",
                "l2input",
                "arp",
                "vxlaninput",
                "l3input",
                "l3router",
                "l3output",
                "l2output",
                "l2learning",
                "vxlanoutput",
                "vxlanlearning",
                "egress"
            ]
        );
        assert_eq!(p.id("l2output"), Some(7));
        assert_eq!(p.name(11), Some("egress"));
        assert_eq!(p.default_next("l3input").unwrap().name, "l2output");
        assert_eq!(p.default_next("l2output").unwrap().name, "vxlanoutput");
        assert!(p.default_next("l3router").is_none(), "router path has one table");
        assert!(p.default_next("egress").is_none());
    }

    #[test]
    fn ioprocessing_alone_has_ingress_and_egress() {
        let p = Pipeline::build(&[Module::IoProcessing]).unwrap();
        assert_eq!(names(&p), ["ingress", "egress"]);
        assert_eq!(p.default_next("ingress").unwrap().name, "egress");
    }

    #[test]
    fn l2_only_pipeline_skips_absent_tables() {
        let p = Pipeline::build(&[Module::IoProcessing, Module::L2Switch]).unwrap();
        assert_eq!(names(&p), ["ingress", "l2input", "l2output", "l2learning", "egress"]);
        assert_eq!(p.default_next("l2output").unwrap().name, "egress");
        assert_eq!(p.id("arp"), None);
    }

    #[test]
    fn every_ancestor_gets_a_smaller_id() {
        let p = Pipeline::build(&Module::ALL).unwrap();
        for r in REQUESTS {
            for a in r.ancestors {
                assert!(p.id(a) < p.id(r.name), "{a} must precede {}", r.name);
            }
        }
    }
}
