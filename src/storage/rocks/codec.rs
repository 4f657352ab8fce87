//! Byte layouts of the RocksDB column families.
//!
//! | CF | key | value |
//! |---|---|---|
//! | `meta` | name | u64 BE |
//! | `kv` | storage key | [`Record`] (latest version of each live key) |
//! | `hist` | storage key ‖ 0x00 ‖ rev BE | [`Record`] or a tombstone |
//! | `log` | rev BE | [`LogEntry`] |
//! | `ttl` | deadline ms BE ‖ storage key | rev BE of the write that set the deadline |
//!
//! Storage keys never contain 0x00 (they are Kubernetes paths), so `hist` sorts key-major,
//! revision-ascending. Every decoder returns `None` on malformed bytes; the caller turns
//! that into `StoreError::Corrupt` naming the database path.

use bytes::Bytes;

use crate::storage::Revision;

pub const CF_META: &str = "meta";
pub const CF_KV: &str = "kv";
pub const CF_HIST: &str = "hist";
pub const CF_LOG: &str = "log";
pub const CF_TTL: &str = "ttl";
pub const ALL_CFS: [&str; 5] = [CF_META, CF_KV, CF_HIST, CF_LOG, CF_TTL];

pub const META_CURRENT: &[u8] = b"current_rev";
/// Revisions at or below this are not readable (promised before cleanup starts).
pub const META_COMPACT: &[u8] = b"compact_rev";
/// History at or below this has been physically removed.
pub const META_COMPACT_CLEANED: &[u8] = b"compact_cleaned_rev";
pub const META_FORMAT: &[u8] = b"format_version";
pub const FORMAT_VERSION: u64 = 1;

const TAG_LIVE: u8 = 0;
const TAG_TOMBSTONE: u8 = 1;
const HEADER: usize = 1 + 8 * 3;

/// One version of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub create_revision: Revision,
    pub mod_revision: Revision,
    /// Expiry, milliseconds since the Unix epoch; 0 when the key does not expire.
    pub deadline_ms: u64,
    pub value: Bytes,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.value.len());
        out.push(TAG_LIVE);
        out.extend_from_slice(&self.create_revision.to_be_bytes());
        out.extend_from_slice(&self.mod_revision.to_be_bytes());
        out.extend_from_slice(&self.deadline_ms.to_be_bytes());
        out.extend_from_slice(&self.value);
        out
    }

    /// `Some(None)` for a tombstone, `Some(Some(record))` for a value, `None` if malformed.
    pub fn decode(bytes: &[u8]) -> Option<Option<Record>> {
        match *bytes.first()? {
            TAG_TOMBSTONE if bytes.len() == 1 => Some(None),
            TAG_LIVE if bytes.len() >= HEADER => Some(Some(Record {
                create_revision: be_u64(&bytes[1..9])?,
                mod_revision: be_u64(&bytes[9..17])?,
                deadline_ms: be_u64(&bytes[17..25])?,
                value: Bytes::copy_from_slice(&bytes[HEADER..]),
            })),
            _ => None,
        }
    }
}

pub fn tombstone() -> Vec<u8> {
    vec![TAG_TOMBSTONE]
}

/// An entry of the revision log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub delete: bool,
    /// Modification revision of the key before this write (0 for a create).
    pub prev_revision: Revision,
    pub key: String,
}

impl LogEntry {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.key.len());
        out.push(u8::from(self.delete));
        out.extend_from_slice(&self.prev_revision.to_be_bytes());
        out.extend_from_slice(self.key.as_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<LogEntry> {
        if bytes.len() < 9 || bytes[0] > 1 {
            return None;
        }
        Some(LogEntry {
            delete: bytes[0] == 1,
            prev_revision: be_u64(&bytes[1..9])?,
            key: String::from_utf8(bytes[9..].to_vec()).ok()?,
        })
    }
}

pub fn hist_key(key: &str, rev: Revision) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 9);
    out.extend_from_slice(key.as_bytes());
    out.push(0);
    out.extend_from_slice(&rev.to_be_bytes());
    out
}

/// Splits a `hist` key into storage key and revision.
pub fn split_hist_key(bytes: &[u8]) -> Option<(&str, Revision)> {
    if bytes.len() < 10 {
        return None;
    }
    let (key, rest) = bytes.split_at(bytes.len() - 9);
    if rest[0] != 0 {
        return None;
    }
    Some((std::str::from_utf8(key).ok()?, be_u64(&rest[1..])?))
}

pub fn ttl_key(deadline_ms: u64, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&deadline_ms.to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out
}

pub fn split_ttl_key(bytes: &[u8]) -> Option<(u64, &str)> {
    if bytes.len() < 8 {
        return None;
    }
    Some((be_u64(&bytes[..8])?, std::str::from_utf8(&bytes[8..]).ok()?))
}

pub fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let r = Record {
            create_revision: 3,
            mod_revision: 9,
            deadline_ms: 77,
            value: Bytes::from_static(b"{\"a\":1}"),
        };
        assert_eq!(Record::decode(&r.encode()), Some(Some(r)));
        assert_eq!(Record::decode(&tombstone()), Some(None));
        assert_eq!(Record::decode(&[0, 1, 2]), None);
        assert_eq!(Record::decode(&[]), None);
        let e = LogEntry {
            delete: true,
            prev_revision: 4,
            key: "/a/b".into(),
        };
        assert_eq!(LogEntry::decode(&e.encode()), Some(e));
        assert_eq!(LogEntry::decode(&[7; 12]), None);
        assert_eq!(split_hist_key(&hist_key("/a/b", 5)), Some(("/a/b", 5)));
        assert_eq!(split_ttl_key(&ttl_key(10, "/k")), Some((10, "/k")));
    }

    #[test]
    fn hist_keys_sort_key_major_revision_ascending() {
        let mut keys = [
            hist_key("/a/b", 300),
            hist_key("/a/b", 2),
            hist_key("/a/bc", 1),
        ];
        keys.sort();
        assert_eq!(split_hist_key(&keys[0]), Some(("/a/b", 2)));
        assert_eq!(split_hist_key(&keys[1]), Some(("/a/b", 300)));
        assert_eq!(split_hist_key(&keys[2]), Some(("/a/bc", 1)));
    }
}
