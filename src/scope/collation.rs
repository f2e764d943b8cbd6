//! Collations decide when two strings compare equal. A tenant match is an
//! equality on a string, so a collation that ignores case (`strength` 1 or 2),
//! punctuation (`alternate: "shifted"`) or digit runs (`numericOrdering`) could
//! make `{tenantId: "acme"}` also match "ACME", "ac-me" or "007" vs "7".
//! Here we decide, conservatively, whether a collation could do that.

use bson::{Bson, Document};

use super::error::{ScopeError, ScopeResult};
use super::facts::Known;
use super::namespace::check_view;
use super::{Scope, Strategy};

/// Every option MongoDB reports for a collation; anything else is treated as unknown.
const KNOWN_KEYS: &[&str] = &[
    "locale",
    "caseLevel",
    "caseFirst",
    "strength",
    "numericOrdering",
    "alternate",
    "maxVariable",
    "normalization",
    "backwards",
    "version",
];

/// True for `{locale: "simple"}` with no option that could widen equality.
pub fn is_simple(c: &Document) -> bool {
    matches!(c.get("locale"), Some(Bson::String(l)) if l == "simple") && !may_equate_ids(c, false)
}

/// `{locale: 'simple'}`: binary comparison, the only collation that never equates two ids.
pub fn simple() -> Document {
    bson::doc! { "locale": "simple" }
}

/// How one call's collation keeps its tenant match exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handling {
    /// The tenant match gets its collation-proof `$regex` twin (`Scope::collation_guard`).
    pub twin: bool,
    /// The call is sent with the simple collation (`simple()`), so a default collation the
    /// collection gains behind the fence's back is never used.
    pub pin_simple: bool,
}

/// The facts of a collection as `listCollections` describes it (`default`: its default
/// collation, if any) and as `facts::sharded` judged it.
pub fn known(default: Option<&Document>, view: bool, sharded: bool) -> Known {
    Known { non_simple: default.is_some_and(|c| !is_simple(c)), view, sharded }
}

/// True when a call of `scope` needs the collection's facts (`facts::Known`) to be planned:
/// only a tenant's call under strategy 'field' shares a collection with other tenants, and a
/// tenant's call on a shared collection must learn whether it is a view.
pub fn needs_facts(scope: &Scope) -> bool {
    scope.owners().is_some() && (scope.strategy == Strategy::Field || scope.shared.main)
}

/// The collation handling of a call on collection `name` with the caller's `explicit`
/// collation, given its facts; a view is refused here (`namespace::check_view`).
pub fn decide(
    scope: &Scope,
    name: &str,
    explicit: Option<&Document>,
    known: Known,
) -> ScopeResult<Handling> {
    if !needs_facts(scope) {
        return Ok(Handling { twin: false, pin_simple: false });
    }
    check_view(&scope.principal, scope.strategy, name, known.view, scope.shared.has(name))?;
    if scope.shared.main {
        // No tenant match to keep exact: the collection's own collation applies as it would.
        return Ok(Handling { twin: false, pin_simple: false });
    }
    Ok(match explicit {
        Some(c) => Handling { twin: !is_simple(c), pin_simple: false },
        None if known.non_simple => Handling { twin: true, pin_simple: false },
        None => Handling { twin: false, pin_simple: true },
    })
}

/// Reads an integer option; `None` for any other BSON type.
fn int_value(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        _ => None,
    }
}

/// True if this collation could make two distinct tenant ids compare equal.
/// Malformed or unknown options count as "could": we only trust what we understand.
pub fn may_equate_ids(c: &Document, default_rule: bool) -> bool {
    for (key, value) in c {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            return true;
        }
        let widens = match key.as_str() {
            "locale" => match value {
                Bson::String(l) if l == "simple" => false,
                // Any real locale folds canonically equivalent Unicode (and may tailor
                // non-ASCII letters); only plain ASCII ids stay distinct at strength >= 3.
                // ICU keywords after '@' (`@collation=search`, `@colStrength=...`) can
                // change equality in ways we do not model: treat them as widening.
                Bson::String(l) => l.is_empty() || l.contains('@') || !default_rule,
                _ => true,
            },
            "strength" => !matches!(int_value(value), Some(3..=5)),
            "alternate" => !matches!(value, Bson::String(s) if s == "non-ignorable"),
            "numericOrdering" => !matches!(value, Bson::Boolean(false)),
            "maxVariable" => !matches!(value, Bson::String(s) if s == "punct" || s == "space"),
            "caseFirst" => {
                !matches!(value, Bson::String(s) if s == "upper" || s == "lower" || s == "off")
            }
            // These only reorder or add distinctions; they never merge distinct strings.
            "caseLevel" | "normalization" | "backwards" => !matches!(value, Bson::Boolean(_)),
            "version" => !matches!(value, Bson::String(_)),
            _ => true,
        };
        if widens {
            return true;
        }
    }
    // An absent strength is ICU's default, 3 (tertiary: case and accents distinct).
    // MongoDB requires a locale; a collation without one is malformed.
    !c.contains_key("locale")
}

/// Refuses an index collation that could equate two tenant ids.
pub fn check_index_collation(c: &Document, default_rule: bool) -> ScopeResult<()> {
    if may_equate_ids(c, default_rule) {
        return Err(ScopeError::violation(format!(
            "index collation {c} could make two tenant ids compare equal; \
             use strength 3 or more, alternate 'non-ignorable' and numericOrdering false"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ErrorKind;
    use bson::doc;

    #[test]
    fn a_default_collation_counts_unless_it_is_the_simple_one() {
        let en = bson::doc! { "locale": "en" };
        let simple = super::simple();
        assert!(known(Some(&en), false, false).non_simple);
        assert!(!known(Some(&simple), false, false).non_simple);
        assert!(!known(None, false, false).non_simple);
        assert_eq!(known(None, true, true), Known { non_simple: false, view: true, sharded: true });
    }

    #[test]
    fn decide_pins_twins_or_refuses() {
        use crate::scope::{Principal, Strategy};
        let tenant = Scope::for_test(Principal::Tenant("a".into()), Strategy::Field);
        let system = Scope::for_test(Principal::System, Strategy::Field);
        let per_db = Scope::for_test(Principal::Tenant("a".into()), Strategy::Database);
        let ci = doc! { "locale": "en", "strength": 2 };
        let plain = Known::default();
        let collated = Known { non_simple: true, ..Known::default() };
        let view = Known { view: true, ..Known::default() };
        let h = |twin, pin_simple| Ok(Handling { twin, pin_simple });
        let cases: Vec<(&Scope, Option<&Document>, Known, ScopeResult<Handling>)> = vec![
            (&tenant, None, plain, h(false, true)),
            (&tenant, None, collated, h(true, false)),
            (&tenant, Some(&ci), plain, h(true, false)),
            (&tenant, Some(&ci), collated, h(true, false)),
            (&system, None, collated, h(false, false)),
            (&system, None, view, h(false, false)),
            (&per_db, Some(&ci), view, h(false, false)),
        ];
        for (i, (scope, explicit, known, want)) in cases.into_iter().enumerate() {
            assert_eq!(decide(scope, "c", explicit, known), want, "case {i}");
        }
        let simple = super::simple();
        assert_eq!(decide(&tenant, "c", Some(&simple), collated), h(false, false));
        let e = decide(&tenant, "v", None, view).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TenantViolation);
        assert!(needs_facts(&tenant) && !needs_facts(&system) && !needs_facts(&per_db));
    }

    #[test]
    fn simple() {
        assert!(is_simple(&doc! { "locale": "simple" }));
        assert!(is_simple(&doc! { "locale": "simple", "strength": 3 }));
        assert!(!is_simple(&doc! { "locale": "simple", "strength": 1 }));
        assert!(!is_simple(&doc! { "locale": "simple", "alternate": "shifted" }));
        assert!(!is_simple(&doc! { "locale": "en" }));
        assert!(!is_simple(&doc! { "locale": "Simple" }));
        assert!(!is_simple(&doc! {}));
        assert!(!is_simple(&doc! { "locale": 1 }));
        assert!(!is_simple(&doc! { "locale": "simple", "bogus": true }));
    }

    #[test]
    fn widening_collations() {
        let widening = [
            doc! { "locale": "en", "strength": 1 },
            doc! { "locale": "en", "strength": 2 },
            doc! { "locale": "en", "strength": 2i64 },
            doc! { "locale": "en", "strength": 3.0 },
            doc! { "locale": "en", "strength": "3" },
            doc! { "locale": "en", "strength": 0 },
            doc! { "locale": "en", "strength": 6 },
            doc! { "locale": "en", "alternate": "shifted" },
            doc! { "locale": "en", "alternate": 1 },
            doc! { "locale": "en", "numericOrdering": true },
            doc! { "locale": "en", "numericOrdering": "false" },
            doc! { "locale": "en", "caseLevel": "yes" },
            doc! { "locale": "en", "maxVariable": "everything" },
            doc! { "locale": "en", "caseFirst": 3 },
            doc! { "locale": "en", "bogus": 1 },
            doc! { "locale": "" },
            doc! { "locale": "es@collation=search" },
            doc! { "locale": "en@colStrength=primary", "strength": 3 },
            doc! { "locale": Bson::Null },
            doc! { "strength": 3 },
            doc! {},
        ];
        for c in widening {
            assert!(may_equate_ids(&c, true), "{c}");
            assert!(may_equate_ids(&c, false), "{c}");
            let err = check_index_collation(&c, true).unwrap_err();
            assert_eq!(err.kind, ErrorKind::TenantViolation);
        }
    }

    #[test]
    fn safe_collations() {
        let safe = [
            doc! { "locale": "simple" },
            doc! { "locale": "en" },
            doc! { "locale": "en", "strength": 3 },
            doc! { "locale": "fr", "strength": 4, "backwards": true },
            doc! { "locale": "en", "strength": 5i64, "caseLevel": true, "caseFirst": "upper" },
            doc! { "locale": "en", "alternate": "non-ignorable", "maxVariable": "punct", "numericOrdering": false },
            // What listCollections reports for a default collation.
            doc! { "locale": "en", "caseLevel": false, "caseFirst": "off", "strength": 3,
            "numericOrdering": false, "alternate": "non-ignorable", "maxVariable": "punct",
            "normalization": false, "backwards": false, "version": "57.1" },
        ];
        for c in safe {
            assert!(!may_equate_ids(&c, true), "{c}");
            check_index_collation(&c, true).unwrap();
        }
    }

    #[test]
    fn non_simple_locale_with_unicode_ids() {
        assert!(may_equate_ids(&doc! { "locale": "en" }, false));
        assert!(may_equate_ids(&doc! { "locale": "en", "strength": 5 }, false));
        assert!(!may_equate_ids(&doc! { "locale": "simple" }, false));
        assert!(check_index_collation(&doc! { "locale": "de" }, false).is_err());
    }
}
