//! The driver options the fence refuses on purpose, each with the reason the caller reads
//! (docs/options.md lists the same). An option a method does not take and that is not here is
//! a plain `TypeError`: a misspelling, or an option of another method.

use super::error::{ScopeError, ScopeResult};

/// Why option `name` is refused: a `TENANT_VIOLATION` when it would reach outside what the fence
/// scoped, else a `TypeError` naming the reason. `None`: not refused on purpose.
pub fn refusal(name: &str) -> Option<ScopeError> {
    let violation =
        |why: &str| Some(ScopeError::violation(format!("options.{name} is refused: {why}")));
    let argument =
        |why: &str| Some(ScopeError::argument(format!("options.{name} is refused: {why}")));
    match name {
        "dbName" | "authdb" => violation(
            "it would send the command to a database the fence did not choose (the fence picks the tenant's)",
        ),
        "forceServerObjectId" => violation(
            "server-made ObjectIds count up, so one tenant could guess the _ids of another's documents; the fence makes unguessable ones and writes them back into the document, as the driver does",
        ),
        "tailable" | "awaitData" | "maxAwaitTimeMS" | "oplogReplay" => violation(
            "tailable cursors are not scoped by the fence yet",
        ),
        "min" | "max" => violation("index bounds set by hand could reach outside the tenant"),
        "returnKey" => violation("it returns index keys, which may come from entries the fence did not check"),
        "showRecordId" => violation("record ids are the storage engine's, shared by all tenants"),
        "out" => violation("it writes the results to a collection outside the tenant's scope, as $out does"),
        "bucketSize" => argument("geoHaystack indexes were removed in MongoDB 5.0"),
        "encryptedFields" => violation(
            "Queryable Encryption's auxiliary collections are not managed by the fence: drop them as an operator",
        ),
        "collation" => argument(
            "this method takes no collation (the server refuses one on its command); bulkWrite takes one per operation",
        ),
        "sort" => argument(
            "this method takes no sort (find, findOne and findOneAnd* do, and updateOne and replaceOne on MongoDB 8.0)",
        ),
        "noResponse" => argument(
            "a command whose reply is not read could not report a refusal or a server error (the driver deprecates it)",
        ),
        "willRetryWrite" => argument(
            "it is the Node driver's internal flag; the fence's Rust driver retries writes as the connection string says (retryWrites)",
        ),
        _ => None,
    }
}

/// `Err` with the reason when `name` is refused on purpose; `Ok` otherwise.
pub fn check(name: &str) -> ScopeResult<()> {
    match refusal(name) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ErrorKind;

    #[test]
    fn each_refusal_names_its_option_and_why() {
        let table = [
            ("dbName", ErrorKind::TenantViolation),
            ("authdb", ErrorKind::TenantViolation),
            ("forceServerObjectId", ErrorKind::TenantViolation),
            ("tailable", ErrorKind::TenantViolation),
            ("awaitData", ErrorKind::TenantViolation),
            ("maxAwaitTimeMS", ErrorKind::TenantViolation),
            ("oplogReplay", ErrorKind::TenantViolation),
            ("min", ErrorKind::TenantViolation),
            ("max", ErrorKind::TenantViolation),
            ("returnKey", ErrorKind::TenantViolation),
            ("showRecordId", ErrorKind::TenantViolation),
            ("out", ErrorKind::TenantViolation),
            ("encryptedFields", ErrorKind::TenantViolation),
            ("bucketSize", ErrorKind::InvalidArgument),
            ("noResponse", ErrorKind::InvalidArgument),
            ("willRetryWrite", ErrorKind::InvalidArgument),
            ("collation", ErrorKind::InvalidArgument),
            ("sort", ErrorKind::InvalidArgument),
        ];
        for (name, kind) in table {
            let e = refusal(name).unwrap_or_else(|| panic!("{name} is refused"));
            assert_eq!(e.kind, kind, "{name}");
            assert!(
                e.message.starts_with(&format!("options.{name} is refused: ")),
                "{}",
                e.message
            );
        }
        for name in ["limit", "uniqe", "", "raw", "projection"] {
            assert!(refusal(name).is_none(), "{name}");
            assert!(check(name).is_ok());
        }
    }
}
