//! Every failure crosses into JS as one napi error whose message starts with a
//! stable code; the JS face (`lib/errors.js`) turns it into TenantError,
//! TypeError or a Mongo*Error. The code travels in the message because napi's
//! async rejection carries only a fixed `Status`.

use crate::scope::{withhold, ScopeError};
use mongodb::error::{
    Error as MongoError, ErrorKind as MongoKind, IndexedWriteError, WriteConcernError, WriteFailure,
};
use serde_json::{json, Value};

/// Separates the code from the body in a rejection message.
pub const SEP: char = '\u{1f}';

/// What can go wrong in a binding call.
#[derive(Debug)]
pub enum FenceError {
    Scope(ScopeError),
    Mongo(MongoError),
    /// A server error already in the shape JS reads: write errors of bulk writes (sent as raw
    /// commands) and of one document in a shared insert.
    Server(Value),
    /// A driver-side refusal already in the shape JS reads (a session used after it ended).
    Driver(Value),
    Closed,
    /// A panic inside the addon, caught before it reached Node; the text says where.
    Internal(&'static str),
    /// The runtime dropped the call unfinished (it is shutting down).
    Cancelled,
    /// A batch the JSON renderer does not write; the caller renders it through js-bson.
    Json(crate::json::JsonError),
}

impl From<ScopeError> for FenceError {
    fn from(e: ScopeError) -> Self {
        FenceError::Scope(e)
    }
}

impl From<crate::json::JsonError> for FenceError {
    fn from(e: crate::json::JsonError) -> Self {
        FenceError::Json(e)
    }
}

impl From<MongoError> for FenceError {
    fn from(e: MongoError) -> Self {
        FenceError::Mongo(e)
    }
}

pub type FenceResult<T> = Result<T, FenceError>;

/// Shorthand for an argument error (a JS `TypeError`).
pub fn arg(message: impl Into<String>) -> FenceError {
    FenceError::Scope(ScopeError::argument(message))
}

/// The server's error code of a command or write error, if the server sent one.
pub fn server_code(e: &MongoError) -> Option<i32> {
    match e.kind.as_ref() {
        MongoKind::Command(c) => Some(c.code),
        MongoKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        _ => None,
    }
}

/// The server's message of a command error or a single write error.
pub fn server_message(e: &MongoError) -> Option<&str> {
    match e.kind.as_ref() {
        MongoKind::Command(c) => Some(&c.message),
        MongoKind::Write(WriteFailure::WriteError(w)) => Some(&w.message),
        _ => None,
    }
}

/// Fills the `codeName` MongoDB leaves out of write errors, for the common codes.
pub fn code_name(code: i32) -> Option<&'static str> {
    Some(match code {
        2 => "BadValue",
        9 => "FailedToParse",
        11 => "UserNotFound",
        13 => "Unauthorized",
        14 => "TypeMismatch",
        26 => "NamespaceNotFound",
        40 => "ConflictingUpdateOperators",
        50 => "MaxTimeMSExpired",
        52 => "DollarPrefixedFieldName",
        56 => "EmptyFieldName",
        66 => "ImmutableField",
        67 => "CannotCreateIndex",
        85 => "IndexOptionsConflict",
        86 => "IndexKeySpecsConflict",
        112 => "WriteConflict",
        121 => "DocumentValidationFailure",
        11000 => "DuplicateKey",
        13297 => "DatabaseDifferCase",
        _ => return None,
    })
}

fn server_json(name: &str, code: i32, code_name_s: Option<&str>, message: &str) -> Value {
    let cn = code_name_s.filter(|s| !s.is_empty()).or_else(|| code_name(code));
    let message = withhold::message(code, message);
    json!({ "name": name, "code": code, "codeName": cn, "message": message })
}

/// The server's details of a write error (`errInfo`, and `keyPattern` / `keyValue` of a
/// duplicate key) as canonical extended JSON, which JS reads back into BSON values; none for a
/// code whose message is withheld (`withhold::replacement`): they could say what it says.
pub fn write_details(code: i32, fields: &[(&str, Option<&bson::Document>)], into: &mut Value) {
    if withhold::replacement(code).is_some() {
        return;
    }
    for (k, v) in fields {
        if let Some(d) = v {
            into[*k] = bson::Bson::Document((*d).clone()).into_canonical_extjson();
        }
    }
}

fn write_concern_json(w: &WriteConcernError) -> Value {
    server_json("MongoWriteConcernError", w.code, Some(&w.code_name), &w.message)
}

/// A server error the fence gives in the server's own words (a refusal the server would make,
/// or one it made in effect), with the labels that say what may be retried.
pub fn server_error(code: i32, code_name: &str, message: &str, labels: &[&str]) -> FenceError {
    let mut body = server_json("MongoServerError", code, Some(code_name), message);
    if !labels.is_empty() {
        body["labels"] = json!(labels);
    }
    FenceError::Server(body)
}

/// One document's error from a shared insert, as a lone `insertOne` would have reported it.
pub fn indexed_write_error(w: &IndexedWriteError) -> FenceError {
    FenceError::Server(server_json("MongoServerError", w.code, w.code_name.as_deref(), &w.message))
}

/// A shared insert's write concern error, as a lone `insertOne` would have reported it.
pub fn write_concern_error(w: &WriteConcernError) -> FenceError {
    FenceError::Server(write_concern_json(w))
}

/// The error of a call the runtime dropped unfinished (it is shutting down).
pub fn cancelled() -> FenceError {
    FenceError::Cancelled
}

/// The stable code (`MONGO_SERVER` / `MONGO_DRIVER`) and JSON body for a driver error.
pub fn mongo_body(e: &MongoError) -> (&'static str, Value) {
    let (code, mut body) = mongo_body_unlabelled(e);
    // The labels say what may be retried (`TransientTransactionError`,
    // `UnknownTransactionCommitResult`): `withTransaction` reads them.
    let labels: Vec<&String> = e.labels().iter().collect();
    if let (Value::Object(m), false) = (&mut body, labels.is_empty()) {
        m.insert("labels".into(), json!(labels));
    }
    (code, body)
}

fn mongo_body_unlabelled(e: &MongoError) -> (&'static str, Value) {
    match e.kind.as_ref() {
        MongoKind::Command(c) => (
            "MONGO_SERVER",
            server_json("MongoServerError", c.code, Some(&c.code_name), &c.message),
        ),
        MongoKind::Write(WriteFailure::WriteError(w)) => {
            let mut body =
                server_json("MongoServerError", w.code, w.code_name.as_deref(), &w.message);
            write_details(w.code, &[("errInfo", w.details.as_ref())], &mut body);
            ("MONGO_SERVER", body)
        }
        MongoKind::Write(WriteFailure::WriteConcernError(w)) => {
            ("MONGO_SERVER", write_concern_json(w))
        }
        MongoKind::InsertMany(im) => {
            let errors: Vec<Value> = im
                .write_errors
                .iter()
                .flatten()
                .map(|w| {
                    let errmsg = withhold::message(w.code, &w.message);
                    let mut e = json!({ "index": w.index, "code": w.code, "errmsg": errmsg });
                    write_details(w.code, &[("errInfo", w.details.as_ref())], &mut e);
                    e
                })
                .collect();
            let first = im.write_errors.as_ref().and_then(|v| v.first());
            let (code, msg) = match (first, &im.write_concern_error) {
                (Some(w), _) => (w.code, w.message.clone()),
                (None, Some(c)) => (c.code, c.message.clone()),
                _ => (0, e.to_string()),
            };
            let mut body = server_json("MongoBulkWriteError", code, None, &msg);
            body["writeErrors"] = Value::Array(errors);
            (("MONGO_SERVER"), body)
        }
        MongoKind::ServerSelection { message, .. } => {
            ("MONGO_DRIVER", json!({ "name": "MongoServerSelectionError", "message": message }))
        }
        // Misuse of a transaction (commit with none started, an operation's write concern
        // inside one), named as the Node driver names it.
        MongoKind::Transaction { message, .. } => {
            ("MONGO_DRIVER", json!({ "name": "MongoTransactionError", "message": message }))
        }
        // A connection that broke mid-call (server killed, stepped down, network cut): named as
        // the Node driver names it, with a message that says so, not just "unexpected end of file".
        MongoKind::Io(_) | MongoKind::ConnectionPoolCleared { .. } => (
            "MONGO_DRIVER",
            json!({
                "name": "MongoNetworkError",
                "message": format!("connection to MongoDB failed: {}", e.kind),
                "labels": e.labels().iter().collect::<Vec<_>>(),
            }),
        ),
        _ => (
            "MONGO_DRIVER",
            json!({ "name": "MongoError", "message": e.kind.to_string(), "labels": e.labels().iter().collect::<Vec<_>>() }),
        ),
    }
}

impl FenceError {
    /// The code a metric counts this error under: a `TENANT_*` code, the server's numeric code,
    /// else the error class's name.
    pub fn metric_code(&self) -> String {
        let named = |v: &Value| match (&v["code"], &v["name"]) {
            (Value::Number(n), _) => n.to_string(),
            (_, Value::String(s)) => s.clone(),
            _ => "MongoError".into(),
        };
        match self {
            FenceError::Scope(s) => s.kind.code().to_string(),
            FenceError::Mongo(e) => match server_code(e) {
                Some(c) => c.to_string(),
                None => named(&mongo_body(e).1),
            },
            FenceError::Server(v) | FenceError::Driver(v) => named(v),
            FenceError::Closed => "MongoClientClosedError".into(),
            FenceError::Internal(_) => "ERR_INTERNAL".into(),
            FenceError::Cancelled => "ERR_CANCELLED".into(),
            FenceError::Json(_) => "ERR_JSON".into(),
        }
    }

    /// The stable code and message body that JS reads.
    pub fn encode(&self) -> String {
        match self {
            FenceError::Scope(s) => format!("{}{SEP}{}", s.kind.code(), s.message),
            FenceError::Mongo(e) => {
                let (code, body) = mongo_body(e);
                format!("{code}{SEP}{body}")
            }
            FenceError::Server(body) => format!("MONGO_SERVER{SEP}{body}"),
            FenceError::Driver(body) => format!("MONGO_DRIVER{SEP}{body}"),
            FenceError::Closed => format!(
                "MONGO_DRIVER{SEP}{}",
                json!({ "name": "MongoClientClosedError", "message": "the fence is closed" })
            ),
            FenceError::Internal(what) => format!("ERR_INTERNAL{SEP}internal error: {what}"),
            FenceError::Cancelled => format!(
                "ERR_CANCELLED{SEP}the operation was cancelled: the tenantfence runtime is shutting down"
            ),
            FenceError::Json(e) => format!("ERR_JSON{SEP}{e}"),
        }
    }
}

impl From<FenceError> for napi::Error {
    fn from(e: FenceError) -> Self {
        napi::Error::new(napi::Status::GenericFailure, e.encode())
    }
}
