//! MULTIPART request/reply bodies (OpenFlow 1.3 §7.3.5): desc, flow, aggregate, table, port
//! desc, group desc and port stats; other types are kept as raw bodies.
//!
//! A reply may span several messages, all but the last carrying [`MORE`]; the connection
//! ([`super::conn`]) reassembles them. Each message's body holds whole entries.

use bytes::BufMut;

use crate::openflow::header::{GroupId, PortNo, TableId, wire_enum};
use crate::openflow::instruction::Instruction;
use crate::openflow::msg::group::Bucket;
use crate::openflow::msg::group::GroupType;
use crate::openflow::msg::port::{PORT_LEN, Port};
use crate::openflow::msg::switch::expect_end;
use crate::openflow::oxm::Match;
use crate::openflow::wire::{DecodeError, Reader, fixed_str, patch_u16, to_fixed};

wire_enum! {
    /// `ofp_multipart_type`.
    MultipartType(u16) {
        DESC = 0, FLOW = 1, AGGREGATE = 2, TABLE = 3, PORT_STATS = 4, QUEUE = 5, GROUP = 6,
        GROUP_DESC = 7, GROUP_FEATURES = 8, METER = 9, METER_CONFIG = 10, METER_FEATURES = 11,
        TABLE_FEATURES = 12, PORT_DESC = 13, EXPERIMENTER = 0xffff,
    }
}

/// `OFPMPF_REQ_MORE` / `OFPMPF_REPLY_MORE`: more parts follow.
pub const MORE: u16 = 1;

/// Body of a flow or aggregate stats request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowStatsRequest {
    /// Table to read ([`TableId::ALL`] for all).
    pub table_id: TableId,
    /// Only flows outputting here ([`PortNo::ANY`] = no filter).
    pub out_port: PortNo,
    /// Only flows outputting to this group ([`GroupId::ANY`] = no filter).
    pub out_group: GroupId,
    /// Cookie filter value.
    pub cookie: u64,
    /// Cookie filter mask (0 = no filter).
    pub cookie_mask: u64,
    /// Only flows this match covers (empty = all).
    pub matches: Match,
}

impl Default for FlowStatsRequest {
    fn default() -> Self {
        FlowStatsRequest {
            table_id: TableId::ALL,
            out_port: PortNo::ANY,
            out_group: GroupId::ANY,
            cookie: 0,
            cookie_mask: 0,
            matches: Match::default(),
        }
    }
}

impl FlowStatsRequest {
    fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u8(self.table_id.0);
        buf.put_bytes(0, 3);
        buf.put_u32(self.out_port.0);
        buf.put_u32(self.out_group.0);
        buf.put_u32(0);
        buf.put_u64(self.cookie);
        buf.put_u64(self.cookie_mask);
        self.matches.encode(buf);
    }

    fn decode(mut r: Reader<'_>) -> Result<FlowStatsRequest, DecodeError> {
        let table_id = TableId(r.u8()?);
        r.zeros(3)?;
        let out_port = PortNo(r.u32()?);
        let out_group = GroupId(r.u32()?);
        r.zeros(4)?;
        let req = FlowStatsRequest {
            table_id,
            out_port,
            out_group,
            cookie: r.u64()?,
            cookie_mask: r.u64()?,
            matches: Match::decode(&mut r)?,
        };
        expect_end(&r, "ofp_flow_stats_request", 0)?;
        Ok(req)
    }
}

/// A multipart request body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MultipartRequest {
    /// Switch description.
    Desc,
    /// Individual flow statistics.
    Flow(FlowStatsRequest),
    /// Aggregate flow statistics.
    Aggregate(FlowStatsRequest),
    /// Table statistics.
    Table,
    /// Port statistics (raw reply) for a port or [`PortNo::ANY`].
    PortStats(PortNo),
    /// Port descriptions.
    PortDesc,
    /// Group descriptions.
    GroupDesc,
    /// Any other request, raw body.
    Other {
        /// Multipart type.
        mp_type: MultipartType,
        /// Flags (`REQ_MORE`).
        flags: u16,
        /// Body.
        body: Vec<u8>,
    },
}

impl MultipartRequest {
    /// The multipart type.
    pub fn mp_type(&self) -> MultipartType {
        match self {
            MultipartRequest::Desc => MultipartType::DESC,
            MultipartRequest::Flow(_) => MultipartType::FLOW,
            MultipartRequest::Aggregate(_) => MultipartType::AGGREGATE,
            MultipartRequest::Table => MultipartType::TABLE,
            MultipartRequest::PortStats(_) => MultipartType::PORT_STATS,
            MultipartRequest::PortDesc => MultipartType::PORT_DESC,
            MultipartRequest::GroupDesc => MultipartType::GROUP_DESC,
            MultipartRequest::Other { mp_type, .. } => *mp_type,
        }
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u16(self.mp_type().0);
        buf.put_u16(match self {
            MultipartRequest::Other { flags, .. } => *flags,
            _ => 0,
        });
        buf.put_u32(0);
        match self {
            MultipartRequest::Flow(f) | MultipartRequest::Aggregate(f) => f.encode(buf),
            MultipartRequest::PortStats(p) => {
                buf.put_u32(p.0);
                buf.put_u32(0);
            }
            MultipartRequest::Other { body, .. } => buf.extend_from_slice(body),
            _ => {}
        }
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<MultipartRequest, DecodeError> {
        let mp_type = MultipartType(r.u16()?);
        let flags = r.u16()?;
        r.zeros(4)?;
        let raw = r.clone().rest();
        let other = || MultipartRequest::Other { mp_type, flags, body: raw.to_vec() };
        if flags != 0 {
            return Ok(other());
        }
        Ok(match mp_type {
            MultipartType::FLOW => MultipartRequest::Flow(FlowStatsRequest::decode(r)?),
            MultipartType::AGGREGATE => MultipartRequest::Aggregate(FlowStatsRequest::decode(r)?),
            MultipartType::PORT_STATS if r.remaining() == 8 && raw[4..] == [0; 4] => {
                MultipartRequest::PortStats(PortNo(r.u32()?))
            }
            _ if !r.is_empty() => other(),
            MultipartType::DESC => MultipartRequest::Desc,
            MultipartType::TABLE => MultipartRequest::Table,
            MultipartType::PORT_DESC => MultipartRequest::PortDesc,
            MultipartType::GROUP_DESC => MultipartRequest::GroupDesc,
            _ => other(),
        })
    }
}

/// `ofp_desc`: the switch's self-description.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Desc {
    /// Manufacturer.
    pub mfr_desc: String,
    /// Hardware.
    pub hw_desc: String,
    /// Software.
    pub sw_desc: String,
    /// Serial number.
    pub serial_num: String,
    /// Datapath description.
    pub dp_desc: String,
}

/// One `ofp_flow_stats` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FlowStats {
    /// Table of the flow.
    pub table_id: u8,
    /// Age, seconds.
    pub duration_sec: u32,
    /// Age, nanoseconds.
    pub duration_nsec: u32,
    /// Priority.
    pub priority: u16,
    /// Idle timeout.
    pub idle_timeout: u16,
    /// Hard timeout.
    pub hard_timeout: u16,
    /// `flow_mod_flags`.
    pub flags: u16,
    /// Cookie.
    pub cookie: u64,
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// Match.
    pub matches: Match,
    /// Instructions.
    pub instructions: Vec<Instruction>,
}

/// Aggregate flow statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AggregateStats {
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// Number of flows.
    pub flow_count: u32,
}

/// One `ofp_table_stats` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TableStats {
    /// Table id.
    pub table_id: u8,
    /// Active entries.
    pub active_count: u32,
    /// Packets looked up.
    pub lookup_count: u64,
    /// Packets that hit.
    pub matched_count: u64,
}

/// One `ofp_group_desc` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupDesc {
    /// Group type.
    pub group_type: GroupType,
    /// Group id.
    pub group_id: GroupId,
    /// Buckets.
    pub buckets: Vec<Bucket>,
}

/// A multipart reply body (one part).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MultipartReply {
    /// Switch description.
    Desc(Desc),
    /// Flow entries.
    Flow(Vec<FlowStats>),
    /// Aggregate counters.
    Aggregate(AggregateStats),
    /// Table counters.
    Table(Vec<TableStats>),
    /// Ports.
    PortDesc(Vec<Port>),
    /// Groups.
    GroupDesc(Vec<GroupDesc>),
    /// Any other type, raw body.
    Other {
        /// Multipart type.
        mp_type: MultipartType,
        /// Body.
        body: Vec<u8>,
    },
}

fn strings_exact<const N: usize>(raw: &[u8]) -> Option<String> {
    let s = fixed_str(raw);
    (to_fixed::<N>(s)[..] == *raw).then(|| s.to_owned())
}

impl MultipartReply {
    /// The multipart type.
    pub fn mp_type(&self) -> MultipartType {
        match self {
            MultipartReply::Desc(_) => MultipartType::DESC,
            MultipartReply::Flow(_) => MultipartType::FLOW,
            MultipartReply::Aggregate(_) => MultipartType::AGGREGATE,
            MultipartReply::Table(_) => MultipartType::TABLE,
            MultipartReply::PortDesc(_) => MultipartType::PORT_DESC,
            MultipartReply::GroupDesc(_) => MultipartType::GROUP_DESC,
            MultipartReply::Other { mp_type, .. } => *mp_type,
        }
    }

    /// Append a reply part (`flags` carries [`MORE`]).
    pub(crate) fn encode(&self, flags: u16, buf: &mut Vec<u8>) {
        buf.put_u16(self.mp_type().0);
        buf.put_u16(flags);
        buf.put_u32(0);
        match self {
            MultipartReply::Desc(d) => {
                buf.extend_from_slice(&to_fixed::<256>(&d.mfr_desc));
                buf.extend_from_slice(&to_fixed::<256>(&d.hw_desc));
                buf.extend_from_slice(&to_fixed::<256>(&d.sw_desc));
                buf.extend_from_slice(&to_fixed::<32>(&d.serial_num));
                buf.extend_from_slice(&to_fixed::<256>(&d.dp_desc));
            }
            MultipartReply::Flow(flows) => {
                for f in flows {
                    let start = buf.len();
                    buf.put_u16(0);
                    buf.put_u8(f.table_id);
                    buf.put_u8(0);
                    buf.put_u32(f.duration_sec);
                    buf.put_u32(f.duration_nsec);
                    buf.put_u16(f.priority);
                    buf.put_u16(f.idle_timeout);
                    buf.put_u16(f.hard_timeout);
                    buf.put_u16(f.flags);
                    buf.put_u32(0);
                    buf.put_u64(f.cookie);
                    buf.put_u64(f.packet_count);
                    buf.put_u64(f.byte_count);
                    f.matches.encode(buf);
                    Instruction::encode_list(&f.instructions, buf);
                    let len = buf.len() - start;
                    patch_u16(buf, start, len);
                }
            }
            MultipartReply::Aggregate(a) => {
                buf.put_u64(a.packet_count);
                buf.put_u64(a.byte_count);
                buf.put_u32(a.flow_count);
                buf.put_u32(0);
            }
            MultipartReply::Table(tables) => {
                for t in tables {
                    buf.put_u8(t.table_id);
                    buf.put_bytes(0, 3);
                    buf.put_u32(t.active_count);
                    buf.put_u64(t.lookup_count);
                    buf.put_u64(t.matched_count);
                }
            }
            MultipartReply::PortDesc(ports) => ports.iter().for_each(|p| p.encode(buf)),
            MultipartReply::GroupDesc(groups) => {
                for g in groups {
                    let start = buf.len();
                    buf.put_u16(0);
                    buf.put_u8(g.group_type.0);
                    buf.put_u8(0);
                    buf.put_u32(g.group_id.0);
                    g.buckets.iter().for_each(|b| b.encode(buf));
                    let len = buf.len() - start;
                    patch_u16(buf, start, len);
                }
            }
            MultipartReply::Other { body, .. } => buf.extend_from_slice(body),
        }
    }

    /// Decode one reply part: `(flags, body)`.
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<(u16, MultipartReply), DecodeError> {
        let mp_type = MultipartType(r.u16()?);
        let flags = r.u16()?;
        r.zeros(4)?;
        let raw = r.clone().rest();
        let body = match mp_type {
            MultipartType::DESC if raw.len() == 1056 => {
                let d = (|| {
                    Some(Desc {
                        mfr_desc: strings_exact::<256>(&raw[..256])?,
                        hw_desc: strings_exact::<256>(&raw[256..512])?,
                        sw_desc: strings_exact::<256>(&raw[512..768])?,
                        serial_num: strings_exact::<32>(&raw[768..800])?,
                        dp_desc: strings_exact::<256>(&raw[800..])?,
                    })
                })();
                d.map(MultipartReply::Desc)
            }
            MultipartType::FLOW => Some(MultipartReply::Flow(decode_flow_stats(r)?)),
            MultipartType::AGGREGATE if raw.len() == 24 => {
                let a = AggregateStats { packet_count: r.u64()?, byte_count: r.u64()?, flow_count: r.u32()? };
                (raw[20..] == [0; 4]).then_some(MultipartReply::Aggregate(a))
            }
            MultipartType::TABLE if raw.len().is_multiple_of(24) => {
                let mut tables = Vec::new();
                let mut exact = true;
                while !r.is_empty() {
                    let table_id = r.u8()?;
                    exact &= r.pad(3)?;
                    tables.push(TableStats {
                        table_id,
                        active_count: r.u32()?,
                        lookup_count: r.u64()?,
                        matched_count: r.u64()?,
                    });
                }
                exact.then_some(MultipartReply::Table(tables))
            }
            MultipartType::PORT_DESC if raw.len().is_multiple_of(PORT_LEN) => {
                let mut ports = Vec::new();
                while !r.is_empty() {
                    ports.push(Port::decode(&mut r)?);
                }
                Some(MultipartReply::PortDesc(ports))
            }
            MultipartType::GROUP_DESC => Some(MultipartReply::GroupDesc(decode_group_desc(r)?)),
            _ => None,
        };
        Ok((flags, body.unwrap_or_else(|| MultipartReply::Other { mp_type, body: raw.to_vec() })))
    }
}

fn decode_flow_stats(mut r: Reader<'_>) -> Result<Vec<FlowStats>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        let len = usize::from(u16::from_be_bytes(r.array()?));
        if len < 56 {
            return Err(DecodeError::BadLength { what: "ofp_flow_stats", len });
        }
        let mut e = r.sub(len - 2, "ofp_flow_stats")?;
        let table_id = e.u8()?;
        e.zeros(1)?;
        let mut f = FlowStats {
            table_id,
            duration_sec: e.u32()?,
            duration_nsec: e.u32()?,
            priority: e.u16()?,
            idle_timeout: e.u16()?,
            hard_timeout: e.u16()?,
            flags: e.u16()?,
            ..FlowStats::default()
        };
        e.zeros(4)?;
        f.cookie = e.u64()?;
        f.packet_count = e.u64()?;
        f.byte_count = e.u64()?;
        f.matches = Match::decode(&mut e)?;
        f.instructions = Instruction::decode_list(e)?;
        out.push(f);
    }
    Ok(out)
}

fn decode_group_desc(mut r: Reader<'_>) -> Result<Vec<GroupDesc>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        let len = usize::from(u16::from_be_bytes(r.array()?));
        if len < 8 {
            return Err(DecodeError::BadLength { what: "ofp_group_desc", len });
        }
        let mut e = r.sub(len - 2, "ofp_group_desc")?;
        let group_type = GroupType(e.u8()?);
        e.zeros(1)?;
        out.push(GroupDesc { group_type, group_id: GroupId(e.u32()?), buckets: Bucket::decode_list(e)? });
    }
    Ok(out)
}
