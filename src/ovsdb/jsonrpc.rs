//! JSON-RPC 1.0 messages as OVSDB uses them (RFC 7047 §4).
//!
//! Three shapes travel on the wire, all JSON objects:
//! - a request `{"method", "params", "id"}` with a non-null id,
//! - a notification, the same with `"id": null` (monitor `update`/`update2`, `locked`, `stolen`),
//! - a response `{"result", "error", "id"}` where exactly one of result/error is non-null.
//!
//! [`Message::from_json`] classifies a framed value and rejects anything else with a
//! [`ProtocolError`]; [`Message::to_json`] encodes.

use serde_json::{Map, Value, json};

/// A JSON value that is not a JSON-RPC 1.0 message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The message is not an object.
    #[error("JSON-RPC message is not an object")]
    NotObject,
    /// `method` is present but not a string.
    #[error("JSON-RPC method is not a string")]
    BadMethod,
    /// Neither a request/notification nor a response.
    #[error("JSON-RPC message has neither \"method\" nor \"result\"/\"error\" with an id")]
    Unclassifiable,
}

/// An error object returned by the server in a response's `error` member.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}{}", details.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
pub struct RpcError {
    /// The short error string (`"unknown method"`, `"unknown database"`, ...).
    pub error: String,
    /// The optional human-readable `details`.
    pub details: Option<String>,
    /// The error value as received.
    pub raw: Value,
}

impl RpcError {
    /// Reads an `error` value: an `{"error": ..., "details": ...}` object or a bare string.
    pub fn from_json(v: &Value) -> RpcError {
        match v {
            Value::String(s) => RpcError { error: s.clone(), details: None, raw: v.clone() },
            Value::Object(o) => RpcError {
                error: o.get("error").and_then(Value::as_str).unwrap_or("unknown error").to_owned(),
                details: o.get("details").and_then(Value::as_str).map(str::to_owned),
                raw: v.clone(),
            },
            other => RpcError { error: other.to_string(), details: None, raw: v.clone() },
        }
    }
}

/// One JSON-RPC 1.0 message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A call that expects a response with the same id.
    Request {
        /// Correlation id (any non-null JSON value).
        id: Value,
        /// Method name.
        method: String,
        /// Parameters (an array in OVSDB).
        params: Value,
    },
    /// A call without a response (`"id": null`).
    Notification {
        /// Method name.
        method: String,
        /// Parameters.
        params: Value,
    },
    /// The answer to a request.
    Response {
        /// The id of the request answered.
        id: Value,
        /// `result` on success, `error` otherwise.
        result: Result<Value, RpcError>,
    },
}

impl Message {
    /// Classifies a framed JSON value.
    pub fn from_json(v: Value) -> Result<Message, ProtocolError> {
        let Value::Object(mut o) = v else { return Err(ProtocolError::NotObject) };
        let id = o.remove("id").unwrap_or(Value::Null);
        if let Some(m) = o.remove("method") {
            let Value::String(method) = m else { return Err(ProtocolError::BadMethod) };
            let params = o.remove("params").unwrap_or(Value::Array(Vec::new()));
            return Ok(if id.is_null() {
                Message::Notification { method, params }
            } else {
                Message::Request { id, method, params }
            });
        }
        if id.is_null() {
            return Err(ProtocolError::Unclassifiable);
        }
        let error = o.remove("error").unwrap_or(Value::Null);
        match (o.remove("result"), error) {
            (_, e) if !e.is_null() => Ok(Message::Response { id, result: Err(RpcError::from_json(&e)) }),
            (Some(r), _) => Ok(Message::Response { id, result: Ok(r) }),
            (None, _) => Err(ProtocolError::Unclassifiable),
        }
    }

    /// Encodes for the wire.
    pub fn to_json(&self) -> Value {
        match self {
            Message::Request { id, method, params } => json!({"id": id, "method": method, "params": params}),
            Message::Notification { method, params } => {
                json!({"id": null, "method": method, "params": params})
            }
            Message::Response { id, result: Ok(r) } => json!({"id": id, "result": r, "error": null}),
            Message::Response { id, result: Err(e) } => {
                let mut o = Map::new();
                o.insert("id".into(), id.clone());
                o.insert("result".into(), Value::Null);
                o.insert("error".into(), e.raw.clone());
                Value::Object(o)
            }
        }
    }

    /// Encodes to bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising a `Value` cannot fail (all keys are strings).
        serde_json::to_vec(&self.to_json()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify() {
        let r = Message::from_json(json!({"id": 3, "result": [1], "error": null})).unwrap();
        assert_eq!(r, Message::Response { id: json!(3), result: Ok(json!([1])) });
        let e = Message::from_json(json!({"id": 3, "result": null, "error": {"error": "x", "details": "y"}}))
            .unwrap();
        let Message::Response { result: Err(err), .. } = e else { panic!() };
        assert_eq!(err.to_string(), "x: y");
        let n = Message::from_json(json!({"id": null, "method": "update", "params": []})).unwrap();
        assert!(matches!(n, Message::Notification { .. }));
        let q = Message::from_json(json!({"id": "echo", "method": "echo", "params": []})).unwrap();
        assert!(matches!(q, Message::Request { .. }));
        assert_eq!(Message::from_json(json!([1])), Err(ProtocolError::NotObject));
        assert_eq!(Message::from_json(json!({"method": 1})), Err(ProtocolError::BadMethod));
        assert_eq!(Message::from_json(json!({"id": 1})), Err(ProtocolError::Unclassifiable));
        for m in [r, n, q] {
            assert_eq!(Message::from_json(m.to_json()).unwrap(), m);
        }
    }
}
