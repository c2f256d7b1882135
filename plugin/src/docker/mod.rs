//! The Docker network + IPAM plugin endpoint.
//!
//! Docker finds a legacy plugin by its socket, `/run/docker/plugins/<name>.sock` (the file name is
//! the plugin name: `docker network create -d vlcp --ipam-driver vlcp`). Every call is an HTTP
//! POST `/<Interface>.<Method>` with a JSON body (empty for calls without arguments); success is a
//! JSON body (`{}` at least: an empty 200 body is an error for Docker), failure a non-200 status with
//! `{"Err": "..."}` for both driver kinds, and an unknown method is a 404.
//!
//! - [`protocol`]: the request and response types of every method, and [`protocol::Method`].
//! - [`server`]: the hyper server on the unix socket (a task per connection: a slow `Join` never
//!   blocks other calls) dispatching to a [`server::Driver`].
//! - [`driver`]: [`driver::VlcpDriver`], the driver over the VLCP model, and [`driver::start`].
//! - [`options`]: the `-o` option grammar; [`naming`]: ids, veth names, derived MACs;
//!   [`ipam`]: pools and addresses in ObjectDB; [`plumbing`]: veth + OVS port;
//!   `network` and `endpoint`: the NetworkDriver calls; [`swarm`]: swarm-scope networks
//!   (`AllocateNetwork`/`FreeNetwork` on the manager, one NetworkID on every node).

pub mod driver;
mod endpoint;
pub mod failpoint;
pub mod ipam;
pub mod naming;
mod network;
pub mod options;
pub mod plumbing;
pub mod protocol;
pub mod reaper;
pub mod server;
pub mod swarm;

pub use endpoint::{DockerInfo, EndpointState, RepairReport};

#[cfg(test)]
mod tests;
