//! # OpenFlow 1.3 with Nicira extensions: a sans-IO codec and switch connection
//!
//! Bytes in, typed values out, no tokio here. [`Frame::decode`] / [`Frame::encode`] handle one
//! message ([`frame_len`] splits a stream); [`conn::Connection`] is the controller side of one
//! switch connection as a state machine (handshake, echo keepalive, xid matching, multipart
//! reassembly, barrier completion). The tokio driver that owns sockets is
//! [`crate::runtime::ofswitch`].
//!
//! Unknown message types, match fields, actions and instructions decode to opaque values
//! ([`Message::Unknown`], [`Oxm`] keeps any header, [`Action::Raw`], [`Instruction::Raw`]);
//! anything that decodes re-encodes to exactly the same bytes, and decoding never panics.
//!
//! ## User guide: a pipeline stage installs its flows and waits for them
//!
//! A stage builds [`FlowMod`]s from the model: a [`Match`] of [`Oxm`] entries (OXM basic fields
//! and Nicira registers/tunnel fields), and [`Instruction`]s holding [`Action`]s (standard ones
//! and [`NxAction`]s such as `reg_load`, `resubmit`, `learn`). It hands the whole list to
//! [`Datapath::batch`](crate::runtime::ofswitch::Datapath::batch), which writes them followed by
//! a BARRIER_REQUEST and returns when the barrier reply arrives: by then the switch has applied
//! every flow-mod, and any that it refused has reported its ERROR, tied to that request.
//!
//! ```no_run
//! # async fn stage(dp: &vlcp::runtime::ofswitch::Datapath) {
//! use vlcp::openflow::{
//!     Action, FieldSlice, FlowMod, Instruction, Match, Message, NxAction, Oxm, OxmField, PortNo,
//! };
//! // ingress (table 0): packets from port 3 belong to network 5 → reg4, then goto l2input.
//! let flow = FlowMod::add(
//!     0,
//!     100,
//!     Match::new().with(Oxm::in_port(PortNo(3))),
//!     vec![
//!         Instruction::ApplyActions(vec![Action::Nx(NxAction::RegLoad {
//!             dst: FieldSlice::new(OxmField::reg(4), 0),
//!             n_bits: 32,
//!             value: 5,
//!         })]),
//!         Instruction::GotoTable(1),
//!     ],
//! )
//! .cookie(0x0001_0000_0000_0003); // provenance: stage and owner
//! match dp.batch(vec![Message::FlowMod(flow)]).await {
//!     Ok(_) => { /* installed: the barrier came back with no error */ }
//!     Err(batch) => {
//!         for (index, error) in batch.failed() {
//!             // e.g. OFPET_BAD_MATCH/BAD_PREREQ for request `index`: fix or resync that flow.
//!             eprintln!("flow {index} refused: {error}");
//!         }
//!     }
//! }
//! # }
//! ```
//!
//! Order matters inside a batch (deletes before adds when replacing); start a new batch for a
//! phase that must follow the previous one's completion. Read back what is installed with
//! [`Datapath::flow_stats`](crate::runtime::ofswitch::Datapath::flow_stats).

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
