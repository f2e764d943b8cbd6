//! Tenant id rules. `check_hard` holds whatever pattern the app configures,
//! because these characters would let an id act as an operator (`$`), a path
//! (`.`), a database-name separator (`/`, `\`, space, `"`, NUL under
//! `strategy: 'database'`) or smuggle invisible differences (control chars).

use super::error::{ScopeError, ScopeResult};

/// Characters no tenant id may ever hold.
pub const FORBIDDEN: &[char] = &['$', '.', '/', '\\', ' ', '"', '\0'];

/// Longest id in bytes: MongoDB database names stop at 64 bytes, but under
/// `strategy: 'field'` a custom pattern may allow longer ids; 128 keeps index keys small.
const MAX_BYTES: usize = 128;

/// Longest id under the default rule, in characters.
const DEFAULT_MAX_CHARS: usize = 64;

/// Rules that hold whatever the app's tenant id pattern is.
pub fn check_hard(id: &str) -> ScopeResult<()> {
    if id.is_empty() {
        return Err(ScopeError::invalid("tenant id must not be empty"));
    }
    if id.len() > MAX_BYTES {
        return Err(ScopeError::invalid(format!(
            "tenant id is {} bytes long; at most {MAX_BYTES} are allowed",
            id.len()
        )));
    }
    if let Some(c) = id.chars().find(|c| FORBIDDEN.contains(c)) {
        let shown = if c == '\0' { "NUL".to_string() } else { format!("'{c}'") };
        return Err(ScopeError::invalid(format!("tenant id must not contain {shown}")));
    }
    if let Some(c) = id.chars().find(|c| c.is_control()) {
        return Err(ScopeError::invalid(format!(
            "tenant id must not contain control characters (found U+{:04X})",
            c as u32
        )));
    }
    Ok(())
}

/// The default rule: 1 to 64 characters of `[A-Za-z0-9_-]`.
pub fn check_default(id: &str) -> ScopeResult<()> {
    check_hard(id)?;
    if !is_plain_ascii(id) {
        return Err(ScopeError::invalid(
            "tenant id may only contain letters A-Z a-z, digits, '_' and '-'",
        ));
    }
    // Plain ASCII: bytes == chars.
    if id.len() > DEFAULT_MAX_CHARS {
        return Err(ScopeError::invalid(format!(
            "tenant id is {} characters long; at most {DEFAULT_MAX_CHARS} are allowed",
            id.len()
        )));
    }
    Ok(())
}

/// Checks an id by the fence's rule: the default one, or only the hard rules when the app
/// configured its own pattern (which JS, owning the RegExp, checks).
pub fn check(id: &str, default_rule: bool) -> ScopeResult<()> {
    if default_rule {
        check_default(id)
    } else {
        check_hard(id)
    }
}

/// Escapes regex metacharacters so the id matches only itself.
pub fn escape_regex(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 8);
    for c in id.chars() {
        // PCRE treats a backslash before any ASCII non-alphanumeric as that literal
        // character; '_' and '-' are already literal outside a class, keep them readable.
        if c.is_ascii_punctuation() && c != '_' && c != '-' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `^<id>\z`: a regex matching the id exactly (`\z`, not `$`, so "acme\n" does not match).
/// Regexes ignore collation, which is what the collation-proof tenant matches rely on.
pub fn exact_pattern(id: &str) -> String {
    format!("^{}\\z", escape_regex(id))
}

/// True when the id holds only `[A-Za-z0-9_-]` (empty counts as plain).
pub fn is_plain_ascii(id: &str) -> bool {
    id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ErrorKind;

    #[test]
    fn hard_rule_refuses_hostile_ids() {
        let long = "a".repeat(129);
        let bad: &[(&str, &str)] = &[
            ("", "empty"),
            (&long, "bytes"),
            ("a$b", "'$'"),
            ("$where", "'$'"),
            ("a.b", "'.'"),
            ("a/b", "'/'"),
            ("a\\b", "'\\'"),
            ("a b", "' '"),
            ("a\"b", "'\"'"),
            ("a\0b", "NUL"),
            ("a\nb", "control"),
            ("acme\n", "control"),
            ("a\tb", "control"),
            ("a\u{7f}b", "control"),
            ("a\u{85}b", "control"),
        ];
        for (id, needle) in bad {
            let err = check_hard(id).unwrap_err();
            assert_eq!(err.kind, ErrorKind::TenantInvalid, "{id:?}");
            assert!(err.message.contains(needle), "{id:?}: {}", err.message);
            assert!(check_default(id).is_err(), "{id:?}");
        }
    }

    #[test]
    fn hard_rule_accepts_custom_ids() {
        for id in ["acme", "ÄCME", "a:b", "a@b", "a+b", "租户", &"a".repeat(128), &"é".repeat(64)]
        {
            check_hard(id).unwrap();
        }
        // 65 two-byte chars = 130 bytes.
        assert!(check_hard(&"é".repeat(65)).is_err());
    }

    #[test]
    fn default_rule() {
        for id in ["a", "acme", "Acme_Corp-1", "0", "-", "_", &"z".repeat(64)] {
            check_default(id).unwrap();
        }
        let long = "z".repeat(65);
        for id in ["", "a:b", "a@b", "é", "a+b", "租户", &long, "a b", "a.b"] {
            let err = check_default(id).unwrap_err();
            assert_eq!(err.kind, ErrorKind::TenantInvalid, "{id:?}");
        }
    }

    #[test]
    fn plain_ascii() {
        assert!(is_plain_ascii("Acme_Corp-1"));
        assert!(!is_plain_ascii("acmé"));
        assert!(!is_plain_ascii("a b"));
        assert!(!is_plain_ascii("a.b"));
        assert!(!is_plain_ascii("ａ")); // fullwidth
    }
}
