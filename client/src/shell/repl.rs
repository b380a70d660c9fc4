//! The interactive shell: line editing and history (rustyline), multi-line
//! statements ended by `;`, completion of keywords and names, backslash
//! commands, and Ctrl-C cancelling the running statement.

use crate::shell::stdout::stdout_line;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrayq_client::format::render_error;
use arrayq_client::sql;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};
use tokio::runtime::Runtime;

use super::{text, Session};

/// SQL words offered by completion.
const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "AS",
    "OF",
    "VERSION",
    "TIMESTAMP",
    "AND",
    "OR",
    "NOT",
    "BETWEEN",
    "IN",
    "IS",
    "NAN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST",
    "TRUE",
    "FALSE",
    "EXPLAIN",
    "ANALYZE",
    "CREATE",
    "ARRAY",
    "DROP",
    "IF",
    "EXISTS",
    "SHOW",
    "ARRAYS",
    "DESCRIBE",
    "ALTER",
    "ADD",
    "LAYOUT",
    "CHUNKS",
    "WITH",
    "START",
    "STEP",
    "LENGTH",
    "GROWABLE",
    "LABELS",
    "FILL",
    "REAL",
    "DOUBLE",
    "PRECISION",
    "INT",
    "INTEGER",
    "BIGINT",
    "SMALLINT",
    "TINYINT",
    "BOOLEAN",
    "FLOAT",
    "TIMESTAMPTZ",
];

/// Functions offered by completion (lower case).
const FUNCTIONS: &[&str] = &[
    "avg",
    "sum",
    "min",
    "max",
    "count",
    "mean",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "abs",
    "sqrt",
    "exp",
    "ln",
    "log",
    "round",
    "floor",
    "ceil",
    "sin",
    "cos",
    "tan",
    "radians",
    "degrees",
    "power",
    "isnan",
    "sign",
    "date_trunc",
];

/// Backslash commands with their help text.
const COMMANDS: &[(&str, &str)] = &[
    ("\\d", "list arrays; \\d NAME describes one"),
    ("\\timing", "toggle timing of statements"),
    ("\\x", "toggle expanded display (one block per cell)"),
    ("\\o", "\\o FILE writes the next results to FILE (.csv, .json, .npy or text); \\o alone: back to the screen"),
    ("\\listen", "\\listen NAME prints change events of array NAME as they come, until Ctrl-C"),
    ("\\q", "quit"),
    ("\\?", "this help"),
];

/// Names known to the server, for completion.
#[derive(Default)]
struct Names {
    arrays: Vec<String>,
    /// Attribute and dimension names of all arrays.
    fields: Vec<String>,
}

/// Completion of keywords, functions, array / attribute / dimension names
/// and backslash commands.
struct ShellHelper {
    names: Arc<Mutex<Names>>,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '\\'
}

impl ShellHelper {
    fn candidates(&self, line: &str, start: usize, word: &str) -> Vec<String> {
        let before = line[..start].trim_end();
        let prev = before
            .rsplit(|c: char| !is_word(c))
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let names = self.names.lock().expect("names lock");
        let lower = word.to_lowercase();
        let matches = |s: &str| s.to_lowercase().starts_with(&lower);
        if word.starts_with('\\') && before.is_empty() {
            return COMMANDS
                .iter()
                .map(|(c, _)| c.to_string())
                .filter(|c| c.starts_with(word))
                .collect();
        }
        let wants_array = matches!(
            prev.as_str(),
            "FROM" | "ARRAY" | "DESCRIBE" | "DESC" | "EXISTS" | "\\D" | "\\LISTEN"
        );
        let mut out: Vec<String> = names
            .arrays
            .iter()
            .filter(|s| matches(s))
            .cloned()
            .collect();
        if wants_array && !out.is_empty() {
            return out;
        }
        if before.starts_with('\\') {
            return out;
        }
        out.extend(names.fields.iter().filter(|s| matches(s)).cloned());
        let upper = word.chars().next().is_some_and(|c| c.is_uppercase()) || word.is_empty();
        for k in KEYWORDS {
            if matches(k) {
                out.push(if upper {
                    k.to_string()
                } else {
                    k.to_lowercase()
                });
            }
        }
        for f in FUNCTIONS {
            if matches(f) {
                out.push(format!("{f}("));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = &line[..pos];
        let start = head
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_word(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &head[start..];
        let pairs = self
            .candidates(line, start, word)
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: c,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ARRAYQ_HISTORY") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".arrayq_history"))
}

/// The interactive loop. Returns when the user quits.
pub fn run(session: &mut Session, rt: &Runtime) -> rustyline::Result<()> {
    let names = Arc::new(Mutex::new(Names::default()));
    let config = Config::builder()
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .check_cursor_position(false)
        .max_history_size(5000)?
        .build();
    let mut rl: Editor<ShellHelper, DefaultHistory> = Editor::with_config(config)?;
    rl.set_helper(Some(ShellHelper {
        names: names.clone(),
    }));
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    let mut sigint = rt.block_on(async { Interrupts::new() });
    refresh_names(session, rt, &names);
    stdout_line!(
        "arrayq shell on {}: end statements with ;  \\? help, \\q quit",
        session.client.addr()
    );
    let mut buf = String::new();
    loop {
        let prompt = if buf.is_empty() {
            "arrayq=> "
        } else {
            "arrayq-> "
        };
        match rl.readline(prompt) {
            Ok(line) => {
                if buf.is_empty() && line.trim_start().starts_with('\\') {
                    let cmd = line.trim().to_string();
                    let _ = rl.add_history_entry(cmd.as_str());
                    save(&mut rl, &history);
                    if !backslash(&cmd, session, rt, &mut sigint, &names) {
                        break;
                    }
                    continue;
                }
                buf.push_str(&line);
                buf.push('\n');
                if sql::is_blank(&buf) {
                    buf.clear();
                    continue;
                }
                if !sql::is_complete(&buf) {
                    continue;
                }
                let entry = buf.trim().to_string();
                let _ = rl.add_history_entry(entry.as_str());
                save(&mut rl, &history);
                for stmt in sql::split_statements(&buf) {
                    match run_interruptible(rt, &mut sigint, session.run(&stmt.text)) {
                        Some(Ok(())) => {}
                        Some(Err(e)) => {
                            eprintln!("{}", render_error(&e, Some(&stmt.text)));
                            break;
                        }
                        None => {
                            eprintln!("Cancel request sent\nERROR:  CANCELLED: query cancelled by the user");
                            break;
                        }
                    }
                }
                buf.clear();
                // Any statement may have changed the catalog (the server, not the
                // shell, knows which ones do): one ListArrays call keeps the
                // completion names current.
                refresh_names(session, rt, &names);
            }
            Err(ReadlineError::Interrupted) => {
                // Ctrl-C at the prompt discards the statement being typed.
                buf.clear();
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e),
        }
    }
    save(&mut rl, &history);
    Ok(())
}

fn save(rl: &mut Editor<ShellHelper, DefaultHistory>, history: &Option<PathBuf>) {
    if let Some(h) = history {
        let _ = rl.save_history(h);
    }
}

/// SIGINT as a stream (Ctrl-C while a statement runs; while the line editor
/// reads, the terminal is raw and Ctrl-C arrives as a key instead).
struct Interrupts {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    fn new() -> Interrupts {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Interrupts {
                signal: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Interrupts {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = &mut self.signal {
            s.recv().await;
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }

    /// Forgets a Ctrl-C that arrived while nothing was running.
    async fn drain(&mut self) {
        #[cfg(unix)]
        if self.signal.is_some() {
            while tokio::time::timeout(Duration::ZERO, self.recv())
                .await
                .is_ok()
            {}
        }
    }
}

/// Runs `fut` until it finishes (`Some`) or Ctrl-C is pressed (`None`; the
/// future is dropped, which cancels its gRPC call).
fn run_interruptible<F: Future>(
    rt: &Runtime,
    sigint: &mut Interrupts,
    fut: F,
) -> Option<F::Output> {
    rt.block_on(async {
        sigint.drain().await;
        tokio::select! {
            r = fut => Some(r),
            _ = sigint.recv() => None,
        }
    })
}

fn refresh_names(session: &Session, rt: &Runtime, names: &Arc<Mutex<Names>>) {
    let arrays = match rt.block_on(session.client.list_arrays()) {
        Ok(a) => a,
        Err(_) => return,
    };
    let mut n = Names::default();
    for a in arrays {
        n.fields.extend(a.dimensions.iter().cloned());
        n.fields.extend(a.attributes.iter().cloned());
        n.arrays.push(a.name);
    }
    n.fields.sort();
    n.fields.dedup();
    *names.lock().expect("names lock") = n;
}

fn on_off(arg: Option<&str>, current: bool) -> bool {
    match arg.map(|s| s.to_ascii_lowercase()) {
        Some(s) if s == "on" || s == "true" => true,
        Some(s) if s == "off" || s == "false" => false,
        _ => !current,
    }
}

/// Runs a backslash command; false means quit.
fn backslash(
    cmd: &str,
    session: &mut Session,
    rt: &Runtime,
    sigint: &mut Interrupts,
    names: &Arc<Mutex<Names>>,
) -> bool {
    let mut parts = cmd.splitn(2, char::is_whitespace);
    let name = parts.next().unwrap_or("");
    let arg = parts.next().map(str::trim).filter(|s| !s.is_empty());
    let report = |r: Option<Result<(), arrayq_client::Error>>| match r {
        Some(Ok(())) => {}
        Some(Err(e)) => eprintln!("{}", render_error(&e, None)),
        None => eprintln!("Cancel request sent\nERROR:  CANCELLED: cancelled by the user"),
    };
    match name {
        "\\q" | "\\quit" => return false,
        "\\?" | "\\h" | "\\help" => {
            for (c, h) in COMMANDS {
                stdout_line!("  {c:<8} {h}");
            }
            stdout_line!(
                "  Statements end with ';' and may span lines; Ctrl-C cancels a running statement."
            );
        }
        "\\d" => {
            let name = arg.map(|a| a.trim_matches('"').to_string());
            report(run_interruptible(
                rt,
                sigint,
                session.describe_catalog(name.as_deref()),
            ));
            refresh_names(session, rt, names);
        }
        "\\timing" => {
            session.timing = on_off(arg, session.timing);
            stdout_line!("Timing is {}.", if session.timing { "on" } else { "off" });
        }
        "\\x" => {
            session.display.expanded = on_off(arg, session.display.expanded);
            stdout_line!(
                "Expanded display is {}.",
                if session.display.expanded {
                    "on"
                } else {
                    "off"
                }
            );
        }
        "\\o" => {
            session.set_output(arg.map(PathBuf::from), None);
            stdout_line!("Results go to {}.", session.output_description());
        }
        "\\listen" => {
            let array = arg.unwrap_or("").trim_matches('"').to_string();
            match run_interruptible(rt, sigint, listen(session, &array)) {
                None => stdout_line!("Stopped listening."),
                r => report(r),
            }
        }
        other => eprintln!("invalid command {other}; try \\? for help"),
    }
    true
}

/// Prints change events of `array` until the stream ends; Ctrl-C (handled
/// by the caller) stops it.
async fn listen(session: &Session, array: &str) -> Result<(), arrayq_client::Error> {
    let mut sub = session.client.subscribe(array, 0).await?;
    if array.is_empty() {
        stdout_line!("Listening for changes of all arrays; press Ctrl-C to stop.");
    } else {
        stdout_line!("Listening for changes of \"{array}\"; press Ctrl-C to stop.");
    }
    while let Some(ev) = sub.next().await? {
        stdout_line!("{}", text::event(&ev));
    }
    stdout_line!("(the server ended the stream)");
    Ok(())
}
