//! # OpenFlow 1.3 with Nicira extensions: a sans-IO codec and switch connection
//!
//! (user guide: see below)

pub mod action;
pub mod conn;
pub mod header;
pub mod instruction;
pub mod msg;
pub mod multipart;
pub mod nx;
pub mod oxm;
mod wire;

#[cfg(test)]
mod proptests;

pub use action::{Action, ActionType};
pub use header::{
    CONTROLLER_MAX_LEN_NO_BUFFER, GroupId, HEADER_LEN, Header, MsgType, NO_BUFFER, OFP13_VERSION, PortNo,
    TableId, frame_len,
};
pub use instruction::{Instruction, InstructionType};
pub use msg::error::{ErrorMsg, ErrorType};
pub use msg::flow::{FlowMod, FlowModCommand, FlowRemoved, FlowRemovedReason, flow_mod_flags};
pub use msg::group::{Bucket, GroupMod, GroupModCommand, GroupType};
pub use msg::hello::{Hello, HelloElement};
pub use msg::packet::{PacketIn, PacketInReason, PacketOut};
pub use msg::port::{Port, PortMod, PortReason, PortStatus};
pub use msg::switch::{AsyncConfig, ControllerRole, Experimenter, Role, SwitchConfig, SwitchFeatures};
pub use msg::{EncodeError, Frame, Message};
pub use multipart::{
    AggregateStats, Desc, FlowStats, FlowStatsRequest, GroupDesc, MultipartReply, MultipartRequest,
    MultipartType, TableStats,
};
pub use nx::{FieldSlice, Learn, LearnDst, LearnSpec, LearnSrc, NX_IN_PORT, NxAction};
pub use oxm::{Match, Oxm, OxmField};
pub use wire::DecodeError;
