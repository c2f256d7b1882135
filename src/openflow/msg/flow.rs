//! FLOW_MOD (OpenFlow 1.3 §7.3.4.1) and FLOW_REMOVED (§7.4.2).

use bytes::BufMut;

use super::switch::expect_end;
use crate::openflow::header::{GroupId, NO_BUFFER, PortNo, TableId, wire_enum};
use crate::openflow::instruction::Instruction;
use crate::openflow::oxm::Match;
use crate::openflow::wire::{DecodeError, Reader};

wire_enum! {
    /// `ofp_flow_mod_command`.
    FlowModCommand(u8) { ADD = 0, MODIFY = 1, MODIFY_STRICT = 2, DELETE = 3, DELETE_STRICT = 4, }
}

/// `ofp_flow_mod_flags` bits.
pub mod flow_mod_flags {
    /// Send FLOW_REMOVED when the flow expires or is deleted.
    pub const SEND_FLOW_REM: u16 = 1 << 0;
    /// Fail an ADD that overlaps an existing entry.
    pub const CHECK_OVERLAP: u16 = 1 << 1;
    /// Reset counters on modify.
    pub const RESET_COUNTS: u16 = 1 << 2;
    /// Do not count packets.
    pub const NO_PKT_COUNTS: u16 = 1 << 3;
    /// Do not count bytes.
    pub const NO_BYT_COUNTS: u16 = 1 << 4;
}

/// FLOW_MOD: add, modify or delete flow entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowMod {
    /// Cookie (opaque to the switch; VLCP puts provenance here).
    pub cookie: u64,
    /// For modify/delete: which cookie bits must match.
    pub cookie_mask: u64,
    /// Table ([`TableId::ALL`] for deletes across tables).
    pub table_id: TableId,
    /// What to do.
    pub command: FlowModCommand,
    /// Idle timeout in seconds (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0 = none).
    pub hard_timeout: u16,
    /// Priority.
    pub priority: u16,
    /// Buffered packet to apply to ([`NO_BUFFER`] = none).
    pub buffer_id: u32,
    /// Deletes: only flows that output to this port.
    pub out_port: PortNo,
    /// Deletes: only flows that output to this group.
    pub out_group: GroupId,
    /// `flow_mod_flags` bits.
    pub flags: u16,
    /// Match.
    pub matches: Match,
    /// Instructions.
    pub instructions: Vec<Instruction>,
}

impl Default for FlowMod {
    fn default() -> FlowMod {
        FlowMod {
            cookie: 0,
            cookie_mask: 0,
            table_id: TableId(0),
            command: FlowModCommand::ADD,
            idle_timeout: 0,
            hard_timeout: 0,
            priority: 0x8000,
            buffer_id: NO_BUFFER,
            out_port: PortNo::ANY,
            out_group: GroupId::ANY,
            flags: 0,
            matches: Match::default(),
            instructions: Vec::new(),
        }
    }
}

impl FlowMod {
    /// An ADD of `matches` → `instructions` at `priority` in `table`.
    pub fn add(table: u8, priority: u16, matches: Match, instructions: Vec<Instruction>) -> FlowMod {
        FlowMod { table_id: TableId(table), priority, matches, instructions, ..FlowMod::default() }
    }

    /// Delete every flow in every table (what VLCP sends when a switch connects).
    pub fn delete_all() -> FlowMod {
        FlowMod { table_id: TableId::ALL, command: FlowModCommand::DELETE, ..FlowMod::default() }
    }

    /// Builder: set the cookie.
    pub fn cookie(mut self, cookie: u64) -> FlowMod {
        self.cookie = cookie;
        self
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u64(self.cookie);
        buf.put_u64(self.cookie_mask);
        buf.put_u8(self.table_id.0);
        buf.put_u8(self.command.0);
        buf.put_u16(self.idle_timeout);
        buf.put_u16(self.hard_timeout);
        buf.put_u16(self.priority);
        buf.put_u32(self.buffer_id);
        buf.put_u32(self.out_port.0);
        buf.put_u32(self.out_group.0);
        buf.put_u16(self.flags);
        buf.put_u16(0);
        self.matches.encode(buf);
        Instruction::encode_list(&self.instructions, buf);
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<FlowMod, DecodeError> {
        let cookie = r.u64()?;
        let cookie_mask = r.u64()?;
        let table_id = TableId(r.u8()?);
        let command = FlowModCommand(r.u8()?);
        let idle_timeout = r.u16()?;
        let hard_timeout = r.u16()?;
        let priority = r.u16()?;
        let buffer_id = r.u32()?;
        let out_port = PortNo(r.u32()?);
        let out_group = GroupId(r.u32()?);
        let flags = r.u16()?;
        r.zeros(2)?;
        let matches = Match::decode(&mut r)?;
        Ok(FlowMod {
            cookie,
            cookie_mask,
            table_id,
            command,
            idle_timeout,
            hard_timeout,
            priority,
            buffer_id,
            out_port,
            out_group,
            flags,
            matches,
            instructions: Instruction::decode_list(r)?,
        })
    }
}

wire_enum! {
    /// `ofp_flow_removed_reason`.
    FlowRemovedReason(u8) { IDLE_TIMEOUT = 0, HARD_TIMEOUT = 1, DELETE = 2, GROUP_DELETE = 3, }
}

/// FLOW_REMOVED.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FlowRemoved {
    /// The flow's cookie.
    pub cookie: u64,
    /// The flow's priority.
    pub priority: u16,
    /// Why it was removed.
    pub reason: FlowRemovedReason,
    /// Its table.
    pub table_id: u8,
    /// Time it was alive, seconds part.
    pub duration_sec: u32,
    /// Time it was alive, nanoseconds part.
    pub duration_nsec: u32,
    /// Its idle timeout.
    pub idle_timeout: u16,
    /// Its hard timeout.
    pub hard_timeout: u16,
    /// Packets it matched.
    pub packet_count: u64,
    /// Bytes it matched.
    pub byte_count: u64,
    /// Its match.
    pub matches: Match,
}

impl FlowRemoved {
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u64(self.cookie);
        buf.put_u16(self.priority);
        buf.put_u8(self.reason.0);
        buf.put_u8(self.table_id);
        buf.put_u32(self.duration_sec);
        buf.put_u32(self.duration_nsec);
        buf.put_u16(self.idle_timeout);
        buf.put_u16(self.hard_timeout);
        buf.put_u64(self.packet_count);
        buf.put_u64(self.byte_count);
        self.matches.encode(buf);
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<FlowRemoved, DecodeError> {
        let m = FlowRemoved {
            cookie: r.u64()?,
            priority: r.u16()?,
            reason: FlowRemovedReason(r.u8()?),
            table_id: r.u8()?,
            duration_sec: r.u32()?,
            duration_nsec: r.u32()?,
            idle_timeout: r.u16()?,
            hard_timeout: r.u16()?,
            packet_count: r.u64()?,
            byte_count: r.u64()?,
            matches: Match::decode(&mut r)?,
        };
        expect_end(&r, "ofp_flow_removed", 0)?;
        Ok(m)
    }
}
