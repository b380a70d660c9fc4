//! The `arrayq` shell: running statements and printing their outcome.

pub mod cf;
pub mod export;
pub mod load;
pub mod netcdf;
pub mod pgload;
pub mod repl;
pub mod stdout;
pub mod text;
pub mod zarr;

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrayq_client::format::{self, DisplayOptions};
use arrayq_client::sql::{self, Statement};
use arrayq_client::{Client, Error, QueryOptions, QueryResult};

/// Output format of results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned tables (summaries for large results).
    Table,
    /// Comma-separated values, one row per cell.
    Csv,
    /// One JSON object per result.
    Json,
    /// numpy .npy (binary).
    Npy,
}

impl Format {
    /// The format a file name asks for (by extension), if any.
    pub fn from_path(p: &Path) -> Option<Format> {
        match p.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "json" | "jsonl" => Some(Format::Json),
            "npy" => Some(Format::Npy),
            "txt" => Some(Format::Table),
            _ => None,
        }
    }
}

/// Where results go.
#[derive(Debug)]
enum Sink {
    Stdout,
    File {
        path: PathBuf,
        format: Format,
        /// False until the first result was written (then later ones append,
        /// except npy, which holds one array and is replaced).
        started: bool,
    },
}

/// State of a shell session.
pub struct Session {
    pub client: Client,
    pub format: Format,
    pub display: DisplayOptions,
    pub timing: bool,
    pub query_opts: QueryOptions,
    sink: Sink,
}

/// Terminal settings for the display of results on stdout.
pub fn terminal_display(max_rows: usize, expanded: bool) -> DisplayOptions {
    let tty = io::stdout().is_terminal();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let width = console::Term::stdout()
        .size_checked()
        .map(|(_, w)| w as usize)
        .filter(|&w| w > 0)
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .unwrap_or(80);
    DisplayOptions {
        max_rows,
        expanded,
        color: tty && !no_color,
        width,
    }
}

impl Session {
    pub fn new(client: Client, format: Format, display: DisplayOptions) -> Session {
        Session {
            client,
            format,
            display,
            timing: false,
            query_opts: QueryOptions::default(),
            sink: Sink::Stdout,
        }
    }

    /// Sends results to `path` (format from `format`, or from the extension,
    /// or table text), or back to stdout with `None`.
    pub fn set_output(&mut self, path: Option<PathBuf>, format: Option<Format>) {
        self.sink = match path {
            None => Sink::Stdout,
            Some(path) => {
                let format = format
                    .or_else(|| Format::from_path(&path))
                    .unwrap_or(Format::Table);
                Sink::File {
                    path,
                    format,
                    started: false,
                }
            }
        };
    }

    /// Description of where results go, for `\o`.
    pub fn output_description(&self) -> String {
        match &self.sink {
            Sink::Stdout => "standard output".into(),
            Sink::File { path, format, .. } => format!("{} ({format:?})", path.display()),
        }
    }

    /// True if status lines (command tags, timing) may go to stdout: only
    /// when stdout carries tables.
    fn status_on_stdout(&self) -> bool {
        !matches!(self.sink, Sink::Stdout) || self.format == Format::Table
    }

    /// Prints a status line (command tag, timing).
    pub fn status(&self, line: &str) {
        if self.status_on_stdout() {
            stdout::line(line);
        } else {
            eprintln!("{line}");
        }
    }

    /// Prints text that is the answer of a statement (listings, plans).
    fn text(&mut self, s: &str) -> io::Result<()> {
        match &mut self.sink {
            Sink::File {
                path,
                format: Format::Table,
                started,
            } => {
                let mut f = open_sink(path, *started)?;
                *started = true;
                f.write_all(s.as_bytes())
            }
            _ => {
                if self.status_on_stdout() {
                    stdout::write(|out| out.write_all(s.as_bytes()))
                } else {
                    eprint!("{s}");
                    Ok(())
                }
            }
        }
    }

    fn emit_result(&mut self, r: &QueryResult) -> io::Result<()> {
        if r.columns.is_empty() {
            // EXPLAIN answers with the plan's text as notes.
            let mut text = String::new();
            for n in &r.notes {
                text.push_str(n);
                text.push('\n');
            }
            return self.text(&text);
        }
        let display = self.display.clone();
        match &mut self.sink {
            Sink::Stdout => stdout::write(|out| write_result(out, self.format, r, &display)),
            Sink::File {
                path,
                format,
                started,
            } => {
                let append = *started && *format != Format::Npy;
                let f = open_sink(path, append)?;
                let mut w = io::BufWriter::new(f);
                let plain = DisplayOptions {
                    color: false,
                    ..display
                };
                write_result(&mut w, *format, r, &plain)?;
                w.flush()?;
                *started = true;
                eprintln!("wrote {} cells to {}", r.len(), path.display());
                Ok(())
            }
        }
    }

    /// Runs one statement and prints its outcome. Every statement goes to the
    /// server's Query RPC, which decides what it is: catalog statements answer with
    /// a table like any query, EXPLAIN with the plan's text.
    pub async fn run(&mut self, text: &str) -> Result<(), Error> {
        let started = Instant::now();
        let r = self
            .client
            .query_stream_with(text, &self.query_opts)
            .await?
            .collect()
            .await?;
        self.emit_result(&r).map_err(io_error)?;
        let server_time = Some(r.stats.elapsed).filter(|t| !t.is_zero());
        if self.timing {
            let wall = started.elapsed();
            let line = match server_time {
                Some(s) => format!(
                    "Time: {:.3} ms (server {:.3} ms)",
                    wall.as_secs_f64() * 1e3,
                    s.as_secs_f64() * 1e3
                ),
                None => format!("Time: {:.3} ms", wall.as_secs_f64() * 1e3),
            };
            self.status(&line);
        }
        Ok(())
    }

    /// `\d` (all arrays) and `\d NAME` (one array), from the ListArrays and
    /// DescribeArray RPCs.
    pub async fn describe_catalog(&mut self, name: Option<&str>) -> Result<(), Error> {
        let text = match name {
            None => text::array_list(&self.client.list_arrays().await?),
            Some(n) => text::describe(&self.client.describe_with(n, 0, true).await?),
        };
        self.text(&text).map_err(io_error)
    }

    /// Runs a script (statements separated by `;`); stops at the first
    /// error, which is printed with a caret under its place in the script.
    /// Returns false if a statement failed.
    pub async fn run_script(&mut self, script: &str, source: &str) -> bool {
        for stmt in sql::split_statements(script) {
            if let Err(e) = self.run(&stmt.text).await {
                eprintln!("{}", script_error(&e, &stmt, script, source));
                return false;
            }
        }
        true
    }
}

fn open_sink(path: &Path, append: bool) -> io::Result<File> {
    if append {
        OpenOptions::new().append(true).create(true).open(path)
    } else {
        File::create(path)
    }
}

/// Writes one result in `format`.
pub fn write_result(
    w: &mut dyn Write,
    format: Format,
    r: &QueryResult,
    display: &DisplayOptions,
) -> io::Result<()> {
    match format {
        Format::Table => w.write_all(format::render_result(r, display).as_bytes())?,
        Format::Csv => format::write_csv(&mut *w, r)?,
        Format::Json => {
            format::write_json(&mut *w, r)?;
            w.write_all(b"\n")?;
        }
        Format::Npy => arrayq_client::npy::write_result_npy(&mut *w, r)?,
    }
    w.flush()
}

fn io_error(e: io::Error) -> Error {
    Error::InvalidInput(format!("cannot write the result: {e}"))
}

/// An error of a statement of a script: `source:line:col:` prefix (none
/// when `source` is empty) and the caret under the script line.
pub fn script_error(e: &Error, stmt: &Statement, script: &str, source: &str) -> String {
    match e.position() {
        Some(p) => {
            let (line, column) = stmt.script_position(p.line, p.column);
            let pos = arrayq_client::Position { line, column };
            let mut out = if source.is_empty() {
                String::new()
            } else {
                format!("{source}:{pos}: ")
            };
            let body = arrayq_client::format::render_error(e, None);
            out.push_str(&body);
            if let Some(c) = arrayq_client::format::caret(script, pos) {
                out.push('\n');
                out.push_str(&c);
            }
            out
        }
        None if source.is_empty() => arrayq_client::format::render_error(e, None),
        None => format!(
            "{source}:{}: {}",
            stmt.line,
            arrayq_client::format::render_error(e, None)
        ),
    }
}
