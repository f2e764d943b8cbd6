//! Generated `_id`s: the current second, then 8 random bytes, so no tenant can predict another's.

use bson::oid::ObjectId;

/// A new ObjectId whose bytes after the timestamp are random.
pub fn fresh_object_id() -> ObjectId {
    let mut bytes = [0u8; 12];
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    bytes[..4].copy_from_slice(&secs.to_be_bytes());
    if getrandom::getrandom(&mut bytes[4..]).is_err() {
        // No OS randomness (it does not happen on supported platforms): the driver's generator.
        return ObjectId::new();
    }
    ObjectId::from_bytes(bytes)
}
