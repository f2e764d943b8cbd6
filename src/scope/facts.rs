//! What the fence knows about a collection, from its metadata: the rules decide from these
//! facts, the binding only looks them up and caches them.

use bson::Document;

use super::collation::is_simple;

/// One collection's metadata as the rules read it (`binding::target` caches it per fence).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Known {
    /// Its default collation is not the simple one.
    pub non_simple: bool,
    /// It is a view.
    pub view: bool,
    /// It is sharded (listed in `config.collections` behind a mongos): a command must then
    /// carry one tenant, so the router can send it to that tenant's shard alone.
    pub sharded: bool,
}

impl Known {
    /// The facts of a collection as `listCollections` describes it (`collation`: its default
    /// collation, if any) and as `sharded` judged it.
    pub fn listed(collation: Option<&Document>, view: bool, sharded: bool) -> Known {
        Known { non_simple: collation.is_some_and(|c| !is_simple(c)), view, sharded }
    }
}

/// Whether a collection counts as sharded: only behind a mongos, from what `config.collections`
/// said (`None`: the router would not say, e.g. no right to read `config`). Unknown counts as
/// sharded, which costs a fast path, never isolation.
pub fn sharded(mongos: bool, listed: Option<bool>) -> bool {
    mongos && listed.unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_collation_counts_unless_it_is_the_simple_one() {
        let en = bson::doc! { "locale": "en" };
        let simple = crate::scope::collation::simple();
        assert!(Known::listed(Some(&en), false, false).non_simple);
        assert!(!Known::listed(Some(&simple), false, false).non_simple);
        assert!(!Known::listed(None, false, false).non_simple);
        assert_eq!(
            Known::listed(None, true, true),
            Known { non_simple: false, view: true, sharded: true }
        );
    }

    #[test]
    fn unknown_counts_as_sharded_behind_a_router_only() {
        let table = [
            (false, None, false),
            (false, Some(true), false),
            (true, Some(false), false),
            (true, Some(true), true),
            (true, None, true),
        ];
        for (mongos, listed, want) in table {
            assert_eq!(sharded(mongos, listed), want, "{mongos} {listed:?}");
        }
    }
}
