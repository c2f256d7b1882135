//! Instructions (OpenFlow 1.3 §7.2.4): goto_table, write_metadata, write/apply/clear actions,
//! meter; anything else is kept as [`Instruction::Raw`] bytes.

use bytes::BufMut;

use super::action::Action;
use super::header::wire_enum;
use super::wire::{DecodeError, Reader, patch_u16};

wire_enum! {
    /// `ofp_instruction_type`.
    InstructionType(u16) {
        GOTO_TABLE = 1, WRITE_METADATA = 2, WRITE_ACTIONS = 3, APPLY_ACTIONS = 4,
        CLEAR_ACTIONS = 5, METER = 6, EXPERIMENTER = 0xffff,
    }
}

/// One instruction of a flow entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Instruction {
    /// `goto_table:<n>`.
    GotoTable(u8),
    /// `write_metadata:value/mask`.
    WriteMetadata {
        /// Bits to write.
        metadata: u64,
        /// Which bits.
        mask: u64,
    },
    /// `write_actions(...)`: merge into the action set.
    WriteActions(Vec<Action>),
    /// `apply_actions(...)`: run now.
    ApplyActions(Vec<Action>),
    /// `clear_actions`.
    ClearActions,
    /// `meter:<id>`.
    Meter(u32),
    /// Any other instruction, exact wire bytes.
    Raw(Vec<u8>),
}

impl Instruction {
    /// Append this instruction.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        match self {
            Instruction::GotoTable(t) => {
                buf.put_u16(InstructionType::GOTO_TABLE.0);
                buf.put_u16(8);
                buf.put_u8(*t);
                buf.put_bytes(0, 3);
            }
            Instruction::WriteMetadata { metadata, mask } => {
                buf.put_u16(InstructionType::WRITE_METADATA.0);
                buf.put_u16(24);
                buf.put_bytes(0, 4);
                buf.put_u64(*metadata);
                buf.put_u64(*mask);
            }
            Instruction::WriteActions(actions) | Instruction::ApplyActions(actions) => {
                let ty = if matches!(self, Instruction::WriteActions(_)) {
                    InstructionType::WRITE_ACTIONS
                } else {
                    InstructionType::APPLY_ACTIONS
                };
                buf.put_u16(ty.0);
                buf.put_u16(0);
                buf.put_bytes(0, 4);
                Action::encode_list(actions, buf);
                let len = buf.len() - start;
                patch_u16(buf, start + 2, len);
            }
            Instruction::ClearActions => {
                buf.put_u16(InstructionType::CLEAR_ACTIONS.0);
                buf.put_u16(8);
                buf.put_bytes(0, 4);
            }
            Instruction::Meter(id) => {
                buf.put_u16(InstructionType::METER.0);
                buf.put_u16(8);
                buf.put_u32(*id);
            }
            Instruction::Raw(raw) => buf.extend_from_slice(raw),
        }
    }

    /// Decode one instruction TLV.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Instruction, DecodeError> {
        let head = r.peek(4)?;
        let ty = InstructionType(u16::from_be_bytes([head[0], head[1]]));
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        if len < 8 || len % 8 != 0 {
            return Err(DecodeError::BadLength { what: "ofp_instruction", len });
        }
        let raw = r.bytes(len)?;
        let mut body = Reader::new(&raw[4..], "ofp_instruction");
        let fixed = |body: &mut Reader<'_>, n: usize| body.pad(n).ok() == Some(true);
        let ins = match (ty, len) {
            (InstructionType::GOTO_TABLE, 8) => {
                let t = body.u8()?;
                fixed(&mut body, 3).then_some(Instruction::GotoTable(t))
            }
            (InstructionType::WRITE_METADATA, 24) => fixed(&mut body, 4).then(|| {
                let metadata = body.u64().unwrap_or_default();
                let mask = body.u64().unwrap_or_default();
                Instruction::WriteMetadata { metadata, mask }
            }),
            (InstructionType::WRITE_ACTIONS | InstructionType::APPLY_ACTIONS, _) => {
                if fixed(&mut body, 4) {
                    let actions = Action::decode_list(body)?;
                    Some(if ty == InstructionType::WRITE_ACTIONS {
                        Instruction::WriteActions(actions)
                    } else {
                        Instruction::ApplyActions(actions)
                    })
                } else {
                    None
                }
            }
            (InstructionType::CLEAR_ACTIONS, 8) => fixed(&mut body, 4).then_some(Instruction::ClearActions),
            (InstructionType::METER, 8) => Some(Instruction::Meter(body.u32()?)),
            _ => None,
        };
        Ok(ins.unwrap_or_else(|| Instruction::Raw(raw.to_vec())))
    }

    /// Decode a list occupying `r`.
    pub(crate) fn decode_list(mut r: Reader<'_>) -> Result<Vec<Instruction>, DecodeError> {
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(Instruction::decode(&mut r)?);
        }
        Ok(out)
    }

    /// Append a list.
    pub fn encode_list(list: &[Instruction], buf: &mut Vec<u8>) {
        for i in list {
            i.encode(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::PortNo;

    #[test]
    fn instructions_round_trip() {
        let list = vec![
            Instruction::ApplyActions(vec![Action::output(PortNo(1)), Action::PopVlan]),
            Instruction::WriteActions(vec![]),
            Instruction::WriteMetadata { metadata: 0x10, mask: 0xff },
            Instruction::ClearActions,
            Instruction::Meter(2),
            Instruction::GotoTable(3),
            Instruction::Raw(vec![0xff, 0xff, 0, 8, 0, 0, 0x23, 0x20]),
        ];
        let mut buf = Vec::new();
        Instruction::encode_list(&list, &mut buf);
        let back = Instruction::decode_list(Reader::new(&buf, "t")).unwrap();
        assert_eq!(back, list);
    }
}
