//! One call's plan: from the operation, the caller's scope (settings, principal, collection
//! facts already applied by `collation::decide`) and the request's parts, everything the
//! binding sends. The binding looks facts up, calls `plan`, and carries the plan out.
//!
//! Inserts, `bulkWrite` and `createIndex` have planners of their own, named in `Operation`'s
//! docs: inserts stay bytes (`insert::stamp_raw`), a batch plans statement by statement
//! (`bulk::statement`), an index build plans from index facts (`indexes::plan_create`).

use bson::oid::ObjectId;
use bson::{Bson, Document};

use super::by_id::{self, FindOneShape};
use super::error::{ScopeError, ScopeResult};
use super::update::Update;
use super::{filter, insert, pipeline, write, Scope};

/// The collection methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Planned by `insert::stamp_raw` (and `share::insert`).
    InsertOne,
    /// Planned by `insert::stamp_raw`, document by document.
    InsertMany,
    FindOne,
    Find,
    Aggregate,
    CountDocuments,
    EstimatedDocumentCount,
    Distinct,
    UpdateOne,
    UpdateMany,
    ReplaceOne,
    DeleteOne,
    DeleteMany,
    FindOneAndUpdate,
    FindOneAndReplace,
    FindOneAndDelete,
    /// Planned by `bulk::statement`, operation by operation.
    BulkWrite,
    /// Planned by `indexes::plan_create`.
    CreateIndex,
}

impl Operation {
    /// Every operation, in declaration order.
    pub const ALL: [Operation; 18] = [
        Operation::InsertOne,
        Operation::InsertMany,
        Operation::FindOne,
        Operation::Find,
        Operation::Aggregate,
        Operation::CountDocuments,
        Operation::EstimatedDocumentCount,
        Operation::Distinct,
        Operation::UpdateOne,
        Operation::UpdateMany,
        Operation::ReplaceOne,
        Operation::DeleteOne,
        Operation::DeleteMany,
        Operation::FindOneAndUpdate,
        Operation::FindOneAndReplace,
        Operation::FindOneAndDelete,
        Operation::BulkWrite,
        Operation::CreateIndex,
    ];

    /// True for the methods that change nothing: what a shared collection or a union allows.
    pub fn reads(self) -> bool {
        matches!(
            self,
            Operation::FindOne
                | Operation::Find
                | Operation::Aggregate
                | Operation::CountDocuments
                | Operation::EstimatedDocumentCount
                | Operation::Distinct
        )
    }

    /// The operation a JS method name (or cursor kind) names.
    pub fn parse(name: &str) -> ScopeResult<Operation> {
        Operation::ALL
            .into_iter()
            .find(|o| o.name() == name)
            .ok_or_else(|| ScopeError::argument(format!("unknown operation {name}")))
    }

    /// The JS method name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::InsertOne => "insertOne",
            Operation::InsertMany => "insertMany",
            Operation::FindOne => "findOne",
            Operation::Find => "find",
            Operation::Aggregate => "aggregate",
            Operation::CountDocuments => "countDocuments",
            Operation::EstimatedDocumentCount => "estimatedDocumentCount",
            Operation::Distinct => "distinct",
            Operation::UpdateOne => "updateOne",
            Operation::UpdateMany => "updateMany",
            Operation::ReplaceOne => "replaceOne",
            Operation::DeleteOne => "deleteOne",
            Operation::DeleteMany => "deleteMany",
            Operation::FindOneAndUpdate => "findOneAndUpdate",
            Operation::FindOneAndReplace => "findOneAndReplace",
            Operation::FindOneAndDelete => "findOneAndDelete",
            Operation::BulkWrite => "bulkWrite",
            Operation::CreateIndex => "createIndex",
        }
    }
}

/// The parts of one request the rules read, as the binding parsed them.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The caller's filter (`{}` when it gave none).
    pub filter: Document,
    /// The update document or pipeline, as given.
    pub update: Option<Bson>,
    /// The replacement; `None` when it was not a document (refused after the filter's checks).
    pub replacement: Option<Document>,
    pub pipeline: Vec<Document>,
    /// The `upsert` option.
    pub upsert: bool,
    /// The options of a `findOne` the by-`_id` path cares about.
    pub find_one: FindOneShape,
    /// The `_id` an upsert inserts unless its filter fixes one.
    pub fresh_id: Option<ObjectId>,
}

/// What the binding sends for one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The filter sent, with the tenant rule applied.
    pub filter: Option<Document>,
    /// The caller's own filter, for `bounds::plan` (the hint that keeps the plan in the tenant).
    pub bound: Document,
    pub update: Option<Update>,
    /// The replacement, stamped.
    pub replacement: Option<Document>,
    /// The pipeline sent, and what `bounds` and `ensure_joined` need of the caller's:
    /// its leading filter and `$geoNear` key, and the collections it joins.
    pub pipeline: Option<Vec<Document>>,
    pub geo_near: Option<String>,
    pub joined: Vec<String>,
    /// Fetch this `_id` alone and keep the document only if the tenant owns it (`by_id`).
    pub by_id: Option<Bson>,
    /// `estimatedDocumentCount` runs as an exact count of `filter` (`filter::counts_exactly`).
    pub exact_count: bool,
}

/// Plans `op` for `scope` from the request's parts; one refusal and nothing is sent.
pub fn plan(op: Operation, scope: &Scope, req: Request) -> ScopeResult<Plan> {
    let user = req.filter;
    let mut p = Plan::default();
    match op {
        Operation::FindOne => {
            p.by_id = by_id::find_one_id(scope, &user, req.find_one).cloned();
            if p.by_id.is_none() {
                p.filter = Some(filter::scope_filter(scope, user.clone())?);
            }
        }
        Operation::Find | Operation::CountDocuments | Operation::Distinct => {
            p.filter = Some(filter::scope_filter(scope, user.clone())?);
        }
        Operation::EstimatedDocumentCount => {
            p.exact_count = filter::counts_exactly(scope);
            if p.exact_count {
                p.filter = Some(filter::scope_filter(scope, Document::new())?);
            }
        }
        Operation::Aggregate => {
            let (first, geo_near) = pipeline::plan_start(&req.pipeline);
            p.joined = pipeline::joined(&req.pipeline);
            p.pipeline = Some(pipeline::scope_pipeline(scope, req.pipeline)?);
            p.geo_near = geo_near;
            p.bound = first;
            return Ok(p);
        }
        Operation::UpdateOne | Operation::UpdateMany | Operation::FindOneAndUpdate => {
            let fresh = req.fresh_id.unwrap_or_else(ObjectId::new);
            p.update = Some(write::scoped_update(scope, req.update, &user, req.upsert, fresh)?);
            p.filter = Some(write::write_filter(scope, user.clone(), req.upsert)?);
        }
        Operation::ReplaceOne | Operation::FindOneAndReplace => {
            p.filter = Some(write::write_filter(scope, user.clone(), req.upsert)?);
            let r = req
                .replacement
                .ok_or_else(|| ScopeError::argument("replacement must be an object"))?;
            p.replacement = Some(insert::stamp_replacement(scope, r)?);
        }
        Operation::DeleteOne | Operation::DeleteMany | Operation::FindOneAndDelete => {
            p.filter = Some(write::write_filter(scope, user.clone(), false)?);
        }
        Operation::InsertOne
        | Operation::InsertMany
        | Operation::BulkWrite
        | Operation::CreateIndex => {
            return Err(ScopeError::argument(format!(
                "{} is planned by its own planner (see scope::plan::Operation)",
                op.name()
            )))
        }
    }
    p.bound = user;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::{ErrorKind, Principal, Strategy};
    use bson::doc;

    #[test]
    fn the_reads_are_the_six_methods_that_change_nothing() {
        let reads: Vec<&str> =
            Operation::ALL.into_iter().filter(|o| o.reads()).map(Operation::name).collect();
        assert_eq!(
            reads,
            [
                "findOne",
                "find",
                "aggregate",
                "countDocuments",
                "estimatedDocumentCount",
                "distinct"
            ]
        );
    }

    fn tenant() -> Scope {
        Scope::for_test(Principal::Tenant("a".into()), Strategy::Field)
    }

    fn req(filter: Document) -> Request {
        Request { filter, ..Request::default() }
    }

    #[test]
    fn names_round_trip() {
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.name()), Ok(op));
        }
        assert_eq!(Operation::parse("drop").unwrap_err().kind, ErrorKind::InvalidArgument);
    }

    #[test]
    fn each_operation_gets_its_parts_scoped() {
        let s = tenant();
        let id = bson::oid::ObjectId::new();
        let by_id = plan(Operation::FindOne, &s, req(doc! { "_id": id })).unwrap();
        assert_eq!((by_id.by_id, by_id.filter), (Some(Bson::ObjectId(id)), None));
        let shaped = Request {
            find_one: FindOneShape { sort: true, ..Default::default() },
            ..req(doc! { "_id": id })
        };
        let sorted = plan(Operation::FindOne, &s, shaped).unwrap();
        assert!(sorted.by_id.is_none() && sorted.filter.unwrap().get_str("tenantId") == Ok("a"));
        for op in [
            Operation::Find,
            Operation::CountDocuments,
            Operation::Distinct,
            Operation::DeleteOne,
            Operation::DeleteMany,
            Operation::FindOneAndDelete,
        ] {
            let p = plan(op, &s, req(doc! { "x": 1 })).unwrap();
            assert_eq!(p.filter.unwrap().get_str("tenantId"), Ok("a"), "{op:?}");
            assert_eq!(p.bound, doc! { "x": 1 }, "{op:?}");
        }
        let est = plan(Operation::EstimatedDocumentCount, &s, Request::default()).unwrap();
        assert!(est.exact_count && est.filter.is_some());
        let sys = Scope::for_test(Principal::System, Strategy::Field);
        let est = plan(Operation::EstimatedDocumentCount, &sys, Request::default()).unwrap();
        assert!(!est.exact_count && est.filter.is_none());
        let agg = Request {
            pipeline: vec![
                doc! { "$match": { "x": 1 } },
                doc! { "$lookup": { "from": "o", "localField": "a", "foreignField": "b", "as": "j" } },
            ],
            ..Request::default()
        };
        let p = plan(Operation::Aggregate, &s, agg).unwrap();
        assert_eq!(p.bound, doc! { "x": 1 });
        assert_eq!(p.joined, ["o"]);
        assert!(p.pipeline.unwrap()[0].to_string().contains("\"a\""));
        let up = Request {
            update: Some(Bson::Document(doc! { "$set": { "y": 1 } })),
            upsert: true,
            fresh_id: Some(id),
            ..req(doc! {})
        };
        for op in [Operation::UpdateOne, Operation::UpdateMany, Operation::FindOneAndUpdate] {
            let p = plan(op, &s, up.clone()).unwrap();
            assert!(
                matches!(&p.update, Some(Update::Modifiers(d)) if d.to_string().contains(&id.to_hex())),
                "{op:?}"
            );
        }
        let rep = Request { replacement: Some(doc! { "y": 1 }), ..req(doc! {}) };
        for op in [Operation::ReplaceOne, Operation::FindOneAndReplace] {
            let p = plan(op, &s, rep.clone()).unwrap();
            assert_eq!(p.replacement.unwrap().get_str("tenantId"), Ok("a"), "{op:?}");
        }
    }

    #[test]
    fn refusals_and_other_planners() {
        let s = tenant();
        let moves = Request {
            update: Some(Bson::Document(doc! { "$set": { "tenantId": "b" } })),
            ..Request::default()
        };
        assert_eq!(
            plan(Operation::UpdateOne, &s, moves).unwrap_err().kind,
            ErrorKind::TenantViolation
        );
        let other =
            Request { upsert: true, replacement: Some(doc! {}), ..req(doc! { "tenantId": "b" }) };
        assert_eq!(
            plan(Operation::ReplaceOne, &s, other).unwrap_err().kind,
            ErrorKind::TenantViolation
        );
        // The filter is judged before the replacement's type, whichever is wrong.
        let both = Request { upsert: true, replacement: None, ..req(doc! { "tenantId": "b" }) };
        let e = plan(Operation::ReplaceOne, &s, both).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TenantViolation);
        let e = plan(Operation::FindOneAndReplace, &s, req(doc! {})).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::InvalidArgument, "replacement must be an object")
        );
        for op in [
            Operation::InsertOne,
            Operation::InsertMany,
            Operation::BulkWrite,
            Operation::CreateIndex,
        ] {
            assert_eq!(
                plan(op, &s, Request::default()).unwrap_err().kind,
                ErrorKind::InvalidArgument
            );
        }
    }
}
