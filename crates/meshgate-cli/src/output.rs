//! Terminal output: plain tables, JSON for scripts, and sanitising of
//! peer-authored text so a hostile message cannot drive the terminal.

use serde::Serialize;

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `text` with control characters (escape sequences, carriage returns,
/// newlines) replaced, safe to print inside one table cell.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => ' ',
            c if c.is_control() => '?',
            c => c,
        })
        .collect()
}

/// `text` with control characters other than newline and tab replaced, safe
/// to print as a block.
pub fn block(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            c if c.is_control() => '?',
            c => c,
        })
        .collect()
}

/// Cuts `text` to `max` characters, marking the cut with `…`.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Terminal width from `COLUMNS`, else 120.
pub fn width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|w: &usize| *w >= 40).unwrap_or(120)
}

/// Renders a left-aligned table; the last column is cut to fit [`width`].
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let fixed: usize = widths[..columns - 1].iter().map(|w| w + 2).sum();
    let last_max = width().saturating_sub(fixed).max(20);
    widths[columns - 1] = widths[columns - 1].min(last_max);
    let render = |cells: &[String]| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate().take(columns) {
            if i + 1 == columns {
                line.push_str(&truncate(cell, widths[i]));
            } else {
                line.push_str(&format!("{:<w$}  ", cell, w = widths[i]));
            }
        }
        line.trim_end().to_owned()
    };
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mut out = render(&header);
    for row in rows {
        out.push('\n');
        out.push_str(&render(row));
    }
    out
}

/// One message for humans: a header line ([`message_header`]) and the
/// sanitised body.
pub fn message_block(m: &meshgate_client::Message) -> String {
    format!("{}\n{}", message_header(m), block(&m.content))
}

/// A message's header line: `--- #ID from X to Y (kind) at TIME[, thread
/// T][, task K]`, sanitised.
pub fn message_header(m: &meshgate_client::Message) -> String {
    format!(
        "--- #{} from {} to {} ({}) at {}{}{}",
        m.id,
        one_line(&m.from_node),
        one_line(&m.to_node),
        m.kind,
        short_time(&m.created_at),
        m.thread_id.as_deref().map(|t| format!(", thread {}", one_line(t))).unwrap_or_default(),
        m.related_task_id.as_deref().map(|t| format!(", task {}", one_line(t))).unwrap_or_default(),
    )
}

/// `2026-01-01T12:34:56.789+00:00` -> `2026-01-01 12:34:56`.
pub fn short_time(stamp: &str) -> String {
    let head: String = stamp.chars().take(19).collect();
    head.replacen('T', " ", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_neutralised() {
        assert_eq!(one_line("a\x1b[31mb\nc\r"), "a?[31mb c?");
        assert_eq!(block("a\nb\x07"), "a\nb?");
    }

    #[test]
    fn tables_align_and_cut() {
        let t = table(&["ID", "TEXT"], &[vec!["1".into(), "x".repeat(500)], vec!["22".into(), "y".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "ID  TEXT");
        assert!(lines[1].starts_with("1   xx"));
        assert!(lines[1].ends_with('…'));
        assert_eq!(lines[2], "22  y");
    }
}
