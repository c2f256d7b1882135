//! GROUP_MOD (OpenFlow 1.3 §7.3.4.2) and buckets; also used by the group-desc multipart reply.

use bytes::BufMut;

use crate::openflow::action::Action;
use crate::openflow::header::{GroupId, PortNo, wire_enum};
use crate::openflow::wire::{DecodeError, Reader, patch_u16};

wire_enum! {
    /// `ofp_group_mod_command`.
    GroupModCommand(u16) { ADD = 0, MODIFY = 1, DELETE = 2, }
}

wire_enum! {
    /// `ofp_group_type`.
    GroupType(u8) { ALL = 0, SELECT = 1, INDIRECT = 2, FF = 3, }
}

/// `ofp_bucket`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// Relative weight (select groups).
    pub weight: u16,
    /// Liveness port (fast-failover groups).
    pub watch_port: PortNo,
    /// Liveness group (fast-failover groups).
    pub watch_group: GroupId,
    /// Actions of this bucket.
    pub actions: Vec<Action>,
}

impl Bucket {
    /// A bucket of an `all`/`indirect` group: weight 0, nothing watched.
    pub fn new(actions: Vec<Action>) -> Bucket {
        Bucket { weight: 0, watch_port: PortNo::ANY, watch_group: GroupId::ANY, actions }
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        buf.put_u16(0);
        buf.put_u16(self.weight);
        buf.put_u32(self.watch_port.0);
        buf.put_u32(self.watch_group.0);
        buf.put_u32(0);
        Action::encode_list(&self.actions, buf);
        let len = buf.len() - start;
        patch_u16(buf, start, len);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Bucket, DecodeError> {
        let len = usize::from(u16::from_be_bytes([r.peek(2)?[0], r.peek(2)?[1]]));
        if len < 16 {
            return Err(DecodeError::BadLength { what: "ofp_bucket", len });
        }
        let mut b = r.sub(len, "ofp_bucket")?;
        b.u16()?; // the length, already used
        let weight = b.u16()?;
        let watch_port = PortNo(b.u32()?);
        let watch_group = GroupId(b.u32()?);
        b.zeros(4)?;
        Ok(Bucket { weight, watch_port, watch_group, actions: Action::decode_list(b)? })
    }

    pub(crate) fn decode_list(mut r: Reader<'_>) -> Result<Vec<Bucket>, DecodeError> {
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(Bucket::decode(&mut r)?);
        }
        Ok(out)
    }
}

/// GROUP_MOD.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupMod {
    /// Add, modify or delete.
    pub command: GroupModCommand,
    /// Group type.
    pub group_type: GroupType,
    /// Group id ([`GroupId::ALL`] to delete all).
    pub group_id: GroupId,
    /// Buckets.
    pub buckets: Vec<Bucket>,
}

impl GroupMod {
    /// Delete every group (what VLCP sends when a switch connects).
    pub fn delete_all() -> GroupMod {
        GroupMod {
            command: GroupModCommand::DELETE,
            group_type: GroupType::ALL,
            group_id: GroupId::ALL,
            buckets: Vec::new(),
        }
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u16(self.command.0);
        buf.put_u8(self.group_type.0);
        buf.put_u8(0);
        buf.put_u32(self.group_id.0);
        for b in &self.buckets {
            b.encode(buf);
        }
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<GroupMod, DecodeError> {
        let command = GroupModCommand(r.u16()?);
        let group_type = GroupType(r.u8()?);
        r.zeros(1)?;
        Ok(GroupMod { command, group_type, group_id: GroupId(r.u32()?), buckets: Bucket::decode_list(r)? })
    }
}
