//! The statements of ingest jobs:
//!
//! ```sql
//! CREATE INGEST name FROM POSTGRES 'url' QUERY 'select ...' INTO array
//!     [WITH (channel = 'feed', watermark = 'id', label_col = 'asset_id', ...)]
//! SHOW INGESTS
//! ALTER INGEST name PAUSE | RESUME
//! DROP INGEST name
//! ```

use super::JobSpec;

/// A parsed ingest statement.
#[derive(Clone, Debug, PartialEq)]
pub enum IngestStatement {
    Create(Box<JobSpec>),
    Show,
    Pause(String),
    Resume(String),
    Drop(String),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Sym(char),
}

/// Whether `sql` is an ingest statement (so the query engine never sees it).
pub fn is_ingest_statement(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(2)
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    matches!(
        words.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ["CREATE", "INGEST"] | ["ALTER", "INGEST"] | ["DROP", "INGEST"] | ["SHOW", "INGESTS"]
    )
}

/// Parses one ingest statement; errors name what was expected and where (line and
/// column, as the query language's errors do).
pub fn parse(sql: &str) -> Result<IngestStatement, String> {
    let toks = lex(sql)?;
    let mut p = Parser { toks, at: 0, sql };
    let first = p.word()?;
    let stmt = match first.as_str() {
        "SHOW" => {
            p.keyword("INGESTS")?;
            IngestStatement::Show
        }
        "DROP" => {
            p.keyword("INGEST")?;
            IngestStatement::Drop(p.ident()?)
        }
        "ALTER" => {
            p.keyword("INGEST")?;
            let name = p.ident()?;
            match p.word()?.as_str() {
                "PAUSE" => IngestStatement::Pause(name),
                "RESUME" => IngestStatement::Resume(name),
                _ => return Err(p.error_before("PAUSE or RESUME")),
            }
        }
        "CREATE" => {
            p.keyword("INGEST")?;
            let name = p.ident()?;
            p.keyword("FROM")?;
            p.keyword("POSTGRES")?;
            let url = p.string()?;
            p.keyword("QUERY")?;
            let query = p.string()?;
            p.keyword("INTO")?;
            let array = p.ident()?;
            let mut spec = JobSpec::new(&name, &url, &query, &array);
            if p.peek_word("WITH") {
                p.at += 1;
                p.sym('(')?;
                loop {
                    let key_at = p.at;
                    let key = p.ident()?;
                    p.sym('=')?;
                    let value = p.value()?;
                    spec.set(&key, value).map_err(|e| p.error_at(key_at, &e))?;
                    if p.peek_sym(',') {
                        p.at += 1;
                        continue;
                    }
                    p.sym(')')?;
                    break;
                }
            }
            IngestStatement::Create(Box::new(spec))
        }
        _ => return Err(p.error_at(0, "CREATE, ALTER, DROP INGEST or SHOW INGESTS")),
    };
    if p.peek_sym(';') {
        p.at += 1;
    }
    if p.at < p.toks.len() {
        return Err(p.error_at(p.at, "the end of the statement"));
    }
    Ok(stmt)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    at: usize,
    sql: &'a str,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).map(|t| t.1.clone());
        self.at += 1;
        t
    }

    fn word(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w.to_ascii_uppercase()),
            _ => Err(self.error_before("a keyword")),
        }
    }

    fn keyword(&mut self, k: &str) -> Result<(), String> {
        match self.next() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k) => Ok(()),
            _ => Err(self.error_before(k)),
        }
    }

    fn ident(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w),
            _ => Err(self.error_before("a name")),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(s),
            _ => Err(self.error_before("a quoted string")),
        }
    }

    /// A WITH option's value: a quoted string or a bare word.
    fn value(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Str(s)) | Some(Tok::Word(s)) => Ok(s),
            _ => Err(self.error_before("a value")),
        }
    }

    fn sym(&mut self, c: char) -> Result<(), String> {
        match self.next() {
            Some(Tok::Sym(x)) if x == c => Ok(()),
            _ => Err(self.error_before(&format!("'{c}'"))),
        }
    }

    fn peek_word(&self, k: &str) -> bool {
        matches!(self.toks.get(self.at), Some((_, Tok::Word(w))) if w.eq_ignore_ascii_case(k))
    }

    fn peek_sym(&self, c: char) -> bool {
        matches!(self.toks.get(self.at), Some((_, Tok::Sym(x))) if *x == c)
    }

    /// An error about the token just taken.
    fn error_before(&self, expected: &str) -> String {
        self.error_at(self.at.saturating_sub(1), expected)
    }

    fn error_at(&self, tok: usize, expected: &str) -> String {
        let offset = self.toks.get(tok).map_or(self.sql.len(), |t| t.0);
        let before = &self.sql[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        let found = match self.toks.get(tok) {
            Some((_, Tok::Word(w))) => format!("'{w}'"),
            Some((_, Tok::Str(_))) => "a string".to_string(),
            Some((_, Tok::Sym(c))) => format!("'{c}'"),
            None => "the end".to_string(),
        };
        format!("expected {expected}, found {found} at line {line}, column {column}")
    }
}

fn lex(sql: &str) -> Result<Vec<(usize, Tok)>, String> {
    let mut out = Vec::new();
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let start = i;
            let mut s = String::new();
            i += 1;
            loop {
                match sql[i..].find('\'') {
                    None => return Err(format!("unterminated string starting at offset {start}")),
                    Some(k) => {
                        s.push_str(&sql[i..i + k]);
                        i += k + 1;
                        if b.get(i) == Some(&b'\'') {
                            s.push('\'');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            out.push((start, Tok::Str(s)));
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let start = i;
            while i < b.len() && ((b[i] as char).is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push((start, Tok::Word(sql[start..i].to_string())));
        } else {
            out.push((i, Tok::Sym(c)));
            i += c.len_utf8();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_with_options_and_quotes() {
        let s = parse(
            "CREATE INGEST feed FROM POSTGRES 'host=db user=me' \
             QUERY 'SELECT id, asset_id, ts, value FROM t WHERE note <> ''x''' INTO power \
             WITH (channel = 'power_feed', watermark = id);",
        )
        .unwrap();
        let mut want = JobSpec::new(
            "feed",
            "host=db user=me",
            "SELECT id, asset_id, ts, value FROM t WHERE note <> 'x'",
            "power",
        );
        want.channel = Some("power_feed".into());
        want.watermark_col = Some("id".into());
        assert_eq!(s, IngestStatement::Create(Box::new(want)));
    }

    #[test]
    fn the_short_forms() {
        assert_eq!(parse("show ingests").unwrap(), IngestStatement::Show);
        assert_eq!(
            parse("ALTER INGEST f PAUSE").unwrap(),
            IngestStatement::Pause("f".into())
        );
        assert_eq!(
            parse("alter ingest f resume;").unwrap(),
            IngestStatement::Resume("f".into())
        );
        assert_eq!(
            parse("DROP INGEST f").unwrap(),
            IngestStatement::Drop("f".into())
        );
        assert!(is_ingest_statement("  create ingest x"));
        assert!(!is_ingest_statement("CREATE ARRAY x"));
    }

    #[test]
    fn errors_name_the_expected_and_the_position() {
        assert_eq!(
            parse("ALTER INGEST f STOP").unwrap_err(),
            "expected PAUSE or RESUME, found 'STOP' at line 1, column 16"
        );
        assert_eq!(
            parse("CREATE INGEST f FROM POSTGRES url").unwrap_err(),
            "expected a quoted string, found 'url' at line 1, column 31"
        );
        assert_eq!(
            parse("CREATE INGEST f FROM POSTGRES 'u' QUERY 'q' INTO a WITH (colour = 'red')")
                .unwrap_err(),
            "expected an option among channel, watermark, label_col, time_col, version_col, \
             value_col, found 'colour' at line 1, column 58"
        );
    }
}
