//! The tokens in force, replaced as a whole when SIGHUP asks to re-read the auth
//! file; a file that does not load keeps the tokens of before. Without an auth
//! file SIGHUP is logged and ignored (its default action would end the server).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tracing::{error, info, warn};

use super::{Caller, TokenSet};

/// The server's tokens: the `--auth-token` and the `--auth-file`'s entries.
pub struct Tokens {
    admin_token: Option<String>,
    file: Option<PathBuf>,
    current: RwLock<Arc<TokenSet>>,
}

impl Tokens {
    /// Loads the tokens; None when neither a token nor a file is given (then
    /// every caller may do everything).
    pub fn load(
        admin_token: Option<&str>,
        file: Option<&Path>,
    ) -> Result<Option<Arc<Tokens>>, String> {
        if admin_token.is_none() && file.is_none() {
            return Ok(None);
        }
        let set = read(admin_token, file)?;
        Ok(Some(Arc::new(Tokens {
            admin_token: admin_token.map(str::to_string),
            file: file.map(Path::to_path_buf),
            current: RwLock::new(Arc::new(set)),
        })))
    }

    /// The caller a presented token names.
    pub fn lookup(&self, given: &[u8]) -> Option<Caller> {
        let set = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        set.lookup(given)
    }

    /// Re-reads the auth file; on error the tokens stay as they were. Blocking (a
    /// small file).
    pub fn reload(&self) -> Result<usize, String> {
        let set = read(self.admin_token.as_deref(), self.file.as_deref())?;
        let n = set.len();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(n)
    }
}

fn read(admin_token: Option<&str>, file: Option<&Path>) -> Result<TokenSet, String> {
    let text = match file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| format!("auth file {}: cannot read it: {e}", p.display()))?,
        ),
        None => None,
    };
    TokenSet::build(admin_token, file.zip(text.as_deref()))
}

/// Handles every SIGHUP: re-reads the auth file when `tokens` has one, else logs
/// and ignores it. The handler is installed before this returns, so a SIGHUP right
/// after startup never ends the process.
#[cfg(unix)]
pub fn on_sighup(tokens: Option<Arc<Tokens>>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    let tokens = tokens.filter(|t| t.file.is_some());
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let Some(t) = tokens.clone() else {
                warn!(target: "arrayq::access", "SIGHUP: no --auth-file to re-read; ignored");
                continue;
            };
            match tokio::task::spawn_blocking(move || t.reload()).await {
                Ok(Ok(n)) => {
                    info!(target: "arrayq::access", tokens = n, "SIGHUP: auth file reloaded")
                }
                Ok(Err(e)) => {
                    error!(target: "arrayq::access", "SIGHUP: {e}; the tokens in force stay")
                }
                Err(e) => error!(target: "arrayq::access", "SIGHUP: reload failed: {e}"),
            }
        }
    });
    Ok(())
}

#[cfg(not(unix))]
pub fn on_sighup(_tokens: Option<Arc<Tokens>>) -> std::io::Result<()> {
    Ok(())
}
