//! Chat filters (`filters.json`): one set per streamer, shared by the dashboard and the overlays.
//! Filters hide; they never delete — a blocked user's lines stay in the transcript.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::atomic::{read_json_or_default, write_json};

/// Most blocked users.
pub const MAX_BLOCKED_USERS: usize = 1000;
/// Most bot names.
pub const MAX_BOTS: usize = 200;
/// Most highlight words.
pub const MAX_HIGHLIGHT_WORDS: usize = 200;
/// Longest entry of any list, in characters.
pub const MAX_ENTRY_CHARS: usize = 64;

/// The bot accounts a new streamer's list starts with (editable).
pub const WELL_KNOWN_BOTS: &[&str] = &[
    "Nightbot",
    "StreamElements",
    "Streamlabs",
    "Moobot",
    "Fossabot",
    "Sery_Bot",
    "BotRixOficial",
    "WizeBot",
    "Botisimo",
    "Kickbot",
];

/// One streamer's filters, as `GET`/`PUT /api/filters` carry them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Filters {
    /// Users whose lines are dimmed on the dashboard and hidden on overlays.
    pub blocked_users: Vec<String>,
    /// Bot accounts, hidden on overlays with `hideBots` (the default) and dimmed on the dashboard.
    pub bots: Vec<String>,
    /// Hide `!commands` on overlays (an overlay's `hideCommands` parameter overrides it).
    pub hide_commands: bool,
    /// Words that highlight a line (case-insensitive substring of the text).
    pub highlight_words: Vec<String>,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            blocked_users: Vec::new(),
            bots: WELL_KNOWN_BOTS.iter().map(|s| s.to_string()).collect(),
            hide_commands: true,
            highlight_words: Vec::new(),
        }
    }
}

/// Why filters were refused: a sentence for the streamer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidFilters(pub String);

/// Trims every entry, refuses empty, long or control-character entries, removes case-insensitive
/// duplicates (the first spelling wins) and bounds the list.
fn clean_list(field: &str, list: Vec<String>, max: usize) -> Result<Vec<String>, InvalidFilters> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(list.len().min(max));
    for raw in list {
        let entry = raw.trim();
        if entry.is_empty() {
            return Err(InvalidFilters(format!(
                "`{field}` has an empty entry; remove it."
            )));
        }
        if entry.chars().count() > MAX_ENTRY_CHARS {
            return Err(InvalidFilters(format!(
                "`{field}` has an entry longer than {MAX_ENTRY_CHARS} characters."
            )));
        }
        if entry.chars().any(char::is_control) {
            return Err(InvalidFilters(format!(
                "`{field}` has an entry with a control character."
            )));
        }
        if seen.insert(entry.to_lowercase()) {
            out.push(entry.to_owned());
        }
    }
    if out.len() > max {
        return Err(InvalidFilters(format!(
            "`{field}` has {} entries; at most {max} are kept.",
            out.len()
        )));
    }
    Ok(out)
}

impl Filters {
    /// The normalised form of filters a streamer sent, or why they are refused.
    pub fn normalised(self) -> Result<Filters, InvalidFilters> {
        Ok(Filters {
            blocked_users: clean_list("blockedUsers", self.blocked_users, MAX_BLOCKED_USERS)?,
            bots: clean_list("bots", self.bots, MAX_BOTS)?,
            hide_commands: self.hide_commands,
            highlight_words: clean_list(
                "highlightWords",
                self.highlight_words,
                MAX_HIGHLIGHT_WORDS,
            )?,
        })
    }
}

/// Every streamer's filters, in memory and in `filters.json`.
pub struct FilterStore {
    path: PathBuf,
    by_streamer: Mutex<HashMap<Uuid, Filters>>,
}

impl FilterStore {
    /// Loads `path` (absent: every streamer has the defaults).
    pub fn load(path: &Path) -> io::Result<FilterStore> {
        let by_streamer = read_json_or_default(path, "a map of filters")?;
        Ok(FilterStore {
            path: path.to_owned(),
            by_streamer: Mutex::new(by_streamer),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Filters>> {
        self.by_streamer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A streamer's filters (the defaults until they save their own).
    pub fn get(&self, streamer: Uuid) -> Filters {
        self.lock().get(&streamer).cloned().unwrap_or_default()
    }

    /// Replaces a streamer's filters with already [`Filters::normalised`] ones (persisted before
    /// they are visible).
    pub fn put(&self, streamer: Uuid, filters: Filters) -> io::Result<()> {
        let mut map = self.lock();
        let mut next = map.clone();
        next.insert(streamer, filters);
        write_json(&self.path, &next)?;
        *map = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(blocked: &[&str]) -> Filters {
        Filters {
            blocked_users: blocked.iter().map(|s| s.to_string()).collect(),
            ..Filters::default()
        }
    }

    #[test]
    fn entries_are_trimmed_and_deduplicated_case_insensitively() {
        let f = filters(&[" Troll ", "troll", "TROLL", "other"])
            .normalised()
            .unwrap();
        assert_eq!(f.blocked_users, vec!["Troll", "other"]);
    }

    #[test]
    fn bad_entries_and_long_lists_are_refused_with_a_sentence() {
        let e = filters(&["  "]).normalised().unwrap_err();
        assert!(e.0.contains("blockedUsers") && e.0.contains("empty"), "{e}");
        let long = "x".repeat(MAX_ENTRY_CHARS + 1);
        assert!(filters(&[&long]).normalised().unwrap_err().0.contains("64"));
        assert!(filters(&["a\u{7}b"])
            .normalised()
            .unwrap_err()
            .0
            .contains("control"));
        let many: Vec<String> = (0..=MAX_BLOCKED_USERS).map(|i| format!("u{i}")).collect();
        let e = Filters {
            blocked_users: many,
            ..Filters::default()
        }
        .normalised()
        .unwrap_err();
        assert!(e.0.contains("1001 entries"), "{e}");
        // Exactly the limit is fine, and so is a 64-character name.
        let limit: Vec<String> = (0..MAX_BLOCKED_USERS).map(|i| format!("u{i}")).collect();
        let mut f = Filters {
            blocked_users: limit,
            ..Filters::default()
        };
        f.bots.push("é".repeat(MAX_ENTRY_CHARS));
        f.normalised().unwrap();
    }

    #[test]
    fn filters_start_with_the_defaults_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("filters.json");
        let store = FilterStore::load(&path).unwrap();
        let me = Uuid::new_v4();
        let d = store.get(me);
        assert!(d.hide_commands);
        assert!(d.bots.iter().any(|b| b == "Nightbot"));
        store.put(me, filters(&["troll"])).unwrap();
        let again = FilterStore::load(&path).unwrap();
        assert_eq!(again.get(me).blocked_users, vec!["troll"]);
        assert_eq!(again.get(Uuid::new_v4()), Filters::default());
    }
}
