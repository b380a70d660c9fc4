//! Errors as the shell prints them, with a caret under the offending
//! position.

use crate::error::{code_name, Error, Position};

/// The offending line of `sql` with a caret under `pos`, psql style:
///
/// ```text
/// LINE 1: SELECT tmp FROM era5
///                ^
/// ```
pub fn caret(sql: &str, pos: Position) -> Option<String> {
    let line = sql.lines().nth(pos.line.checked_sub(1)? as usize)?;
    let prefix = format!("LINE {}: ", pos.line);
    let text: String = line
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect();
    let col = (pos.column.max(1) - 1) as usize;
    let col = col.min(text.chars().count());
    Some(format!(
        "{prefix}{text}\n{}^",
        " ".repeat(prefix.len() + col)
    ))
}

/// An error as the shell prints it: `ERROR:  CODE: message`, and for SQL
/// errors with a position the offending line with a caret.
pub fn render_error(err: &Error, sql: Option<&str>) -> String {
    let mut out = match err {
        Error::Status(s) => format!("ERROR:  {}: {}", code_name(s.code), s.message),
        other => format!("ERROR:  {other}"),
    };
    if let (Some(sql), Some(pos)) = (sql, err.position()) {
        match caret(sql, pos) {
            Some(c) => {
                out.push('\n');
                out.push_str(&c);
            }
            None => out.push_str(&format!(" (at {pos})")),
        }
    }
    out
}
