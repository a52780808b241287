//! meshgate's entries in a host's hook settings file, and the file itself.
//!
//! All three hosts (Claude Code `settings.json`, Codex `hooks.json`, Gemini
//! CLI `settings.json`) nest hooks the same way: `hooks` → event name →
//! array of groups → each group's `hooks` array of handlers. Our handlers
//! are recognised by their command alone (program `meshgate`, then `hooks
//! run`), never by position, so installing replaces exactly ours, and
//! uninstalling removes exactly ours plus the groups, event arrays and
//! `hooks` object that were left empty by that removal.
//!
//! Writing: nothing is written when nothing changes. Otherwise the old
//! file is copied to `FILE.bak-<unix seconds>` (mode kept), and the new
//! content replaces the file atomically (temp file, fsync, rename) with the
//! old file's mode. A symlinked settings file (dotfile managers) is written
//! through to its target. A file that is not a JSON object, or whose
//! `hooks` parts have unexpected types, is refused and left untouched.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use super::json::{set, Json};

/// One handler to install under one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The host's event name (`Stop`, `BeforeAgent`, ...).
    pub event: &'static str,
    /// The handler object (`{"type": "command", "command": ..., ...}`).
    pub handler: Json,
}

/// Whether `command` runs `meshgate hooks run ...` (the program's file
/// name is `meshgate`, quoted or not, with any directory), possibly after
/// `env NAME=VALUE ...` (what `install` writes for a non-default config).
pub fn is_ours(command: &str) -> bool {
    let mut words = shell_words(command);
    if words.first().is_some_and(|w| w.rsplit('/').next() == Some("env")) {
        let assignments = words.iter().skip(1).take_while(|w| w.contains('=')).count();
        words.drain(..=assignments);
    }
    let program = words.first().map(|w| w.rsplit('/').next().unwrap_or(w)).unwrap_or_default();
    program == "meshgate"
        && words.get(1).map(String::as_str) == Some("hooks")
        && words.get(2).map(String::as_str) == Some("run")
}

/// Splits a command line into words: whitespace outside quotes separates,
/// `'...'` is literal, `"..."` and a backslash escape one character.
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                w.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// Single-quotes `word` for `sh` when it needs it.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@=+,".contains(c)) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn handler_is_ours(handler: &Json) -> bool {
    handler.get("command").and_then(Json::as_str).is_some_and(is_ours)
}

/// The `hooks` object's pairs, checked: `Ok(None)` when the file has none.
fn hooks_of<'a>(doc: &'a Json, file: &Path) -> Result<Option<&'a Vec<(String, Json)>>> {
    let Json::Object(top) = doc else {
        return Err(anyhow!("{} holds {}, not a JSON object; nothing was changed", file.display(), doc.kind()));
    };
    match top.iter().find(|(k, _)| k == "hooks").map(|(_, v)| v) {
        None => Ok(None),
        Some(Json::Object(hooks)) => Ok(Some(hooks)),
        Some(other) => {
            Err(anyhow!("\"hooks\" in {} is {}, not an object; nothing was changed", file.display(), other.kind()))
        }
    }
}

/// Our handlers in `doc`, in file order, as (event, handler).
pub fn ours(doc: &Json, file: &Path) -> Result<Vec<Entry>> {
    let mut found = Vec::new();
    for (event, groups) in hooks_of(doc, file)?.into_iter().flatten() {
        let Json::Array(groups) = groups else { continue };
        for handler in groups.iter().filter_map(|g| match g.get("hooks") {
            Some(Json::Array(handlers)) => Some(handlers),
            _ => None,
        }) {
            for h in handler.iter().filter(|h| handler_is_ours(h)) {
                // Only the events we install are ever ours; keep the name static.
                let event = KNOWN_EVENTS.iter().copied().find(|e| e == event).unwrap_or("?");
                found.push(Entry { event, handler: h.clone() });
            }
        }
    }
    Ok(found)
}

/// Every event name some host's entries use.
const KNOWN_EVENTS: [&str; 5] = ["SessionStart", "UserPromptSubmit", "Stop", "SessionEnd", "BeforeAgent"];

/// `doc` without our handlers (and without what their removal left empty).
pub fn without_ours(doc: &Json, file: &Path) -> Result<Json> {
    let Some(hooks) = hooks_of(doc, file)? else { return Ok(doc.clone()) };
    let mut kept_events = Vec::new();
    let mut removed_any = false;
    for (event, groups) in hooks {
        let Json::Array(groups) = groups else {
            kept_events.push((event.clone(), groups.clone()));
            continue;
        };
        let mut kept_groups = Vec::new();
        let mut removed_here = false;
        for group in groups {
            let (Json::Object(pairs), Some(Json::Array(handlers))) = (group, group.get("hooks")) else {
                kept_groups.push(group.clone());
                continue;
            };
            let kept: Vec<Json> = handlers.iter().filter(|h| !handler_is_ours(h)).cloned().collect();
            if kept.len() == handlers.len() {
                kept_groups.push(group.clone());
                continue;
            }
            removed_here = true;
            if !kept.is_empty() {
                let mut pairs = pairs.clone();
                set(&mut pairs, "hooks", Json::Array(kept));
                kept_groups.push(Json::Object(pairs));
            }
        }
        removed_any |= removed_here;
        if !(removed_here && kept_groups.is_empty()) {
            kept_events.push((event.clone(), Json::Array(kept_groups)));
        }
    }
    let Json::Object(top) = doc else { unreachable!("checked by hooks_of") };
    let mut top = top.clone();
    if removed_any && kept_events.is_empty() {
        top.retain(|(k, _)| k != "hooks");
    } else {
        set(&mut top, "hooks", Json::Object(kept_events));
    }
    Ok(Json::Object(top))
}

/// `doc` with exactly `entries` as our handlers: unchanged when it already
/// has them (wherever the user moved them), else ours removed and `entries`
/// appended, one group each, at the end of their event's array.
pub fn with_entries(doc: &Json, entries: &[Entry], file: &Path) -> Result<Json> {
    let present = ours(doc, file)?;
    if present.len() == entries.len() && entries.iter().all(|e| present.contains(e)) {
        return Ok(doc.clone());
    }
    let Json::Object(mut top) = without_ours(doc, file)? else { unreachable!("checked by hooks_of") };
    let mut hooks = match top.iter().find(|(k, _)| k == "hooks").map(|(_, v)| v.clone()) {
        Some(Json::Object(hooks)) => hooks,
        _ => Vec::new(),
    };
    for entry in entries {
        let group = Json::object(vec![("hooks", Json::Array(vec![entry.handler.clone()]))]);
        match hooks.iter_mut().find(|(k, _)| k == entry.event) {
            Some((_, Json::Array(groups))) => groups.push(group),
            Some((_, other)) => {
                return Err(anyhow!(
                    "\"hooks\".\"{}\" in {} is {}, not an array; nothing was changed",
                    entry.event,
                    file.display(),
                    other.kind()
                ))
            }
            None => hooks.push((entry.event.to_owned(), Json::Array(vec![group]))),
        }
    }
    set(&mut top, "hooks", Json::Object(hooks));
    Ok(Json::Object(top))
}

/// The name of our MCP server entry under `mcpServers`.
pub const MCP_NAME: &str = "meshgate";

/// Whether an `mcpServers` entry runs `meshgate mcp ...`.
fn mcp_is_ours(entry: &Json) -> bool {
    let program = entry.get("command").and_then(Json::as_str).unwrap_or_default();
    let first_arg = match entry.get("args") {
        Some(Json::Array(args)) => args.first().and_then(Json::as_str),
        _ => None,
    };
    program.rsplit('/').next() == Some("meshgate") && first_arg == Some("mcp")
}

/// `doc` with `mcpServers.meshgate` set to `entry`. One that is there and
/// not ours is refused rather than overwritten.
pub fn with_mcp(doc: &Json, entry: Json, file: &Path) -> Result<Json> {
    let Json::Object(mut top) = doc.clone() else {
        return Err(anyhow!("{} holds {}, not a JSON object; nothing was changed", file.display(), doc.kind()));
    };
    let mut servers = match top.iter().find(|(k, _)| k == "mcpServers").map(|(_, v)| v) {
        None => Vec::new(),
        Some(Json::Object(servers)) => servers.clone(),
        Some(other) => {
            return Err(anyhow!(
                "\"mcpServers\" in {} is {}, not an object; nothing was changed",
                file.display(),
                other.kind()
            ))
        }
    };
    if let Some((_, existing)) = servers.iter().find(|(k, _)| k == MCP_NAME) {
        if !mcp_is_ours(existing) {
            return Err(anyhow!(
                "{} already has an MCP server named \"{MCP_NAME}\" that does not run `meshgate mcp`; \
                 rename or remove it, or install without --mcp; nothing was changed",
                file.display()
            ));
        }
    }
    set(&mut servers, MCP_NAME, entry);
    set(&mut top, "mcpServers", Json::Object(servers));
    Ok(Json::Object(top))
}

/// `doc` without our `mcpServers.meshgate` (and without `mcpServers` if
/// that emptied it).
pub fn without_mcp(doc: &Json) -> Json {
    let Json::Object(top) = doc else { return doc.clone() };
    let Some(Json::Object(servers)) = top.iter().find(|(k, _)| k == "mcpServers").map(|(_, v)| v) else {
        return doc.clone();
    };
    if !servers.iter().any(|(k, v)| k == MCP_NAME && mcp_is_ours(v)) {
        return doc.clone();
    }
    let kept: Vec<(String, Json)> = servers.iter().filter(|(k, _)| k != MCP_NAME).cloned().collect();
    let mut top = top.clone();
    if kept.is_empty() {
        top.retain(|(k, _)| k != "mcpServers");
    } else {
        set(&mut top, "mcpServers", Json::Object(kept));
    }
    Json::Object(top)
}

/// A settings file as read: its real path (symlinks followed) and content.
pub struct SettingsFile {
    /// Where it is written (the symlink's target for a symlink).
    pub path: PathBuf,
    /// The parsed document (`{}` for a missing or blank file).
    pub doc: Json,
    /// Whether the file existed.
    pub existed: bool,
}

impl SettingsFile {
    /// Reads `path`; a missing or whitespace-only file is `{}`, anything
    /// that is not JSON is an error naming the line and column.
    pub fn read(path: &Path) -> Result<SettingsFile> {
        let path = match std::fs::canonicalize(path) {
            Ok(real) => real,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => path.to_path_buf(),
            Err(e) => return Err(e).with_context(|| format!("resolving {}", path.display())),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SettingsFile { path, doc: Json::Object(Vec::new()), existed: false })
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let doc = if text.trim().is_empty() {
            Json::Object(Vec::new())
        } else {
            serde_json::from_str(&text).map_err(|e| {
                crate::exit::advised(format!(
                    "{} is not valid JSON (line {}, column {}: {}); fix it first, nothing was changed",
                    path.display(),
                    e.line(),
                    e.column(),
                    e
                ))
            })?
        };
        hooks_of(&doc, &path).map_err(|e| crate::exit::advised(e.to_string()))?;
        Ok(SettingsFile { path, doc, existed: true })
    }

    /// Writes `doc` if it differs from what was read: backup first, then an
    /// atomic replace keeping the mode. Returns the backup's path, if any.
    pub fn write(&self, doc: &Json) -> Result<Option<PathBuf>> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let backup = if self.existed { Some(self.backup()?) } else { None };
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temp = dir.join(format!(".{name}.meshgate-tmp-{}", std::process::id()));
        let result = (|| -> Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
            if self.existed {
                let permissions = std::fs::metadata(&self.path)?.permissions();
                file.set_permissions(permissions).with_context(|| format!("setting the mode of {}", temp.display()))?;
            }
            file.write_all(doc.to_pretty().as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temp, &self.path).with_context(|| format!("replacing {}", self.path.display()))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result.map(|()| backup)
    }

    /// Copies the file to `FILE.bak-<unix seconds>[-N]` (a fresh name).
    fn backup(&self) -> Result<PathBuf> {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        let base = format!("{}.bak-{secs}", self.path.display());
        let mut candidate = PathBuf::from(&base);
        let mut n = 1;
        while candidate.exists() {
            candidate = PathBuf::from(format!("{base}-{n}"));
            n += 1;
        }
        std::fs::copy(&self.path, &candidate).with_context(|| format!("backing up to {}", candidate.display()))?;
        Ok(candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_our_commands_only() {
        assert!(is_ours("meshgate hooks run wake --as a"));
        assert!(is_ours("'/home/u/.cargo/bin/meshgate' hooks run context --as a"));
        assert!(is_ours("env 'MESHGATE_CONFIG_DIR=/c d' MESHGATE_CA_FILE=/ca.pem /b/meshgate hooks run wake --as a"));
        assert!(!is_ours("env X=1 notify-send hooks run"));
        assert!(is_ours("\"/opt/my dir/meshgate\" hooks  run context"));
        assert!(!is_ours("meshgate hooks install claude-code"));
        assert!(!is_ours("echo meshgate hooks run"));
        assert!(!is_ours("/usr/bin/not-meshgate hooks run wake"));
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
        assert_eq!(shell_words(&shell_quote("/a b/it's")), ["/a b/it's"]);
    }

    fn entry(event: &'static str, command: &str) -> Entry {
        Entry { event, handler: Json::object(vec![("type", Json::str("command")), ("command", Json::str(command))]) }
    }

    #[test]
    fn install_is_idempotent_and_uninstall_restores_the_document() {
        let file = Path::new("settings.json");
        let original: Json = serde_json::from_str(
            r#"{"model":"x","hooks":{"Stop":[{"matcher":"","hooks":[{"type":"command","command":"say done"}]}],
                "PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"audit"}]}]},"z":1}"#,
        )
        .unwrap();
        let entries = [
            entry("Stop", "meshgate hooks run wake --as a"),
            entry("SessionStart", "meshgate hooks run context --as a"),
        ];
        let once = with_entries(&original, &entries, file).unwrap();
        assert_eq!(ours(&once, file).unwrap(), entries);
        assert_eq!(with_entries(&once, &entries, file).unwrap(), once, "idempotent");
        // A hook the user added after ours does not make a reinstall move ours.
        let Json::Object(mut top) = once.clone() else { panic!() };
        let Some((_, Json::Object(hooks))) = top.iter_mut().find(|(k, _)| k == "hooks") else { panic!() };
        let Some((_, Json::Array(stop))) = hooks.iter_mut().find(|(k, _)| k == "Stop") else { panic!() };
        stop.push(Json::object(vec![("hooks", Json::Array(vec![entry("Stop", "later").handler]))]));
        let edited = Json::Object(top);
        let reordered = [entries[1].clone(), entries[0].clone()];
        assert_eq!(with_entries(&edited, &reordered, file).unwrap(), edited, "still idempotent");
        assert_eq!(without_ours(&once, file).unwrap(), original, "uninstall restores");
        // A different identity replaces ours instead of adding a second set.
        let other = [entry("Stop", "meshgate hooks run wake --as b")];
        let replaced = with_entries(&once, &other, file).unwrap();
        assert_eq!(ours(&replaced, file).unwrap(), other);
        assert_eq!(without_ours(&replaced, file).unwrap(), original);
        // Nothing of ours in a file without hooks: uninstall is a no-op.
        let bare: Json = serde_json::from_str(r#"{"a":1}"#).unwrap();
        assert_eq!(without_ours(&with_entries(&bare, &entries, file).unwrap(), file).unwrap(), bare);
    }

    #[test]
    fn mcp_entry_is_set_once_and_a_foreign_one_is_kept() {
        let file = Path::new("settings.json");
        let ours = Json::object(vec![
            ("command", Json::str("/bin/meshgate")),
            ("args", Json::Array(vec![Json::str("mcp"), Json::str("--as"), Json::str("a")])),
        ]);
        let original: Json = serde_json::from_str(r#"{"mcpServers":{"other":{"command":"x"}},"k":1}"#).unwrap();
        let once = with_mcp(&original, ours.clone(), file).unwrap();
        assert_eq!(with_mcp(&once, ours.clone(), file).unwrap(), once);
        assert_eq!(without_mcp(&once), original);
        let foreign: Json =
            serde_json::from_str(r#"{"mcpServers":{"meshgate":{"command":"npx","args":["x"]}}}"#).unwrap();
        assert!(with_mcp(&foreign, ours, file).is_err());
        assert_eq!(without_mcp(&foreign), foreign, "not ours: left alone");
    }

    #[test]
    fn gemini_switches_inside_hooks_are_kept() {
        let file = Path::new("settings.json");
        let original: Json = serde_json::from_str(r#"{"hooks":{"enabled":true,"disabled":["x"]}}"#).unwrap();
        let entries = [entry("BeforeAgent", "meshgate hooks run context --as a")];
        let installed = with_entries(&original, &entries, file).unwrap();
        assert_eq!(
            serde_json::to_string(&installed).unwrap(),
            r#"{"hooks":{"enabled":true,"disabled":["x"],"BeforeAgent":[{"hooks":[{"type":"command","command":"meshgate hooks run context --as a"}]}]}}"#
        );
        assert_eq!(without_ours(&installed, file).unwrap(), original);
    }

    #[test]
    fn unexpected_shapes_are_refused() {
        let file = Path::new("s.json");
        let entries = [entry("Stop", "meshgate hooks run wake --as a")];
        for text in [r#"[1]"#, r#"{"hooks":[]}"#, r#"{"hooks":{"Stop":{}}}"#] {
            let doc: Json = serde_json::from_str(text).unwrap();
            assert!(with_entries(&doc, &entries, file).is_err(), "{text}");
        }
    }
}
