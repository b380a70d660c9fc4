//! What a statement is, decided from its first words before anything runs: the
//! door answers session statements (SET, BEGIN, SHOW setting, version()) itself,
//! LISTEN/UNLISTEN/COPY through its own modules, and hands the rest to the engine.

/// One classified statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Empty,
    /// BEGIN / START TRANSACTION: accepted; statements run at once anyway.
    Begin,
    /// COMMIT / END / ROLLBACK / ABORT.
    End(&'static str),
    /// SET / RESET / DISCARD / DEALLOCATE / UNLISTEN-free session commands: the tag.
    Session(String),
    /// SHOW <setting> (not SHOW ARRAYS).
    ShowSetting(String),
    /// `SELECT version()`, answered by the door.
    Version,
    /// `SELECT <integer>` without FROM: the connection probe of pools and drivers.
    Constant(i32),
    Listen(String),
    /// UNLISTEN name; None is `UNLISTEN *`.
    Unlisten(Option<String>),
    Copy,
    /// CREATE / ALTER / DROP INGEST, SHOW INGESTS: the server's ingest jobs.
    Ingest,
    /// CREATE / ALTER / DROP: the engine, answered as (result, array, version).
    Ddl(String),
    /// EXPLAIN [ANALYZE]: one text column `QUERY PLAN`.
    Explain,
    /// SHOW ARRAYS, DESCRIBE: read-only engine listings.
    Listing,
    /// Anything else goes to the engine as a query.
    Query,
}

/// Splits a simple-protocol string into statements at `;` outside quotes and
/// comments.
pub fn split(sql: &str) -> Vec<&str> {
    let b = sql.as_bytes();
    let (mut out, mut start, mut i) = (Vec::new(), 0, 0);
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b';' => {
                out.push(&sql[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&sql[start.min(sql.len())..]);
    out.retain(|s| !is_blank(s));
    out
}

/// Only whitespace, semicolons and `--` comments.
pub fn is_blank(s: &str) -> bool {
    s.lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .all(|l| l.chars().all(|c| c == ';' || c.is_whitespace()))
}

/// The lower-case words of a statement (identifiers keep their text).
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .take(4)
        .map(str::to_string)
        .collect()
}

pub fn classify(sql: &str) -> Kind {
    if is_blank(sql) {
        return Kind::Empty;
    }
    let w = words(sql);
    let first = w[0].to_ascii_lowercase();
    let second = w.get(1).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    let compact: String = sql
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ';')
        .collect::<String>()
        .to_ascii_lowercase();
    if crate::ingest_jobs::is_ingest_statement(sql) {
        return Kind::Ingest;
    }
    match first.as_str() {
        "begin" => Kind::Begin,
        "start" if second == "transaction" => Kind::Begin,
        "commit" | "end" => Kind::End("COMMIT"),
        "rollback" | "abort" => Kind::End("ROLLBACK"),
        "set" | "reset" | "discard" | "deallocate" => Kind::Session(first.to_ascii_uppercase()),
        "show" if second == "arrays" => Kind::Listing,
        "show" => Kind::ShowSetting(w[1..].join(" ").trim_matches('"').to_string()),
        "describe" => Kind::Listing,
        "listen" => Kind::Listen(channel(w.get(1))),
        "unlisten" => match w.get(1).map(String::as_str) {
            None | Some("*") => Kind::Unlisten(None),
            Some(_) => Kind::Unlisten(Some(channel(w.get(1)))),
        },
        "copy" => Kind::Copy,
        "create" | "alter" | "drop" => Kind::Ddl(format!(
            "{} {}",
            first.to_ascii_uppercase(),
            second.to_ascii_uppercase()
        )),
        // Writes answer like DDL: one row saying what was committed.
        "insert" => Kind::Ddl("INSERT".into()),
        "explain" => Kind::Explain,
        "select" if compact == "selectversion()" || compact == "selectpg_catalog.version()" => {
            Kind::Version
        }
        "select" if compact[6..].parse::<i32>().is_ok() => {
            Kind::Constant(compact[6..].parse().unwrap_or_default())
        }
        _ => Kind::Query,
    }
}

/// A LISTEN channel name: `"quoted"` keeps its text, a bare name folds to lower case
/// as in Postgres.
fn channel(w: Option<&String>) -> String {
    let w = w.map(String::as_str).unwrap_or("");
    match w.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(q) => q.replace("\"\"", "\""),
        None => w.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_quotes_and_comments() {
        assert_eq!(split("SELECT 1; SELECT ';'"), ["SELECT 1", " SELECT ';'"]);
        assert_eq!(split("-- a;b\nSELECT 1;;"), ["-- a;b\nSELECT 1"]);
        assert!(split(" ; ").is_empty());
    }

    #[test]
    fn classifies_session_and_engine_statements() {
        assert_eq!(classify("BEGIN"), Kind::Begin);
        assert_eq!(
            classify("set extra_float_digits = 3"),
            Kind::Session("SET".into())
        );
        assert_eq!(classify("SHOW ARRAYS"), Kind::Listing);
        assert_eq!(
            classify("show TimeZone"),
            Kind::ShowSetting("TimeZone".into())
        );
        assert_eq!(classify("select version()"), Kind::Version);
        assert_eq!(classify("SELECT 1;"), Kind::Constant(1));
        assert_eq!(
            classify("LISTEN \"Power@12\""),
            Kind::Listen("Power@12".into())
        );
        assert_eq!(classify("LISTEN Power"), Kind::Listen("power".into()));
        assert_eq!(classify("UNLISTEN *"), Kind::Unlisten(None));
        assert_eq!(classify("drop array a"), Kind::Ddl("DROP ARRAY".into()));
        assert_eq!(
            classify("INSERT INTO a VALUES (1, 2)"),
            Kind::Ddl("INSERT".into())
        );
        assert_eq!(
            classify("create array c as select v from a"),
            Kind::Ddl("CREATE ARRAY".into())
        );
        assert_eq!(classify("SELECT v FROM a"), Kind::Query);
        assert_eq!(classify(" -- nothing\n"), Kind::Empty);
    }
}
