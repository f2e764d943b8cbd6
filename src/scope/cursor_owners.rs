//! The isolation probe's view of server cursors: which principal's scoped command
//! opened each one. A `getMore` reads the opener's documents, so it is scoped only when
//! the same principal asks. Fed from command started / succeeded / failed events.

use std::collections::HashMap;

use bson::{Bson, Document};

use super::Principal;

/// Open cursors and in-flight commands followed at most; beyond it getMore goes unjudged.
const TRACKED: usize = 100_000;

/// A command whose reply the recorder waits for.
enum Pending {
    /// A `find` / `aggregate` that may open a cursor for this principal.
    Open(Principal),
    /// A `getMore` on this cursor (a reply with cursor id 0 means it is exhausted).
    More(i64),
}

/// Which principal opened each live server cursor, so a `getMore` is checked against the
/// tenant whose scoped command created the cursor, not just the tenant asking for it.
#[derive(Default)]
pub struct CursorOwners {
    pending: HashMap<i32, Pending>,
    owners: HashMap<i64, Principal>,
    overflowed: bool,
}

impl CursorOwners {
    /// A command started: remembers what it may open or exhaust; for a `getMore`, returns
    /// why it is not scoped when the cursor is not the asking principal's.
    pub fn started(
        &mut self,
        request_id: i32,
        command: &Document,
        principal: Option<&Principal>,
        scoped: bool,
    ) -> Option<String> {
        let name = command.keys().next().map(String::as_str);
        match (name, principal) {
            (Some("find" | "aggregate"), Some(p)) if scoped || *p == Principal::System => {
                if self.pending.len() >= TRACKED {
                    self.overflowed = true;
                } else {
                    self.pending.insert(request_id, Pending::Open(p.clone()));
                }
                None
            }
            (Some("getMore"), _) => {
                let id = command.get_i64("getMore").ok()?;
                if self.pending.len() < TRACKED {
                    self.pending.insert(request_id, Pending::More(id));
                }
                match self.owners.get(&id) {
                    Some(owner) if Some(owner) == principal => None,
                    None if self.overflowed => None,
                    Some(Principal::Tenant(t)) => {
                        Some(format!("getMore on cursor {id}, which tenant '{t}' opened"))
                    }
                    Some(Principal::System) => {
                        Some(format!("getMore on cursor {id}, which runAsSystem opened"))
                    }
                    Some(Principal::Tenants(ids)) => Some(format!(
                        "getMore on cursor {id}, which runAsTenants({}) opened",
                        ids.join(", ")
                    )),
                    None => Some(format!("getMore on cursor {id}, which no scoped command opened")),
                }
            }
            (Some("killCursors"), _) => {
                if let Ok(ids) = command.get_array("cursors") {
                    for id in ids {
                        if let Bson::Int64(id) = id {
                            self.owners.remove(id);
                        }
                    }
                }
                None
            }
            _ => None,
        }
    }

    /// A command failed: nothing it would have opened exists.
    pub fn failed(&mut self, request_id: i32) {
        self.pending.remove(&request_id);
    }

    /// A command succeeded: a cursor it opened now belongs to its principal; one it
    /// exhausted is forgotten.
    pub fn succeeded(&mut self, request_id: i32, reply: &Document) {
        let Some(p) = self.pending.remove(&request_id) else { return };
        let id = reply.get_document("cursor").and_then(|c| c.get_i64("id")).unwrap_or(0);
        match p {
            Pending::Open(owner) if id != 0 => {
                if self.owners.len() >= TRACKED {
                    self.overflowed = true;
                } else {
                    self.owners.insert(id, owner);
                }
            }
            Pending::More(cursor) if id == 0 => {
                self.owners.remove(&cursor);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn a() -> Principal {
        Principal::Tenant("a".into())
    }

    #[test]
    fn a_get_more_is_scoped_only_for_the_principal_whose_scoped_command_opened_the_cursor() {
        let mut c = CursorOwners::default();
        let b = Principal::Tenant("b".into());
        assert_eq!(
            c.started(1, &doc! { "find": "n", "filter": { "tenantId": "a" } }, Some(&a()), true),
            None
        );
        c.succeeded(1, &doc! { "cursor": { "id": 42_i64, "firstBatch": [] }, "ok": 1 });
        assert_eq!(
            c.started(2, &doc! { "getMore": 42_i64, "collection": "n" }, Some(&a()), true),
            None
        );
        let why =
            c.started(3, &doc! { "getMore": 42_i64, "collection": "n" }, Some(&b), true).unwrap();
        assert!(why.contains("tenant 'a' opened"), "{why}");
        assert!(c
            .started(4, &doc! { "getMore": 7_i64, "collection": "n" }, Some(&a()), true)
            .is_some());
        assert!(c.started(5, &doc! { "getMore": 42_i64, "collection": "n" }, None, true).is_some());
        // Exhausted by a getMore: the id is forgotten, so a reuse is not trusted.
        c.succeeded(2, &doc! { "cursor": { "id": 0_i64, "nextBatch": [] }, "ok": 1 });
        assert!(c
            .started(6, &doc! { "getMore": 42_i64, "collection": "n" }, Some(&a()), true)
            .is_some());
    }

    #[test]
    fn unscoped_openers_failures_and_kills_open_nothing() {
        let mut c = CursorOwners::default();
        c.started(1, &doc! { "find": "n", "filter": {} }, Some(&a()), false);
        c.succeeded(1, &doc! { "cursor": { "id": 9_i64, "firstBatch": [] }, "ok": 1 });
        assert!(c
            .started(2, &doc! { "getMore": 9_i64, "collection": "n" }, Some(&a()), true)
            .is_some());
        c.started(3, &doc! { "aggregate": "n", "pipeline": [] }, Some(&a()), true);
        c.failed(3);
        c.succeeded(3, &doc! { "cursor": { "id": 10_i64, "firstBatch": [] }, "ok": 1 });
        assert!(c
            .started(4, &doc! { "getMore": 10_i64, "collection": "n" }, Some(&a()), true)
            .is_some());
        c.started(5, &doc! { "find": "n", "filter": {} }, Some(&Principal::System), false);
        c.succeeded(5, &doc! { "cursor": { "id": 11_i64, "firstBatch": [] }, "ok": 1 });
        assert_eq!(
            c.started(
                6,
                &doc! { "getMore": 11_i64, "collection": "n" },
                Some(&Principal::System),
                true
            ),
            None
        );
        assert!(c
            .started(7, &doc! { "getMore": 11_i64, "collection": "n" }, Some(&a()), true)
            .is_some());
        c.started(8, &doc! { "killCursors": "n", "cursors": [11_i64] }, None, true);
        assert!(c
            .started(
                9,
                &doc! { "getMore": 11_i64, "collection": "n" },
                Some(&Principal::System),
                true
            )
            .is_some());
    }
}
