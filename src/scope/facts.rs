//! What the fence knows about a collection, from its metadata: the rules decide from these
//! facts, the binding only looks them up and caches them.

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
