//! Flows as data: a [`FlowEntry`] names its stage (`"l2output"`), its successor by name, the
//! module that made it and the model object it exists for ([`Owner`]). [`FlowTable::build`]
//! checks every entry against the [`Pipeline`] (the table exists, a goto only goes forward to an
//! existing table, priority-0 defaults match nothing) and translates stage names into table ids.
//!
//! Every flow carries a [`Cookie`]: a marker byte saying "ours", the module, and a 48-bit hash of
//! the owner, so flows on a switch can be traced back to why they exist and our flows can be told
//! apart from anyone else's.

use std::collections::BTreeMap;
use std::fmt;

use crate::openflow::{Action, FlowMod, Instruction, Match, NxAction, Oxm, OxmField};

use super::stages::{Module, Pipeline};

/// Why an entry cannot be installed as declared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("{module:?} made a flow for table {table}, which no enabled module requested")]
    UnknownTable { module: Module, table: &'static str },
    #[error("a flow in {from} goes to {to}, which is not a later table of the pipeline")]
    BadGoto { from: &'static str, to: &'static str },
    #[error("a priority-0 default of {0} has match fields")]
    DefaultWithMatch(&'static str),
    #[error("two different flows in {table} at priority {priority} have the same match (owners {a} and {b})")]
    Conflict { table: &'static str, priority: u16, a: String, b: String },
}

/// The model object a flow exists for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// Table defaults and fixed filters.
    Pipeline,
    /// A logical network (by id).
    Network(String),
    /// A subnet (by id).
    Subnet(String),
    /// A logical port (by id).
    Port(String),
    /// A physical port (by OVS port name).
    PhysicalPort(String),
    /// A virtual router (by id).
    Router(String),
    /// A router interface (by router port id).
    RouterPort(String),
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Pipeline => f.write_str("pipeline"),
            Owner::Network(id) => write!(f, "network:{id}"),
            Owner::Subnet(id) => write!(f, "subnet:{id}"),
            Owner::Port(id) => write!(f, "port:{id}"),
            Owner::PhysicalPort(n) => write!(f, "physicalport:{n}"),
            Owner::Router(id) => write!(f, "router:{id}"),
            Owner::RouterPort(id) => write!(f, "routerport:{id}"),
        }
    }
}

/// `0x5c | module | owner hash (48 bits)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cookie(pub u64);

impl Cookie {
    /// The marker byte of our cookies.
    pub const MARK: u64 = 0x5c << 56;
    /// The mask that selects the marker byte (to delete or read "all our flows").
    pub const MARK_MASK: u64 = 0xff << 56;

    /// The cookie of a flow `module` makes for `owner`.
    pub fn new(module: Module, owner: &Owner) -> Cookie {
        let m = Module::ALL.iter().position(|x| *x == module).unwrap_or(0xff) as u64;
        Cookie(Self::MARK | (m << 48) | owner_hash(owner))
    }

    /// True for a cookie this controller made.
    pub fn is_ours(self) -> bool {
        self.0 & Self::MARK_MASK == Self::MARK
    }

    /// The module that made the flow.
    pub fn module(self) -> Option<Module> {
        self.is_ours().then(|| Module::ALL.get(((self.0 >> 48) & 0xff) as usize).copied()).flatten()
    }

    /// The mask selecting the owner hash of a cookie (with the marker).
    pub const OWNER_MASK: u64 = Self::MARK_MASK | 0xffff_ffff_ffff;
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

/// FNV-1a over the owner's display form, folded to 48 bits.
fn owner_hash(owner: &Owner) -> u64 {
    /// FNV-1a over the owner's display form, fed as it is formatted (no string is built: this
    /// runs for every flow of every recompute). Installed cookies depend on it: keep it stable.
    struct Fnv(u64);
    impl fmt::Write for Fnv {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for b in s.bytes() {
                self.0 ^= u64::from(b);
                self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
            }
            Ok(())
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    let _ = fmt::Write::write_fmt(&mut h, format_args!("{owner}"));
    let h = h.0;
    (h ^ (h >> 48)) & 0xffff_ffff_ffff
}

/// Where a packet goes after a flow's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Next {
    /// Nowhere: the actions are the end (output, controller, or drop when there are none).
    Stop,
    /// The next table on this table's path (what the priority-0 default does).
    Default,
    /// A named later table.
    Stage(&'static str),
}

/// One flow, in stage names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEntry {
    pub table: &'static str,
    pub priority: u16,
    pub matches: Match,
    /// Applied actions (empty: none).
    pub actions: Vec<Action>,
    pub next: Next,
    pub module: Module,
    pub owner: Owner,
}

impl FlowEntry {
    /// A flow of `module` for `owner` in `table`; add matches, actions and the successor with the
    /// builder methods.
    pub fn new(module: Module, owner: Owner, table: &'static str, priority: u16) -> FlowEntry {
        FlowEntry {
            table,
            priority,
            matches: Match::new(),
            actions: Vec::new(),
            next: Next::Stop,
            module,
            owner,
        }
    }

    /// Builder: add a match field.
    pub fn with(mut self, oxm: Oxm) -> FlowEntry {
        self.matches.fields.push(oxm);
        self
    }

    /// Builder: append actions.
    pub fn actions(mut self, actions: impl IntoIterator<Item = Action>) -> FlowEntry {
        self.actions.extend(actions);
        self
    }

    /// Builder: continue in the default next table.
    pub fn goto_next(mut self) -> FlowEntry {
        self.next = Next::Default;
        self
    }

    /// Builder: continue in `stage`.
    pub fn goto(mut self, stage: &'static str) -> FlowEntry {
        self.next = Next::Stage(stage);
        self
    }
}

/// The identity of a flow on a switch (OpenFlow's strict-match identity).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub table: u8,
    pub priority: u16,
    /// The canonical match, encoded (see [`canonical_match`]).
    pub matches: Vec<u8>,
}

/// What a flow does, plus its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowBody {
    pub cookie: Cookie,
    pub matches: Match,
    pub instructions: Vec<Instruction>,
}

/// Sorts match fields and drops all-ones masks, so the same match compares equal whatever
/// order or mask form produced it (ours, or the switch's flow-stats reply). Fields are sorted
/// as their encodings are ([`Oxm`]'s order), so the canonical form is also the key order.
pub fn canonical_match(m: &Match) -> Match {
    let full_mask = |o: &Oxm| o.mask().is_some_and(|mask| mask.iter().all(|b| *b == 0xff));
    let mut fields: Vec<Oxm> = m
        .fields
        .iter()
        .map(|o| if full_mask(o) { Oxm::new(o.field(), o.value()) } else { o.clone() })
        .collect();
    if !fields.is_sorted() {
        fields.sort();
    }
    Match { fields }
}

fn key_bytes(m: &Match) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + m.fields.iter().map(Oxm::wire_len).sum::<usize>());
    m.encode(&mut b);
    b
}

/// A set of flows in table ids, keyed by flow identity: the desired or installed state of one
/// switch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowTable {
    pub flows: BTreeMap<FlowKey, FlowBody>,
}

impl FlowTable {
    /// Checks and translates `entries`. Identical duplicates collapse; two different flows with
    /// the same identity are an error.
    pub fn build(pipeline: &Pipeline, entries: &[FlowEntry]) -> Result<FlowTable, FlowError> {
        let (table, conflicts) = Self::build_lenient(pipeline, entries)?;
        match conflicts.into_iter().next() {
            Some(c) => Err(c),
            None => Ok(table),
        }
    }

    /// Like [`FlowTable::build`], but a conflict (two model objects wanting the same flow
    /// identity, e.g. duplicate MACs in one network) keeps the first flow and is reported, so
    /// one bad object does not stop a whole switch. Pipeline violations are still errors.
    pub fn build_lenient(
        pipeline: &Pipeline,
        entries: &[FlowEntry],
    ) -> Result<(FlowTable, Vec<FlowError>), FlowError> {
        // Tables are few: resolve each entry's names through this small list of (name, id,
        // default next id) instead of searching the pipeline per entry.
        let tables: Vec<(&'static str, u8, Option<u8>)> = pipeline
            .tables()
            .iter()
            .map(|t| (t.name, t.id, pipeline.default_next(t.name).map(|n| n.id)))
            .collect();
        let lookup = |name: &str| tables.iter().find(|t| std::ptr::eq(t.0, name) || t.0 == name);
        // (key, body, entry index): sorted by key, the first entry of a key wins.
        let mut built: Vec<(FlowKey, FlowBody, usize)> = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let &(_, table, default_next) =
                lookup(e.table).ok_or(FlowError::UnknownTable { module: e.module, table: e.table })?;
            if e.priority == 0 && !e.matches.fields.is_empty() {
                return Err(FlowError::DefaultWithMatch(e.table));
            }
            let goto = match e.next {
                Next::Stop => None,
                Next::Default => {
                    Some(default_next.ok_or(FlowError::BadGoto { from: e.table, to: "(end of path)" })?)
                }
                Next::Stage(to) => match lookup(to) {
                    Some(&(_, id, _)) if id > table => Some(id),
                    _ => return Err(FlowError::BadGoto { from: e.table, to }),
                },
            };
            let mut instructions = Vec::with_capacity(2);
            if !e.actions.is_empty() {
                instructions.push(Instruction::ApplyActions(e.actions.clone()));
            }
            if let Some(t) = goto {
                instructions.push(Instruction::GotoTable(t));
            }
            let matches = canonical_match(&e.matches);
            let key = FlowKey { table, priority: e.priority, matches: key_bytes(&matches) };
            let body = FlowBody { cookie: Cookie::new(e.module, &e.owner), matches, instructions };
            built.push((key, body, i));
        }
        built.sort_by(|a, b| a.0.cmp(&b.0));
        let mut conflicts = Vec::new();
        let mut flows: Vec<(FlowKey, FlowBody)> = Vec::with_capacity(built.len());
        let mut first = 0; // entry index of the kept flow of the current key
        for (key, body, i) in built {
            match flows.last() {
                Some((k, old)) if *k == key => {
                    if old.instructions != body.instructions {
                        let e = &entries[i];
                        conflicts.push((
                            i,
                            FlowError::Conflict {
                                table: e.table,
                                priority: e.priority,
                                a: entries[first].owner.to_string(),
                                b: e.owner.to_string(),
                            },
                        ));
                    }
                }
                _ => {
                    first = i;
                    flows.push((key, body));
                }
            }
        }
        // Conflicts in entry order, as they were met.
        conflicts.sort_by_key(|c| c.0);
        let conflicts = conflicts.into_iter().map(|c| c.1).collect();
        Ok((FlowTable { flows: flows.into_iter().collect() }, conflicts))
    }

    /// Adds a flow as the switch reports it (flow-stats), keyed canonically.
    pub fn insert_reported(
        &mut self,
        table: u8,
        priority: u16,
        cookie: u64,
        m: &Match,
        ins: Vec<Instruction>,
    ) {
        let matches = canonical_match(m);
        let key = FlowKey { table, priority, matches: key_bytes(&matches) };
        self.flows.insert(key, FlowBody { cookie: Cookie(cookie), matches, instructions: ins });
    }

    /// The FlowMod that adds `key` → `body`.
    pub fn add_mod(key: &FlowKey, body: &FlowBody) -> FlowMod {
        FlowMod::add(key.table, key.priority, body.matches.clone(), body.instructions.clone())
            .cookie(body.cookie.0)
    }

    /// Number of flows.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// True when there are no flows.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// A readable listing with stage names instead of table ids (golden tests, debugging):
    /// one line per flow, `stage priority match -> instructions [owner hash module]`.
    pub fn listing(&self, pipeline: &Pipeline) -> Vec<String> {
        self.flows
            .iter()
            .map(|(k, b)| {
                let stage = pipeline.name(k.table).unwrap_or("?");
                let m: Vec<String> = b.matches.fields.iter().map(|o| format!("{o:?}")).collect();
                let ins: Vec<String> = b
                    .instructions
                    .iter()
                    .map(|i| match i {
                        Instruction::GotoTable(t) => format!("goto:{}", pipeline.name(*t).unwrap_or("?")),
                        Instruction::ApplyActions(a) => format!("apply{}", fmt_actions(a)),
                        other => format!("{other:?}"),
                    })
                    .collect();
                let module = b.cookie.module().map(Module::name).unwrap_or("?");
                format!("{stage} {} {} -> {} ({module})", k.priority, m.join(","), ins.join(" "))
            })
            .collect()
    }
}

fn fmt_actions(actions: &[Action]) -> String {
    let parts: Vec<String> = actions
        .iter()
        .map(|a| match a {
            Action::Output { port, .. } => format!("output:{port}"),
            Action::SetField(o) => format!("set:{o:?}"),
            Action::PushVlan(t) => format!("push_vlan:{t:#x}"),
            Action::PopVlan => "pop_vlan".to_owned(),
            Action::Nx(NxAction::RegMove { n_bits, src, dst }) => format!(
                "move:{:?}[{}..{}]->{:?}[{}..{}]",
                src.field,
                src.ofs,
                src.ofs + n_bits,
                dst.field,
                dst.ofs,
                dst.ofs + n_bits
            ),
            Action::Nx(NxAction::RegLoad { dst, n_bits, value }) => {
                format!("load:{value:#x}->{:?}[{}..{}]", dst.field, dst.ofs, dst.ofs + n_bits)
            }
            Action::Nx(nx) => format!("{nx:?}"),
            other => format!("{other:?}"),
        })
        .collect();
    format!("({})", parts.join(","))
}

/// `set_field:value->regN`.
pub fn set_reg(n: u8, value: u32) -> Action {
    Action::SetField(Oxm::reg(n, value))
}

/// Field helper: the NXM field of register `n`.
pub fn reg_field(n: u8) -> OxmField {
    OxmField::reg(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline() -> Pipeline {
        Pipeline::build(&[Module::IoProcessing, Module::L2Switch]).unwrap()
    }

    #[test]
    fn goto_must_go_forward_to_a_known_table() {
        let p = pipeline();
        let back = FlowEntry::new(Module::L2Switch, Owner::Pipeline, "l2output", 1).goto("l2input");
        assert_eq!(
            FlowTable::build(&p, &[back]),
            Err(FlowError::BadGoto { from: "l2output", to: "l2input" })
        );
        let absent = FlowEntry::new(Module::L2Switch, Owner::Pipeline, "l2input", 1).goto("arp");
        assert!(matches!(FlowTable::build(&p, &[absent]), Err(FlowError::BadGoto { .. })));
        let unknown = FlowEntry::new(Module::ArpResponder, Owner::Pipeline, "arp", 1);
        assert!(matches!(FlowTable::build(&p, &[unknown]), Err(FlowError::UnknownTable { .. })));
        let last = FlowEntry::new(Module::IoProcessing, Owner::Pipeline, "egress", 0).goto_next();
        assert!(matches!(FlowTable::build(&p, &[last]), Err(FlowError::BadGoto { .. })));
    }

    #[test]
    fn defaults_match_nothing_and_conflicts_are_reported() {
        let p = pipeline();
        let bad = FlowEntry::new(Module::L2Switch, Owner::Pipeline, "l2input", 0).with(Oxm::eth_type(0x800));
        assert_eq!(FlowTable::build(&p, &[bad]), Err(FlowError::DefaultWithMatch("l2input")));
        let a = FlowEntry::new(Module::L2Switch, Owner::Port("a".into()), "l2output", 5)
            .with(Oxm::reg(5, 1))
            .actions([set_reg(6, 1)]);
        let b = FlowEntry { owner: Owner::Port("b".into()), actions: vec![set_reg(6, 2)], ..a.clone() };
        assert!(matches!(FlowTable::build(&p, &[a.clone(), b]), Err(FlowError::Conflict { .. })));
        assert_eq!(FlowTable::build(&p, &[a.clone(), a]).unwrap().len(), 1);
    }

    #[test]
    fn canonical_match_ignores_order_and_full_masks() {
        let a = Match::new().with(Oxm::reg(5, 1)).with(Oxm::eth_dst([1, 2, 3, 4, 5, 6]));
        let b = Match::new().with(Oxm::eth_dst_masked([1, 2, 3, 4, 5, 6], [0xff; 6])).with(Oxm::reg(5, 1));
        assert_eq!(canonical_match(&a), canonical_match(&b));
    }

    #[test]
    fn cookies_carry_mark_module_and_owner() {
        let c = Cookie::new(Module::L2Switch, &Owner::Port("p1".into()));
        assert!(c.is_ours());
        assert_eq!(c.module(), Some(Module::L2Switch));
        assert_ne!(c, Cookie::new(Module::L2Switch, &Owner::Port("p2".into())));
        assert!(!Cookie(0).is_ours());
    }

    #[test]
    fn owner_hash_is_fnv1a_of_the_display_form() {
        // Cookies on running switches were made with this hash: it must not change.
        let owner = Owner::Port("docker-abc".into());
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in "port:docker-abc".bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        assert_eq!(owner_hash(&owner), (h ^ (h >> 48)) & 0xffff_ffff_ffff);
    }
}
