//! Collations decide when two strings compare equal. A tenant match is an
//! equality on a string, so a collation that ignores case (`strength` 1 or 2),
//! punctuation (`alternate: "shifted"`) or digit runs (`numericOrdering`) could
//! make `{tenantId: "acme"}` also match "ACME", "ac-me" or "007" vs "7".
//! Here we decide, conservatively, whether a collation could do that.

use bson::{Bson, Document};

use super::error::{ScopeError, ScopeResult};

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
pub fn may_equate_ids(c: &Document, ids_plain_ascii: bool) -> bool {
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
                Bson::String(l) => l.is_empty() || l.contains('@') || !ids_plain_ascii,
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
pub fn check_index_collation(c: &Document, ids_plain_ascii: bool) -> ScopeResult<()> {
    if may_equate_ids(c, ids_plain_ascii) {
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
