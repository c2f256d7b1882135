//! Actions (OpenFlow 1.3 §7.2.5): the standard ones the pipeline uses, the Nicira extension
//! actions in [`NxAction`](super::nx::NxAction), and [`Action::Raw`] for everything else.
//!
//! Each action is a TLV (`type`, `len`, body) whose length is a multiple of 8. An action this
//! codec does not know, or a known one whose bytes are not in the canonical form the encoder
//! would produce (odd length, non-zero padding), decodes to [`Action::Raw`] holding its exact
//! bytes, so a decode/encode cycle is byte-identical for every well-framed action list.

use bytes::BufMut;

use super::header::{GroupId, PortNo, wire_enum};
use super::nx::{NX_VENDOR_ID, NxAction};
use super::oxm::Oxm;
use super::wire::{DecodeError, Reader, pad_to_8, patch_u16};

wire_enum! {
    /// `ofp_action_type`.
    ActionType(u16) {
        OUTPUT = 0, COPY_TTL_OUT = 11, COPY_TTL_IN = 12, SET_MPLS_TTL = 15, DEC_MPLS_TTL = 16,
        PUSH_VLAN = 17, POP_VLAN = 18, PUSH_MPLS = 19, POP_MPLS = 20, SET_QUEUE = 21,
        GROUP = 22, SET_NW_TTL = 23, DEC_NW_TTL = 24, SET_FIELD = 25, PUSH_PBB = 26,
        POP_PBB = 27, EXPERIMENTER = 0xffff,
    }
}

/// One action.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// `OFPAT_OUTPUT`; `max_len` matters only for [`PortNo::CONTROLLER`].
    Output {
        /// Where to send the packet.
        port: PortNo,
        /// Bytes to send to the controller (`0xffff` = whole packet, unbuffered).
        max_len: u16,
    },
    /// `OFPAT_GROUP`.
    Group(GroupId),
    /// `OFPAT_SET_QUEUE`.
    SetQueue(u32),
    /// `OFPAT_PUSH_VLAN` with the tag's ethertype (0x8100 or 0x88a8).
    PushVlan(u16),
    /// `OFPAT_POP_VLAN`.
    PopVlan,
    /// `OFPAT_SET_NW_TTL`.
    SetNwTtl(u8),
    /// `OFPAT_DEC_NW_TTL`.
    DecNwTtl,
    /// `OFPAT_COPY_TTL_OUT`.
    CopyTtlOut,
    /// `OFPAT_COPY_TTL_IN`.
    CopyTtlIn,
    /// `OFPAT_SET_FIELD` with an OXM or NXM field (unmasked in OpenFlow 1.3).
    SetField(Oxm),
    /// A Nicira extension action (experimenter `0x00002320`).
    Nx(NxAction),
    /// Any other action, kept as its exact wire bytes (header included).
    Raw(Vec<u8>),
}

impl Action {
    /// `output:<port>`.
    pub fn output(port: PortNo) -> Action {
        Action::Output { port, max_len: 0 }
    }

    /// `CONTROLLER:<max_len>`.
    pub fn to_controller(max_len: u16) -> Action {
        Action::Output { port: PortNo::CONTROLLER, max_len }
    }

    /// Append this action.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        let simple = |buf: &mut Vec<u8>, ty: ActionType| {
            buf.put_u16(ty.0);
            buf.put_u16(8);
        };
        match self {
            Action::Output { port, max_len } => {
                buf.put_u16(ActionType::OUTPUT.0);
                buf.put_u16(16);
                buf.put_u32(port.0);
                buf.put_u16(*max_len);
                buf.put_bytes(0, 6);
            }
            Action::Group(g) => {
                simple(buf, ActionType::GROUP);
                buf.put_u32(g.0);
            }
            Action::SetQueue(q) => {
                simple(buf, ActionType::SET_QUEUE);
                buf.put_u32(*q);
            }
            Action::PushVlan(ethertype) => {
                simple(buf, ActionType::PUSH_VLAN);
                buf.put_u16(*ethertype);
                buf.put_bytes(0, 2);
            }
            Action::PopVlan => {
                simple(buf, ActionType::POP_VLAN);
                buf.put_bytes(0, 4);
            }
            Action::SetNwTtl(ttl) => {
                simple(buf, ActionType::SET_NW_TTL);
                buf.put_u8(*ttl);
                buf.put_bytes(0, 3);
            }
            Action::DecNwTtl => {
                simple(buf, ActionType::DEC_NW_TTL);
                buf.put_bytes(0, 4);
            }
            Action::CopyTtlOut => {
                simple(buf, ActionType::COPY_TTL_OUT);
                buf.put_bytes(0, 4);
            }
            Action::CopyTtlIn => {
                simple(buf, ActionType::COPY_TTL_IN);
                buf.put_bytes(0, 4);
            }
            Action::SetField(oxm) => {
                buf.put_u16(ActionType::SET_FIELD.0);
                buf.put_u16(0);
                oxm.encode(buf);
                pad_to_8(buf, start);
                let len = buf.len() - start;
                patch_u16(buf, start + 2, len);
            }
            Action::Nx(nx) => {
                buf.put_u16(ActionType::EXPERIMENTER.0);
                buf.put_u16(0);
                buf.put_u32(NX_VENDOR_ID);
                nx.encode_body(buf, start);
                pad_to_8(buf, start);
                let len = buf.len() - start;
                patch_u16(buf, start + 2, len);
            }
            Action::Raw(raw) => buf.extend_from_slice(raw),
        }
    }

    /// Decode one action TLV: framing errors are errors, unknown contents become [`Action::Raw`].
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Action, DecodeError> {
        let head = r.peek(4)?;
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        if len < 8 || len % 8 != 0 {
            return Err(DecodeError::BadLength { what: "ofp_action", len });
        }
        let raw = r.bytes(len)?;
        Ok(decode_known(raw).unwrap_or_else(|| Action::Raw(raw.to_vec())))
    }

    /// Decode a whole action list occupying `r`.
    pub(crate) fn decode_list(mut r: Reader<'_>) -> Result<Vec<Action>, DecodeError> {
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(Action::decode(&mut r)?);
        }
        Ok(out)
    }

    /// Append a list of actions.
    pub fn encode_list(actions: &[Action], buf: &mut Vec<u8>) {
        for a in actions {
            a.encode(buf);
        }
    }
}

/// Typed decode of a complete action TLV; `None` when unknown or not canonical.
fn decode_known(raw: &[u8]) -> Option<Action> {
    let mut r = Reader::new(raw, "ofp_action");
    let ty = ActionType(r.u16().ok()?);
    let len = r.u16().ok()?;
    let zeros = |r: &mut Reader<'_>, n: usize| r.pad(n).ok().filter(|z| *z && r.is_empty());
    let action = match (ty, len) {
        (ActionType::OUTPUT, 16) => {
            let port = PortNo(r.u32().ok()?);
            let max_len = r.u16().ok()?;
            zeros(&mut r, 6)?;
            Action::Output { port, max_len }
        }
        (ActionType::GROUP, 8) => Action::Group(GroupId(r.u32().ok()?)),
        (ActionType::SET_QUEUE, 8) => Action::SetQueue(r.u32().ok()?),
        (ActionType::PUSH_VLAN, 8) => {
            let ethertype = r.u16().ok()?;
            zeros(&mut r, 2)?;
            Action::PushVlan(ethertype)
        }
        (ActionType::SET_NW_TTL, 8) => {
            let ttl = r.u8().ok()?;
            zeros(&mut r, 3)?;
            Action::SetNwTtl(ttl)
        }
        (ActionType::POP_VLAN | ActionType::DEC_NW_TTL, 8)
        | (ActionType::COPY_TTL_OUT | ActionType::COPY_TTL_IN, 8) => {
            zeros(&mut r, 4)?;
            match ty {
                ActionType::POP_VLAN => Action::PopVlan,
                ActionType::DEC_NW_TTL => Action::DecNwTtl,
                ActionType::COPY_TTL_OUT => Action::CopyTtlOut,
                _ => Action::CopyTtlIn,
            }
        }
        (ActionType::SET_FIELD, _) => {
            let oxm = Oxm::decode(&mut r).ok()?;
            let pad = r.remaining();
            zeros(&mut r, pad)?;
            (pad < 8).then_some(())?;
            Action::SetField(oxm)
        }
        (ActionType::EXPERIMENTER, _) => {
            if r.u32().ok()? != NX_VENDOR_ID {
                return None;
            }
            let nx = Action::Nx(NxAction::decode_body(&mut r)?);
            // Variable-length Nicira bodies: accept the typed value only if it re-encodes to
            // exactly these bytes (the fixed layouts above are checked field by field).
            let mut check = Vec::with_capacity(raw.len());
            nx.encode(&mut check);
            return (check == raw).then_some(nx);
        }
        _ => return None,
    };
    Some(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(a: &Action) -> Vec<u8> {
        let mut buf = Vec::new();
        a.encode(&mut buf);
        assert_eq!(buf.len() % 8, 0, "{a:?}");
        let mut r = Reader::new(&buf, "t");
        assert_eq!(&Action::decode(&mut r).unwrap(), a);
        assert!(r.is_empty());
        buf
    }

    #[test]
    fn standard_actions_round_trip() {
        for a in [
            Action::output(PortNo(5)),
            Action::to_controller(0xffff),
            Action::Group(GroupId(9)),
            Action::SetQueue(3),
            Action::PushVlan(0x8100),
            Action::PopVlan,
            Action::SetNwTtl(9),
            Action::DecNwTtl,
            Action::CopyTtlIn,
            Action::SetField(Oxm::tun_ipv4_dst("198.18.0.2".parse().unwrap())),
            Action::SetField(Oxm::tunnel_id(0x1234)),
        ] {
            round_trip(&a);
        }
    }

    #[test]
    fn output_matches_spec_layout() {
        let buf = round_trip(&Action::to_controller(128));
        assert_eq!(buf, [0, 0, 0, 16, 0xff, 0xff, 0xff, 0xfd, 0, 128, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn unknown_and_noncanonical_actions_are_kept_raw() {
        // PUSH_MPLS (unknown to the typed layer) and an OUTPUT with non-zero padding.
        for raw in
            [vec![0, 19, 0, 8, 0x88, 0x47, 0, 0], vec![0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]]
        {
            let mut r = Reader::new(&raw, "t");
            let a = Action::decode(&mut r).unwrap();
            assert_eq!(a, Action::Raw(raw.clone()));
            let mut out = Vec::new();
            a.encode(&mut out);
            assert_eq!(out, raw);
        }
    }

    #[test]
    fn bad_action_length_is_an_error() {
        for raw in [vec![0, 0, 0, 4, 0, 0, 0, 0], vec![0, 0, 0, 12, 0, 0, 0, 0]] {
            assert!(Action::decode(&mut Reader::new(&raw, "t")).is_err());
        }
    }
}
