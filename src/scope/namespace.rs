//! Where a call goes: the database and collection a principal's call is sent to.

use super::error::{ScopeError, ScopeResult};
use super::{Principal, Strategy};

/// The full namespace of one call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace {
    pub database: String,
    pub collection: String,
}

/// The namespace `principal`'s call on collection `name` goes to, or why it may not go anywhere.
/// A shared collection lives in the base database under either strategy.
pub fn resolve(
    strategy: Strategy,
    base: &str,
    principal: &Principal,
    name: &str,
    shared: bool,
) -> ScopeResult<Namespace> {
    check_collection_name(name)?;
    let database = if shared { base.to_string() } else { database(strategy, base, principal)? };
    Ok(Namespace { database, collection: name.to_string() })
}

/// The database `principal`'s calls go to, or why they may not go anywhere.
pub fn database(strategy: Strategy, base: &str, principal: &Principal) -> ScopeResult<String> {
    let database = match (strategy, principal) {
        (Strategy::Field, _) => base.to_string(),
        (Strategy::Database, Principal::Tenant(t)) => {
            let name = tenant_database(base, t);
            if name.len() > MAX_DATABASE_BYTES {
                return Err(ScopeError::invalid(format!(
                    "tenant id {t:?} gives the database name '{name}', {} bytes long; MongoDB allows {MAX_DATABASE_BYTES}",
                    name.len()
                )));
            }
            name
        }
        (Strategy::Database, Principal::Tenants(_)) => {
            return Err(ScopeError::violation(
                "runAsTenants reads no tenant collection under strategy 'database': each tenant's documents live in a database of its own; read each tenant inside fence.runAs",
            ))
        }
        (Strategy::Database, Principal::System) => {
            return Err(ScopeError::missing(
                "runAsSystem gives no cross-database access under strategy 'database': use runAs(tenantId) for each tenant",
            ))
        }
    };
    Ok(database)
}

/// Joins a base database name and an escaped tenant id. Reserved: a base may not hold it
/// (`check_base`), and the escape never writes it, so the first one splits any tenant
/// database name back into its base and tenant, and no database of the app's own can be one.
pub const SEPARATOR: char = '~';

/// The longest database name MongoDB accepts, in bytes.
const MAX_DATABASE_BYTES: usize = 63;

/// The database holding tenant `tenant`'s collections under strategy 'database':
/// `<base>~<escaped tenant>` (see `escape_tenant`).
pub fn tenant_database(base: &str, tenant: &str) -> String {
    let mut out = String::with_capacity(base.len() + 1 + tenant.len() * 2);
    out.push_str(base);
    out.push(SEPARATOR);
    escape_tenant(tenant, &mut out);
    out
}

/// Writes `tenant` so that two ids never give names MongoDB would take for one database:
/// database names compare case-insensitively, so the result holds no capital letter.
/// `a-z`, `0-9` and `_` stay; `A-Z` become `-` and the small letter; `-` becomes `--`;
/// any other character becomes `-` and its code point as six hex digits (first one 0 or 1,
/// so it never reads as a letter). Each escape starts with `-` and is decoded by the
/// character after it, so the escape is one-to-one.
pub fn escape_tenant(tenant: &str, out: &mut String) {
    for c in tenant.chars() {
        match c {
            'a'..='z' | '0'..='9' | '_' => out.push(c),
            'A'..='Z' => {
                out.push('-');
                out.push(c.to_ascii_lowercase());
            }
            '-' => out.push_str("--"),
            other => out.push_str(&format!("-{:06x}", other as u32)),
        }
    }
}

/// Refuses a base database name holding the separator, under either strategy: names with it
/// are tenant databases (a 'field' fence on `app~acme` would be tenant acme's database).
pub fn check_base(base: &str) -> ScopeResult<()> {
    if base.contains(SEPARATOR) {
        return Err(ScopeError::argument(format!(
            "options.database must not contain '{SEPARATOR}': it separates the base from the tenant in tenant database names"
        )));
    }
    Ok(())
}

/// Refuses collection names that are empty, hold NUL or `$`, or name a system collection.
fn check_collection_name(name: &str) -> ScopeResult<()> {
    if name.is_empty() || name.contains('\0') || name.starts_with("system.") || name.contains('$') {
        return Err(ScopeError::argument(format!("collection name {name:?} is not valid")));
    }
    Ok(())
}

/// A view under a tenant of strategy 'field' is refused: the server runs the view's own
/// pipeline (its joins included) before the fence's tenant match, on every tenant's documents
/// (red-team round 10: a `findOne({_id})` on a join view returned another tenant's record).
pub fn check_view(
    principal: &Principal,
    strategy: Strategy,
    name: &str,
    is_view: bool,
    shared: bool,
) -> ScopeResult<()> {
    // A shared view's pipeline could read the base database's tenant collections too.
    let unscoped_run = strategy == Strategy::Field || shared;
    if is_view && unscoped_run && !matches!(principal, Principal::System) {
        return Err(ScopeError::violation(format!(
            "'{name}' is a view: its pipeline would run on every tenant's documents before the fence's tenant match; query the collections it reads (runAsSystem may read it)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str) -> Principal {
        Principal::Tenant(id.into())
    }

    #[test]
    fn a_view_is_refused_to_a_tenant_of_the_field_strategy_only() {
        assert!(check_view(&t("a"), Strategy::Field, "v", true, false).is_err());
        assert!(check_view(&t("a"), Strategy::Field, "c", false, false).is_ok());
        assert!(check_view(&Principal::System, Strategy::Field, "v", true, false).is_ok());
        assert!(check_view(&t("a"), Strategy::Database, "v", true, false).is_ok());
    }

    #[test]
    fn a_shared_collection_lives_in_the_base_database() {
        for strategy in [Strategy::Field, Strategy::Database] {
            for p in [t("a"), t("b"), Principal::System] {
                let ns = resolve(strategy, "app", &p, "plans", true).unwrap();
                assert_eq!(ns.database, "app", "{strategy:?} {p:?}");
            }
        }
        // A shared view could read tenant collections of the base database: refused to tenants.
        assert!(check_view(&t("a"), Strategy::Database, "v", true, true).is_err());
        assert!(check_view(&Principal::System, Strategy::Database, "v", true, true).is_ok());
    }

    #[test]
    fn field_strategy_shares_the_base_database() {
        for p in [t("a"), t("b"), Principal::System] {
            let ns = resolve(Strategy::Field, "app", &p, "notes", false).unwrap();
            assert_eq!(ns, Namespace { database: "app".into(), collection: "notes".into() });
        }
    }

    #[test]
    fn database_strategy_gives_each_tenant_its_own_database() {
        let a = resolve(Strategy::Database, "app", &t("a"), "notes", false).unwrap();
        let b = resolve(Strategy::Database, "app", &t("b"), "notes", false).unwrap();
        assert_eq!(a.database, "app~a");
        assert_eq!(b.database, "app~b");
        assert_ne!(a, b);
    }

    #[test]
    fn system_has_no_namespace_under_database_strategy() {
        let e = resolve(Strategy::Database, "app", &Principal::System, "notes", false).unwrap_err();
        assert_eq!(e.kind, super::super::ErrorKind::TenantMissing);
    }

    #[test]
    fn bad_collection_names_are_refused() {
        for name in ["", "a\0b", "system.users", "a$b", "$cmd"] {
            let e = resolve(Strategy::Field, "app", &t("a"), name, false).unwrap_err();
            assert_eq!(e.kind, super::super::ErrorKind::InvalidArgument, "{name:?}");
        }
        assert!(resolve(Strategy::Field, "app", &t("a"), "system", false).is_ok());
    }

    #[test]
    fn tenant_database_names_never_meet() {
        // The collisions of `<base>_<tenant>`: the app's own database, two base/tenant pairs,
        // and ids that differ only in case (MongoDB refuses the second one's database).
        let table = [
            (("app", "billing"), "app~billing"),
            (("app", "eu_x"), "app~eu_x"),
            (("app_eu", "x"), "app_eu~x"),
            (("app", "acme"), "app~acme"),
            (("app", "ACME"), "app~-a-c-m-e"),
            (("app", "Acme"), "app~-acme"),
            (("app", "a-b"), "app~a--b"),
            (("app", "a-B"), "app~a---b"),
            (("app", "é"), "app~-0000e9"),
        ];
        let mut seen = std::collections::HashSet::new();
        for ((base, tenant), want) in table {
            let name = tenant_database(base, tenant);
            assert_eq!(name, want);
            assert!(seen.insert(name.to_lowercase()), "{name} collides case-insensitively");
            assert_eq!(
                name,
                name.split_once(SEPARATOR).map(|(b, _)| b).unwrap().to_string()
                    + &name[base.len()..]
            );
        }
    }

    #[test]
    fn the_escape_is_one_to_one_over_every_short_id() {
        // Every id of up to 3 characters from an alphabet holding each escape case.
        let alphabet = ['a', 'z', 'A', 'Z', '0', '_', '-', 'é', '\u{1F600}'];
        let mut ids = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> =
                ids.iter().flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}"))).collect();
            ids.extend(longer);
        }
        ids.sort();
        ids.dedup();
        let mut names = std::collections::HashMap::new();
        for id in &ids {
            let name = tenant_database("app", id).to_lowercase();
            if let Some(other) = names.insert(name.clone(), id.clone()) {
                panic!("{id:?} and {other:?} both give {name}");
            }
        }
    }

    #[test]
    fn a_base_holding_the_separator_is_refused() {
        assert!(check_base("app~x").is_err());
        // A 'field' fence on a tenant's database would read it as its own.
        assert!(check_base("app~x").is_err());
        assert!(check_base("app_eu").is_ok());
    }

    #[test]
    fn a_database_name_past_mongodbs_limit_is_a_clear_refusal() {
        let long = "A".repeat(40);
        let e = resolve(Strategy::Database, "app", &t(&long), "notes", false).unwrap_err();
        assert_eq!(e.kind, super::super::ErrorKind::TenantInvalid);
        assert!(e.message.contains("MongoDB allows 63"));
    }
}
