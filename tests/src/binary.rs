//! Finding the workspace's binaries (`arrayqd`, `arrayq`) from a test or a
//! benchmark: the one cargo built next to the running executable, built on
//! demand when it is missing, so every caller tests the code of its own build.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::workspace_root;

/// Environment variable naming an `arrayqd` to use instead of the built one.
pub const ARRAYQD_ENV: &str = "ARRAYQD";

/// The `arrayqd` to run: `$ARRAYQD` when set (it must exist), else
/// [`workspace_binary`]`("arrayq-server", "arrayqd")`.
pub fn arrayqd_binary() -> io::Result<PathBuf> {
    if let Some(p) = std::env::var_os(ARRAYQD_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("${ARRAYQD_ENV} = {} does not exist", p.display()),
            ));
        }
        return Ok(p);
    }
    workspace_binary("arrayq-server", "arrayqd")
}

/// Binary `name` of workspace package `package` in the profile directory of the
/// running executable (`target/<profile>/`, for tests `target/<profile>/deps/..`),
/// built there with `cargo build -p PACKAGE --bin NAME` when it is missing. An
/// existing binary is used as it is.
pub fn workspace_binary(package: &str, name: &str) -> io::Result<PathBuf> {
    let profile_dir = profile_dir()?;
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if bin.exists() {
        return Ok(bin);
    }
    build(package, name, &profile_dir)?;
    if bin.exists() {
        Ok(bin)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no {} after building it", bin.display()),
        ))
    }
}

/// `target/<profile>`: the running executable's directory, or its parent for test
/// executables (which live in `deps/`).
fn profile_dir() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| io::Error::other("the running executable has no directory"))?;
    Ok(match dir.file_name() {
        Some(n) if n == "deps" || n == "examples" => dir.parent().unwrap_or(dir).to_path_buf(),
        _ => dir.to_path_buf(),
    })
}

/// Builds `package`'s `name` into the target directory that holds `profile_dir`,
/// with the profile of that directory (`debug`, `release` or a custom one).
fn build(package: &str, name: &str, profile_dir: &Path) -> io::Result<()> {
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| io::Error::other("the profile directory has no parent"))?;
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["build", "-p", package, "--bin", name, "--target-dir"])
        .arg(target_dir)
        .current_dir(workspace_root())
        .stdin(Stdio::null());
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
    }
    eprintln!("building {name} into {} ...", profile_dir.display());
    let status = cmd.status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "building {name} failed ({status})"
        )))
    }
}

/// Removes every `ARRAYQ_*` variable and `NO_COLOR` from `cmd`'s environment, so
/// the developer's settings cannot leak into a test.
pub fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("ARRAYQ_") || k == "NO_COLOR" {
            cmd.env_remove(k);
        }
    }
}

/// Runs `arrayq args...` against `addr`; panics with its stderr unless it succeeds,
/// else returns its stdout.
pub fn arrayq_ok(addr: &str, args: &[&str]) -> String {
    let o = arrayq_command(addr)
        .args(args)
        .output()
        .expect("cannot run arrayq");
    assert!(
        o.status.success(),
        "arrayq {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8 output")
}

/// The metadata rows of `DESCRIBE array` through the shell, each as
/// `owner,key,value` (CSV, as the shell prints them, without the row number).
pub fn described_metadata(addr: &str, array: &str) -> Vec<String> {
    let out = arrayq_ok(
        addr,
        &["-c", &format!("DESCRIBE {array}"), "--format", "csv"],
    );
    out.lines()
        .filter_map(|l| l.split_once(",metadata,").map(|(_, rest)| rest.to_string()))
        .collect()
}

/// The `arrayq` shell (built if missing) aimed at the server at `addr`, with a clean
/// environment and no stdin: add the arguments and run it.
pub fn arrayq_command(addr: &str) -> Command {
    let bin = workspace_binary("arrayq-client", "arrayq").expect("the arrayq binary");
    let mut cmd = Command::new(bin);
    clean_env(&mut cmd);
    cmd.env("ARRAYQ_ADDR", addr)
        .stdin(std::process::Stdio::null());
    cmd
}
