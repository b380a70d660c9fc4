//! The shell's standard output, in one place. When the reader goes away
//! (`arrayq -c "SELECT ..." | head -1`) the pipe closes and the next write fails
//! with EPIPE (Rust ignores SIGPIPE); the shell then ends at once, quietly and with
//! status 0, as ripgrep and psql do, whichever path was writing (-c, -f, standard
//! input, the interactive shell).

use std::fmt::Display;
use std::io::{self, Write};

/// Runs `f` on the locked stdout and flushes it.
pub fn write(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let r = f(&mut out).and_then(|()| out.flush());
    exit_if_closed(r)
}

/// `println!`, without its panic on a closed stdout. Other write errors are
/// dropped: the line has nowhere else to go.
pub fn line(text: impl Display) {
    let _ = write(|out| writeln!(out, "{text}"));
}

/// Ends the process with status 0 when `r` says the reader closed stdout.
fn exit_if_closed<T>(r: io::Result<T>) -> io::Result<T> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        r => r,
    }
}

/// `println!` through [`line`].
macro_rules! stdout_line {
    ($($arg:tt)*) => {
        $crate::shell::stdout::line(format_args!($($arg)*))
    };
}
pub(crate) use stdout_line;
