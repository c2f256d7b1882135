//! The network model: physical networks and ports, logical networks, subnets, logical ports,
//! virtual routers and router ports, stored through ObjectDB under the original VLCP keys
//! (`viperflow.*`, typo `viperflow.logcialportset` kept), with the original's allocation rules.
//!
//! [`Model`] is the handle: cheap to clone, one method per viperflow/vrouterapi operation, each a
//! plain async function taking typed specs and running as **one** ObjectDB write transaction per
//! call (a batch is all-or-nothing; on any error nothing is written). Specs are built directly or
//! read from an API parameter map with `from_params` (what the web API and the Docker plugin
//! use):
//!
//! ```no_run
//! # async fn demo(db: vlcp::objectdb::ObjectDb) -> Result<(), vlcp::model::ModelError> {
//! use vlcp::model::{Model, Params, LogicalPortSpec};
//! let model = Model::new(db);
//! let p = serde_json::json!({"logicalnetwork": "network_a", "subnet": "subnet_a"});
//! let spec = LogicalPortSpec::from_params(Params::new(p.as_object().unwrap().clone()))?;
//! let port = model.create_logical_ports(vec![spec]).await?.remove(0);
//! println!("{} got {:?}", port.id, port.ip_address);
//! # Ok(()) }
//! ```
//!
//! Files: [`rules`] (pure rules: ranges, first-free, address plans, MACs, ids), [`params`]
//! (parameter reading), one file per object family ([`physical`], [`logical`], [`subnet`],
//! [`port`], [`router`]), `access` (transactions, listing, dumping). Errors are
//! [`ModelError`]: a [`FieldError`] naming the parameter (4xx) or a storage failure.

mod access;
pub mod error;
pub mod logical;
pub mod params;
pub mod physical;
pub mod port;
pub mod router;
pub mod rules;
pub mod subnet;

pub use error::{FieldError, FieldErrorKind, ModelError};
pub use logical::{
    LogicalNetwork, LogicalNetworkMap, LogicalNetworkPatch, LogicalNetworkSet, LogicalNetworkSpec,
};
pub use params::Params;
pub use physical::{
    NetworkType, PhysicalNetwork, PhysicalNetworkMap, PhysicalNetworkPatch, PhysicalNetworkSet,
    PhysicalNetworkSpec, PhysicalPort, PhysicalPortId, PhysicalPortPatch, PhysicalPortSet, PhysicalPortSpec,
};
pub use port::{LogicalPort, LogicalPortPatch, LogicalPortSet, LogicalPortSpec};
pub use router::{RouterInterfaceSpec, RouterPort, VRouter, VRouterPatch, VRouterSet, VRouterSpec};
pub use subnet::{AllocatedIp, SubNet, SubNetMap, SubNetPatch, SubNetSet, SubnetSpec};

use serde_json::Value;

use crate::objectdb::ObjectDb;

/// The model operations over one ObjectDB. Clones share the store.
#[derive(Clone)]
pub struct Model {
    db: ObjectDb,
}

impl Model {
    /// The model over `db`.
    pub fn new(db: ObjectDb) -> Self {
        Model { db }
    }

    /// The ObjectDB underneath.
    pub fn db(&self) -> &ObjectDb {
        &self.db
    }

    /// Dumps the objects stored under `keys` as the web API shows them (`_type`, `_key`,
    /// attributes, strong references expanded), in one consistent read; absent keys are skipped.
    pub async fn dump(&self, keys: &[String]) -> Result<Vec<Value>, ModelError> {
        access::dump_keys(&self.db, keys).await
    }
}

/// Declares a singleton set object (`viperflow.*set`) holding weak references to every object of
/// one type.
macro_rules! singleton_set {
    ($name:ident, $key:literal, $item:ty) => {
        #[doc = concat!("`", $key, "`: weak references to every [`", stringify!($item), "`].")]
        #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            /// The members.
            pub set: $crate::objectdb::ObjectSet<$item>,
        }
        impl $name {
            /// The singleton's key.
            pub const KEY: &'static str = $key;
        }
        impl $crate::objectdb::DataObject for $name {
            const PREFIX: &'static str = $key;
            fn key_parts(&self) -> Vec<String> {
                Vec::new()
            }
        }
    };
}
pub(crate) use singleton_set;

#[cfg(test)]
mod tests;
