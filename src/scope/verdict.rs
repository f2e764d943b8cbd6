//! The isolation probe's rule: given a command exactly as it reached MongoDB and
//! who the operation ran as, is the command confined to that tenant? It reads the
//! wire command, not the fence's intentions, so it checks the rewrite rules
//! rather than repeating them: a data command passes only when its own filters,
//! pipelines and documents name the tenant.

use bson::{doc, Bson, Document, RawBsonRef, RawDocument};

use super::bounds;
use super::collation;
use super::expr_guard;
use super::filter::regex_twin;
use super::namespace::tenant_database;
use super::shared::Shared;
use super::spec::TenantSpec;
use super::walk::MAX_DEPTH;
use super::{Owners, Principal, Strategy};

/// The outcome for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not a data command (getMore, hello, listCollections ...): nothing to scope.
    Control,
    /// A data command confined to the operation's tenant.
    Scoped,
    /// A data command sent inside `runAsSystem`: unscoped on purpose.
    System,
    /// A data command not confined to one tenant; the text says why.
    Unscoped(String),
}

/// One audited command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// The command name (`find`, `insert`, `getMore` ...).
    pub command: String,
    /// The collection the command names, when it names one.
    pub collection: Option<String>,
    pub verdict: Verdict,
}

/// Commands that read or write no documents. `getMore` continues a cursor whose
/// opening command was audited; `listCollections` reads metadata only.
const CONTROL: &[&str] = &[
    "getMore",
    "killCursors",
    "hello",
    "isMaster",
    "ismaster",
    "ping",
    "buildInfo",
    "buildinfo",
    "endSessions",
    "listCollections",
    // Index metadata, read by `scope::bounds` to choose each query's hint.
    "listIndexes",
    "saslStart",
    "saslContinue",
    "abortTransaction",
    "commitTransaction",
];

/// Data commands this rule knows how to judge.
const DATA: &[&str] = &[
    "find",
    "aggregate",
    "count",
    "distinct",
    "insert",
    "update",
    "delete",
    "findAndModify",
    "findandmodify",
    "createIndexes",
];

/// Commands that change a collection or its indexes: a tenant sends them only under strategy
/// 'database', to its own database (`scope::admin`); `renameCollection` names both namespaces.
const COLLECTION_ADMIN: &[&str] = &["create", "drop", "dropIndexes", "renameCollection"];

/// Pipeline stages that only transform the documents already in the pipeline.
const TRANSFORM: &[&str] = &[
    "$match",
    "$project",
    "$addFields",
    "$set",
    "$unset",
    "$group",
    "$sort",
    "$limit",
    "$skip",
    "$count",
    "$unwind",
    "$sortByCount",
    "$bucket",
    "$bucketAuto",
    "$replaceRoot",
    "$replaceWith",
    "$redact",
    "$sample",
    "$densify",
    "$fill",
    "$setWindowFields",
    "$geoNear",
];

/// The fence's own question to a mongos whether a collection is sharded (`facts::sharded`):
/// a find of one `config.collections` entry by namespace. No tenant call reaches `config`
/// (a fence's namespaces are its own databases), so only the fence sends it.
fn is_sharding_lookup(db: &str, command: &Document) -> bool {
    db == "config"
        && command.get_str("find") == Ok("collections")
        && command.get_document("filter").is_ok_and(|f| {
            f.keys().all(|k| k == "_id" || k == "dropped") && f.get_str("_id").is_ok()
        })
}

/// True when the probe knows how to judge `name` sent by a tenant of `strategy`.
fn knows(strategy: Strategy, name: &str) -> bool {
    DATA.contains(&name) || (strategy == Strategy::Database && COLLECTION_ADMIN.contains(&name))
}

/// Judges one command sent to database `db`; `principal` is `None` when the command
/// was sent outside any fence operation.
pub fn judge_command(
    settings: &TenantSpec,
    principal: Option<&Principal>,
    db: &str,
    command: &Document,
) -> Judged {
    let (name, collection) = match command.iter().next() {
        Some((k, Bson::String(c))) => (k.clone(), Some(c.clone())),
        Some((k, _)) => (k.clone(), None),
        None => (String::new(), None),
    };
    let verdict = if CONTROL.contains(&name.as_str()) || is_sharding_lookup(db, command) {
        Verdict::Control
    } else {
        match principal {
            None => Verdict::Unscoped("sent outside any tenant operation".into()),
            Some(Principal::System) => Verdict::System,
            Some(Principal::Tenant(t)) if !knows(settings.strategy, &name) => {
                Verdict::Unscoped(format!(
                    "'{name}' is not a command the probe knows to be tenant-scoped (tenant '{t}')"
                ))
            }
            Some(Principal::Tenants(ids)) => {
                let shown = ids.join(", ");
                let check = Check {
                    field: &settings.field,
                    tenant: &shown,
                    owners: Owners::Many(ids),
                    shared: &settings.shared,
                };
                let on_shared = collection.as_deref().is_some_and(|c| settings.shared.has(c));
                // A multi-tenant context only reads, and only under strategy 'field'.
                let outcome = match (name.as_str(), settings.strategy) {
                    (_, _) if on_shared => check.shared_command(settings, db, &name, command),
                    // (createIndexes: the fence's own index that bounds a read, `scope::bounds`.)
                    (
                        "find" | "count" | "distinct" | "aggregate" | "createIndexes",
                        Strategy::Field,
                    ) => check.field_command(&name, command),
                    _ => {
                        Err(format!("'{name}' sent under runAsTenants({shown}), which only reads"))
                    }
                };
                match outcome {
                    Ok(()) => Verdict::Scoped,
                    Err(why) => Verdict::Unscoped(why),
                }
            }
            Some(Principal::Tenant(t)) => {
                let check = Check {
                    field: &settings.field,
                    tenant: t,
                    owners: Owners::One(t),
                    shared: &settings.shared,
                };
                let on_shared = collection.as_deref().is_some_and(|c| settings.shared.has(c));
                let outcome = match settings.strategy {
                    _ if on_shared => check.shared_command(settings, db, &name, command),
                    Strategy::Field => check.field_command(&name, command),
                    Strategy::Database => check.database_command(settings, db, &name, command),
                };
                match outcome {
                    Ok(()) => Verdict::Scoped,
                    Err(why) => Verdict::Unscoped(why),
                }
            }
        }
    };
    Judged { command: name, collection, verdict }
}

type Outcome = Result<(), String>;

/// An aggregate opening a change stream (`collection.watch`): judged by `change_stream::judge`.
fn is_change_stream(cmd: &Document) -> bool {
    matches!(cmd.get("pipeline"), Some(Bson::Array(s)) if s.first().and_then(Bson::as_document).is_some_and(|d| d.contains_key("$changeStream")))
}

/// Whether a pipeline must start with the tenant match, and whether that match
/// must carry the collation-proof regex twin.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// A `$facet` branch or a pipeline under strategy 'database': no leading match needed.
    Free,
    /// The aggregate's own pipeline: a leading tenant match.
    Match { twin: bool },
    /// A pipeline over a shared collection: no match of its own, and each join into a tenant
    /// collection followed by a `$limit`, so no later stage moves into it.
    Shared,
}

struct Check<'a> {
    field: &'a str,
    /// The tenant (or tenants, joined) for messages and single-tenant writes.
    tenant: &'a str,
    /// Whose documents the command may touch.
    owners: Owners<'a>,
    shared: &'a Shared,
}

impl Check<'_> {
    /// A tenant's command on a shared collection: a read in the base database, whose joins
    /// into tenant collections are scoped (none under strategy 'database').
    fn shared_command(
        &self,
        settings: &TenantSpec,
        db: &str,
        name: &str,
        cmd: &Document,
    ) -> Outcome {
        if db != settings.database {
            return Err(format!("a shared collection read in database '{db}', not the base"));
        }
        match name {
            "find" | "count" | "distinct" => Ok(()),
            // Every event of a shared collection is every tenant's: judged as a namespace's.
            "aggregate" if is_change_stream(cmd) => super::change_stream::judge(
                None,
                &self.owners.to_vec(),
                pipeline_of(cmd.get("pipeline"))?,
            ),
            "aggregate" => {
                let stages = pipeline_of(cmd.get("pipeline"))?;
                match settings.strategy {
                    Strategy::Field => self.pipeline(stages, Start::Shared, 0),
                    Strategy::Database => self.shared_joins_only(stages, 0),
                }
            }
            _ => Err(format!("'{name}' writes a shared collection under a tenant")),
        }
    }

    /// Under strategy 'database' a pipeline over a shared collection joins only shared ones.
    fn shared_joins_only(&self, stages: &[Bson], depth: usize) -> Outcome {
        if depth > MAX_DEPTH {
            return Err("pipeline nested too deeply to audit".into());
        }
        for stage in stages {
            let Some((name, body)) = stage_of(stage) else {
                return Err(format!("stage {stage} is not a one-key document"));
            };
            let from = match (name, body) {
                ("$lookup" | "$graphLookup", Bson::Document(d)) => d.get("from"),
                ("$unionWith", Bson::Document(d)) => d.get("coll"),
                ("$unionWith", s) => Some(s),
                ("$facet", Bson::Document(branches)) => {
                    for (_, b) in branches {
                        self.shared_joins_only(pipeline_of(Some(b))?, depth + 1)?;
                    }
                    continue;
                }
                (n, _) if TRANSFORM.contains(&n) => continue,
                (n, _) => return Err(format!("stage {n} reads or writes outside the shared data")),
            };
            if !matches!(from, Some(Bson::String(c)) if self.shared.has(c)) {
                return Err(format!("{name} joins a tenant collection from a shared one"));
            }
            if let Some(p) = body.as_document().and_then(|d| d.get("pipeline")) {
                self.shared_joins_only(pipeline_of(Some(p))?, depth + 1)?;
            }
        }
        Ok(())
    }

    /// The start a join's pipeline over collection `from` needs.
    fn start_of(&self, from: Option<&Bson>) -> Start {
        match from {
            Some(Bson::String(c)) if self.shared.has(c) => Start::Shared,
            // Another collection's default collation is unknown: its match always needs the twin.
            _ => Start::Match { twin: true },
        }
    }

    fn field_command(&self, name: &str, cmd: &Document) -> Outcome {
        let twin = needs_twin(cmd.get("collation"));
        match name {
            "find" => {
                self.filter_of(cmd, "filter", twin)?;
                self.bounded(cmd, "filter")
            }
            "count" | "distinct" => {
                self.filter_of(cmd, "query", twin)?;
                self.bounded(cmd, "query")
            }
            "aggregate" if is_change_stream(cmd) => super::change_stream::judge(
                Some(self.field),
                &self.owners.to_vec(),
                pipeline_of(cmd.get("pipeline"))?,
            ),
            "aggregate" => {
                let stages = pipeline_of(cmd.get("pipeline"))?;
                self.pipeline(stages, Start::Match { twin }, 0)?;
                match stages.first() {
                    // Planned on its geo index, which `scope::bounds` requires to start with
                    // the tenant field: that index is not visible in the command.
                    Some(Bson::Document(m)) if m.contains_key("$geoNear") => Ok(()),
                    _ => self.bounded(cmd, ""),
                }
            }
            "insert" => self.documents(cmd.get("documents")),
            "update" => self.statements(cmd.get("updates"), "updates", |s| {
                self.filter_of(s, "q", needs_twin(s.get("collation")))?;
                self.bounded(s, "q")?;
                self.update_body(s.get("u"))
            }),
            "delete" => self.statements(cmd.get("deletes"), "deletes", |s| {
                self.filter_of(s, "q", needs_twin(s.get("collation")))?;
                self.bounded(s, "q")
            }),
            "findAndModify" | "findandmodify" => {
                self.filter_of(cmd, "query", twin)?;
                self.bounded(cmd, "query")?;
                match cmd.get("update") {
                    None | Some(Bson::Null) => Ok(()),
                    u => self.update_body(u),
                }
            }
            "createIndexes" => self.index_keys(cmd.get("indexes")),
            _ => Err(format!("'{name}' is not audited")),
        }
    }

    fn database_command(
        &self,
        settings: &TenantSpec,
        db: &str,
        name: &str,
        cmd: &Document,
    ) -> Outcome {
        let own = tenant_database(&settings.database, self.tenant);
        if name == "renameCollection" {
            // Sent to 'admin', naming both full namespaces.
            let inside = |k: &str| {
                cmd.get_str(k).is_ok_and(|ns| ns.split_once('.').is_some_and(|(d, _)| d == own))
            };
            return match inside("renameCollection") && inside("to") {
                true => Ok(()),
                false => Err(format!("renames outside the tenant's database '{own}'")),
            };
        }
        if db != own {
            return Err(format!("sent to database '{db}', not the tenant's database '{own}'"));
        }
        if name == "aggregate" && is_change_stream(cmd) {
            return super::change_stream::judge(
                None,
                &self.owners.to_vec(),
                pipeline_of(cmd.get("pipeline"))?,
            );
        }
        if name == "aggregate" {
            return self.pipeline_in_db(pipeline_of(cmd.get("pipeline"))?, db, 0);
        }
        Ok(())
    }

    /// True when `v` is the tenant by equality: `t` or `{$eq: t}`.
    fn is_tenant(&self, v: &Bson) -> bool {
        match v {
            Bson::String(s) => self.owners == Owners::One(s),
            // Under runAsTenants: exactly `{$in: [<its ids, sorted>]}`.
            Bson::Document(d) if d.len() == 1 && matches!(self.owners, Owners::Many(_)) => {
                *v == self.owners.equality()
            }
            Bson::Document(d) if d.len() == 1 => {
                matches!(d.get("$eq"), Some(Bson::String(s)) if self.owners == Owners::One(s))
            }
            _ => false,
        }
    }

    /// A filter is scoped when its top level, or a top-level `$and` (nested), holds
    /// the tenant equality; with `twin`, the regex twin must be there as well.
    fn filter(&self, f: &Document, twin: bool) -> Outcome {
        self.expressions(f, 0)?;
        if !self.has(f, 0, &|d| d.get(self.field).is_some_and(|v| self.is_tenant(v))) {
            return Err(format!(
                "filter {f} does not restrict '{}' to '{}'",
                self.field, self.tenant
            ));
        }
        let pattern = regex_twin(self.field, self.owners);
        if twin && !self.has(f, 0, &|d| *d == pattern) {
            return Err(format!(
                "filter {f} runs under a non-simple collation without the exact regex match on '{}'",
                self.field
            ));
        }
        Ok(())
    }

    /// Every `$expr` of a filter must test the tenant before anything else, and no
    /// server-side JavaScript may run: the server does not evaluate a filter in order.
    fn expressions(&self, f: &Document, depth: usize) -> Outcome {
        if depth == 0 {
            if let Some(op) = expr_guard::server_js_in(f) {
                return Err(format!(
                    "filter {f} runs server-side JavaScript ({op}) under a tenant"
                ));
            }
        }
        if depth > MAX_DEPTH {
            return Err("filter nested too deeply to audit".into());
        }
        for (k, v) in f {
            match (k.as_str(), v) {
                ("$expr", e) if !expr_guard::is_guarded(self.field, self.owners, e) => {
                    return Err(format!(
                        "$expr {e} may run on other tenants' documents: it does not test '{}' first",
                        self.field
                    ))
                }
                ("$and" | "$or" | "$nor", Bson::Array(items)) => {
                    for i in items {
                        if let Bson::Document(d) = i {
                            self.expressions(d, depth + 1)?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// True when `f` or a document in its (nested) top-level `$and` satisfies `clause`.
    fn has(&self, f: &Document, depth: usize, clause: &dyn Fn(&Document) -> bool) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        clause(f)
            || matches!(f.get("$and"), Some(Bson::Array(items)) if items.iter().any(|i| {
                matches!(i, Bson::Document(d) if self.has(d, depth + 1, clause))
            }))
    }

    /// The plan must stay inside the tenant (`scope::bounds`): a `hint` on an index that leads
    /// with the tenant field, or a filter of nothing but the tenant and `_id` values.
    fn bounded(&self, holder: &Document, key: &str) -> Outcome {
        if let Some(Bson::Document(h)) = holder.get("hint") {
            if h.keys().next().map(String::as_str) == Some(self.field) {
                return Ok(());
            }
        }
        let mut rest = match holder.get(key) {
            Some(Bson::Document(f)) => f.clone(),
            _ => Document::new(),
        };
        // `$text` / `$near` run on their special index, which `scope::bounds` requires to start
        // with the tenant field (not visible in the command).
        if bounds::special(&rest, None).is_some() {
            return Ok(());
        }
        rest.remove(self.field);
        let only_twin = |items: &Vec<Bson>| {
            items.iter().all(
                |i| matches!(i, Bson::Document(d) if d.len() == 1 && d.contains_key(self.field)),
            )
        };
        if matches!(rest.get("$and"), Some(Bson::Array(items)) if only_twin(items)) {
            rest.remove("$and");
        }
        if !key.is_empty() && bounds::ids_only(&rest) {
            return Ok(());
        }
        Err(format!(
            "no hint on an index that leads with '{}': the plan may examine other tenants' documents",
            self.field
        ))
    }

    fn filter_of(&self, d: &Document, key: &str, twin: bool) -> Outcome {
        match d.get(key) {
            Some(Bson::Document(f)) => self.filter(f, twin),
            None | Some(Bson::Null) => {
                Err(format!("no '{key}': the command is not restricted to '{}'", self.tenant))
            }
            Some(other) => Err(format!("'{key}' is not a document: {other}")),
        }
    }

    fn documents(&self, docs: Option<&Bson>) -> Outcome {
        let Some(Bson::Array(docs)) = docs else {
            return Err("insert without a documents array".into());
        };
        for d in docs {
            let Bson::Document(d) = d else {
                return Err(format!("inserted value {d} is not a document"));
            };
            if !matches!(d.get(self.field), Some(Bson::String(s)) if s == self.tenant) {
                return Err(format!(
                    "inserted document {d} does not carry {}: '{}'",
                    self.field, self.tenant
                ));
            }
        }
        Ok(())
    }

    fn statements(
        &self,
        items: Option<&Bson>,
        key: &str,
        each: impl Fn(&Document) -> Outcome,
    ) -> Outcome {
        let Some(Bson::Array(items)) = items else { return Err(format!("no '{key}' array")) };
        for s in items {
            let Bson::Document(s) = s else { return Err(format!("'{key}' holds a non-document")) };
            each(s)?;
        }
        Ok(())
    }

    fn touches(&self, path: &str) -> bool {
        super::path_in(path, self.field)
    }

    /// An update keeps the tenant: operators leave the field alone (or set it to the
    /// tenant), a replacement carries it, a pipeline ends by forcing it.
    fn update_body(&self, u: Option<&Bson>) -> Outcome {
        match u {
            Some(Bson::Document(d)) if d.keys().any(|k| k.starts_with('$')) => {
                for (op, spec) in d {
                    let Bson::Document(spec) = spec else { continue };
                    for (path, value) in spec {
                        let renames_onto = op == "$rename"
                            && matches!(value, Bson::String(to) if self.touches(to));
                        let touches = self.touches(path) || renames_onto;
                        let harmless = (op == "$set" || op == "$setOnInsert")
                            && path == self.field
                            && matches!(value, Bson::String(s) if s == self.tenant);
                        if touches && !harmless {
                            return Err(format!(
                                "update {op} changes the tenant field ('{path}': {value})"
                            ));
                        }
                    }
                }
                Ok(())
            }
            Some(Bson::Document(d)) => {
                if matches!(d.get(self.field), Some(Bson::String(s)) if s == self.tenant) {
                    Ok(())
                } else {
                    Err(format!("replacement {d} does not carry {}: '{}'", self.field, self.tenant))
                }
            }
            Some(Bson::Array(stages)) => {
                let forced = match stages.last() {
                    Some(Bson::Document(last)) if last.len() == 1 => {
                        let (name, body) = last.iter().next().expect("one key");
                        (name == "$set" || name == "$addFields")
                            && matches!(body, Bson::Document(b) if matches!(
                                b.get(self.field),
                                Some(Bson::Document(l)) if l.len() == 1
                                    && matches!(l.get("$literal"), Some(Bson::String(s)) if s == self.tenant)
                            ))
                    }
                    _ => false,
                };
                if forced {
                    Ok(())
                } else {
                    Err(format!(
                        "pipeline update does not end by setting {} to '{}'",
                        self.field, self.tenant
                    ))
                }
            }
            other => {
                Err(format!("update {other:?} is neither operators, a replacement nor a pipeline"))
            }
        }
    }

    fn index_keys(&self, indexes: Option<&Bson>) -> Outcome {
        self.statements(indexes, "indexes", |ix| match ix.get("key") {
            Some(Bson::Document(k)) if k.keys().next().map(String::as_str) == Some(self.field) => {
                Ok(())
            }
            key => Err(format!("index key {key:?} does not start with '{}'", self.field)),
        })
    }

    /// A pipeline over a collection: tenant match first (per `start`), every stage that
    /// reads another collection scoped the same way, nothing that writes or looks outside.
    fn pipeline(&self, stages: &[Bson], start: Start, depth: usize) -> Outcome {
        if depth > MAX_DEPTH {
            return Err("pipeline nested too deeply to audit".into());
        }
        if let Start::Match { twin } = start {
            let first = stages.first().and_then(stage_of);
            match first {
                Some(("$match", Bson::Document(f))) => self.filter(f, twin)?,
                Some(("$geoNear", Bson::Document(g))) => self.filter_of(g, "query", twin)?,
                _ => {
                    return Err(format!(
                        "pipeline does not start with a $match on {}: '{}'",
                        self.field, self.tenant
                    ))
                }
            }
        }
        let mut fenced = matches!(start, Start::Free | Start::Shared);
        // Over a shared collection: the last stage joined a tenant collection.
        let mut joined_tenant = false;
        for stage in stages {
            let Some((name, body)) = stage_of(stage) else {
                return Err(format!("stage {stage} is not a one-key document"));
            };
            if std::mem::take(&mut joined_tenant) && name != "$limit" {
                return Err(format!(
                    "stage {name} follows a join into a tenant collection from a shared one without a $limit between"
                ));
            }
            let from = match (name, body) {
                ("$lookup" | "$graphLookup", Bson::Document(d)) => d.get("from"),
                ("$unionWith", Bson::Document(d)) => d.get("coll"),
                _ => None,
            };
            joined_tenant = start == Start::Shared
                && from.is_some_and(|_| self.start_of(from) != Start::Shared);
            match (name, body) {
                ("$lookup", Bson::Document(spec)) => {
                    if !matches!(spec.get("from"), Some(Bson::String(_))) {
                        return Err("$lookup does not name a collection of this database".into());
                    }
                    let foreign = self.start_of(spec.get("from"));
                    if foreign == Start::Shared && spec.get("pipeline").is_none() {
                        continue;
                    }
                    self.pipeline(pipeline_of(spec.get("pipeline"))?, foreign, depth + 1).map_err(
                        |e| {
                            format!("$lookup from {}: {e}", spec.get("from").unwrap_or(&Bson::Null))
                        },
                    )?
                }
                ("$unionWith", Bson::Document(spec)) => {
                    if !matches!(spec.get("coll"), Some(Bson::String(_))) {
                        return Err("$unionWith does not name a collection of this database".into());
                    }
                    let foreign = self.start_of(spec.get("coll"));
                    if foreign == Start::Shared && spec.get("pipeline").is_none() {
                        continue;
                    }
                    self.pipeline(pipeline_of(spec.get("pipeline"))?, foreign, depth + 1)
                        .map_err(|e| format!("$unionWith: {e}"))?
                }
                ("$unionWith", Bson::String(c)) if self.shared.has(c) => {}
                ("$unionWith", other) => {
                    return Err(format!("$unionWith {other} reads another collection unscoped"))
                }
                ("$graphLookup", Bson::Document(spec)) => {
                    if !matches!(spec.get("from"), Some(Bson::String(_))) {
                        return Err(
                            "$graphLookup does not name a collection of this database".into()
                        );
                    }
                    if self.start_of(spec.get("from")) != Start::Shared {
                        self.filter_of(spec, "restrictSearchWithMatch", true)
                            .map_err(|e| format!("$graphLookup: {e}"))?
                    }
                }
                ("$facet", Bson::Document(branches)) => {
                    for (_, branch) in branches {
                        let Bson::Array(b) = branch else {
                            return Err("$facet branch is not an array".into());
                        };
                        let branch_start =
                            if start == Start::Shared { Start::Shared } else { Start::Free };
                        self.pipeline(b, branch_start, depth + 1)?;
                    }
                }
                // A later $match may be merged into the first one unless a $limit (which the
                // server never moves a $match across) stands between; a facet branch never is.
                ("$match", Bson::Document(f)) if !fenced => self.expressions(f, 0)?,
                ("$limit", _) => fenced = true,
                (n, Bson::Document(body)) if TRANSFORM.contains(&n) => {
                    if let Some(op) = expr_guard::server_js_in(body) {
                        return Err(format!(
                            "stage {n} runs server-side JavaScript ({op}) under a tenant"
                        ));
                    }
                }
                (n, _) if TRANSFORM.contains(&n) => {}
                (n, _) => return Err(format!("stage {n} reads or writes outside the tenant")),
            }
        }
        Ok(())
    }

    /// Under strategy 'database': no stage may reach another database or write elsewhere.
    fn pipeline_in_db(&self, stages: &[Bson], db: &str, depth: usize) -> Outcome {
        if depth > MAX_DEPTH {
            return Err("pipeline nested too deeply to audit".into());
        }
        for stage in stages {
            let Some((name, body)) = stage_of(stage) else {
                return Err(format!("stage {stage} is not a one-key document"));
            };
            let same_db = |from: Option<&Bson>| match from {
                Some(Bson::String(_)) => true,
                Some(Bson::Document(d)) => matches!(d.get("db"), Some(Bson::String(x)) if x == db),
                _ => false,
            };
            match (name, body) {
                ("$lookup" | "$graphLookup", Bson::Document(spec)) => {
                    if !same_db(spec.get("from")) {
                        return Err(format!("{name} reads outside database '{db}'"));
                    }
                    if let Some(p) = spec.get("pipeline") {
                        self.pipeline_in_db(pipeline_of(Some(p))?, db, depth + 1)?;
                    }
                }
                ("$unionWith", Bson::String(_)) => {}
                ("$unionWith", Bson::Document(spec)) => {
                    if !same_db(spec.get("coll")) {
                        return Err(format!("$unionWith reads outside database '{db}'"));
                    }
                    if let Some(p) = spec.get("pipeline") {
                        self.pipeline_in_db(pipeline_of(Some(p))?, db, depth + 1)?;
                    }
                }
                ("$facet", Bson::Document(branches)) => {
                    for (_, branch) in branches {
                        self.pipeline_in_db(pipeline_of(Some(branch))?, db, depth + 1)?;
                    }
                }
                (n, _) if TRANSFORM.contains(&n) => {}
                (n, _) => {
                    return Err(format!("stage {n} reads or writes outside the tenant's database"))
                }
            }
        }
        Ok(())
    }
}

/// True when a command's collation could equate tenant ids (anything but simple).
fn needs_twin(c: Option<&Bson>) -> bool {
    match c {
        None | Some(Bson::Null) => false,
        Some(Bson::Document(c)) => !collation::is_simple(c),
        Some(_) => true,
    }
}

fn pipeline_of(v: Option<&Bson>) -> Result<&[Bson], String> {
    match v {
        Some(Bson::Array(stages)) => Ok(stages),
        _ => Err("no pipeline array".into()),
    }
}

fn stage_of(stage: &Bson) -> Option<(&str, &Bson)> {
    match stage {
        Bson::Document(d) if d.len() == 1 => d.iter().next().map(|(k, v)| (k.as_str(), v)),
        _ => None,
    }
}

/// One caller's share of a command sent for several callers (`scope::share`).
#[derive(Debug, Clone, PartialEq)]
pub enum Share {
    /// The caller inserted the document with this `_id` in a shared `insert` (the driver
    /// may split one shared insert into several commands, so it is found by `_id`).
    Document(Bson),
    /// The caller looked up this `_id` in a shared `find({_id: {$in}})`.
    Id(Bson),
}

/// A shared command cut into the parts of its callers: for each part, the index of the caller
/// it belongs to (`None`: no caller sent it, itself a violation) and the command as if that
/// caller had sent its part alone. Callers with no part in this command are not listed.
pub fn caller_parts(
    command: &Document,
    shares: &[Share],
) -> Vec<(Option<usize>, Result<Document, String>)> {
    if let Ok(docs) = command.get_array("documents") {
        // Each document goes to one caller that inserted that `_id` (two callers may insert
        // the same `_id`; the server then refuses one of them).
        let mut taken = vec![false; shares.len()];
        return docs
            .iter()
            .map(|d| {
                let id = d.as_document().and_then(|d| d.get("_id"));
                let owner = shares.iter().enumerate().position(|(i, s)| {
                    !taken[i] && matches!((s, id), (Share::Document(x), Some(id)) if x == id)
                });
                if let Some(i) = owner {
                    taken[i] = true;
                }
                let mut own = command.clone();
                own.insert("documents", vec![d.clone()]);
                let part =
                    match owner {
                        Some(_) => Ok(own),
                        None => Err("a document in a shared insert that none of its callers sent"
                            .to_string()),
                    };
                (owner, part)
            })
            .collect();
    }
    shares.iter().enumerate().map(|(i, share)| (Some(i), lookup_part(command, share))).collect()
}

/// A shared lookup as the caller's own `find({_id})`.
fn lookup_part(command: &Document, share: &Share) -> Result<Document, String> {
    let Share::Id(id) = share else {
        return Err("an insert caller in a shared command that is not an insert".into());
    };
    let ids = command
        .get_document("filter")
        .ok()
        .filter(|f| f.len() == 1)
        .and_then(|f| f.get_document("_id").ok())
        .filter(|c| c.len() == 1)
        .and_then(|c| c.get_array("$in").ok())
        .ok_or("a shared lookup whose filter is not {_id: {$in: [...]}}")?;
    if !ids.contains(id) {
        return Err("a shared lookup that does not ask for this caller's _id".into());
    }
    let mut own = command.clone();
    own.insert("filter", doc! { "_id": id.clone() });
    own.insert("limit", 1);
    own.remove("batchSize");
    Ok(own)
}

/// Whether `doc`, read from database `db`, may be handed to `principal`: under 'database' it
/// came from the tenant's database; under 'field' it names the tenant field once, holding the
/// tenant (or an array holding it). Checked apart from the owner check that chose it.
pub fn delivered(
    settings: &TenantSpec,
    principal: &Principal,
    db: &str,
    doc: &RawDocument,
) -> Result<(), String> {
    let Principal::Tenant(t) = principal else { return Ok(()) };
    match settings.strategy {
        Strategy::Database => {
            let own = tenant_database(&settings.database, t);
            if db != own {
                return Err(format!(
                    "handed tenant '{t}' a document from database '{db}', not '{own}'"
                ));
            }
        }
        Strategy::Field => {
            let mut named = 0;
            let mut holds = false;
            for (k, v) in doc.iter().flatten() {
                if k != settings.field {
                    continue;
                }
                named += 1;
                holds = match v {
                    RawBsonRef::String(s) => s == t,
                    RawBsonRef::Array(items) => {
                        items.into_iter().any(|v| matches!(v, Ok(RawBsonRef::String(s)) if s == t))
                    }
                    _ => false,
                };
            }
            if named != 1 {
                return Err(format!(
                    "handed tenant '{t}' a document naming '{}' {named} times",
                    settings.field
                ));
            }
            if !holds {
                return Err(format!("handed tenant '{t}' a document of another tenant"));
            }
        }
    }
    Ok(())
}

/// The verdict of a command sent by an owner-checked `_id` lookup (`by_id`): it fetches by
/// `_id` alone and drops another tenant's document before the caller sees it, so the lookup
/// command itself, and only it, counts as scoped for an operation that made one.
pub fn owner_checked(verdict: Verdict, id_lookup: bool, command: &Document) -> Verdict {
    match verdict {
        Verdict::Unscoped(_) if id_lookup && super::by_id::is_lookup_command(command) => {
            Verdict::Scoped
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::spec::IdRule;
    use bson::doc;

    fn field() -> TenantSpec {
        TenantSpec::new("tenantId", "field", "app", IdRule::Default).unwrap()
    }

    fn with_plans(strategy: &str) -> TenantSpec {
        TenantSpec::new("tenantId", strategy, "app", IdRule::Default)
            .unwrap()
            .with_shared(&["plans".into()])
            .unwrap()
    }

    /// The verdict of tenant a's `cmd` on database `db`, `plans` shared.
    fn shared_verdict(strategy: &str, db: &str, cmd: Document) -> Verdict {
        let t = Principal::Tenant("a".into());
        judge_command(&with_plans(strategy), Some(&t), db, &cmd).verdict
    }

    #[test]
    fn a_tenant_reads_a_shared_collection_and_writes_none() {
        let scoped = |v: Verdict| assert_eq!(v, Verdict::Scoped);
        let unscoped = |v: Verdict| assert!(matches!(v, Verdict::Unscoped(_)), "{v:?}");
        for strategy in ["field", "database"] {
            scoped(shared_verdict(strategy, "app", doc! { "find": "plans", "filter": {} }));
            scoped(shared_verdict(strategy, "app", doc! { "count": "plans", "query": {} }));
            scoped(shared_verdict(strategy, "app", doc! { "aggregate": "plans", "pipeline": [] }));
            unscoped(shared_verdict(
                strategy,
                "app",
                doc! { "insert": "plans", "documents": [{}] },
            ));
            unscoped(shared_verdict(strategy, "app", doc! { "delete": "plans", "deletes": [] }));
            unscoped(shared_verdict(strategy, "app~a", doc! { "find": "plans", "filter": {} }));
        }
        // From a shared collection into a tenant one: scoped, with a barrier after the join.
        let s = with_plans("field");
        let scope = |main: &str| s.scope_on(Principal::Tenant("a".into()), main);
        let join = doc! { "$lookup": { "from": "notes", "localField": "p", "foreignField": "k", "as": "j" } };
        let unwind = doc! { "$unwind": "$j" };
        let p = crate::scope::pipeline::scope_pipeline(
            &scope("plans"),
            vec![join.clone(), unwind.clone()],
        )
        .unwrap();
        scoped(shared_verdict(
            "field",
            "app",
            doc! { "aggregate": "plans", "pipeline": p.clone() },
        ));
        let mut no_barrier = p.clone();
        no_barrier.remove(1);
        unscoped(shared_verdict(
            "field",
            "app",
            doc! { "aggregate": "plans", "pipeline": no_barrier },
        ));
        unscoped(shared_verdict(
            "field",
            "app",
            doc! { "aggregate": "plans", "pipeline": [join.clone(), unwind.clone()] },
        ));
        // From a tenant collection into the shared one: the join needs no match.
        let into = doc! { "$lookup": { "from": "plans", "localField": "p", "foreignField": "k", "as": "j" } };
        let p = crate::scope::pipeline::scope_pipeline(&scope("notes"), vec![into]).unwrap();
        // A spec without `shared` does not know 'plans' is: the unscoped join is caught.
        unscoped(as_a(doc! { "aggregate": "notes", "pipeline": p.clone() }));
        let hinted_cmd = hinted(doc! { "aggregate": "notes", "pipeline": p });
        scoped(judge_command(&s, Some(&Principal::Tenant("a".into())), "app", &hinted_cmd).verdict);
        // Under 'database' a shared pipeline joins only shared collections.
        let p = vec![doc! { "$unionWith": "notes" }];
        unscoped(shared_verdict("database", "app", doc! { "aggregate": "plans", "pipeline": p }));
        let p = vec![doc! { "$unionWith": "plans" }];
        scoped(shared_verdict("database", "app", doc! { "aggregate": "plans", "pipeline": p }));
    }

    /// Audits `cmd` as tenant a sends it: with the hint `scope::bounds` adds (tested apart in
    /// `a_plan_must_be_bounded_by_the_tenant`).
    fn as_a(cmd: Document) -> Verdict {
        as_a_unhinted(hinted(cmd))
    }

    fn hinted(mut cmd: Document) -> Document {
        let h = doc! { "tenantId": 1 };
        for list in ["updates", "deletes"] {
            if let Ok(items) = cmd.get_array_mut(list) {
                for i in items.iter_mut() {
                    if let Bson::Document(d) = i {
                        d.entry("hint".into()).or_insert(Bson::Document(h.clone()));
                    }
                }
            }
        }
        let name = cmd.keys().next().cloned().unwrap_or_default();
        if ["find", "count", "distinct", "aggregate", "findAndModify"].contains(&name.as_str()) {
            cmd.entry("hint".into()).or_insert(Bson::Document(h));
        }
        cmd
    }

    fn as_a_unhinted(cmd: Document) -> Verdict {
        judge_command(&field(), Some(&Principal::Tenant("a".into())), "app", &cmd).verdict
    }

    fn unscoped(v: Verdict) -> String {
        match v {
            Verdict::Unscoped(why) => why,
            other => panic!("expected Unscoped, got {other:?}"),
        }
    }

    #[test]
    fn a_find_is_scoped_only_with_the_tenant_equality_at_the_top() {
        assert_eq!(
            as_a(doc! { "find": "n", "filter": { "tenantId": "a", "x": 1 } }),
            Verdict::Scoped
        );
        assert_eq!(
            as_a(
                doc! { "find": "n", "filter": { "$and": [{ "tenantId": { "$eq": "a" } }, { "x": 1 }] } }
            ),
            Verdict::Scoped
        );
        unscoped(as_a(doc! { "find": "n", "filter": { "x": 1 } }));
        unscoped(as_a(doc! { "find": "n" }));
        unscoped(as_a(doc! { "find": "n", "filter": { "tenantId": "b" } }));
        unscoped(as_a(
            doc! { "find": "n", "filter": { "$or": [{ "tenantId": "a" }, { "x": 1 }] } },
        ));
        unscoped(as_a(doc! { "find": "n", "filter": { "tenantId": { "$in": ["a", "b"] } } }));
        unscoped(as_a(doc! { "find": "n", "filter": { "tenantId": { "$ne": "b" } } }));
    }

    #[test]
    fn a_non_simple_collation_needs_the_regex_twin() {
        let c = doc! { "locale": "en", "strength": 2 };
        let why = unscoped(as_a(
            doc! { "find": "n", "filter": { "tenantId": "a" }, "collation": c.clone() },
        ));
        assert!(why.contains("collation"), "{why}");
        let twin = doc! { "tenantId": "a", "$and": [regex_twin("tenantId", Owners::One("a"))] };
        assert_eq!(as_a(doc! { "find": "n", "filter": twin, "collation": c }), Verdict::Scoped);
        assert_eq!(
            as_a(
                doc! { "find": "n", "filter": { "tenantId": "a" }, "collation": { "locale": "simple" } }
            ),
            Verdict::Scoped
        );
    }

    #[test]
    fn count_and_distinct_read_their_query() {
        assert_eq!(
            as_a(doc! { "distinct": "n", "key": "x", "query": { "tenantId": "a" } }),
            Verdict::Scoped
        );
        unscoped(as_a(doc! { "distinct": "n", "key": "x", "query": {} }));
        unscoped(as_a(doc! { "count": "n" }));
    }

    #[test]
    fn an_aggregate_needs_a_leading_match_and_scoped_lookups() {
        let m = doc! { "$match": { "tenantId": "a" } };
        let twin = doc! { "$match": { "tenantId": "a", "$and": [regex_twin("tenantId", Owners::One("a"))] } };
        assert_eq!(
            as_a(
                doc! { "aggregate": "n", "pipeline": [m.clone(), { "$lookup": { "from": "o", "as": "o", "pipeline": [twin.clone()] } }] }
            ),
            Verdict::Scoped
        );
        unscoped(as_a(
            doc! { "aggregate": "n", "pipeline": [{ "$group": { "_id": null } }, m.clone()] },
        ));
        unscoped(as_a(
            doc! { "aggregate": "n", "pipeline": [m.clone(), { "$lookup": { "from": "o", "localField": "x", "foreignField": "y", "as": "o" } }] },
        ));
        // The joined collection's match lacks the collation-proof twin.
        unscoped(as_a(
            doc! { "aggregate": "n", "pipeline": [m.clone(), { "$lookup": { "from": "o", "as": "o", "pipeline": [m.clone()] } }] },
        ));
        unscoped(as_a(doc! { "aggregate": "n", "pipeline": [m.clone(), { "$unionWith": "o" }] }));
        unscoped(as_a(
            doc! { "aggregate": "n", "pipeline": [m.clone(), { "$facet": { "x": [{ "$unionWith": { "coll": "o", "pipeline": [] } }] } }] },
        ));
        unscoped(as_a(
            doc! { "aggregate": "n", "pipeline": [m.clone(), { "$graphLookup": { "from": "o", "startWith": "$x", "connectFromField": "x", "connectToField": "y", "as": "g" } }] },
        ));
        unscoped(as_a(doc! { "aggregate": "n", "pipeline": [m.clone(), { "$out": "elsewhere" }] }));
        unscoped(as_a(
            doc! { "aggregate": "n", "pipeline": [m.clone(), { "$lookup": { "from": { "db": "x", "coll": "o" }, "as": "o", "pipeline": [twin.clone()] } }] },
        ));
        assert_eq!(
            as_a(
                doc! { "aggregate": "n", "pipeline": [m, { "$facet": { "x": [{ "$graphLookup": { "from": "o", "startWith": "$x", "connectFromField": "x", "connectToField": "y", "as": "g", "restrictSearchWithMatch": twin.get_document("$match").unwrap().clone() } }] } }] }
            ),
            Verdict::Scoped
        );
    }

    #[test]
    fn inserts_must_carry_the_tenant() {
        assert_eq!(
            as_a(doc! { "insert": "n", "documents": [{ "_id": 1, "tenantId": "a" }] }),
            Verdict::Scoped
        );
        unscoped(as_a(
            doc! { "insert": "n", "documents": [{ "_id": 1, "tenantId": "a" }, { "_id": 2 }] },
        ));
        unscoped(as_a(doc! { "insert": "n", "documents": [{ "_id": 1, "tenantId": "b" }] }));
    }

    #[test]
    fn updates_keep_the_tenant_and_are_filtered_to_it() {
        let q = doc! { "tenantId": "a", "x": 1 };
        let ok = |u: Bson| {
            as_a(doc! { "update": "n", "updates": [{ "q": q.clone(), "u": u, "upsert": true }] })
        };
        assert_eq!(ok(Bson::Document(doc! { "$set": { "y": 1 } })), Verdict::Scoped);
        assert_eq!(
            ok(Bson::Document(doc! { "$setOnInsert": { "tenantId": "a" } })),
            Verdict::Scoped
        );
        assert_eq!(ok(Bson::Document(doc! { "tenantId": "a", "y": 1 })), Verdict::Scoped);
        assert_eq!(
            ok(
                bson::bson!([{ "$set": { "y": 1 } }, { "$set": { "tenantId": { "$literal": "a" } } }])
            ),
            Verdict::Scoped
        );
        unscoped(ok(Bson::Document(doc! { "$set": { "tenantId": "b" } })));
        unscoped(ok(Bson::Document(doc! { "$unset": { "tenantId": "" } })));
        unscoped(ok(Bson::Document(doc! { "$rename": { "x": "tenantId" } })));
        unscoped(ok(Bson::Document(doc! { "y": 1 })));
        unscoped(ok(bson::bson!([{ "$replaceWith": "$x" }])));
        unscoped(as_a(
            doc! { "update": "n", "updates": [{ "q": { "x": 1 }, "u": { "$set": { "y": 1 } } }] },
        ));
    }

    #[test]
    fn deletes_find_and_modify_and_indexes() {
        assert_eq!(
            as_a(doc! { "delete": "n", "deletes": [{ "q": { "tenantId": "a" }, "limit": 0 }] }),
            Verdict::Scoped
        );
        unscoped(as_a(
            doc! { "delete": "n", "deletes": [{ "q": { "tenantId": "a" }, "limit": 0 }, { "q": {}, "limit": 0 }] },
        ));
        assert_eq!(
            as_a(doc! { "findAndModify": "n", "query": { "tenantId": "a" }, "remove": true }),
            Verdict::Scoped
        );
        unscoped(as_a(
            doc! { "findAndModify": "n", "query": { "tenantId": "a" }, "update": { "$set": { "tenantId": "b" } } },
        ));
        unscoped(as_a(doc! { "findAndModify": "n", "query": {}, "remove": true }));
        assert_eq!(
            as_a(
                doc! { "createIndexes": "n", "indexes": [{ "key": { "tenantId": 1, "x": 1 }, "name": "i" }] }
            ),
            Verdict::Scoped
        );
        unscoped(as_a(
            doc! { "createIndexes": "n", "indexes": [{ "key": { "x": 1 }, "name": "i" }] },
        ));
    }

    #[test]
    fn control_system_unknown_and_contextless_commands() {
        assert_eq!(as_a(doc! { "getMore": 5_i64, "collection": "n" }), Verdict::Control);
        assert_eq!(as_a(doc! { "hello": 1 }), Verdict::Control);
        // The fence's own sharding lookup, and nothing else sent to `config`.
        let look = doc! { "find": "collections", "filter": { "_id": "app.n", "dropped": { "$ne": true } } };
        let a = Principal::Tenant("a".into());
        assert_eq!(judge_command(&field(), Some(&a), "config", &look).verdict, Verdict::Control);
        assert_ne!(judge_command(&field(), Some(&a), "app", &look).verdict, Verdict::Control);
        let wide = doc! { "find": "collections", "filter": { "_id": { "$regex": "." } } };
        assert_ne!(judge_command(&field(), Some(&a), "config", &wide).verdict, Verdict::Control);
        unscoped(as_a(doc! { "drop": "n" }));
        let sys = judge_command(
            &field(),
            Some(&Principal::System),
            "app",
            &doc! { "find": "n", "filter": {} },
        );
        assert_eq!(sys.verdict, Verdict::System);
        assert_eq!(sys.collection.as_deref(), Some("n"));
        let none = judge_command(
            &field(),
            None,
            "app",
            &doc! { "find": "n", "filter": { "tenantId": "a" } },
        );
        unscoped(none.verdict);
    }

    #[test]
    fn under_strategy_database_the_database_decides() {
        let s = TenantSpec { strategy: Strategy::Database, ..field() };
        let a = Principal::Tenant("a".into());
        let run = |db: &str, cmd: Document| judge_command(&s, Some(&a), db, &cmd).verdict;
        assert_eq!(run("app~a", doc! { "find": "n", "filter": {} }), Verdict::Scoped);
        unscoped(run("app~b", doc! { "find": "n", "filter": {} }));
        unscoped(run("app", doc! { "insert": "n", "documents": [{ "x": 1 }] }));
        unscoped(run(
            "app~a",
            doc! { "aggregate": "n", "pipeline": [{ "$lookup": { "from": { "db": "app~b", "coll": "o" }, "as": "o", "pipeline": [] } }] },
        ));
        unscoped(run(
            "app~a",
            doc! { "aggregate": "n", "pipeline": [{ "$merge": { "into": "o" } }] },
        ));
        assert_eq!(
            run("app~a", doc! { "aggregate": "n", "pipeline": [{ "$unionWith": "o" }] }),
            Verdict::Scoped
        );
        // Collection administration: the tenant's own database only.
        for cmd in [
            doc! { "drop": "n" },
            doc! { "create": "n" },
            doc! { "dropIndexes": "n", "index": "*" },
        ] {
            assert_eq!(run("app~a", cmd.clone()), Verdict::Scoped, "{cmd}");
            unscoped(run("app~b", cmd.clone()));
            unscoped(judge_command(&field(), Some(&a), "app", &cmd).verdict);
        }
        let rename = |from: &str, to: &str| {
            run("admin", doc! { "renameCollection": from, "to": to, "dropTarget": false })
        };
        assert_eq!(rename("app~a.n", "app~a.m"), Verdict::Scoped);
        unscoped(rename("app~a.n", "app~b.m"));
        unscoped(rename("app~b.n", "app~a.m"));
        unscoped(rename("app~a.n", "app~a"));
    }

    #[test]
    fn what_the_fence_rewrites_passes_the_audit() {
        use crate::scope::{filter, update, Scope};
        for guard in [false, true] {
            let scope = Scope {
                collation_guard: guard,
                ..Scope::for_test(Principal::Tenant("a".into()), Strategy::Field)
            };
            let collation = if guard {
                doc! { "locale": "en", "strength": 2 }
            } else {
                doc! { "locale": "simple" }
            };
            let f = filter::scope_write_filter(&scope, doc! { "tenantId": "b", "x": 1 }).unwrap();
            assert_eq!(
                as_a(doc! { "find": "n", "filter": f.clone(), "collation": collation.clone() }),
                Verdict::Scoped
            );
            let p = crate::scope::pipeline::scope_pipeline(&scope, vec![
                doc! { "$lookup": { "from": "o", "localField": "x", "foreignField": "y", "as": "o" } },
                doc! { "$facet": { "u": [{ "$unionWith": { "coll": "o", "pipeline": [{ "$match": { "z": 1 } }] } }] } },
            ]).unwrap();
            let p: Vec<Bson> = p.into_iter().map(Bson::Document).collect();
            assert_eq!(
                as_a(doc! { "aggregate": "n", "pipeline": p, "collation": collation.clone() }),
                Verdict::Scoped
            );
            let u = update::scope_update(
                &scope,
                update::classify(bson::bson!([{ "$replaceWith": "$x" }])).unwrap(),
            )
            .unwrap();
            let update::Update::Pipeline(u) = u else { panic!("a pipeline stays a pipeline") };
            let u: Vec<Bson> = u.into_iter().map(Bson::Document).collect();
            assert_eq!(
                as_a(
                    doc! { "update": "n", "updates": [{ "q": f, "u": u, "collation": collation }] }
                ),
                Verdict::Scoped
            );
        }
    }

    #[test]
    fn a_shared_insert_is_judged_per_caller() {
        let cmd = doc! { "insert": "notes", "documents": [
        { "_id": 1, "tenantId": "a" }, { "_id": 2, "tenantId": "b" } ], "ordered": false };
        let shares = [Share::Document(Bson::Int32(2)), Share::Document(Bson::Int32(1))];
        let parts = caller_parts(&cmd, &shares);
        assert_eq!(parts.iter().map(|(o, _)| *o).collect::<Vec<_>>(), [Some(1), Some(0)]);
        // The second document (tenant b's) is caller 0's.
        let b_part = parts[1].1.clone().unwrap();
        assert_eq!(b_part.get_array("documents").unwrap().len(), 1);
        let b = judge_command(&field(), Some(&Principal::Tenant("b".into())), "app", &b_part);
        assert_eq!(b.verdict, Verdict::Scoped);
        let a = judge_command(&field(), Some(&Principal::Tenant("a".into())), "app", &b_part);
        assert!(matches!(a.verdict, Verdict::Unscoped(_)));
    }

    #[test]
    fn a_split_shared_insert_only_judges_the_callers_in_it_and_flags_a_stranger() {
        // The driver split a shared insert: this command holds the third caller's document only.
        let cmd = doc! { "insert": "notes", "documents": [ { "_id": 3, "tenantId": "a" }, { "_id": 9, "tenantId": "a" } ] };
        let shares = [1, 2, 3].map(|i| Share::Document(Bson::Int32(i)));
        let parts = caller_parts(&cmd, &shares);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].0, Some(2));
        assert!(parts[0].1.is_ok());
        assert_eq!(parts[1].0, None);
        assert!(parts[1].1.is_err());
    }

    #[test]
    fn a_shared_insert_to_another_tenants_database_is_unscoped() {
        let s = TenantSpec { strategy: Strategy::Database, ..field() };
        let cmd = doc! { "insert": "notes", "documents": [ { "_id": 1 }, { "_id": 2 } ] };
        let shares = [Share::Document(Bson::Int32(1)), Share::Document(Bson::Int32(2))];
        let mine = caller_parts(&cmd, &shares)[1].1.clone().unwrap();
        let b = Principal::Tenant("b".into());
        assert_eq!(judge_command(&s, Some(&b), "app~b", &mine).verdict, Verdict::Scoped);
        assert!(matches!(
            judge_command(&s, Some(&b), "app~a", &mine).verdict,
            Verdict::Unscoped(_)
        ));
    }

    #[test]
    fn a_shared_lookup_becomes_the_callers_own_lookup() {
        let cmd = doc! { "find": "notes", "filter": { "_id": { "$in": [1, 2] } }, "batchSize": 3 };
        let shares = [Share::Id(Bson::Int32(2)), Share::Id(Bson::Int32(3))];
        let parts = caller_parts(&cmd, &shares);
        assert_eq!(
            parts[0].1.clone().unwrap(),
            doc! { "find": "notes", "filter": { "_id": 2 }, "limit": 1 }
        );
        assert!(parts[1].1.is_err());
        let wider = doc! { "find": "notes", "filter": { "_id": { "$in": [1, 2] }, "x": 1 } };
        assert!(caller_parts(&wider, &shares[..1])[0].1.is_err());
    }

    #[test]
    fn delivered_documents_must_be_the_callers() {
        let a = Principal::Tenant("a".into());
        let ok = |d: Document, db: &str, s: &TenantSpec| {
            delivered(s, &a, db, &bson::RawDocumentBuf::from_document(&d).unwrap()).is_ok()
        };
        let f = field();
        assert!(ok(doc! { "_id": 1, "tenantId": "a" }, "app", &f));
        assert!(ok(doc! { "_id": 1, "tenantId": ["b", "a"] }, "app", &f));
        assert!(!ok(doc! { "_id": 1, "tenantId": "b" }, "app", &f));
        assert!(!ok(doc! { "_id": 1 }, "app", &f));
        assert!(!ok(doc! { "_id": 1, "tenantId": "A" }, "app", &f));
        // The tenant field twice: readers could disagree on which one counts.
        let mut twice = bson::RawDocumentBuf::new();
        twice.append("tenantId", "b");
        twice.append("tenantId", "a");
        assert!(delivered(&f, &a, "app", &twice).is_err());
        let d = TenantSpec { strategy: Strategy::Database, ..field() };
        assert!(ok(doc! { "_id": 1 }, "app~a", &d));
        assert!(!ok(doc! { "_id": 1 }, "app~b", &d));
        assert!(delivered(&f, &Principal::System, "x", &twice).is_ok());
    }

    #[test]
    fn a_plan_must_be_bounded_by_the_tenant() {
        let scoped = doc! { "tenantId": "a", "k": { "$regex": "^(.+.+)+x" } };
        let cases = [
            (doc! { "find": "c", "filter": scoped.clone() }, false),
            (doc! { "find": "c", "filter": scoped.clone(), "hint": { "_id": 1 } }, false),
            (doc! { "find": "c", "filter": scoped.clone(), "hint": "tenantId_1" }, false),
            (
                doc! { "find": "c", "filter": scoped.clone(), "hint": { "tenantId": 1, "k": 1 } },
                true,
            ),
            (doc! { "find": "c", "filter": { "tenantId": "a", "_id": 7 } }, true),
            (doc! { "find": "c", "filter": { "tenantId": "a", "_id": { "$in": [1, 2] } } }, true),
            (doc! { "find": "c", "filter": { "tenantId": "a", "_id": { "$gte": 1 } } }, false),
            (doc! { "distinct": "c", "key": "k", "query": scoped.clone() }, false),
            (
                doc! { "aggregate": "c", "pipeline": [{ "$match": scoped.clone() }], "cursor": {} },
                false,
            ),
            (
                doc! { "aggregate": "c", "pipeline": [{ "$match": scoped.clone() }], "hint": { "tenantId": 1 }, "cursor": {} },
                true,
            ),
            (
                doc! { "update": "c", "updates": [{ "q": scoped.clone(), "u": { "$set": { "x": 1 } } }] },
                false,
            ),
            (
                doc! { "delete": "c", "deletes": [{ "q": scoped.clone(), "limit": 0, "hint": { "tenantId": -1 } }] },
                true,
            ),
            (doc! { "findAndModify": "c", "query": scoped.clone(), "remove": true }, false),
        ];
        for (cmd, bounded) in cases {
            assert_eq!(as_a_unhinted(cmd.clone()) == Verdict::Scoped, bounded, "{cmd}");
        }
        let text = doc! { "find": "c", "filter": { "tenantId": "a", "$text": { "$search": "x" } } };
        assert_eq!(as_a_unhinted(text), Verdict::Scoped);
    }

    #[test]
    fn an_unguarded_expression_or_server_javascript_is_flagged() {
        let bare = doc! { "find": "c", "filter": { "tenantId": "a", "_id": { "$gte": 1 }, "$expr": { "$toInt": "$x" } } };
        assert!(unscoped(as_a(bare)).contains("does not test 'tenantId' first"));
        let guarded = doc! { "find": "c", "filter": { "tenantId": "a", "$expr": { "$and": [{ "$eq": ["$tenantId", "a"] }, { "$toInt": "$x" }] } } };
        assert_eq!(as_a(guarded), Verdict::Scoped);
        let other = doc! { "find": "c", "filter": { "tenantId": "a", "$expr": { "$and": [{ "$eq": ["$tenantId", "b"] }, true] } } };
        assert!(matches!(as_a(other), Verdict::Unscoped(_)));
        let js = doc! { "find": "c", "filter": { "tenantId": "a", "$where": "1" } };
        assert!(unscoped(as_a(js)).contains("server-side JavaScript"));
        let later = doc! { "aggregate": "c", "pipeline": [{ "$match": { "tenantId": "a" } }, { "$match": { "$or": [{ "$expr": true }] } }] };
        assert!(matches!(as_a(later), Verdict::Unscoped(_)));
        let held = doc! { "aggregate": "c", "pipeline": [{ "$match": { "tenantId": "a" } }, { "$group": { "_id": 1 } }, { "$limit": i64::MAX }, { "$match": { "$expr": true } }] };
        assert_eq!(as_a(held), Verdict::Scoped);
        let f = doc! { "$function": { "body": "x", "args": [], "lang": "js" } };
        let proj = doc! { "aggregate": "c", "pipeline": [{ "$match": { "tenantId": "a" } }, { "$project": { "y": f } }] };
        assert!(matches!(as_a(proj), Verdict::Unscoped(_)));
    }
}
