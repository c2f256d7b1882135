//! # OVSDB client, sans-IO (RFC 7047)
//!
//! Everything needed to talk to ovsdb-server without owning a socket or a clock; the tokio
//! driver is [`crate::runtime::ovsdb`]. Layers, bottom up:
//! - [`framer`]: splits a byte stream into JSON messages (size and depth caps);
//! - [`jsonrpc`]: JSON-RPC 1.0 requests, responses and notifications;
//! - [`session`]: one connection's protocol state (id matching, echo replies, keepalive);
//! - [`datum`] and [`ops`]: OVSDB values and typed `transact` operations and results;
//! - [`schema`] and [`monitor`]: monitor requests and the row cache that updates feed;
//! - [`view`]: typed `Open_vSwitch` / `Bridge` / `Port` / `Interface` rows with change events;
//! - [`txn`]: the product's transactions (ensure bridge, add/delete port, set options), each
//!   built against a [`view::View`] with `wait` guards so a concurrent change fails cleanly.

pub mod datum;
pub mod framer;
pub mod jsonrpc;
pub mod monitor;
pub mod ops;
pub mod schema;
pub mod session;
pub mod txn;
pub mod view;
