//! Server error messages a tenant must not read as they are.

/// MongoDB database names are case-insensitive: creating `app_acme` while `app_ACME` exists
/// fails with this code, and its message names the other tenant's database.
pub const DATABASE_DIFFER_CASE: i32 = 13297;

/// The message to give in place of a server error's own, when that one may name another
/// tenant's data; `None` keeps the server's message.
pub fn replacement(code: i32) -> Option<&'static str> {
    (code == DATABASE_DIFFER_CASE).then_some(
        "a database whose name differs only in case already exists (MongoDB database names are case-insensitive)",
    )
}

/// The message of a tenant's failed index build: the server's own may quote another
/// tenant's document, because the build read every tenant's documents.
pub fn index_build(code: i32) -> String {
    format!(
        "createIndex failed on the server (code {code}); its message is withheld because an index build reads every tenant's documents"
    )
}

/// `message`, or its replacement when the code says it may name another tenant's data.
pub fn message(code: i32, message: &str) -> &str {
    replacement(code).unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_differ_case_names_no_database() {
        let m = message(13297, "db already exists with different case already have: [app_ACME] trying to create [app_acme]");
        assert!(!m.contains("ACME"));
        assert_eq!(message(11000, "E11000 duplicate key"), "E11000 duplicate key");
    }

    #[test]
    fn a_tenant_index_build_says_its_code_and_nothing_of_the_documents() {
        let m = index_build(16755);
        assert!(m.contains("code 16755") && m.contains("withheld"), "{m}");
    }
}
