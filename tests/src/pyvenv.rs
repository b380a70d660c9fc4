//! A Python venv shared by all tests, so Python-based references and peers (numpy,
//! later grpcio, psycopg, ...) run the same way on every machine without touching
//! the system Python.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate lives one level below the workspace root")
        .to_path_buf()
}

/// Path of the venv's `python3`, creating the venv on first use and reinstalling
/// `tests/python/requirements.txt` into it whenever that file changes.
///
/// The venv is `<workspace root>/target/pyvenv`, or `$ARRAYQ_PYVENV` if set. Safe to
/// call from many threads and test processes at once: creation happens under a lock
/// file, and a marker holding the installed requirements is written last, atomically.
/// Panics with pip's output if the venv cannot be built (e.g. no `python3 -m venv`).
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| ensure_venv().unwrap_or_else(|e| panic!("arrayq test venv: {e}")))
        .clone()
}

/// Runs `tests/reference/workload_ref.py` (the numpy reference) with `args` in the
/// test venv and returns its output; callers check `status`.
pub fn run_reference(args: &[&str]) -> Output {
    let script = workspace_root().join("tests/reference/workload_ref.py");
    Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .expect("cannot start the venv's python")
}

fn venv_dir() -> PathBuf {
    match std::env::var_os("ARRAYQ_PYVENV") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target").join("pyvenv"),
    }
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python3")
    }
}

/// File in the venv recording which requirements were installed.
const MARKER: &str = "arrayq-requirements.txt";

fn ensure_venv() -> Result<PathBuf, String> {
    let venv = venv_dir();
    let req_path = workspace_root().join("tests/python/requirements.txt");
    let req = fs::read_to_string(&req_path).map_err(|e| format!("{}: {e}", req_path.display()))?;
    let py = venv_python(&venv);
    let ready = || py.exists() && fs::read_to_string(venv.join(MARKER)).ok().as_ref() == Some(&req);
    if ready() {
        return Ok(py); // fast path, no lock
    }

    let parent = venv.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let lock_path = venv.with_extension("lock");
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("{}: {e}", lock_path.display()))?;
    let mut lock = fd_lock::RwLock::new(lock_file);
    let _guard = lock
        .write()
        .map_err(|e| format!("lock {}: {e}", lock_path.display()))?;
    if ready() {
        return Ok(py); // another process built it while we waited
    }

    let _ = fs::remove_file(venv.join(MARKER));
    if !py.exists() {
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "venv"]).arg(&venv);
        run(cmd)?;
    }
    let mut cmd = Command::new(&py);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "-q",
        "-r",
    ])
    .arg(&req_path);
    run(cmd)?;

    // Write the marker atomically so a concurrent fast path never sees half a file.
    let tmp = venv.join(format!("{MARKER}.tmp"));
    fs::write(&tmp, &req).map_err(|e| format!("{}: {e}", tmp.display()))?;
    fs::rename(&tmp, venv.join(MARKER)).map_err(|e| format!("marker: {e}"))?;
    Ok(py)
}

fn run(mut cmd: Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{cmd:?} failed ({})\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}
