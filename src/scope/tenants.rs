//! Multi-tenant read contexts (`fence.runAsTenants(['a', 'b'], fn)`): reads see the union of
//! those tenants' documents; every write is refused, unless a `runAs` inside names one of them.

use std::sync::Arc;

use super::error::{ScopeError, ScopeResult};
use super::plan::Operation;
use super::{tenant_id, Principal, Scope, Strategy};

/// The most tenants one context may read at once: each is a term of every match it sends.
pub const MAX_TENANTS: usize = 100;

/// The ids of a `runAsTenants` context: each valid by the fence's rule (`default_rule`), at
/// least one, at most `MAX_TENANTS`; sorted, repeats dropped.
pub fn check_ids(ids: &[String], default_rule: bool) -> ScopeResult<Arc<[String]>> {
    if ids.is_empty() || ids.len() > MAX_TENANTS {
        return Err(ScopeError::invalid(format!(
            "runAsTenants needs 1 to {MAX_TENANTS} tenant ids, not {}",
            ids.len()
        )));
    }
    for id in ids {
        tenant_id::check(id, default_rule)?;
    }
    let mut sorted = ids.to_vec();
    sorted.sort();
    sorted.dedup();
    Ok(sorted.into())
}

/// Whether a call of `op` may run under `scope`: under `runAsTenants` only reads, and only under
/// strategy 'field' (one tenant's database per call under 'database').
pub fn admit(scope: &Scope, op: Operation) -> ScopeResult<()> {
    admit_named(scope, op.name(), op.reads())
}

/// `admit` for a method known by name (`reads`: it changes nothing; of the administration
/// methods only `listIndexes`).
pub fn admit_named(scope: &Scope, method: &str, reads: bool) -> ScopeResult<()> {
    let Principal::Tenants(ids) = &scope.principal else { return Ok(()) };
    if !reads {
        return Err(ScopeError::violation(format!(
            "{method}() is refused under runAsTenants: a multi-tenant context only reads; write inside fence.runAs(tenantId, fn) naming one of {}",
            list(ids)
        )));
    }
    if scope.strategy == Strategy::Database && !scope.shared.main {
        return Err(ScopeError::violation(format!(
            "{method}() under runAsTenants is refused under strategy 'database': each tenant's documents live in a database of its own, and one call reads one database; read each tenant inside fence.runAs"
        )));
    }
    Ok(())
}

/// Whether `runAs(id)` (or `runAsTenants(ids)`) may run inside a context confined to `limit`
/// (the ids of the `runAsTenants` it is inside, however deep): only for those tenants, so a
/// handler given several tenants reads and writes only them.
pub fn may_narrow(limit: Option<&[String]>, ids: &[String]) -> ScopeResult<()> {
    let Some(limit) = limit else { return Ok(()) };
    match ids.iter().find(|id| !limit.contains(id)) {
        Some(id) => Err(ScopeError::violation(format!(
            "{id:?} is outside runAsTenants({}): a runAs or runAsTenants inside a multi-tenant context must name its tenants only",
            list(limit)
        ))),
        None => Ok(()),
    }
}

/// True when a context's access ends when the callback that made it settles: `runAsSystem`'s
/// and `runAsTenants`' (both read beyond one tenant); a single tenant's never ends.
pub fn ends_with_callback(principal: &Principal) -> bool {
    matches!(principal, Principal::System | Principal::Tenants(_))
}

/// Whether a call passes the `onSystemAccess` hook, and the tenants the hook is told of: a
/// system call (none named) and a `runAsTenants` read (its ids) read beyond one tenant, so both
/// are audited; a single tenant's call is not.
pub fn audited(principal: &Principal) -> Option<Option<&[String]>> {
    match principal {
        Principal::System => Some(None),
        Principal::Tenants(ids) => Some(Some(ids)),
        Principal::Tenant(_) => None,
    }
}

fn list(ids: &[String]) -> String {
    let shown: Vec<String> = ids.iter().take(5).map(|i| format!("{i:?}")).collect();
    let more = if ids.len() > 5 { format!(" and {} more", ids.len() - 5) } else { String::new() };
    format!("[{}]{more}", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ErrorKind;

    fn union(strategy: Strategy) -> Scope {
        let ids = check_ids(&["b".into(), "a".into(), "b".into()], true).unwrap();
        Scope::for_test(Principal::Tenants(ids), strategy)
    }

    #[test]
    fn system_and_union_calls_are_audited_a_tenants_are_not() {
        let ids = check_ids(&["b".into(), "a".into()], true).unwrap();
        let set = ["a".to_string(), "b".to_string()];
        for (principal, want) in [
            (Principal::System, Some(None)),
            (Principal::Tenants(ids), Some(Some(&set[..]))),
            (Principal::Tenant("a".into()), None),
        ] {
            assert_eq!(audited(&principal), want, "{principal:?}");
            assert_eq!(ends_with_callback(&principal), want.is_some(), "{principal:?}");
        }
    }

    #[test]
    fn ids_are_checked_sorted_and_deduplicated() {
        let ids = check_ids(&["b".into(), "a".into(), "b".into()], true).unwrap();
        assert_eq!(&*ids, &["a".to_string(), "b".to_string()]);
        for bad in [vec![], vec!["a.b".to_string()], vec!["a".into(), "$x".into()]] {
            assert_eq!(
                check_ids(&bad, true).unwrap_err().kind,
                ErrorKind::TenantInvalid,
                "{bad:?}"
            );
        }
        assert!(check_ids(&vec!["a".to_string(); MAX_TENANTS], true).is_ok());
        assert!(check_ids(&(0..=MAX_TENANTS).map(|i| format!("t{i}")).collect::<Vec<_>>(), true)
            .is_err());
        // A custom pattern (checked in JS) still never lets the hard rules go.
        assert!(
            check_ids(&["café".into()], false).is_ok()
                && check_ids(&["café".into()], true).is_err()
        );
    }

    #[test]
    fn a_union_only_reads_and_only_under_the_field_strategy() {
        let reads: Vec<Operation> = Operation::ALL.into_iter().filter(|o| o.reads()).collect();
        assert_eq!(reads.len(), 6);
        for op in Operation::ALL {
            let got = admit(&union(Strategy::Field), op);
            assert_eq!(got.is_ok(), reads.contains(&op), "{op:?}");
            if let Err(e) = got {
                assert_eq!(e.kind, ErrorKind::TenantViolation);
                assert!(e.message.contains("runAs(tenantId"), "{}", e.message);
            }
            assert_eq!(
                admit(&union(Strategy::Database), op).unwrap_err().kind,
                ErrorKind::TenantViolation
            );
            let one = Scope::for_test(Principal::Tenant("a".into()), Strategy::Field);
            assert!(admit(&one, op).is_ok());
        }
    }

    #[test]
    fn a_union_reads_through_every_rule_with_its_set() {
        use crate::scope::{expr_guard, filter, pipeline, verdict, Owners};
        use bson::{doc, Bson};
        let s = union(Strategy::Field);
        let set = doc! { "$in": ["a", "b"] };
        // Filters: the set at the top, a caller's narrowing kept (shielded), `$expr` after the test.
        let f = filter::scope_filter(&s, doc! { "x": 1, "$expr": { "$gt": ["$y", 1] } }).unwrap();
        assert_eq!(f.get_document("tenantId").unwrap(), &set);
        let test =
            expr_guard::tenant_test("tenantId", Owners::Many(&["a".into(), "b".into()]), false);
        assert_eq!(test, Bson::Document(doc! { "$in": ["$tenantId", ["a", "b"]] }));
        assert_eq!(
            f.get_document("$expr").unwrap(),
            &doc! { "$and": [test.clone(), { "$gt": ["$y", 1] }] }
        );
        let narrowed = filter::scope_filter(&s, doc! { "tenantId": "a" }).unwrap();
        assert_eq!(narrowed.get_document("tenantId").unwrap(), &set, "{narrowed}");
        assert!(
            narrowed.contains_key("$and"),
            "the caller's own condition only narrows: {narrowed}"
        );
        // Under a collation the twin is the exact alternation.
        let guarded = Scope { collation_guard: true, ..s.clone() };
        let g = filter::scope_filter(&guarded, doc! {}).unwrap();
        assert_eq!(
            g.get_array("$and").unwrap()[0],
            Bson::Document(doc! { "tenantId": { "$regex": "^(?:a|b)\\z" } })
        );
        // Pipelines: the set first, and on every tenant collection joined.
        let p = pipeline::scope_pipeline(&s, vec![doc! { "$lookup": { "from": "c", "localField": "x", "foreignField": "y", "as": "j" } }]).unwrap();
        assert_eq!(p[0], doc! { "$match": { "tenantId": set.clone() } });
        let sub = p[1].get_document("$lookup").unwrap().get_array("pipeline").unwrap();
        let m = sub[0].as_document().unwrap().get_document("$match").unwrap();
        assert_eq!(m.get_document("tenantId").unwrap(), &set);
        // The probe: a union's read is scoped by its set, and by nothing narrower or wider.
        let spec = crate::scope::spec::TenantSpec::new(
            "tenantId",
            "field",
            "app",
            crate::scope::spec::IdRule::Default,
        )
        .unwrap();
        let judge = |cmd: bson::Document| {
            verdict::judge_command(&spec, Some(&s.principal), "app", &cmd).verdict
        };
        let hint = doc! { "tenantId": 1, "_id": 1 };
        assert_eq!(
            judge(doc! { "find": "c", "filter": f.clone(), "hint": hint.clone() }),
            verdict::Verdict::Scoped
        );
        for other in
            [doc! { "tenantId": "a" }, doc! { "tenantId": { "$in": ["a", "b", "c"] } }, doc! {}]
        {
            let v = judge(doc! { "find": "c", "filter": other.clone(), "hint": hint.clone() });
            assert!(matches!(v, verdict::Verdict::Unscoped(_)), "{other}: {v:?}");
        }
        let v = judge(doc! { "insert": "c", "documents": [{ "tenantId": "a" }] });
        assert!(matches!(v, verdict::Verdict::Unscoped(_)), "a union never writes: {v:?}");
        // $text needs one tenant (a text index takes an equality on its prefix): a clear refusal.
        let text = filter::scope_filter(&s, doc! { "$text": { "$search": "x" } }).unwrap_err();
        assert_eq!(text.kind, ErrorKind::TenantViolation);
    }

    #[test]
    fn system_and_union_access_end_with_their_callback() {
        let ids = check_ids(&["a".into()], true).unwrap();
        assert!(ends_with_callback(&Principal::System));
        assert!(ends_with_callback(&Principal::Tenants(ids)));
        assert!(!ends_with_callback(&Principal::Tenant("a".into())));
    }

    #[test]
    fn run_as_inside_a_union_names_one_of_its_tenants() {
        let limit = ["a".to_string(), "b".to_string()];
        assert!(may_narrow(Some(&limit), &["a".into()]).is_ok());
        assert!(may_narrow(Some(&limit), &["b".into(), "a".into()]).is_ok());
        for outside in [vec!["c".to_string()], vec!["a".into(), "c".into()]] {
            let e = may_narrow(Some(&limit), &outside).unwrap_err();
            assert_eq!(e.kind, ErrorKind::TenantViolation);
            assert!(e.message.contains("\"c\""), "{}", e.message);
        }
        assert!(may_narrow(None, &["c".into()]).is_ok());
    }
}
