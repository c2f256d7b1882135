//! Switch-level messages with fixed bodies (OpenFlow 1.3 §7.3.1-7.3.3, §7.3.9-7.3.10, §7.5.4):
//! FEATURES_REPLY, GET/SET_CONFIG, ROLE request/reply, GET/SET_ASYNC, EXPERIMENTER.

use bytes::BufMut;

use crate::openflow::header::wire_enum;
use crate::openflow::wire::{DecodeError, Reader};

/// Reject bytes after a fixed-size body.
pub(crate) fn expect_end(r: &Reader<'_>, what: &'static str, fixed: usize) -> Result<(), DecodeError> {
    if r.is_empty() { Ok(()) } else { Err(DecodeError::BadLength { what, len: fixed + r.remaining() }) }
}

/// `ofp_switch_features` (after the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SwitchFeatures {
    /// Datapath id: the low 48 bits are usually a MAC, the top 16 implementer-defined.
    pub datapath_id: u64,
    /// Packets the switch can buffer.
    pub n_buffers: u32,
    /// Number of flow tables.
    pub n_tables: u8,
    /// Auxiliary connection id (0 = main connection).
    pub auxiliary_id: u8,
    /// `OFPC_*` capability bits.
    pub capabilities: u32,
    /// Reserved word, kept for byte-exact re-encoding.
    pub reserved: u32,
}

impl SwitchFeatures {
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u64(self.datapath_id);
        buf.put_u32(self.n_buffers);
        buf.put_u8(self.n_tables);
        buf.put_u8(self.auxiliary_id);
        buf.put_u16(0);
        buf.put_u32(self.capabilities);
        buf.put_u32(self.reserved);
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<SwitchFeatures, DecodeError> {
        let f = SwitchFeatures {
            datapath_id: r.u64()?,
            n_buffers: r.u32()?,
            n_tables: r.u8()?,
            auxiliary_id: r.u8()?,
            capabilities: {
                r.zeros(2)?;
                r.u32()?
            },
            reserved: r.u32()?,
        };
        expect_end(&r, "ofp_switch_features", 24)?;
        Ok(f)
    }
}

/// `ofp_switch_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SwitchConfig {
    /// `OFPC_FRAG_*` flags.
    pub flags: u16,
    /// Bytes of a table-miss packet sent to the controller (`0xffff` = all, unbuffered).
    pub miss_send_len: u16,
}

impl SwitchConfig {
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u16(self.flags);
        buf.put_u16(self.miss_send_len);
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<SwitchConfig, DecodeError> {
        let c = SwitchConfig { flags: r.u16()?, miss_send_len: r.u16()? };
        expect_end(&r, "ofp_switch_config", 4)?;
        Ok(c)
    }
}

wire_enum! {
    /// `ofp_controller_role`.
    ControllerRole(u32) { NOCHANGE = 0, EQUAL = 1, MASTER = 2, SLAVE = 3, }
}

/// `ofp_role_request` (also the reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Role {
    /// Requested or current role.
    pub role: ControllerRole,
    /// Master election generation id.
    pub generation_id: u64,
}

impl Role {
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u32(self.role.0);
        buf.put_u32(0);
        buf.put_u64(self.generation_id);
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Role, DecodeError> {
        let role = ControllerRole(r.u32()?);
        r.zeros(4)?;
        let generation_id = r.u64()?;
        expect_end(&r, "ofp_role_request", 16)?;
        Ok(Role { role, generation_id })
    }
}

/// `ofp_async_config`: which asynchronous messages this connection receives, as bit masks of
/// reasons, `[master_or_equal, slave]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AsyncConfig {
    /// PACKET_IN reasons.
    pub packet_in_mask: [u32; 2],
    /// PORT_STATUS reasons.
    pub port_status_mask: [u32; 2],
    /// FLOW_REMOVED reasons.
    pub flow_removed_mask: [u32; 2],
}

impl AsyncConfig {
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        for w in self.packet_in_mask.iter().chain(&self.port_status_mask).chain(&self.flow_removed_mask) {
            buf.put_u32(*w);
        }
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<AsyncConfig, DecodeError> {
        let c = AsyncConfig {
            packet_in_mask: [r.u32()?, r.u32()?],
            port_status_mask: [r.u32()?, r.u32()?],
            flow_removed_mask: [r.u32()?, r.u32()?],
        };
        expect_end(&r, "ofp_async_config", 24)?;
        Ok(c)
    }
}

/// `ofp_experimenter_header` message (Nicira `NXT_*` messages arrive here).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Experimenter {
    /// Experimenter id (0x2320 for Nicira).
    pub experimenter: u32,
    /// Experimenter-defined type.
    pub exp_type: u32,
    /// The rest of the body.
    pub data: Vec<u8>,
}

impl Experimenter {
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u32(self.experimenter);
        buf.put_u32(self.exp_type);
        buf.extend_from_slice(&self.data);
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Experimenter, DecodeError> {
        Ok(Experimenter { experimenter: r.u32()?, exp_type: r.u32()?, data: r.rest().to_vec() })
    }
}
