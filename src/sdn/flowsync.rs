//! Desired against installed: the minimal FlowMods that turn what a switch has into what it
//! should have.
//!
//! Only flows with our cookie mark are ever deleted; flows someone else installed are left alone
//! (unless one of ours must replace it at the same identity, which a MODIFY_STRICT does).
//! The batch is ordered deletes first, then modifies, then adds; the caller ends it with a
//! barrier. After a reconnect the installed table is read back with flow-stats and diffed, so
//! traffic keeps flowing through flows that are already right.

use crate::openflow::{FlowMod, FlowModCommand, GroupId, PortNo, TableId};

use super::flow::{FlowBody, FlowKey, FlowTable};

/// The FlowMods of one sync, by phase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    pub deletes: Vec<FlowMod>,
    pub modifies: Vec<FlowMod>,
    pub adds: Vec<FlowMod>,
}

impl SyncPlan {
    /// True when the switch is already right.
    pub fn is_empty(&self) -> bool {
        self.deletes.is_empty() && self.modifies.is_empty() && self.adds.is_empty()
    }

    /// Number of FlowMods.
    pub fn len(&self) -> usize {
        self.deletes.len() + self.modifies.len() + self.adds.len()
    }

    /// All FlowMods in sending order.
    pub fn into_mods(self) -> Vec<FlowMod> {
        let mut v = self.deletes;
        v.extend(self.modifies);
        v.extend(self.adds);
        v
    }
}

fn strict(command: FlowModCommand, key: &FlowKey, body: &FlowBody) -> FlowMod {
    FlowMod {
        cookie: body.cookie.0,
        cookie_mask: 0,
        table_id: TableId(key.table),
        command,
        priority: key.priority,
        out_port: PortNo::ANY,
        out_group: GroupId::ANY,
        matches: body.matches.clone(),
        instructions: if command == FlowModCommand::DELETE_STRICT {
            Vec::new()
        } else {
            body.instructions.clone()
        },
        ..FlowMod::default()
    }
}

/// The FlowMods that make `installed` equal to `desired` (for our flows). Both tables are
/// sorted by key: one merge pass over the two, no lookups.
pub fn plan(installed: &FlowTable, desired: &FlowTable) -> SyncPlan {
    use std::cmp::Ordering;
    let mut p = SyncPlan::default();
    let mut old = installed.flows.iter().peekable();
    let mut new = desired.flows.iter().peekable();
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((ok, _)), Some((nk, _))) => ok.cmp(nk),
        };
        match order {
            // Only in `installed`: ours goes, anyone else's stays.
            Ordering::Less => {
                let (k, b) = old.next().expect("peeked");
                if b.cookie.is_ours() {
                    p.deletes.push(strict(FlowModCommand::DELETE_STRICT, k, b));
                }
            }
            Ordering::Greater => {
                let (k, b) = new.next().expect("peeked");
                p.adds.push(strict(FlowModCommand::ADD, k, b));
            }
            Ordering::Equal => {
                let (_, was) = old.next().expect("peeked");
                let (k, b) = new.next().expect("peeked");
                if was.cookie != b.cookie {
                    // MODIFY_STRICT keeps the cookie of the old flow in OpenFlow 1.3; when the
                    // owner changed, replace the flow with an ADD (same identity, new cookie).
                    p.adds.push(strict(FlowModCommand::ADD, k, b));
                } else if was.instructions != b.instructions {
                    p.modifies.push(strict(FlowModCommand::MODIFY_STRICT, k, b));
                }
            }
        }
    }
    p
}

/// The installed table after `plan(installed, desired)` was applied successfully.
pub fn applied(installed: &FlowTable, desired: &FlowTable) -> FlowTable {
    let mut t = desired.clone();
    for (k, b) in &installed.flows {
        if !b.cookie.is_ours() && !desired.flows.contains_key(k) {
            t.flows.insert(k.clone(), b.clone());
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::{Instruction, Match, Oxm};
    use crate::sdn::flow::Cookie;
    use proptest::prelude::*;

    fn body(k: u8, cookie: u64, out: u32) -> FlowBody {
        FlowBody {
            cookie: Cookie(cookie),
            matches: Match::new().with(Oxm::reg(6, u32::from(k))),
            instructions: vec![Instruction::GotoTable(out as u8)],
        }
    }

    fn key(n: u8) -> FlowKey {
        let mut m = Vec::new();
        Match::new().with(Oxm::reg(6, u32::from(n))).encode(&mut m);
        FlowKey { table: n % 3, priority: 100, matches: m }
    }

    fn table(items: &[(u8, u64, u32)]) -> FlowTable {
        FlowTable { flows: items.iter().map(|(k, c, o)| (key(*k), body(*k, *c, *o))).collect() }
    }

    const OURS: u64 = Cookie::MARK | 1;

    #[test]
    fn equal_tables_need_nothing() {
        let t = table(&[(1, OURS, 1), (2, OURS, 2)]);
        assert!(plan(&t, &t).is_empty());
    }

    #[test]
    fn deletes_only_ours_modifies_changed_adds_missing() {
        let installed = table(&[(1, OURS, 1), (2, OURS, 2), (3, 7, 3)]);
        let desired = table(&[(2, OURS, 9), (4, OURS, 4)]);
        let p = plan(&installed, &desired);
        assert_eq!(p.deletes.len(), 1, "flow 1 (ours) goes, flow 3 (foreign) stays");
        assert_eq!(p.deletes[0].command, FlowModCommand::DELETE_STRICT);
        assert_eq!(p.modifies.len(), 1);
        assert_eq!(p.adds.len(), 1);
        let after = applied(&installed, &desired);
        assert_eq!(after.len(), 3);
        assert!(plan(&after, &desired).is_empty());
    }

    proptest! {
        /// Applying the plan to the installed table, by OpenFlow semantics, gives the desired
        /// table plus the foreign flows.
        #[test]
        fn plan_converges(inst in proptest::collection::vec((0u8..12, prop::bool::ANY, 0u32..4), 0..12),
                          want in proptest::collection::vec((0u8..12, 0u32..4), 0..12)) {
            let installed = FlowTable { flows: inst.iter().map(|(k, ours, o)| (key(*k), body(*k, if *ours { OURS } else { 5 }, *o))).collect() };
            let desired = FlowTable { flows: want.iter().map(|(k, o)| (key(*k), body(*k, OURS, *o))).collect() };
            let p = plan(&installed, &desired);
            let mut sim = installed.clone();
            for m in p.into_mods() {
                let k = FlowKey { table: m.table_id.0, priority: m.priority, matches: { let mut b = Vec::new(); m.matches.encode(&mut b); b } };
                match m.command {
                    FlowModCommand::DELETE_STRICT => { sim.flows.remove(&k); }
                    FlowModCommand::MODIFY_STRICT => { sim.flows.get_mut(&k).unwrap().instructions = m.instructions; }
                    _ => { sim.flows.insert(k, FlowBody { cookie: Cookie(m.cookie), matches: m.matches, instructions: m.instructions }); }
                }
            }
            prop_assert_eq!(&sim, &applied(&installed, &desired));
            for (k, b) in &desired.flows { prop_assert_eq!(sim.flows.get(k), Some(b)); }
        }
    }
}
