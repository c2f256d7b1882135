//! Nicira extension actions (experimenter `0x00002320`, OVS `nicira-ext.h` / `ofp-actions.c`):
//! resubmit, reg_load/reg_load2, reg_move, output_reg, learn, note, dec_ttl, controller and
//! conjunction.
//!
//! Layout of every one: `ofp_action_experimenter_header` (type 0xffff, len, vendor) then a
//! 16-bit subtype and the body, padded with zeros to a multiple of 8. Field references use
//! 32-bit NXM/OXM headers; a reference to an experimenter-class field (a 64-bit header) makes
//! the action decode as [`Action::Raw`](super::Action::Raw) instead.

use bytes::BufMut;

use super::header::wire_enum;
use super::oxm::{OFPXMC_EXPERIMENTER, Oxm, OxmField};
use super::wire::Reader;

/// Nicira's experimenter/vendor id.
pub const NX_VENDOR_ID: u32 = 0x0000_2320;
/// The 16-bit `OFPP_IN_PORT` used by resubmit.
pub const NX_IN_PORT: u16 = 0xfff8;

wire_enum! {
    /// Nicira action subtypes (`NXAST_*`).
    NxSubtype(u16) {
        RESUBMIT = 1, REG_MOVE = 6, REG_LOAD = 7, NOTE = 8, RESUBMIT_TABLE = 14,
        OUTPUT_REG = 15, LEARN = 16, DEC_TTL = 18, CONTROLLER = 20, REG_LOAD2 = 33,
        CONJUNCTION = 34, CT = 35, CONTROLLER2 = 37,
    }
}

/// A bit range of a field: `field[ofs .. ofs + n_bits]` (the bit count lives on the action).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldSlice {
    /// The field (an NXM/OXM header without mask).
    pub field: OxmField,
    /// The first bit (0 = least significant).
    pub ofs: u16,
}

impl FieldSlice {
    /// `field[ofs..]`.
    pub fn new(field: OxmField, ofs: u16) -> FieldSlice {
        FieldSlice { field, ofs }
    }

    /// The whole field (`ofs` 0).
    pub fn whole(field: OxmField) -> FieldSlice {
        FieldSlice { field, ofs: 0 }
    }
}

/// A Nicira extension action.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NxAction {
    /// `resubmit(in_port)` (`NXAST_RESUBMIT`), search the current table again.
    Resubmit {
        /// Pretend the packet came in here ([`NX_IN_PORT`] keeps it).
        in_port: u16,
    },
    /// `resubmit(in_port,table)` (`NXAST_RESUBMIT_TABLE`).
    ResubmitTable {
        /// Pretend the packet came in here ([`NX_IN_PORT`] keeps it).
        in_port: u16,
        /// Table to search (255 = current).
        table: u8,
    },
    /// `move:src->dst` (`NXAST_REG_MOVE`).
    RegMove {
        /// Bits to copy.
        n_bits: u16,
        /// Source bits.
        src: FieldSlice,
        /// Destination bits.
        dst: FieldSlice,
    },
    /// `load:value->dst` (`NXAST_REG_LOAD`).
    RegLoad {
        /// Destination bits.
        dst: FieldSlice,
        /// Bits to write (1..=64).
        n_bits: u16,
        /// The value (right-aligned).
        value: u64,
    },
    /// `set_field:value/mask->field` (`NXAST_REG_LOAD2`, an OXM entry, maskable).
    RegLoad2(Oxm),
    /// `output:src` (`NXAST_OUTPUT_REG`), output to the port number held in a field.
    OutputReg {
        /// Source bits.
        src: FieldSlice,
        /// Bits to read.
        n_bits: u16,
        /// Bytes to send if the port is the controller.
        max_len: u16,
    },
    /// `note:..` (`NXAST_NOTE`): opaque bytes, including the zero padding OVS reports back.
    Note(Vec<u8>),
    /// `learn(...)` (`NXAST_LEARN`).
    Learn(Learn),
    /// `dec_ttl` (`NXAST_DEC_TTL`).
    DecTtl,
    /// `controller(...)` (`NXAST_CONTROLLER`).
    Controller {
        /// Bytes of the packet to send.
        max_len: u16,
        /// Target controller connection id.
        controller_id: u16,
        /// The packet-in reason to report.
        reason: u8,
    },
    /// `conjunction(id, clause/n_clauses)` (`NXAST_CONJUNCTION`; `clause` is 0-based on the wire).
    Conjunction {
        /// 0-based clause index.
        clause: u8,
        /// Number of clauses.
        n_clauses: u8,
        /// Conjunction id (matched as `conj_id`).
        id: u32,
    },
}

/// `nx_action_learn`: add a flow built from the packet being processed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Learn {
    /// Idle timeout of learned flows.
    pub idle_timeout: u16,
    /// Hard timeout of learned flows.
    pub hard_timeout: u16,
    /// Priority of learned flows.
    pub priority: u16,
    /// Cookie of learned flows.
    pub cookie: u64,
    /// `NX_LEARN_F_*` flags.
    pub flags: u16,
    /// Table the flows go into.
    pub table_id: u8,
    /// `fin_idle_timeout`.
    pub fin_idle_timeout: u16,
    /// `fin_hard_timeout`.
    pub fin_hard_timeout: u16,
    /// What the learned flow matches and does.
    pub specs: Vec<LearnSpec>,
}

/// One `flow_mod_spec` of a learn action.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LearnSpec {
    /// Width of the copied value.
    pub n_bits: u16,
    /// Where the value comes from.
    pub src: LearnSrc,
    /// What the value becomes in the learned flow.
    pub dst: LearnDst,
}

/// Source of a learn spec.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LearnSrc {
    /// Bits of a field of the current packet.
    Field(FieldSlice),
    /// An immediate value: `2 * ceil(n_bits / 16)` bytes, big-endian.
    Immediate(Vec<u8>),
}

/// Destination of a learn spec.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LearnDst {
    /// The learned flow matches these bits.
    Match(FieldSlice),
    /// The learned flow loads the value into these bits.
    Load(FieldSlice),
    /// The learned flow outputs to the port in the value.
    Output,
}

impl LearnSpec {
    /// `dst=src` match spec copying a whole field, e.g. `NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[]`.
    pub fn match_field(dst: OxmField, src: OxmField) -> LearnSpec {
        LearnSpec {
            n_bits: dst.bits(),
            src: LearnSrc::Field(FieldSlice::whole(src)),
            dst: LearnDst::Match(FieldSlice::whole(dst)),
        }
    }

    /// `load:src->dst` spec copying a whole field.
    pub fn load_field(src: OxmField, dst: OxmField) -> LearnSpec {
        LearnSpec {
            n_bits: src.bits(),
            src: LearnSrc::Field(FieldSlice::whole(src)),
            dst: LearnDst::Load(FieldSlice::whole(dst)),
        }
    }

    /// `output:src` spec.
    pub fn output_field(src: FieldSlice, n_bits: u16) -> LearnSpec {
        LearnSpec { n_bits, src: LearnSrc::Field(src), dst: LearnDst::Output }
    }
}

fn ofs_nbits(ofs: u16, n_bits: u16) -> u16 {
    (ofs << 6) | (n_bits.saturating_sub(1) & 0x3f)
}

fn field32(r: &mut Reader<'_>) -> Option<OxmField> {
    let h = r.u32().ok()?;
    // 64-bit experimenter headers and masked headers are left to the raw form.
    ((h >> 16) as u16 != OFPXMC_EXPERIMENTER && h & 0x100 == 0).then_some(OxmField(h))
}

impl NxAction {
    /// Append subtype and body (the caller wrote the experimenter header and pads).
    pub(crate) fn encode_body(&self, buf: &mut Vec<u8>, action_start: usize) {
        match self {
            NxAction::Resubmit { in_port } => {
                buf.put_u16(NxSubtype::RESUBMIT.0);
                buf.put_u16(*in_port);
                buf.put_bytes(0, 4);
            }
            NxAction::ResubmitTable { in_port, table } => {
                buf.put_u16(NxSubtype::RESUBMIT_TABLE.0);
                buf.put_u16(*in_port);
                buf.put_u8(*table);
                buf.put_bytes(0, 3);
            }
            NxAction::RegMove { n_bits, src, dst } => {
                buf.put_u16(NxSubtype::REG_MOVE.0);
                buf.put_u16(*n_bits);
                buf.put_u16(src.ofs);
                buf.put_u16(dst.ofs);
                buf.put_u32(src.field.0);
                buf.put_u32(dst.field.0);
            }
            NxAction::RegLoad { dst, n_bits, value } => {
                buf.put_u16(NxSubtype::REG_LOAD.0);
                buf.put_u16(ofs_nbits(dst.ofs, *n_bits));
                buf.put_u32(dst.field.0);
                buf.put_u64(*value);
            }
            NxAction::RegLoad2(oxm) => {
                buf.put_u16(NxSubtype::REG_LOAD2.0);
                oxm.encode(buf);
            }
            NxAction::OutputReg { src, n_bits, max_len } => {
                buf.put_u16(NxSubtype::OUTPUT_REG.0);
                buf.put_u16(ofs_nbits(src.ofs, *n_bits));
                buf.put_u32(src.field.0);
                buf.put_u16(*max_len);
                buf.put_bytes(0, 6);
            }
            NxAction::Note(note) => {
                buf.put_u16(NxSubtype::NOTE.0);
                buf.extend_from_slice(note);
                // nx_action_note is at least 16 bytes.
                let min = action_start + 16;
                if buf.len() < min {
                    buf.resize(min, 0);
                }
            }
            NxAction::Learn(learn) => learn.encode(buf),
            NxAction::DecTtl => {
                buf.put_u16(NxSubtype::DEC_TTL.0);
                buf.put_bytes(0, 6);
            }
            NxAction::Controller { max_len, controller_id, reason } => {
                buf.put_u16(NxSubtype::CONTROLLER.0);
                buf.put_u16(*max_len);
                buf.put_u16(*controller_id);
                buf.put_u8(*reason);
                buf.put_u8(0);
            }
            NxAction::Conjunction { clause, n_clauses, id } => {
                buf.put_u16(NxSubtype::CONJUNCTION.0);
                buf.put_u8(*clause);
                buf.put_u8(*n_clauses);
                buf.put_u32(*id);
            }
        }
    }

    /// Decode subtype and body; `None` for unknown subtypes or impossible contents (the caller
    /// then keeps the raw bytes).
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Option<NxAction> {
        let subtype = NxSubtype(r.u16().ok()?);
        let a = match subtype {
            NxSubtype::RESUBMIT => NxAction::Resubmit { in_port: r.u16().ok()? },
            NxSubtype::RESUBMIT_TABLE => {
                NxAction::ResubmitTable { in_port: r.u16().ok()?, table: r.u8().ok()? }
            }
            NxSubtype::REG_MOVE => {
                let n_bits = r.u16().ok()?;
                let src_ofs = r.u16().ok()?;
                let dst_ofs = r.u16().ok()?;
                NxAction::RegMove {
                    n_bits,
                    src: FieldSlice::new(field32(r)?, src_ofs),
                    dst: FieldSlice::new(field32(r)?, dst_ofs),
                }
            }
            NxSubtype::REG_LOAD => {
                let on = r.u16().ok()?;
                let field = field32(r)?;
                NxAction::RegLoad {
                    dst: FieldSlice::new(field, on >> 6),
                    n_bits: (on & 0x3f) + 1,
                    value: r.u64().ok()?,
                }
            }
            NxSubtype::REG_LOAD2 => NxAction::RegLoad2(Oxm::decode(r).ok()?),
            NxSubtype::OUTPUT_REG => {
                let on = r.u16().ok()?;
                let field = field32(r)?;
                NxAction::OutputReg {
                    src: FieldSlice::new(field, on >> 6),
                    n_bits: (on & 0x3f) + 1,
                    max_len: r.u16().ok()?,
                }
            }
            NxSubtype::NOTE => NxAction::Note(r.rest().to_vec()),
            NxSubtype::LEARN => NxAction::Learn(Learn::decode(r)?),
            NxSubtype::DEC_TTL => NxAction::DecTtl,
            NxSubtype::CONTROLLER => NxAction::Controller {
                max_len: r.u16().ok()?,
                controller_id: r.u16().ok()?,
                reason: r.u8().ok()?,
            },
            NxSubtype::CONJUNCTION => {
                NxAction::Conjunction { clause: r.u8().ok()?, n_clauses: r.u8().ok()?, id: r.u32().ok()? }
            }
            _ => return None,
        };
        Some(a)
    }
}

const SPEC_SRC_IMMEDIATE: u16 = 1 << 13;
const SPEC_DST_LOAD: u16 = 1 << 11;
const SPEC_DST_OUTPUT: u16 = 2 << 11;

impl Learn {
    fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u16(NxSubtype::LEARN.0);
        buf.put_u16(self.idle_timeout);
        buf.put_u16(self.hard_timeout);
        buf.put_u16(self.priority);
        buf.put_u64(self.cookie);
        buf.put_u16(self.flags);
        buf.put_u8(self.table_id);
        buf.put_u8(0);
        buf.put_u16(self.fin_idle_timeout);
        buf.put_u16(self.fin_hard_timeout);
        for spec in &self.specs {
            let mut header = spec.n_bits & 0x7ff;
            if matches!(spec.src, LearnSrc::Immediate(_)) {
                header |= SPEC_SRC_IMMEDIATE;
            }
            header |= match spec.dst {
                LearnDst::Match(_) => 0,
                LearnDst::Load(_) => SPEC_DST_LOAD,
                LearnDst::Output => SPEC_DST_OUTPUT,
            };
            buf.put_u16(header);
            match &spec.src {
                LearnSrc::Field(f) => {
                    buf.put_u32(f.field.0);
                    buf.put_u16(f.ofs);
                }
                LearnSrc::Immediate(v) => buf.extend_from_slice(v),
            }
            if let LearnDst::Match(f) | LearnDst::Load(f) = &spec.dst {
                buf.put_u32(f.field.0);
                buf.put_u16(f.ofs);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Option<Learn> {
        let mut learn = Learn {
            idle_timeout: r.u16().ok()?,
            hard_timeout: r.u16().ok()?,
            priority: r.u16().ok()?,
            cookie: r.u64().ok()?,
            flags: r.u16().ok()?,
            table_id: r.u8().ok()?,
            ..Learn::default()
        };
        r.u8().ok()?;
        learn.fin_idle_timeout = r.u16().ok()?;
        learn.fin_hard_timeout = r.u16().ok()?;
        // Specs run until a zero header (the start of the padding) or the end.
        while r.remaining() >= 2 {
            let header = u16::from_be_bytes(r.peek(2).ok()?.try_into().ok()?);
            if header == 0 {
                break;
            }
            r.u16().ok()?;
            let n_bits = header & 0x7ff;
            let slice = |r: &mut Reader<'_>| -> Option<FieldSlice> {
                let field = field32(r)?;
                Some(FieldSlice::new(field, r.u16().ok()?))
            };
            let src = if header & SPEC_SRC_IMMEDIATE != 0 {
                let n = usize::from(n_bits.div_ceil(16)) * 2;
                LearnSrc::Immediate(r.bytes(n).ok()?.to_vec())
            } else {
                LearnSrc::Field(slice(r)?)
            };
            let dst = match header & (3 << 11) {
                0 => LearnDst::Match(slice(r)?),
                SPEC_DST_LOAD => LearnDst::Load(slice(r)?),
                SPEC_DST_OUTPUT => LearnDst::Output,
                _ => return None,
            };
            learn.specs.push(LearnSpec { n_bits, src, dst });
        }
        // The rest must be the zero padding the encoder would produce.
        r.rest().iter().all(|b| *b == 0).then_some(learn)
    }
}

#[cfg(test)]
mod tests {
    use super::super::action::Action;
    use super::super::wire::Reader;
    use super::*;

    fn round_trip(nx: NxAction) -> Vec<u8> {
        let a = Action::Nx(nx);
        let mut buf = Vec::new();
        a.encode(&mut buf);
        assert_eq!(buf.len() % 8, 0);
        let back = Action::decode(&mut Reader::new(&buf, "t")).unwrap();
        assert_eq!(back, a);
        buf
    }

    #[test]
    fn reg_load_layout_matches_ovs() {
        // load:0x5->NXM_NX_REG4[0..15] as ovs-ofctl encodes it.
        let buf =
            round_trip(NxAction::RegLoad { dst: FieldSlice::new(OxmField::reg(4), 0), n_bits: 16, value: 5 });
        assert_eq!(
            buf,
            [0xff, 0xff, 0, 24, 0, 0, 0x23, 0x20, 0, 7, 0, 15, 0, 1, 8, 4, 0, 0, 0, 0, 0, 0, 0, 5]
        );
    }

    #[test]
    fn nicira_actions_round_trip() {
        round_trip(NxAction::Resubmit { in_port: NX_IN_PORT });
        round_trip(NxAction::ResubmitTable { in_port: NX_IN_PORT, table: 7 });
        round_trip(NxAction::RegMove {
            n_bits: 32,
            src: FieldSlice::whole(OxmField::reg(4)),
            dst: FieldSlice::whole(OxmField::NXM_NX_TUN_IPV4_DST),
        });
        round_trip(NxAction::RegLoad2(Oxm::reg_masked(7, 0x8000, 0x8000)));
        round_trip(NxAction::Note(b"vlcp\0\0".to_vec()));
        round_trip(NxAction::DecTtl);
        round_trip(NxAction::Controller { max_len: 0xffff, controller_id: 0, reason: 1 });
        round_trip(NxAction::Conjunction { clause: 0, n_clauses: 2, id: 10 });
        round_trip(NxAction::OutputReg { src: FieldSlice::whole(OxmField::reg(6)), n_bits: 32, max_len: 0 });
    }

    #[test]
    fn learn_round_trips() {
        round_trip(NxAction::Learn(Learn {
            idle_timeout: 300,
            priority: 100,
            cookie: 0x1234,
            table_id: 8,
            specs: vec![
                LearnSpec::match_field(OxmField::reg(5), OxmField::reg(4)),
                LearnSpec::match_field(OxmField::NXM_OF_ETH_DST, OxmField::NXM_OF_ETH_SRC),
                LearnSpec {
                    n_bits: 16,
                    src: LearnSrc::Immediate(vec![0, 5]),
                    dst: LearnDst::Load(FieldSlice::whole(OxmField::reg(6))),
                },
                LearnSpec::load_field(OxmField::NXM_OF_IN_PORT, OxmField::reg(6)),
                LearnSpec::output_field(FieldSlice::whole(OxmField::NXM_OF_IN_PORT), 16),
            ],
            ..Learn::default()
        }));
    }
}
