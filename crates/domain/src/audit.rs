//! The tamper-evident audit chain: each entry's hash covers the previous entry's hash, so
//! changing, removing or reordering any entry breaks every hash after it.

use sha2::{Digest, Sha256};

/// The hash the first entry chains from.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields of one audit entry that its hash covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFields<'a> {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: &'a str,
    pub entity: &'a str,
    pub entity_id: &'a str,
    pub action: &'a str,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
}

/// Computes an entry's hash from the previous hash and its own fields. Each field is
/// length-prefixed so that no two different entries serialise to the same bytes.
pub fn chain_hash(previous: &str, entry: &AuditFields<'_>) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    field(previous.as_bytes());
    field(&entry.seq.to_be_bytes());
    field(&entry.at_ms.to_be_bytes());
    field(entry.actor.as_bytes());
    field(entry.entity.as_bytes());
    field(entry.entity_id.as_bytes());
    field(entry.action.as_bytes());
    for optional in [entry.before, entry.after] {
        match optional {
            Some(text) => {
                field(b"some");
                field(text.as_bytes());
            }
            None => field(b"none"),
        }
    }
    hex::encode(hasher.finalize())
}

/// The first entry of a chain that does not verify, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {seq}: its hash does not match its contents (the entry was altered)")]
    Altered { seq: i64 },
    #[error(
        "entry {seq}: it does not chain from the entry before it (an entry was removed or reordered)"
    )]
    Unlinked { seq: i64 },
}

/// One stored entry as read back for verification.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl StoredEntry {
    fn fields(&self) -> AuditFields<'_> {
        AuditFields {
            seq: self.seq,
            at_ms: self.at_ms,
            actor: &self.actor,
            entity: &self.entity,
            entity_id: &self.entity_id,
            action: &self.action,
            before: self.before.as_deref(),
            after: self.after.as_deref(),
        }
    }
}

/// Verifies entries in sequence order, continuing from `previous` (the hash of the entry
/// before the first one given). Returns the last hash so verification can go page by page.
pub fn verify_chain<'a>(
    previous: &str,
    entries: impl IntoIterator<Item = &'a StoredEntry>,
) -> Result<String, ChainBreak> {
    let mut previous = previous.to_owned();
    for entry in entries {
        if entry.prev_hash != previous {
            return Err(ChainBreak::Unlinked { seq: entry.seq });
        }
        if chain_hash(&entry.prev_hash, &entry.fields()) != entry.hash {
            return Err(ChainBreak::Altered { seq: entry.seq });
        }
        previous = entry.hash.clone();
    }
    Ok(previous)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<StoredEntry> {
        let mut previous = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let mut entry = StoredEntry {
                    seq,
                    at_ms: seq * 1000,
                    actor: "user:1".into(),
                    entity: "ticket".into(),
                    entity_id: seq.to_string(),
                    action: "update".into(),
                    before: Some(r#"{"status":"new"}"#.into()),
                    after: Some(r#"{"status":"open"}"#.into()),
                    prev_hash: previous.clone(),
                    hash: String::new(),
                };
                entry.hash = chain_hash(&previous, &entry.fields());
                previous = entry.hash.clone();
                entry
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        let entries = chain(5);
        assert_eq!(
            verify_chain(GENESIS_HASH, &entries).ok(),
            entries.last().map(|e| e.hash.clone())
        );
    }

    #[test]
    fn altered_entry_is_named() {
        let mut entries = chain(5);
        entries[2].after = Some(r#"{"status":"closed"}"#.into());
        assert_eq!(
            verify_chain(GENESIS_HASH, &entries),
            Err(ChainBreak::Altered { seq: 3 })
        );
    }

    #[test]
    fn removed_entry_is_named() {
        let mut entries = chain(5);
        entries.remove(1);
        assert_eq!(
            verify_chain(GENESIS_HASH, &entries),
            Err(ChainBreak::Unlinked { seq: 3 })
        );
    }

    #[test]
    fn field_boundaries_matter() {
        let a = AuditFields {
            seq: 1,
            at_ms: 1,
            actor: "ab",
            entity: "c",
            entity_id: "1",
            action: "x",
            before: None,
            after: None,
        };
        let b = AuditFields {
            actor: "a",
            entity: "bc",
            ..a.clone()
        };
        assert_ne!(chain_hash(GENESIS_HASH, &a), chain_hash(GENESIS_HASH, &b));
    }
}
