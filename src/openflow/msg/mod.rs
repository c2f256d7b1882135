//! Whole OpenFlow messages: [`Frame`] (header fields + [`Message`]) with `decode`/`encode`,
//! one file per message family.
//!
//! Bodies are decoded for wire version 0x04. Other versions decode HELLO, ERROR and ECHO (whose
//! layouts are the same in every version) and keep any other body as [`Message::Unknown`], as
//! they do for unknown message types, so every well-framed message re-encodes byte-identically.

pub mod error;
pub mod flow;
pub mod group;
pub mod hello;
pub mod packet;
pub mod port;
pub mod switch;

use thiserror::Error;

use self::error::ErrorMsg;
use self::flow::{FlowMod, FlowRemoved};
use self::group::GroupMod;
use self::hello::Hello;
use self::packet::{PacketIn, PacketOut};
use self::port::{PortMod, PortStatus};
use self::switch::{AsyncConfig, Experimenter, Role, SwitchConfig, SwitchFeatures, expect_end};
use super::header::{HEADER_LEN, Header, MsgType, OFP13_VERSION};
use super::multipart::{MultipartReply, MultipartRequest};
use super::wire::{DecodeError, Reader, patch_u16};

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The message does not fit the 16-bit length field.
    #[error("message of {0} bytes exceeds the 65535-byte OpenFlow limit")]
    TooLong(usize),
}

/// A decoded message body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    /// HELLO.
    Hello(Hello),
    /// ERROR.
    Error(ErrorMsg),
    /// ECHO_REQUEST with its payload.
    EchoRequest(Vec<u8>),
    /// ECHO_REPLY with the request's payload.
    EchoReply(Vec<u8>),
    /// EXPERIMENTER (Nicira `NXT_*` and others).
    Experimenter(Experimenter),
    /// FEATURES_REQUEST.
    FeaturesRequest,
    /// FEATURES_REPLY.
    FeaturesReply(SwitchFeatures),
    /// GET_CONFIG_REQUEST.
    GetConfigRequest,
    /// GET_CONFIG_REPLY.
    GetConfigReply(SwitchConfig),
    /// SET_CONFIG.
    SetConfig(SwitchConfig),
    /// PACKET_IN.
    PacketIn(PacketIn),
    /// FLOW_REMOVED.
    FlowRemoved(FlowRemoved),
    /// PORT_STATUS.
    PortStatus(PortStatus),
    /// PACKET_OUT.
    PacketOut(PacketOut),
    /// FLOW_MOD.
    FlowMod(FlowMod),
    /// GROUP_MOD.
    GroupMod(GroupMod),
    /// PORT_MOD.
    PortMod(PortMod),
    /// MULTIPART_REQUEST.
    MultipartRequest(MultipartRequest),
    /// MULTIPART_REPLY: `flags` (bit 0 = more parts follow) and one part.
    MultipartReply {
        /// `OFPMPF_REPLY_MORE` and reserved bits.
        flags: u16,
        /// The part.
        reply: MultipartReply,
    },
    /// BARRIER_REQUEST.
    BarrierRequest,
    /// BARRIER_REPLY.
    BarrierReply,
    /// ROLE_REQUEST.
    RoleRequest(Role),
    /// ROLE_REPLY.
    RoleReply(Role),
    /// GET_ASYNC_REQUEST.
    GetAsyncRequest,
    /// GET_ASYNC_REPLY.
    GetAsyncReply(AsyncConfig),
    /// SET_ASYNC.
    SetAsync(AsyncConfig),
    /// Any other type (or any body of a version other than 1.3), kept as raw bytes.
    Unknown {
        /// Message type from the header.
        msg_type: MsgType,
        /// Body after the header.
        body: Vec<u8>,
    },
}

impl Message {
    /// The header type of this message.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Message::Hello(_) => MsgType::HELLO,
            Message::Error(_) => MsgType::ERROR,
            Message::EchoRequest(_) => MsgType::ECHO_REQUEST,
            Message::EchoReply(_) => MsgType::ECHO_REPLY,
            Message::Experimenter(_) => MsgType::EXPERIMENTER,
            Message::FeaturesRequest => MsgType::FEATURES_REQUEST,
            Message::FeaturesReply(_) => MsgType::FEATURES_REPLY,
            Message::GetConfigRequest => MsgType::GET_CONFIG_REQUEST,
            Message::GetConfigReply(_) => MsgType::GET_CONFIG_REPLY,
            Message::SetConfig(_) => MsgType::SET_CONFIG,
            Message::PacketIn(_) => MsgType::PACKET_IN,
            Message::FlowRemoved(_) => MsgType::FLOW_REMOVED,
            Message::PortStatus(_) => MsgType::PORT_STATUS,
            Message::PacketOut(_) => MsgType::PACKET_OUT,
            Message::FlowMod(_) => MsgType::FLOW_MOD,
            Message::GroupMod(_) => MsgType::GROUP_MOD,
            Message::PortMod(_) => MsgType::PORT_MOD,
            Message::MultipartRequest(_) => MsgType::MULTIPART_REQUEST,
            Message::MultipartReply { .. } => MsgType::MULTIPART_REPLY,
            Message::BarrierRequest => MsgType::BARRIER_REQUEST,
            Message::BarrierReply => MsgType::BARRIER_REPLY,
            Message::RoleRequest(_) => MsgType::ROLE_REQUEST,
            Message::RoleReply(_) => MsgType::ROLE_REPLY,
            Message::GetAsyncRequest => MsgType::GET_ASYNC_REQUEST,
            Message::GetAsyncReply(_) => MsgType::GET_ASYNC_REPLY,
            Message::SetAsync(_) => MsgType::SET_ASYNC,
            Message::Unknown { msg_type, .. } => *msg_type,
        }
    }

    fn encode_body(&self, buf: &mut Vec<u8>) {
        match self {
            Message::Hello(h) => h.encode(buf),
            Message::Error(e) => e.encode(buf),
            Message::EchoRequest(d) | Message::EchoReply(d) => buf.extend_from_slice(d),
            Message::Experimenter(e) => e.encode(buf),
            Message::FeaturesRequest
            | Message::GetConfigRequest
            | Message::BarrierRequest
            | Message::BarrierReply
            | Message::GetAsyncRequest => {}
            Message::FeaturesReply(f) => f.encode(buf),
            Message::GetConfigReply(c) | Message::SetConfig(c) => c.encode(buf),
            Message::PacketIn(p) => p.encode(buf),
            Message::FlowRemoved(f) => f.encode(buf),
            Message::PortStatus(p) => p.encode(buf),
            Message::PacketOut(p) => p.encode(buf),
            Message::FlowMod(f) => f.encode(buf),
            Message::GroupMod(g) => g.encode(buf),
            Message::PortMod(p) => p.encode(buf),
            Message::MultipartRequest(m) => m.encode(buf),
            Message::MultipartReply { flags, reply } => reply.encode(*flags, buf),
            Message::RoleRequest(r) | Message::RoleReply(r) => r.encode(buf),
            Message::GetAsyncReply(a) | Message::SetAsync(a) => a.encode(buf),
            Message::Unknown { body, .. } => buf.extend_from_slice(body),
        }
    }

    fn decode_body(version: u8, ty: MsgType, body: &[u8]) -> Result<Message, DecodeError> {
        let r = Reader::new(body, "message body");
        let empty = |m: Message| expect_end(&r, "empty message body", 0).map(|()| m);
        let any_version =
            matches!(ty, MsgType::HELLO | MsgType::ERROR | MsgType::ECHO_REQUEST | MsgType::ECHO_REPLY);
        if version != OFP13_VERSION && !any_version {
            return Ok(Message::Unknown { msg_type: ty, body: body.to_vec() });
        }
        Ok(match ty {
            MsgType::HELLO => Message::Hello(Hello::decode(r)?),
            MsgType::ERROR => Message::Error(ErrorMsg::decode(r)?),
            MsgType::ECHO_REQUEST => Message::EchoRequest(body.to_vec()),
            MsgType::ECHO_REPLY => Message::EchoReply(body.to_vec()),
            MsgType::EXPERIMENTER => Message::Experimenter(Experimenter::decode(r)?),
            MsgType::FEATURES_REQUEST => empty(Message::FeaturesRequest)?,
            MsgType::FEATURES_REPLY => Message::FeaturesReply(SwitchFeatures::decode(r)?),
            MsgType::GET_CONFIG_REQUEST => empty(Message::GetConfigRequest)?,
            MsgType::GET_CONFIG_REPLY => Message::GetConfigReply(SwitchConfig::decode(r)?),
            MsgType::SET_CONFIG => Message::SetConfig(SwitchConfig::decode(r)?),
            MsgType::PACKET_IN => Message::PacketIn(PacketIn::decode(r)?),
            MsgType::FLOW_REMOVED => Message::FlowRemoved(FlowRemoved::decode(r)?),
            MsgType::PORT_STATUS => Message::PortStatus(PortStatus::decode(r)?),
            MsgType::PACKET_OUT => Message::PacketOut(PacketOut::decode(r)?),
            MsgType::FLOW_MOD => Message::FlowMod(FlowMod::decode(r)?),
            MsgType::GROUP_MOD => Message::GroupMod(GroupMod::decode(r)?),
            MsgType::PORT_MOD => Message::PortMod(PortMod::decode(r)?),
            MsgType::MULTIPART_REQUEST => Message::MultipartRequest(MultipartRequest::decode(r)?),
            MsgType::MULTIPART_REPLY => {
                let (flags, reply) = MultipartReply::decode(r)?;
                Message::MultipartReply { flags, reply }
            }
            MsgType::BARRIER_REQUEST => empty(Message::BarrierRequest)?,
            MsgType::BARRIER_REPLY => empty(Message::BarrierReply)?,
            MsgType::ROLE_REQUEST => Message::RoleRequest(Role::decode(r)?),
            MsgType::ROLE_REPLY => Message::RoleReply(Role::decode(r)?),
            MsgType::GET_ASYNC_REQUEST => empty(Message::GetAsyncRequest)?,
            MsgType::GET_ASYNC_REPLY => Message::GetAsyncReply(AsyncConfig::decode(r)?),
            MsgType::SET_ASYNC => Message::SetAsync(AsyncConfig::decode(r)?),
            _ => Message::Unknown { msg_type: ty, body: body.to_vec() },
        })
    }
}

/// One message: wire version, transaction id and body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    /// Wire version (0x04).
    pub version: u8,
    /// Transaction id.
    pub xid: u32,
    /// The message.
    pub message: Message,
}

impl Frame {
    /// An OpenFlow 1.3 message.
    pub fn new(xid: u32, message: Message) -> Frame {
        Frame { version: OFP13_VERSION, xid, message }
    }

    /// Decode exactly one message; `buf` must be as long as the header's length field says
    /// (use [`frame_len`](super::header::frame_len) to split a stream).
    pub fn decode(buf: &[u8]) -> Result<Frame, DecodeError> {
        let h = Header::decode(buf)?;
        if usize::from(h.length) != buf.len() {
            return Err(DecodeError::BadLength { what: "ofp_header", len: h.length.into() });
        }
        Ok(Frame {
            version: h.version,
            xid: h.xid,
            message: Message::decode_body(h.version, h.msg_type, &buf[HEADER_LEN..])?,
        })
    }

    /// Append the encoded message to `buf` (on error `buf` is left unchanged).
    pub fn encode(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = buf.len();
        Header { version: self.version, msg_type: self.message.msg_type(), length: 0, xid: self.xid }
            .encode(buf);
        self.message.encode_body(buf);
        let len = buf.len() - start;
        if len > usize::from(u16::MAX) {
            buf.truncate(start);
            return Err(EncodeError::TooLong(len));
        }
        patch_u16(buf, start + 2, len);
        Ok(())
    }

    /// The encoded message as a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut buf = Vec::with_capacity(64);
        self.encode(&mut buf)?;
        Ok(buf)
    }
}
