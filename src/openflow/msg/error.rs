//! ERROR (OpenFlow 1.3 §7.4.4): typed error type and code, plus the offending request bytes.

use bytes::BufMut;

use crate::openflow::header::wire_enum;
use crate::openflow::wire::{DecodeError, Reader};

wire_enum! {
    /// `ofp_error_type`.
    ErrorType(u16) {
        HELLO_FAILED = 0, BAD_REQUEST = 1, BAD_ACTION = 2, BAD_INSTRUCTION = 3, BAD_MATCH = 4,
        FLOW_MOD_FAILED = 5, GROUP_MOD_FAILED = 6, PORT_MOD_FAILED = 7, TABLE_MOD_FAILED = 8,
        QUEUE_OP_FAILED = 9, SWITCH_CONFIG_FAILED = 10, ROLE_REQUEST_FAILED = 11,
        METER_MOD_FAILED = 12, TABLE_FEATURES_FAILED = 13, EXPERIMENTER = 0xffff,
    }
}

/// Names of the codes of each error type (OpenFlow 1.3 §A.4.4), indexed by code.
fn code_names(ty: ErrorType) -> &'static [&'static str] {
    match ty {
        ErrorType::HELLO_FAILED => &["INCOMPATIBLE", "EPERM"],
        ErrorType::BAD_REQUEST => &[
            "BAD_VERSION",
            "BAD_TYPE",
            "BAD_MULTIPART",
            "BAD_EXPERIMENTER",
            "BAD_EXP_TYPE",
            "EPERM",
            "BAD_LEN",
            "BUFFER_EMPTY",
            "BUFFER_UNKNOWN",
            "BAD_TABLE_ID",
            "IS_SLAVE",
            "BAD_PORT",
            "BAD_PACKET",
            "MULTIPART_BUFFER_OVERFLOW",
        ],
        ErrorType::BAD_ACTION => &[
            "BAD_TYPE",
            "BAD_LEN",
            "BAD_EXPERIMENTER",
            "BAD_EXP_TYPE",
            "BAD_OUT_PORT",
            "BAD_ARGUMENT",
            "EPERM",
            "TOO_MANY",
            "BAD_QUEUE",
            "BAD_OUT_GROUP",
            "MATCH_INCONSISTENT",
            "UNSUPPORTED_ORDER",
            "BAD_TAG",
            "BAD_SET_TYPE",
            "BAD_SET_LEN",
            "BAD_SET_ARGUMENT",
        ],
        ErrorType::BAD_INSTRUCTION => &[
            "UNKNOWN_INST",
            "UNSUP_INST",
            "BAD_TABLE_ID",
            "UNSUP_METADATA",
            "UNSUP_METADATA_MASK",
            "BAD_EXPERIMENTER",
            "BAD_EXP_TYPE",
            "BAD_LEN",
            "EPERM",
        ],
        ErrorType::BAD_MATCH => &[
            "BAD_TYPE",
            "BAD_LEN",
            "BAD_TAG",
            "BAD_DL_ADDR_MASK",
            "BAD_NW_ADDR_MASK",
            "BAD_WILDCARDS",
            "BAD_FIELD",
            "BAD_VALUE",
            "BAD_MASK",
            "BAD_PREREQ",
            "DUP_FIELD",
            "EPERM",
        ],
        ErrorType::FLOW_MOD_FAILED => &[
            "UNKNOWN",
            "TABLE_FULL",
            "BAD_TABLE_ID",
            "OVERLAP",
            "EPERM",
            "BAD_TIMEOUT",
            "BAD_COMMAND",
            "BAD_FLAGS",
        ],
        ErrorType::GROUP_MOD_FAILED => &[
            "GROUP_EXISTS",
            "INVALID_GROUP",
            "WEIGHT_UNSUPPORTED",
            "OUT_OF_GROUPS",
            "OUT_OF_BUCKETS",
            "CHAINING_UNSUPPORTED",
            "WATCH_UNSUPPORTED",
            "LOOP",
            "UNKNOWN_GROUP",
            "CHAINED_GROUP",
            "BAD_TYPE",
            "BAD_COMMAND",
            "BAD_BUCKET",
            "BAD_WATCH",
            "EPERM",
        ],
        ErrorType::PORT_MOD_FAILED => &["BAD_PORT", "BAD_HW_ADDR", "BAD_CONFIG", "BAD_ADVERTISE", "EPERM"],
        ErrorType::SWITCH_CONFIG_FAILED => &["BAD_FLAGS", "BAD_LEN", "EPERM"],
        ErrorType::ROLE_REQUEST_FAILED => &["STALE", "UNSUP", "BAD_ROLE"],
        _ => &[],
    }
}

/// An ERROR message. For `ErrorType::EXPERIMENTER`, `code` is the experimenter's `exp_type`
/// and `experimenter` is set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ErrorMsg {
    /// Error type.
    pub err_type: ErrorType,
    /// Error code within the type (or `exp_type`).
    pub code: u16,
    /// Experimenter id, for experimenter errors only.
    pub experimenter: Option<u32>,
    /// At least the first 64 bytes of the failed request (or an ASCII text for HELLO_FAILED).
    pub data: Vec<u8>,
}

impl ErrorMsg {
    /// A standard error answering `request` bytes (truncated to 64 bytes).
    pub fn new(err_type: ErrorType, code: u16, request: &[u8]) -> ErrorMsg {
        ErrorMsg { err_type, code, experimenter: None, data: request[..request.len().min(64)].to_vec() }
    }

    /// The code's name (`BAD_FIELD`), if known.
    pub fn code_name(&self) -> Option<&'static str> {
        code_names(self.err_type).get(usize::from(self.code)).copied()
    }

    /// Whether this is `err_type`/`code`.
    pub fn is(&self, err_type: ErrorType, code: u16) -> bool {
        self.err_type == err_type && self.code == code && self.experimenter.is_none()
    }

    /// The message type of the failed request, from the echoed header in `data`.
    pub fn failed_type(&self) -> Option<crate::openflow::MsgType> {
        self.data.get(1).map(|t| crate::openflow::MsgType(*t))
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u16(self.err_type.0);
        buf.put_u16(self.code);
        if let Some(exp) = self.experimenter {
            buf.put_u32(exp);
        }
        buf.extend_from_slice(&self.data);
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<ErrorMsg, DecodeError> {
        let err_type = ErrorType(r.u16()?);
        let code = r.u16()?;
        let experimenter = if err_type == ErrorType::EXPERIMENTER { Some(r.u32()?) } else { None };
        Ok(ErrorMsg { err_type, code, experimenter, data: r.rest().to_vec() })
    }
}

impl std::fmt::Display for ErrorMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.experimenter, self.code_name()) {
            (Some(exp), _) => write!(f, "experimenter {exp:#x} error type {}", self.code),
            (None, Some(name)) => write!(f, "OFPET_{}/{}", self.err_type, name),
            (None, None) => write!(f, "OFPET_{}/code {}", self.err_type, self.code),
        }?;
        if let Some(t) = self.failed_type() {
            write!(f, " (request {t})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorMsg {}
