//! The store boundary both backends enforce before migrating: meshgate
//! adds its tables only to an empty database or to its own, never to
//! another application's (a swarph mesh database included).

use crate::StoreError;

/// What a database holds, judged by its table names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseContents {
    /// No tables yet.
    Empty,
    /// meshgate's (`schema_migrations`, `messages`, `peers`).
    Meshgate,
    /// A swarph mesh database (`claude_messages`, `claude_peers`).
    Swarph,
    /// Another application's; its first table names.
    Foreign(Vec<String>),
}

/// Table names a refusal lists, at most.
const NAMED_TABLES: usize = 6;

/// Classifies a database by its (user) table names.
pub fn classify_tables(tables: &[String]) -> DatabaseContents {
    let has = |name: &str| tables.iter().any(|t| t == name);
    if tables.is_empty() {
        DatabaseContents::Empty
    } else if has("schema_migrations") && has("messages") && has("peers") {
        DatabaseContents::Meshgate
    } else if has("claude_messages") && has("claude_peers") {
        DatabaseContents::Swarph
    } else {
        DatabaseContents::Foreign(tables.iter().take(NAMED_TABLES).cloned().collect())
    }
}

/// The refusal for opening `contents` (of the database called `what`) as a
/// meshgate store; `None` when it may be opened and migrated.
pub fn refuse_foreign(contents: &DatabaseContents, what: &str) -> Option<StoreError> {
    match contents {
        DatabaseContents::Empty | DatabaseContents::Meshgate => None,
        DatabaseContents::Swarph => Some(StoreError::Backend(format!(
            "{what} is a swarph mesh database, not a meshgate one; import it with `meshgate import --from-swarph`"
        ))),
        DatabaseContents::Foreign(tables) => Some(StoreError::Backend(format!(
            "{what} is not a meshgate database (it holds other tables: {}); refusing to add meshgate's tables to it",
            tables.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn tables_tell_meshgate_swarph_and_others_apart() {
        assert_eq!(classify_tables(&[]), DatabaseContents::Empty);
        let ours = names(&["aliases", "messages", "peers", "schema_migrations", "threads"]);
        assert_eq!(classify_tables(&ours), DatabaseContents::Meshgate);
        let swarph = names(&["claude_messages", "claude_peers", "claude_threads", "peer_tokens"]);
        assert_eq!(classify_tables(&swarph), DatabaseContents::Swarph);
        // A Rails app also has schema_migrations: not enough on its own.
        let rails = names(&["ar_internal_metadata", "schema_migrations", "users"]);
        assert!(matches!(classify_tables(&rails), DatabaseContents::Foreign(t) if t.len() == 3));
        assert!(refuse_foreign(&classify_tables(&swarph), "x.db").unwrap().to_string().contains("--from-swarph"));
        assert!(refuse_foreign(&classify_tables(&ours), "x.db").is_none());
    }
}
