//! Client-side handling of SQL text: splitting scripts into statements (on
//! `;` outside quotes and comments) and telling when a statement typed into the
//! shell is complete. What a statement means is the server's business: the shell
//! sends every statement to the Query RPC.

/// One statement of a script, with where it starts in the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The statement text, without the terminating `;`, starting at its first
    /// token (leading blanks and comments removed).
    pub text: String,
    /// 1-based line of the statement's first character in the script.
    pub line: u32,
    /// 1-based column (in characters) of that character.
    pub column: u32,
}

impl Statement {
    /// Maps a 1-based position inside the statement to the script.
    pub fn script_position(&self, line: u32, column: u32) -> (u32, u32) {
        if line <= 1 {
            (self.line, self.column + column.saturating_sub(1))
        } else {
            (self.line + line - 1, column)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    Single,
    Double,
    LineComment,
    BlockComment,
}

/// Lexer state after scanning `text`: whether the text ends inside a quote or
/// comment, and the byte offsets of top-level semicolons.
fn scan(text: &str) -> (State, Vec<usize>) {
    let mut st = State::Normal;
    let mut semis = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match st {
            State::Normal => match c {
                b'\'' => st = State::Single,
                b'"' => st = State::Double,
                b'-' if b.get(i + 1) == Some(&b'-') => {
                    st = State::LineComment;
                    i += 1;
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    st = State::BlockComment;
                    i += 1;
                }
                b';' => semis.push(i),
                _ => {}
            },
            // '' inside a string is an escaped quote: leaving and re-entering
            // the string state handles it.
            State::Single => {
                if c == b'\'' {
                    st = State::Normal
                }
            }
            State::Double => {
                if c == b'"' {
                    st = State::Normal
                }
            }
            State::LineComment => {
                if c == b'\n' {
                    st = State::Normal
                }
            }
            State::BlockComment => {
                if c == b'*' && b.get(i + 1) == Some(&b'/') {
                    st = State::Normal;
                    i += 1;
                }
            }
        }
        i += 1;
    }
    (st, semis)
}

/// True if `text` holds only blanks and comments.
pub fn is_blank(text: &str) -> bool {
    strip_leading_comments(text).trim().is_empty()
}

/// `text` without leading blanks and comments.
pub fn strip_leading_comments(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix("--") {
            text = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(rest) = text.strip_prefix("/*") {
            text = rest.split_once("*/").map_or("", |(_, r)| r);
        } else {
            return text;
        }
    }
}

/// Splits a script into statements on `;` outside quotes and comments. A
/// last statement without `;` is included; blank statements (only spaces
/// and comments) are dropped.
pub fn split_statements(src: &str) -> Vec<Statement> {
    let (_, semis) = scan(src);
    let mut out = Vec::new();
    let mut start = 0;
    for end in semis.into_iter().chain(std::iter::once(src.len())) {
        let piece = &src[start..end];
        if !is_blank(piece) {
            // Leading comments are not sent: the statement starts at its
            // first token (the server checks statement kinds by their first
            // word).
            let body = strip_leading_comments(piece);
            let abs = start + (piece.len() - body.len());
            let (line, column) = line_col(src, abs);
            out.push(Statement {
                text: body.trim_end().to_string(),
                line,
                column,
            });
        }
        start = end + 1;
    }
    out
}

/// 1-based (line, column in characters) of byte offset `at`.
fn line_col(src: &str, at: usize) -> (u32, u32) {
    let before = &src[..at];
    let line = before.matches('\n').count() as u32 + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let column = src[line_start..at].chars().count() as u32 + 1;
    (line, column)
}

/// True if the interactive buffer holds a finished statement: it ends (apart
/// from blanks and a trailing line comment) with a `;` outside quotes and
/// comments.
pub fn is_complete(buf: &str) -> bool {
    let (st, semis) = scan(buf);
    if matches!(st, State::Single | State::Double | State::BlockComment) {
        return false;
    }
    match semis.last() {
        Some(&last) => is_blank(&buf[last + 1..]),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_top_level_semicolons() {
        let src = "SELECT 1;\n  SELECT ';' FROM a -- x; y\n WHERE b = \"c;d\";\n/* ; */ ;  \n-- only a comment\nSELECT 3";
        let s = split_statements(src);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[0].text, "SELECT 1");
        assert_eq!((s[0].line, s[0].column), (1, 1));
        assert!(s[1].text.starts_with("SELECT ';' FROM a -- x; y\n"));
        assert!(s[1].text.ends_with("\"c;d\""));
        assert_eq!((s[1].line, s[1].column), (2, 3));
        assert_eq!(s[2].text, "SELECT 3");
        assert_eq!((s[2].line, s[2].column), (6, 1));
        assert_eq!(s[1].script_position(1, 8), (2, 10));
        assert_eq!(s[1].script_position(2, 2), (3, 2));
    }

    #[test]
    fn completeness() {
        assert!(!is_complete("SELECT *"));
        assert!(is_complete("SELECT *;"));
        assert!(is_complete("SELECT *;  -- done"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1 /* ; "));
        assert!(is_complete("SELECT\n *\n FROM a\n;"));
        assert!(!is_complete(""));
    }
}
