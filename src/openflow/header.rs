//! The 8-byte OpenFlow header (OpenFlow 1.3 §A.1), framing by its length field, and the wire
//! numbers shared across message families as newtypes with named constants.
//!
//! Unknown wire values are kept as they are (a newtype over the integer), print as hex, and
//! re-encode unchanged.

use bytes::BufMut;

use super::wire::{DecodeError, Reader};

/// OpenFlow 1.3 wire version.
pub const OFP13_VERSION: u8 = 0x04;
/// Size of `ofp_header`.
pub const HEADER_LEN: usize = 8;

/// Declare a newtype over an integer with named constants; `Debug` prints the name or hex.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident($int:ty) { $($(#[$cmeta:meta])* $cname:ident = $value:expr,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $int);

        impl $name {
            $($(#[$cmeta])* pub const $cname: $name = $name($value);)*

            /// The constant's name, if this value has one.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $(v if v == $value => Some(stringify!($cname)),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({:#x})", stringify!($name), self.0),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(self, f)
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum! {
    /// `ofp_type`: the message type in the header (OpenFlow 1.3 §A.1).
    MsgType(u8) {
        HELLO = 0, ERROR = 1, ECHO_REQUEST = 2, ECHO_REPLY = 3, EXPERIMENTER = 4,
        FEATURES_REQUEST = 5, FEATURES_REPLY = 6, GET_CONFIG_REQUEST = 7, GET_CONFIG_REPLY = 8,
        SET_CONFIG = 9, PACKET_IN = 10, FLOW_REMOVED = 11, PORT_STATUS = 12, PACKET_OUT = 13,
        FLOW_MOD = 14, GROUP_MOD = 15, PORT_MOD = 16, TABLE_MOD = 17, MULTIPART_REQUEST = 18,
        MULTIPART_REPLY = 19, BARRIER_REQUEST = 20, BARRIER_REPLY = 21,
        QUEUE_GET_CONFIG_REQUEST = 22, QUEUE_GET_CONFIG_REPLY = 23, ROLE_REQUEST = 24,
        ROLE_REPLY = 25, GET_ASYNC_REQUEST = 26, GET_ASYNC_REPLY = 27, SET_ASYNC = 28,
        METER_MOD = 29,
    }
}

wire_enum! {
    /// A port number (`ofp_port_no`); the reserved ports are named.
    PortNo(u32) {
        /// Highest ordinary port number.
        MAX = 0xffff_ff00,
        IN_PORT = 0xffff_fff8, TABLE = 0xffff_fff9, NORMAL = 0xffff_fffa, FLOOD = 0xffff_fffb,
        ALL = 0xffff_fffc, CONTROLLER = 0xffff_fffd, LOCAL = 0xffff_fffe,
        /// Wildcard (in flow-mod `out_port`, stats requests).
        ANY = 0xffff_ffff,
    }
}

wire_enum! {
    /// A group id; `ALL` and `ANY` are the reserved wildcards.
    GroupId(u32) { MAX = 0xffff_ff00, ALL = 0xffff_fffc, ANY = 0xffff_ffff, }
}

wire_enum! {
    /// A table id; `ALL` is the wildcard used by deletes and stats requests.
    TableId(u8) { MAX = 0xfe, ALL = 0xff, }
}

/// `OFP_NO_BUFFER`: the packet is not buffered on the switch.
pub const NO_BUFFER: u32 = 0xffff_ffff;
/// `OFPCML_NO_BUFFER`: send the complete packet to the controller.
pub const CONTROLLER_MAX_LEN_NO_BUFFER: u16 = 0xffff;

/// `ofp_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Wire version (0x04 for OpenFlow 1.3).
    pub version: u8,
    /// Message type.
    pub msg_type: MsgType,
    /// Total message length including this header.
    pub length: u16,
    /// Transaction id.
    pub xid: u32,
}

impl Header {
    /// Decode the first 8 bytes and check the length field is at least a header.
    pub fn decode(buf: &[u8]) -> Result<Header, DecodeError> {
        let mut r = Reader::new(buf, "ofp_header");
        let h = Header { version: r.u8()?, msg_type: MsgType(r.u8()?), length: r.u16()?, xid: r.u32()? };
        if usize::from(h.length) < HEADER_LEN {
            return Err(DecodeError::BadLength { what: "ofp_header", len: h.length.into() });
        }
        Ok(h)
    }

    /// Append the header.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u8(self.version);
        buf.put_u8(self.msg_type.0);
        buf.put_u16(self.length);
        buf.put_u32(self.xid);
    }
}

/// Length of the first complete message in `buf`: `Ok(None)` if more bytes are needed, an error
/// if the header's length field is below 8 (a stream that can never resynchronise).
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = usize::from(Header::decode(buf)?.length);
    Ok((buf.len() >= len).then_some(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_unknown_values_print() {
        assert_eq!(format!("{:?}", MsgType::FLOW_MOD), "FLOW_MOD");
        assert_eq!(format!("{:?}", MsgType(99)), "MsgType(0x63)");
        assert_eq!(format!("{:?}", PortNo::CONTROLLER), "CONTROLLER");
    }

    #[test]
    fn framing_needs_a_whole_message() {
        let hello = [4, 0, 0, 8, 0, 0, 0, 1];
        assert_eq!(frame_len(&hello[..5]), Ok(None));
        assert_eq!(frame_len(&hello), Ok(Some(8)));
        assert_eq!(frame_len(&[4, 0, 0, 16, 0, 0, 0, 1]), Ok(None));
        assert!(frame_len(&[4, 0, 0, 7, 0, 0, 0, 1]).is_err());
    }
}
