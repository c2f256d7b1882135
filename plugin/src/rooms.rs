//! The rooms the daemon runs, built from the config: the store (ObjectDB over the configured
//! backend) and the management API. Each `start_*` binds its sockets before returning, so a bad
//! address fails startup, and returns a future that serves until the stop signal.

use std::future::Future;

use tokio::sync::watch;
use vlcp::config::{Config, Value};
use vlcp::model::Model;
use vlcp::objectdb::ObjectDb;

/// A room's serving future; it resolves when the stop signal fires (or the room fails).
pub type RoomFuture = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// The string value of a config key as the rooms' `from_lookup` constructors read it: strings
/// as they are, other literals in their Python form, `None` and absent keys as `None`.
pub fn lookup(config: &Config) -> impl Fn(&str) -> Option<String> + '_ {
    move |key| match config.get(key) {
        None | Some(Value::None) => None,
        Some(Value::Str(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

/// Opens the configured store (embedded by default) and the network model over it.
pub async fn open_model(config: &Config) -> Result<Model, String> {
    let store = vlcp::objectdb::open_from_config(lookup(config)).await.map_err(|e| format!("store: {e}"))?;
    Ok(Model::new(ObjectDb::new(store)))
}

/// Binds the management API (`module.httpserver.vhost.api.url`, default 127.0.0.1:8081) and
/// returns its serving future.
pub async fn start_webapi(
    config: &Config,
    model: Model,
    mut stop: watch::Receiver<bool>,
) -> Result<RoomFuture, String> {
    let web = vlcp::web::WebConfig::from_lookup(lookup(config)).map_err(|e| format!("webapi: {e}"))?;
    let listener = vlcp::web::Listener::bind(&web.listen)
        .await
        .map_err(|e| format!("webapi: cannot listen on {:?}: {e}", web.listen))?;
    tracing::info!(listen = ?web.listen, "management API listening");
    let state = vlcp::web::WebState::new(model, &web);
    Ok(Box::pin(async move {
        vlcp::web::serve(listener, state, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
        Ok(())
    }))
}
