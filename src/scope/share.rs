//! Which calls may share one command on the wire, and with whom.
//!
//! The binding's lanes queue calls made while an equal-keyed command is in flight and send
//! the queue as one command built from the key alone (its namespace, its collation), never
//! from any one caller's handle. So two calls may share only if they would have gone to
//! exactly the same place in exactly the same way when sent alone: everything that decides
//! that is in the key, and the key is decided here, where `cargo test` sees it.

use bson::Document;

use super::namespace::Namespace;
use super::{Scope, Strategy};

/// Documents larger than this are always inserted alone, so a shared insert never fails
/// (or slows) for every caller because of one caller's size.
pub const MAX_SHARED_INSERT_BYTES: usize = 64 * 1024;

/// At most this many bytes of documents go out in one shared insert, so no caller waits
/// behind more than a short write of others' documents.
pub const MAX_SHARED_INSERT_BATCH_BYTES: usize = 1024 * 1024;

/// The fast paths that send several calls as one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// `findOne({_id: ObjectId})`: one `find({_id: {$in}})`, each answer owner-checked.
    IdLookup,
    /// Plain `insertOne`: one unordered `insert`, each error given back by index.
    Insert,
}

/// Calls share a command only when their keys are equal. Why each part is here:
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShareKey {
    /// A lookup and an insert are different commands.
    pub path: Path,
    /// The fence: each has its own client, settings and probe, so calls of two fences in
    /// one process never share, even on the same namespace.
    pub fence: u64,
    /// The full namespace the command is sent to. The database is what keeps tenants apart
    /// under strategy 'database' (a key of the collection name alone sent every tenant's
    /// queued inserts to the first caller's database).
    pub namespace: Namespace,
    /// The rules every call in the command was scoped under: documents were stamped on this
    /// field, and answers are owner-checked by it.
    pub strategy: Strategy,
    pub field: String,
    /// The collation the command runs with (its BSON bytes; `None` = the collection's
    /// default): it decides which documents match.
    pub collation: Option<Vec<u8>>,
    /// The tenant, for lookups: one tenant's slow or large lookups (a 15 MiB document on a
    /// loop) must never hold another tenant's behind them. Inserts share across tenants
    /// (their documents are small and a batch's bytes are bounded,
    /// `MAX_SHARED_INSERT_BATCH_BYTES`) except on a sharded collection, where a command of
    /// one tenant goes to that tenant's shard alone.
    pub tenant: Option<String>,
    // Options: a call with any option (comment, maxTimeMS, write concern, validation
    // bypass) is sent alone, so no option is part of a shared command. An option that
    // starts to share must join the key.
}

/// What about a `findOne` by exact `_id` decides whether it may share a command.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdLookupCall {
    /// The `_id` is an ObjectId (other types go alone: `$in` matching of numbers and
    /// strings under collations is not worth reasoning about for a fast path).
    pub object_id: bool,
    /// The call carries options of its own (comment, maxTimeMS).
    pub has_options: bool,
    /// The call runs in a session: its reads see that session's snapshot and transaction, so
    /// it goes alone (a shared command runs in no one's session, or in one caller's).
    pub in_session: bool,
}

/// What about an `insertOne` decides whether it may share a command.
#[derive(Debug, Clone, Copy, Default)]
pub struct InsertCall {
    /// The call carries options of its own (write concern, validation bypass, comment).
    pub has_options: bool,
    /// The stamped document's size in bytes.
    pub bytes: usize,
    /// The document has an `_id` (the JS face always sets one).
    pub has_id: bool,
    /// The call runs in a session: it must commit or abort with that session's transaction.
    pub in_session: bool,
}

/// The key under which an exact-`_id` lookup may share a `find`, or `None` to send it alone.
pub fn id_lookup(
    fence: u64,
    scope: &Scope,
    namespace: &Namespace,
    collation: Option<&Document>,
    call: IdLookupCall,
) -> Option<ShareKey> {
    // Only the tenant lookups `by_id::exact_id` allows: each answer is owner-checked.
    // One tenant's lookups only: a runAsTenants read is keyed by no single tenant.
    if scope.tenant().is_none() || super::shared::injects(scope).is_none() || scope.collation_guard
    {
        return None;
    }
    if !call.object_id || call.has_options || call.in_session {
        return None;
    }
    let mut k = key(Path::IdLookup, fence, scope, namespace, collation);
    k.tenant = scope.tenant().map(str::to_string);
    Some(k)
}

/// The key under which an `insertOne` of an already stamped document may share an `insert`.
pub fn insert(
    fence: u64,
    scope: &Scope,
    namespace: &Namespace,
    call: InsertCall,
) -> Option<ShareKey> {
    if call.has_options || call.in_session || !call.has_id || call.bytes > MAX_SHARED_INSERT_BYTES {
        return None;
    }
    let mut k = key(Path::Insert, fence, scope, namespace, None);
    // One tenant's documents per shared insert. A shared command waits for the slowest of its
    // documents, and a tenant can make one of its own wait as long as it likes (a transaction
    // holding the same `_id` or unique key, up to the transaction lifetime): shared with other
    // tenants, that wait froze their inserts too (red-team round 18). `runAsSystem` inserts
    // share among themselves.
    k.tenant = scope.tenant().map(str::to_string);
    if scope.sharded && k.tenant.is_none() {
        // A system insert names tenants per document: the router would split it across shards.
        return None;
    }
    Some(k)
}

/// True when whether the collection is sharded changes what a call may share: under strategy
/// 'field', where tenants share collections (a tenant database holds one tenant's calls only).
pub fn sharding_matters(scope: &Scope) -> bool {
    scope.strategy == Strategy::Field
}

/// Whose turn a queued call takes in a shared command: its tenant ('' under `runAsSystem`).
/// A shared command takes each owner's queued calls in turn, so one tenant's thousands of
/// queued calls never push another tenant's to a later command.
pub fn queue_owner(scope: &Scope) -> String {
    scope.tenant().unwrap_or_default().to_string()
}

fn key(
    path: Path,
    fence: u64,
    scope: &Scope,
    namespace: &Namespace,
    collation: Option<&Document>,
) -> ShareKey {
    ShareKey {
        path,
        fence,
        namespace: namespace.clone(),
        strategy: scope.strategy,
        field: scope.field.clone(),
        // Serializing a Document cannot fail; an empty vector would still differ from `None`.
        collation: collation.map(|c| bson::to_vec(c).unwrap_or_default()),
        tenant: None,
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::super::namespace::resolve;
    use super::super::Principal;
    use super::*;

    fn scope(tenant: &str, strategy: Strategy) -> Scope {
        Scope::for_test(Principal::Tenant(tenant.into()), strategy)
    }

    fn ns(strategy: Strategy, tenant: &str, coll: &str) -> Namespace {
        resolve(strategy, "app", &Principal::Tenant(tenant.into()), coll, false).unwrap()
    }

    const INSERT: InsertCall =
        InsertCall { has_options: false, bytes: 100, has_id: true, in_session: false };
    const LOOKUP: IdLookupCall =
        IdLookupCall { object_id: true, has_options: false, in_session: false };

    fn insert_key(fence: u64, tenant: &str, strategy: Strategy, coll: &str) -> ShareKey {
        insert(fence, &scope(tenant, strategy), &ns(strategy, tenant, coll), INSERT).unwrap()
    }

    #[test]
    fn database_strategy_never_shares_across_tenants() {
        // The issue-11 bug: same collection name, different tenant databases.
        let a = insert_key(1, "a", Strategy::Database, "notes");
        let b = insert_key(1, "b", Strategy::Database, "notes");
        assert_ne!(a, b);
        assert_eq!(a.namespace.database, "app~a");
        assert_eq!(b.namespace.database, "app~b");
        assert_eq!(a, insert_key(1, "a", Strategy::Database, "notes"));
    }

    #[test]
    fn inserts_share_within_one_tenant_only() {
        // Round 18: a shared insert of several tenants waited for one tenant's document held by
        // that tenant's own open transaction, freezing the others' inserts.
        let a = insert_key(1, "a", Strategy::Field, "notes");
        assert_ne!(a, insert_key(1, "b", Strategy::Field, "notes"));
        assert_eq!(a, insert_key(1, "a", Strategy::Field, "notes"));
        assert_eq!(a.tenant.as_deref(), Some("a"));
    }

    #[test]
    fn every_part_of_the_key_separates() {
        let base = insert_key(1, "a", Strategy::Field, "notes");
        // fence
        assert_ne!(base, insert_key(2, "a", Strategy::Field, "notes"));
        // collection
        assert_ne!(base, insert_key(1, "a", Strategy::Field, "other"));
        // database (two fences' bases are covered by `fence`; the namespace also differs)
        let other_db = Namespace { database: "app2".into(), collection: "notes".into() };
        assert_ne!(base, insert(1, &scope("a", Strategy::Field), &other_db, INSERT).unwrap());
        // tenant field
        let mut s = scope("a", Strategy::Field);
        s.field = "org".into();
        assert_ne!(base, insert(1, &s, &ns(Strategy::Field, "a", "notes"), INSERT).unwrap());
        // path
        let simple = doc! { "locale": "simple" };
        let l = id_lookup(1, &scope("a", Strategy::Field), &base.namespace, None, LOOKUP).unwrap();
        assert_ne!(base, l);
        // collation
        let pinned =
            id_lookup(1, &scope("a", Strategy::Field), &base.namespace, Some(&simple), LOOKUP)
                .unwrap();
        assert_ne!(l, pinned);
        let en = doc! { "locale": "en" };
        let other =
            id_lookup(1, &scope("a", Strategy::Field), &base.namespace, Some(&en), LOOKUP).unwrap();
        assert_ne!(pinned, other);
    }

    #[test]
    fn lookups_share_only_within_a_tenant() {
        let n = ns(Strategy::Field, "a", "notes");
        let a = id_lookup(1, &scope("a", Strategy::Field), &n, None, LOOKUP).unwrap();
        let b = id_lookup(1, &scope("b", Strategy::Field), &n, None, LOOKUP).unwrap();
        assert_ne!(a, b);
        assert_eq!(a, id_lookup(1, &scope("a", Strategy::Field), &n, None, LOOKUP).unwrap());
    }

    #[test]
    fn sharded_collections_share_within_a_tenant_and_keep_it_in_the_filter() {
        let n = ns(Strategy::Field, "a", "notes");
        let sharded = |t: &str| Scope { sharded: true, ..scope(t, Strategy::Field) };
        let a = insert(1, &sharded("a"), &n, INSERT).unwrap();
        assert_eq!(a.tenant.as_deref(), Some("a"));
        assert_ne!(a, insert(1, &sharded("b"), &n, INSERT).unwrap());
        assert_eq!(a, insert(1, &sharded("a"), &n, INSERT).unwrap());
        let system = Scope { sharded: true, ..Scope::for_test(Principal::System, Strategy::Field) };
        assert!(insert(1, &system, &n, INSERT).is_none());
        assert!(sharding_matters(&system) && !sharding_matters(&scope("a", Strategy::Database)));
        // A lookup by `_id` alone is not made on a sharded collection at all: the scoped
        // filter keeps the tenant, so the router sends it to one shard.
        let user = doc! { "_id": bson::oid::ObjectId::new() };
        assert!(crate::scope::by_id::exact_id(&scope("a", Strategy::Field), &user).is_some());
        assert!(crate::scope::by_id::exact_id(&sharded("a"), &user).is_none());
        let f = crate::scope::filter::scope_filter(&sharded("a"), user).unwrap();
        assert_eq!(f.get("tenantId").map(ToString::to_string), Some("\"a\"".into()), "{f}");
    }

    #[test]
    fn each_tenant_queues_as_its_own_owner() {
        let a = queue_owner(&scope("a", Strategy::Field));
        assert_eq!(a, "a");
        assert_ne!(a, queue_owner(&scope("b", Strategy::Field)));
        assert_eq!(queue_owner(&Scope::for_test(Principal::System, Strategy::Field)), "");
    }

    #[test]
    fn strategy_is_part_of_the_key() {
        // Same namespace reached under both strategies (base "app~a" vs tenant "a" of "app").
        let n = Namespace { database: "app~a".into(), collection: "notes".into() };
        let f = insert(1, &scope("a", Strategy::Field), &n, INSERT).unwrap();
        let d = insert(1, &scope("a", Strategy::Database), &n, INSERT).unwrap();
        assert_ne!(f, d);
    }

    #[test]
    fn inserts_with_options_big_documents_or_no_id_go_alone() {
        let s = scope("a", Strategy::Field);
        let n = ns(Strategy::Field, "a", "notes");
        let table = [
            (InsertCall { has_options: true, ..INSERT }, false),
            (InsertCall { bytes: MAX_SHARED_INSERT_BYTES, ..INSERT }, true),
            (InsertCall { bytes: MAX_SHARED_INSERT_BYTES + 1, ..INSERT }, false),
            (InsertCall { has_id: false, ..INSERT }, false),
            (InsertCall { in_session: true, ..INSERT }, false),
            (INSERT, true),
        ];
        for (call, shares) in table {
            assert_eq!(insert(1, &s, &n, call).is_some(), shares, "{call:?}");
        }
    }

    #[test]
    fn lookups_share_only_as_an_owner_checked_tenant_lookup() {
        let n = ns(Strategy::Field, "a", "notes");
        let simple = doc! { "locale": "simple" };
        let tenant = scope("a", Strategy::Field);
        let mut guarded = tenant.clone();
        guarded.collation_guard = true;
        let system = Scope::for_test(Principal::System, Strategy::Field);
        let table = [
            (&tenant, LOOKUP, true),
            (&tenant, IdLookupCall { object_id: false, ..LOOKUP }, false),
            (&tenant, IdLookupCall { has_options: true, ..LOOKUP }, false),
            (&tenant, IdLookupCall { in_session: true, ..LOOKUP }, false),
            (&guarded, LOOKUP, false),
            (&system, LOOKUP, false),
        ];
        for (s, call, shares) in table {
            assert_eq!(id_lookup(1, s, &n, Some(&simple), call).is_some(), shares, "{call:?}");
        }
        let db = scope("a", Strategy::Database);
        assert!(id_lookup(1, &db, &ns(Strategy::Database, "a", "notes"), None, LOOKUP).is_none());
    }
}
