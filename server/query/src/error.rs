//! Typed query errors, with source positions and "did you mean" suggestions.

use arrayq_storage::StorageError;

/// Everything a query can fail with. Parse errors carry a 1-based line:column.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("syntax error at line {line}, column {column}: {message}")]
    Parse {
        message: String,
        line: u64,
        column: u64,
        token: Option<String>,
    },
    #[error("planning error: {0}")]
    Plan(String),
    /// An array (or a version of it) that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A name in the query text that resolves to nothing: attribute, dimension,
    /// function, option, layout, time zone (with a "did you mean").
    #[error("{0}")]
    UnknownName(String),
    #[error("type error: {0}")]
    Type(String),
    #[error("execution error: {0}")]
    Execution(String),
    #[error("resources exhausted: {0}")]
    ResourcesExhausted(String),
    #[error("query cancelled")]
    Cancelled,
    #[error("query timed out")]
    Timeout,
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    #[error("internal error: {0}")]
    Internal(String),
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

    /// The 1-based (line, column) the error points at, for parse errors.
    pub fn position(&self) -> Option<(u64, u64)> {
        match self {
            QueryError::Parse { line, column, .. } if *line > 0 => Some((*line, (*column).max(1))),
            _ => None,
        }
    }

    /// The error message; for positioned errors followed by the offending line of
    /// `sql` with a caret under the position.
    pub fn render(&self, sql: &str) -> String {
        let mut out = self.to_string();
        if let Some((line, col)) = self.position() {
            if let Some(text) = sql.lines().nth(line as usize - 1) {
                let width = match self {
                    QueryError::Parse { token: Some(t), .. } => t.chars().count().max(1),
                    _ => 1,
                };
                let pad: String = text
                    .chars()
                    .take(col as usize - 1)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                out.push('\n');
                out.push_str(text);
                out.push('\n');
                out.push_str(&pad);
                out.push_str(&"^".repeat(width.min(80)));
            }
        }
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
            | StorageError::NoVersionAtTime { .. }) => QueryError::NotFound(e.to_string()),
            e @ (StorageError::UnknownLayout { .. }
            | StorageError::UnknownAttribute { .. }
            | StorageError::UnknownDimension { .. }) => QueryError::UnknownName(e.to_string()),
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
    let mut m = format!("unknown {kind} '{name}'{context}");
    if let Some(s) = did_you_mean(name, candidates) {
        m.push_str(&format!(" (did you mean '{s}'?)"));
    }
    if kind == "array" {
        QueryError::NotFound(m)
    } else {
        QueryError::UnknownName(m)
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
