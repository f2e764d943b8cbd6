//! Who may use a session: a session (and so every transaction on it) belongs to one
//! principal, the first to use it, for good. A transaction is one tenant's snapshot and one
//! tenant's writes; a call of another tenant (or of `runAsSystem`) joining it would read that
//! snapshot's documents through the other tenant's scope or commit them with its writes.

use super::error::{ScopeError, ScopeResult};
use super::Principal;

/// Admits `caller` to a session owned by `owner`, binding an unowned session to `caller`.
pub fn admit(owner: &mut Option<Principal>, caller: &Principal) -> ScopeResult<()> {
    match owner {
        None => {
            *owner = Some(caller.clone());
            Ok(())
        }
        Some(o) if o == caller => Ok(()),
        // The owner is not named: the message may reach the caller's tenant.
        Some(_) => Err(ScopeError::violation(match caller {
            Principal::Tenant(_) | Principal::Tenants(_) => "this session belongs to another tenant or to runAsSystem: a session and its transactions belong to one tenant, so switching tenant inside a transaction is refused",
            Principal::System => "this session belongs to a tenant: runAsSystem cannot join a tenant's session or transaction",
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::super::error::ErrorKind;
    use super::*;

    fn t(id: &str) -> Principal {
        Principal::Tenant(id.into())
    }

    #[test]
    fn first_use_binds_and_only_the_owner_is_admitted() {
        // (owner before, caller, admitted, owner after)
        let table: Vec<(Option<Principal>, Principal, bool, Option<Principal>)> = vec![
            (None, t("a"), true, Some(t("a"))),
            (None, Principal::System, true, Some(Principal::System)),
            (Some(t("a")), t("a"), true, Some(t("a"))),
            (Some(t("a")), t("b"), false, Some(t("a"))),
            (Some(t("a")), t("A"), false, Some(t("a"))),
            (Some(t("a")), Principal::System, false, Some(t("a"))),
            (Some(Principal::System), t("a"), false, Some(Principal::System)),
            (Some(Principal::System), Principal::System, true, Some(Principal::System)),
        ];
        for (before, caller, ok, after) in table {
            let mut owner = before.clone();
            let r = admit(&mut owner, &caller);
            assert_eq!(r.is_ok(), ok, "{before:?} admits {caller:?}");
            if let Err(e) = r {
                assert_eq!(e.kind, ErrorKind::TenantViolation);
                assert!(e.message.contains("belongs to"), "{}", e.message);
                // Who owns it is not said: the message may reach the caller's tenant.
                assert!(!e.message.contains("\"a\""), "{}", e.message);
            }
            assert_eq!(owner, after, "{before:?} then {caller:?}");
        }
    }
}
