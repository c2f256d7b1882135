//! PACKET_IN (OpenFlow 1.3 §7.4.1) and PACKET_OUT (§7.3.7).

use bytes::BufMut;

use crate::openflow::action::Action;
use crate::openflow::header::{NO_BUFFER, PortNo, wire_enum};
use crate::openflow::oxm::{Match, OxmField};
use crate::openflow::wire::{DecodeError, Reader};

wire_enum! {
    /// `ofp_packet_in_reason`.
    PacketInReason(u8) { NO_MATCH = 0, ACTION = 1, INVALID_TTL = 2, }
}

/// PACKET_IN: a packet sent to the controller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PacketIn {
    /// Buffer id on the switch ([`NO_BUFFER`] when `data` is the whole packet).
    pub buffer_id: u32,
    /// Full length of the frame.
    pub total_len: u16,
    /// Why it was sent.
    pub reason: PacketInReason,
    /// Table that sent it.
    pub table_id: u8,
    /// Cookie of the flow that sent it.
    pub cookie: u64,
    /// Pipeline fields (in_port, registers, tunnel metadata...).
    pub matches: Match,
    /// The frame (possibly truncated to the `max_len` of the output action).
    pub data: Vec<u8>,
}

impl PacketIn {
    /// The ingress port, from the `in_port` match field.
    pub fn in_port(&self) -> Option<PortNo> {
        let v = self.matches.get(OxmField::IN_PORT)?.value_u64()?;
        u32::try_from(v).ok().map(PortNo)
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u32(self.buffer_id);
        buf.put_u16(self.total_len);
        buf.put_u8(self.reason.0);
        buf.put_u8(self.table_id);
        buf.put_u64(self.cookie);
        self.matches.encode(buf);
        buf.put_u16(0);
        buf.extend_from_slice(&self.data);
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<PacketIn, DecodeError> {
        let buffer_id = r.u32()?;
        let total_len = r.u16()?;
        let reason = PacketInReason(r.u8()?);
        let table_id = r.u8()?;
        let cookie = r.u64()?;
        let matches = Match::decode(&mut r)?;
        r.zeros(2)?;
        Ok(PacketIn { buffer_id, total_len, reason, table_id, cookie, matches, data: r.rest().to_vec() })
    }
}

/// PACKET_OUT: inject a packet and run actions on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PacketOut {
    /// Buffered packet to send ([`NO_BUFFER`] = use `data`).
    pub buffer_id: u32,
    /// Ingress port for the actions ([`PortNo::CONTROLLER`] when injecting).
    pub in_port: PortNo,
    /// Actions (an `output` or `output:TABLE` to run the pipeline).
    pub actions: Vec<Action>,
    /// The frame.
    pub data: Vec<u8>,
}

impl PacketOut {
    /// Send `data` out of `port`.
    pub fn to_port(port: PortNo, data: Vec<u8>) -> PacketOut {
        PacketOut {
            buffer_id: NO_BUFFER,
            in_port: PortNo::CONTROLLER,
            actions: vec![Action::output(port)],
            data,
        }
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u32(self.buffer_id);
        buf.put_u32(self.in_port.0);
        let len_at = buf.len();
        buf.put_u16(0);
        buf.put_bytes(0, 6);
        let start = buf.len();
        Action::encode_list(&self.actions, buf);
        let len = buf.len() - start;
        crate::openflow::wire::patch_u16(buf, len_at, len);
        buf.extend_from_slice(&self.data);
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<PacketOut, DecodeError> {
        let buffer_id = r.u32()?;
        let in_port = PortNo(r.u32()?);
        let actions_len = usize::from(r.u16()?);
        r.zeros(6)?;
        let actions = Action::decode_list(r.sub(actions_len, "ofp_packet_out actions")?)?;
        Ok(PacketOut { buffer_id, in_port, actions, data: r.rest().to_vec() })
    }
}
