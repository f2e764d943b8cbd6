//! JS option objects -> driver options. Each method names the options it accepts;
//! anything else is a TypeError, so no unvetted option (and nothing that could widen
//! the tenant match) reaches the driver.

use std::time::Duration;

use bson::{Bson, Document};
use mongodb::options::{
    Acknowledgment, Collation, Hint, ReadConcern, ReadPreference, ReadPreferenceOptions,
    ReturnDocument, SelectionCriteria, WriteConcern,
};

use super::error::{arg, FenceError, FenceResult};
use crate::scope::{option_rules, ScopeError};

/// Every option any method accepts, already validated.
#[derive(Default, Debug)]
pub struct CallOptions {
    pub sort: Option<Document>,
    pub limit: Option<i64>,
    pub skip: Option<u64>,
    pub projection: Option<Document>,
    pub batch_size: Option<u32>,
    pub hint: Option<Hint>,
    pub collation: Option<Collation>,
    /// The collation as sent, for the tenant guard and index checks.
    pub collation_doc: Option<Document>,
    pub comment: Option<Bson>,
    pub max_time: Option<Duration>,
    pub let_vars: Option<Document>,
    pub upsert: Option<bool>,
    pub array_filters: Option<Vec<Document>>,
    pub return_document: Option<ReturnDocument>,
    pub ordered: Option<bool>,
    pub bypass_document_validation: Option<bool>,
    pub write_concern: Option<WriteConcern>,
    pub allow_disk_use: Option<bool>,
    pub allow_partial_results: Option<bool>,
    pub no_cursor_timeout: Option<bool>,
    /// `readPreference`: which member serves a read (the query is the same scoped one).
    pub selection_criteria: Option<SelectionCriteria>,
    pub read_concern: Option<ReadConcern>,
    /// createIndex options, passed through after validation.
    pub index: Document,
}

/// Builds a driver options struct, moving the same-named fields out of a `CallOptions`.
macro_rules! driver_options {
    ($o:ident => $ty:ident { $($field:ident),* $(,)? }) => {{
        let mut d = $ty::default();
        $( d.$field = $o.$field; )*
        d
    }};
}
pub(crate) use driver_options;

/// Options each method accepts, by its JS name.
pub const FIND: &[&str] = &[
    "sort",
    "limit",
    "skip",
    "projection",
    "batchSize",
    "hint",
    "collation",
    "comment",
    "maxTimeMS",
    "let",
    "allowDiskUse",
    "readPreference",
    "readConcern",
    "allowPartialResults",
    "noCursorTimeout",
];
pub const FIND_ONE: &[&str] = &[
    "sort",
    "skip",
    "projection",
    "hint",
    "collation",
    "comment",
    "maxTimeMS",
    "let",
    "readPreference",
    "readConcern",
    "allowPartialResults",
];
pub const COUNT: &[&str] = &[
    "limit",
    "skip",
    "hint",
    "collation",
    "comment",
    "maxTimeMS",
    "readPreference",
    "readConcern",
    "let",
    "allowDiskUse",
    "batchSize",
];
pub const DISTINCT: &[&str] =
    &["collation", "comment", "maxTimeMS", "hint", "readPreference", "readConcern"];
pub const AGGREGATE: &[&str] = &[
    "batchSize",
    "hint",
    "collation",
    "comment",
    "maxTimeMS",
    "let",
    "allowDiskUse",
    "readPreference",
    "readConcern",
];
pub const INSERT: &[&str] = &["writeConcern", "bypassDocumentValidation", "comment", "ordered"];
pub const UPDATE: &[&str] = &[
    "upsert",
    "arrayFilters",
    "hint",
    "collation",
    "let",
    "comment",
    "writeConcern",
    "bypassDocumentValidation",
];
/// `updateOne` takes `sort` (MongoDB 8.0); `updateMany` updates every match.
pub const UPDATE_ONE: &[&str] = &[
    "upsert",
    "arrayFilters",
    "hint",
    "collation",
    "let",
    "comment",
    "writeConcern",
    "bypassDocumentValidation",
    "sort",
];
pub const REPLACE: &[&str] = &[
    "upsert",
    "hint",
    "collation",
    "let",
    "comment",
    "writeConcern",
    "bypassDocumentValidation",
    "sort",
];
pub const DELETE: &[&str] = &["hint", "collation", "let", "comment", "writeConcern"];
pub const FIND_AND_MODIFY: &[&str] = &[
    "projection",
    "sort",
    "upsert",
    "returnDocument",
    "arrayFilters",
    "hint",
    "collation",
    "let",
    "comment",
    "maxTimeMS",
    "writeConcern",
    "bypassDocumentValidation",
];
pub const BULK: &[&str] =
    &["ordered", "writeConcern", "bypassDocumentValidation", "comment", "let", "maxTimeMS"];
pub const INDEX: &[&str] = &[
    "name",
    "unique",
    "sparse",
    "expireAfterSeconds",
    "partialFilterExpression",
    "collation",
    "background",
    "hidden",
    "default_language",
    "language_override",
    "weights",
    "textIndexVersion",
    "2dsphereIndexVersion",
    "min",
    "max",
    "bits",
    "wildcardProjection",
    "storageEngine",
    "v",
];
/// What `createIndex` takes besides an index's own options (`INDEX`): the command's options,
/// as the driver takes them.
pub const CREATE_INDEX_COMMAND: &[&str] = &["comment", "commitQuorum", "maxTimeMS", "writeConcern"];

/// The error for an option a method does not take: the reason when it is refused on purpose
/// (`scope::option_rules`), else a `TypeError`.
pub fn unknown(key: &str) -> FenceError {
    match option_rules::refusal(key) {
        Some(e) => e.into(),
        None => arg(format!("options.{key} is not supported by this method")),
    }
}

fn want_doc(v: Bson, name: &str) -> FenceResult<Document> {
    match v {
        Bson::Document(d) => Ok(d),
        _ => Err(arg(format!("options.{name} must be an object"))),
    }
}

fn want_bool(v: Bson, name: &str) -> FenceResult<bool> {
    match v {
        Bson::Boolean(b) => Ok(b),
        _ => Err(arg(format!("options.{name} must be a boolean"))),
    }
}

fn want_int(v: &Bson, name: &str) -> FenceResult<i64> {
    let n = match v {
        Bson::Int32(n) => *n as i64,
        Bson::Int64(n) => *n,
        Bson::Double(f) if f.fract() == 0.0 && f.is_finite() && f.abs() < 9.0e15 => *f as i64,
        _ => return Err(arg(format!("options.{name} must be an integer"))),
    };
    Ok(n)
}

pub(crate) fn want_non_negative(v: &Bson, name: &str) -> FenceResult<u64> {
    let n = want_int(v, name)?;
    u64::try_from(n).map_err(|_| arg(format!("options.{name} must not be negative")))
}

/// `readPreference` as the Node driver takes it: a mode, or `{mode, tags, maxStalenessSeconds}`
/// (a driver `ReadPreference` object arrives as that document).
fn parse_read_preference(v: Bson) -> FenceResult<SelectionCriteria> {
    let (mode, d) = match v {
        Bson::String(mode) => (mode, Document::new()),
        Bson::Document(d) => match d.get_str("mode") {
            Ok(mode) => (mode.to_string(), d),
            Err(_) => return Err(arg("options.readPreference.mode must be a string")),
        },
        _ => return Err(arg("options.readPreference must be a mode or an object")),
    };
    let mut opts = ReadPreferenceOptions::default();
    match d.get("tags") {
        None | Some(Bson::Null) => {}
        Some(Bson::Array(sets)) => {
            let mut out = Vec::new();
            for set in sets {
                let Bson::Document(set) = set else {
                    return Err(arg("options.readPreference.tags must be an array of objects"));
                };
                let mut tags = std::collections::HashMap::new();
                for (k, v) in set {
                    let Bson::String(v) = v else {
                        return Err(arg("options.readPreference.tags values must be strings"));
                    };
                    tags.insert(k.clone(), v.clone());
                }
                out.push(tags);
            }
            opts.tag_sets = Some(out);
        }
        Some(_) => return Err(arg("options.readPreference.tags must be an array")),
    }
    match d.get("maxStalenessSeconds") {
        None | Some(Bson::Null) => {}
        Some(v) => match want_int(v, "readPreference.maxStalenessSeconds")? {
            // -1 is the driver's "no maximum".
            -1 => {}
            // The driver refuses 0 and below; servers refuse under 90 at selection, as a bare
            // error: said here, as a bad argument.
            n if n <= 0 => {
                return Err(arg(
                    "options.readPreference.maxStalenessSeconds must be a positive integer",
                ))
            }
            n if n < 90 => {
                return Err(arg("options.readPreference.maxStalenessSeconds must be at least 90"))
            }
            n => opts.max_staleness = Some(Duration::from_secs(n as u64)),
        },
    }
    let plain = opts.tag_sets.is_none() && opts.max_staleness.is_none();
    let options = Some(opts);
    let rp = match mode.as_str() {
        "primary" if plain => ReadPreference::Primary,
        "primary" => {
            return Err(arg("options.readPreference: primary takes no tags or maxStalenessSeconds"))
        }
        "primaryPreferred" => ReadPreference::PrimaryPreferred { options },
        "secondary" => ReadPreference::Secondary { options },
        "secondaryPreferred" => ReadPreference::SecondaryPreferred { options },
        "nearest" => ReadPreference::Nearest { options },
        other => return Err(arg(format!("options.readPreference: unknown mode {other:?}"))),
    };
    Ok(SelectionCriteria::ReadPreference(rp))
}

fn parse_write_concern(d: Document) -> FenceResult<WriteConcern> {
    let mut wc = WriteConcern::default();
    for (k, v) in d {
        match k.as_str() {
            "w" => {
                wc.w = Some(match v {
                    Bson::String(s) if s == "majority" => Acknowledgment::Majority,
                    Bson::String(s) => Acknowledgment::Custom(s),
                    other => match want_int(&other, "writeConcern.w")? {
                        // The Rust driver has no unacknowledged writes; say so up front.
                        0 => return Err(arg(
                            "options.writeConcern.w: 0 (unacknowledged writes) is not supported",
                        )),
                        n => Acknowledgment::Nodes(
                            u32::try_from(n)
                                .map_err(|_| arg("options.writeConcern.w must not be negative"))?,
                        ),
                    },
                })
            }
            "j" => wc.journal = Some(want_bool(v, "writeConcern.j")?),
            "wtimeout" | "wtimeoutMS" => {
                wc.w_timeout =
                    Some(Duration::from_millis(want_non_negative(&v, "writeConcern.wtimeout")?))
            }
            other => return Err(arg(format!("options.writeConcern.{other} is not supported"))),
        }
    }
    Ok(wc)
}

impl CallOptions {
    /// Validates `raw` against the names `allowed` for this method.
    pub fn parse(raw: Document, allowed: &[&str]) -> FenceResult<Self> {
        let mut o = CallOptions::default();
        for (key, value) in raw {
            if matches!(value, Bson::Null | Bson::Undefined) {
                continue;
            }
            if key == "explain" {
                return Err(
                    ScopeError::violation("explain is not available through tenantfence").into()
                );
            }
            if key == "session" {
                return Err(arg(
                    "options.session cannot be sent as BSON: the JS face takes it out (a session from fence.startSession())",
                ));
            }
            if !allowed.contains(&key.as_str()) {
                return Err(unknown(&key));
            }
            match key.as_str() {
                "sort" => o.sort = Some(want_doc(value, "sort")?),
                "limit" => o.limit = Some(want_int(&value, "limit")?),
                "skip" => o.skip = Some(want_non_negative(&value, "skip")?),
                "projection" => o.projection = Some(want_doc(value, "projection")?),
                "batchSize" => {
                    o.batch_size = Some(
                        u32::try_from(want_non_negative(&value, "batchSize")?)
                            .map_err(|_| arg("options.batchSize is too large"))?,
                    )
                }
                "hint" => {
                    o.hint = Some(match value {
                        Bson::String(s) => Hint::Name(s),
                        Bson::Document(d) => Hint::Keys(d),
                        _ => return Err(arg("options.hint must be an index name or key pattern")),
                    })
                }
                "collation" => {
                    let d = want_doc(value, "collation")?;
                    let c: Collation = bson::from_document(d.clone())
                        .map_err(|e| arg(format!("options.collation is invalid: {e}")))?;
                    o.collation = Some(c);
                    o.collation_doc = Some(d);
                }
                "comment" => o.comment = Some(value),
                "maxTimeMS" => {
                    o.max_time =
                        Some(Duration::from_millis(want_non_negative(&value, "maxTimeMS")?))
                }
                "let" => o.let_vars = Some(want_doc(value, "let")?),
                "upsert" => o.upsert = Some(want_bool(value, "upsert")?),
                "arrayFilters" => match value {
                    Bson::Array(items) => {
                        let mut out = Vec::with_capacity(items.len());
                        for b in items {
                            out.push(want_doc(b, "arrayFilters[]")?);
                        }
                        o.array_filters = Some(out);
                    }
                    _ => return Err(arg("options.arrayFilters must be an array")),
                },
                "returnDocument" => {
                    o.return_document = Some(match value {
                        Bson::String(s) if s == "after" => ReturnDocument::After,
                        Bson::String(s) if s == "before" => ReturnDocument::Before,
                        _ => return Err(arg("options.returnDocument must be 'before' or 'after'")),
                    })
                }
                "ordered" => o.ordered = Some(want_bool(value, "ordered")?),
                "bypassDocumentValidation" => {
                    o.bypass_document_validation =
                        Some(want_bool(value, "bypassDocumentValidation")?)
                }
                "writeConcern" => {
                    o.write_concern = Some(parse_write_concern(want_doc(value, "writeConcern")?)?)
                }
                "allowDiskUse" => o.allow_disk_use = Some(want_bool(value, "allowDiskUse")?),
                "allowPartialResults" => {
                    o.allow_partial_results = Some(want_bool(value, "allowPartialResults")?)
                }
                "noCursorTimeout" => {
                    o.no_cursor_timeout = Some(want_bool(value, "noCursorTimeout")?)
                }
                "readPreference" => o.selection_criteria = Some(parse_read_preference(value)?),
                "readConcern" => {
                    // The driver takes a level alone too: `readConcern: 'majority'`.
                    let d = match value {
                        Bson::String(level) => bson::doc! { "level": level },
                        other => want_doc(other, "readConcern")?,
                    };
                    o.read_concern = Some(
                        bson::from_document(d)
                            .map_err(|e| arg(format!("options.readConcern is invalid: {e}")))?,
                    );
                }
                _ => {
                    // createIndex options go to the server as written, after the name check above.
                    o.index.insert(key, value);
                }
            }
        }
        Ok(o)
    }
}
