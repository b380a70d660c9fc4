//! Typed query errors, with source positions and "did you mean" suggestions.

use arrayq_storage::StorageError;
use std::fmt;

/// A stretch of query text: 1-based line and column (in characters) of its first
/// character and of the character just after it. Line 0 means "unknown".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub line: u64,
    pub column: u64,
    pub end_line: u64,
    pub end_column: u64,
}

impl Span {
    pub fn new(line: u64, column: u64, end_line: u64, end_column: u64) -> Span {
        Span {
            line,
            column,
            end_line,
            end_column,
        }
    }

    pub fn is_known(&self) -> bool {
        self.line > 0 && self.column > 0
    }

    /// The smallest span covering both (an unknown side is ignored).
    pub fn union(self, other: Span) -> Span {
        match (self.is_known(), other.is_known()) {
            (false, _) => other,
            (_, false) => self,
            _ => {
                let (line, column) = (self.line, self.column).min((other.line, other.column));
                let (end_line, end_column) =
                    (self.end_line, self.end_column).max((other.end_line, other.end_column));
                Span::new(line, column, end_line, end_column)
            }
        }
    }
}

/// What an error found after parsing says, a hint, and where in the query it points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Detail {
    pub message: String,
    /// Printed in parentheses after the position ("did you mean 'x'?").
    pub hint: Option<String>,
    pub at: Option<Span>,
}

impl Detail {
    fn new(message: impl Into<String>) -> Detail {
        Detail {
            message: message.into(),
            hint: None,
            at: None,
        }
    }
}

/// Everything a query can fail with. Parse errors carry a 1-based line:column;
/// errors found while planning carry the span of the offending text when there is one.
#[derive(Debug)]
pub enum QueryError {
    Parse {
        message: String,
        line: u64,
        column: u64,
        token: Option<String>,
    },
    Plan(Detail),
    /// An array (or a version of it) that does not exist.
    NotFound(Detail),
    /// A name in the query text that resolves to nothing: attribute, dimension,
    /// function, option, layout, time zone (with a "did you mean").
    UnknownName(Detail),
    Type(Detail),
    Execution(String),
    ResourcesExhausted(String),
    Cancelled,
    Timeout,
    Storage(StorageError),
    Internal(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, true)
    }
}

impl std::error::Error for QueryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QueryError::Storage(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StorageError> for QueryError {
    fn from(e: StorageError) -> Self {
        QueryError::Storage(e)
    }
}

/// Writes " at line L, column C" for a known span.
fn write_at(f: &mut fmt::Formatter<'_>, at: Option<Span>) -> fmt::Result {
    match at {
        Some(s) if s.is_known() => write!(f, " at line {}, column {}", s.line, s.column),
        _ => Ok(()),
    }
}

impl QueryError {
    pub(crate) fn parse_at(
        message: impl Into<String>,
        line: u64,
        column: u64,
        token: Option<String>,
    ) -> Self {
        QueryError::Parse {
            message: message.into(),
            line,
            column,
            token,
        }
    }

    pub(crate) fn plan(message: impl Into<String>) -> Self {
        QueryError::Plan(Detail::new(message))
    }

    pub(crate) fn type_error(message: impl Into<String>) -> Self {
        QueryError::Type(Detail::new(message))
    }

    pub(crate) fn unknown_name(message: impl Into<String>) -> Self {
        QueryError::UnknownName(Detail::new(message))
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        QueryError::NotFound(Detail::new(message))
    }

    fn detail_mut(&mut self) -> Option<&mut Detail> {
        match self {
            QueryError::Plan(d)
            | QueryError::NotFound(d)
            | QueryError::UnknownName(d)
            | QueryError::Type(d) => Some(d),
            _ => None,
        }
    }

    /// Points the error at `span` unless it already points somewhere: the innermost
    /// expression that knows what is wrong gives the most precise position.
    pub(crate) fn at(mut self, span: Span) -> Self {
        if span.is_known() {
            if let Some(d) = self.detail_mut() {
                d.at.get_or_insert(span);
            }
        }
        self
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        if let Some(d) = self.detail_mut() {
            d.hint = Some(hint.into());
        }
        self
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, with_position: bool) -> fmt::Result {
        let (kind, d) = match self {
            QueryError::Parse {
                message,
                line,
                column,
                ..
            } => {
                return if with_position {
                    write!(f, "syntax error at line {line}, column {column}: {message}")
                } else {
                    f.write_str(message)
                }
            }
            QueryError::Plan(d) => (Some("planning error"), d),
            QueryError::Type(d) => (Some("type error"), d),
            QueryError::NotFound(d) | QueryError::UnknownName(d) => (None, d),
            QueryError::Execution(m) => return write!(f, "execution error: {m}"),
            QueryError::ResourcesExhausted(m) => return write!(f, "resources exhausted: {m}"),
            QueryError::Cancelled => return f.write_str("query cancelled"),
            QueryError::Timeout => return f.write_str("query timed out"),
            QueryError::Storage(e) => return write!(f, "storage error: {e}"),
            QueryError::Internal(m) => return write!(f, "internal error: {m}"),
        };
        let at = if with_position { d.at } else { None };
        // "type error at line 1, column 8: ..." but "unknown array 'x' at line 1, column 15
        // (did you mean 'y'?)": the position follows the words it qualifies.
        match kind {
            Some(k) => {
                f.write_str(k)?;
                write_at(f, at)?;
                write!(f, ": {}", d.message)?;
            }
            None => {
                f.write_str(&d.message)?;
                write_at(f, at)?;
            }
        }
        if let Some(h) = &d.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }

    /// The message without its position, for callers that report the position
    /// apart (the gRPC server sends it as `line:col: ` prefix and trailer).
    pub fn message_without_position(&self) -> String {
        struct W<'a>(&'a QueryError);
        impl fmt::Display for W<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write(f, false)
            }
        }
        W(self).to_string()
    }

    /// The span of query text the error points at, when it points somewhere.
    pub fn span(&self) -> Option<Span> {
        match self {
            QueryError::Parse { line, column, .. } if *line > 0 => {
                let column = (*column).max(1);
                Some(Span::new(*line, column, *line, column + 1))
            }
            QueryError::Plan(d)
            | QueryError::NotFound(d)
            | QueryError::UnknownName(d)
            | QueryError::Type(d) => d.at.filter(Span::is_known),
            _ => None,
        }
    }

    /// The 1-based (line, column) the error points at: the offending token of a
    /// syntax error, the offending name or expression of a planning or type error.
    pub fn position(&self) -> Option<(u64, u64)> {
        self.span().map(|s| (s.line, s.column))
    }

    /// The error message; for positioned errors followed by the offending line of
    /// `sql` with carets under the offending text (to the end of the line when it
    /// continues on the next).
    pub fn render(&self, sql: &str) -> String {
        let mut out = self.to_string();
        let Some(span) = self.span() else {
            return out;
        };
        let Some(text) = sql.lines().nth(span.line as usize - 1) else {
            return out;
        };
        let col = span.column as usize;
        let line_len = text.chars().count();
        let width = match self {
            QueryError::Parse { token: Some(t), .. } => t.chars().count(),
            QueryError::Parse { .. } => 1,
            _ if span.end_line == span.line && span.end_column > span.column => {
                (span.end_column - span.column) as usize
            }
            _ if span.end_line > span.line => (line_len + 1).saturating_sub(col),
            _ => 1,
        };
        let pad: String = text
            .chars()
            .take(col - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push('\n');
        out.push_str(text);
        out.push('\n');
        out.push_str(&pad);
        out.push_str(&"^".repeat(width.clamp(1, 80)));
        out
    }

    /// Maps storage errors that mean "no such thing" to NotFound / UnknownName and
    /// keeps the rest.
    pub(crate) fn from_storage(e: StorageError) -> Self {
        match e {
            StorageError::Cancelled => QueryError::Cancelled,
            e @ (StorageError::UnknownArray(_)
            | StorageError::UnknownVersion { .. }
            | StorageError::Vacuumed { .. }
            | StorageError::VacuumedAt { .. }
            | StorageError::NoVersionAtTime { .. }) => QueryError::not_found(e.to_string()),
            e @ (StorageError::UnknownLayout { .. }
            | StorageError::UnknownAttribute { .. }
            | StorageError::UnknownDimension { .. }) => QueryError::unknown_name(e.to_string()),
            e => QueryError::Storage(e),
        }
    }
}

/// Levenshtein distance (case-insensitive).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest candidate within a distance proportional to the name's length.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let limit = (name.chars().count() / 3).max(1) + 1;
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// "unknown KIND 'name' in CONTEXT (did you mean 'x'?)"
pub(crate) fn not_found<'a>(
    kind: &str,
    name: &str,
    context: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> QueryError {
    let m = format!("unknown {kind} '{name}'{context}");
    let e = if kind == "array" {
        QueryError::not_found(m)
    } else {
        QueryError::unknown_name(m)
    };
    match did_you_mean(name, candidates) {
        Some(s) => e.with_hint(format!("did you mean '{s}'?")),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_and_suggestion() {
        assert_eq!(edit_distance("t2n", "t2m"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(did_you_mean("era4", ["era5", "power"]), Some("era5".into()));
        assert_eq!(did_you_mean("zzzzzz", ["era5", "power"]), None);
    }

    #[test]
    fn render_caret() {
        let e = QueryError::parse_at("x", 2, 3, Some("FRM".into()));
        let r = e.render("SELECT a\nx FRM b");
        assert!(r.ends_with("x FRM b\n  ^^^"), "{r}");
    }
}
