//! Python venvs shared by all tests, so Python-based references and peers (numpy,
//! xarray, grpcio, psycopg, ...) and the project's own Python client run the same
//! way on every machine without touching the system Python.
//!
//! Two venvs, one mechanism: each is (re)installed when what it should hold changes
//! (a marker file records a stamp of it, written last and atomically), under a lock
//! file held exclusively, so parallel test processes never see half an install.
//! - [`python`]: `tests/python/requirements.txt` (references and peers), in
//!   `target/pyvenv` or `$ARRAYQ_PYVENV`.
//! - [`python_client_venv`]: the package `client/python` installed as a user does
//!   (`pip install client/python[test]`), in `target/pyclient-venv` or
//!   `$ARRAYQ_PYCLIENT_VENV`; its stamp hashes the package's sources and the .proto.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
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

/// Path of the test venv's `python3` with `tests/python/requirements.txt` installed
/// (see the module). Panics with pip's output if the venv cannot be built (e.g. no
/// `python3 -m venv`).
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let spec = requirements_spec().unwrap_or_else(|e| panic!("arrayq test venv: {e}"));
            if let Some(py) = spec.ready() {
                return py; // fast path, no lock
            }
            let mut lock = spec
                .lock()
                .unwrap_or_else(|e| panic!("arrayq test venv: {e}"));
            let _exclusive = lock.write().expect("venv lock");
            spec.install()
                .unwrap_or_else(|e| panic!("arrayq test venv: {e}"))
        })
        .clone()
}

/// The `python3` of a venv holding the Python client package (see the module),
/// reinstalled first if its sources changed, and the venv's lock: hold it shared
/// (`lock.read()`) while using the venv, so nobody reinstalls under you.
pub fn python_client_venv() -> (PathBuf, fd_lock::RwLock<File>) {
    let root = workspace_root();
    let spec = VenvSpec {
        dir: venv_dir("ARRAYQ_PYCLIENT_VENV", "pyclient-venv"),
        marker: "arrayq-client-installed.txt",
        stamp: client_source_hash(&root),
        pip_args: vec![format!("{}[test]", root.join("client/python").display()).into()],
    };
    let mut lock = spec
        .lock()
        .unwrap_or_else(|e| panic!("python client venv: {e}"));
    let py = {
        let _exclusive = lock.write().expect("venv lock");
        spec.install()
            .unwrap_or_else(|e| panic!("python client venv: {e}"))
    };
    (py, lock)
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

/// A venv and what pip installs into it.
struct VenvSpec {
    dir: PathBuf,
    /// File in the venv holding `stamp` once the install finished.
    marker: &'static str,
    stamp: String,
    pip_args: Vec<OsString>,
}

impl VenvSpec {
    fn python(&self) -> PathBuf {
        if cfg!(windows) {
            self.dir.join("Scripts").join("python.exe")
        } else {
            self.dir.join("bin").join("python3")
        }
    }

    /// The venv's python if it holds what it should.
    fn ready(&self) -> Option<PathBuf> {
        let py = self.python();
        let stamp = fs::read_to_string(self.dir.join(self.marker)).ok();
        (py.exists() && stamp.as_deref() == Some(self.stamp.as_str())).then_some(py)
    }

    /// The lock file beside the venv (not yet locked).
    fn lock(&self) -> Result<fd_lock::RwLock<File>, String> {
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        let path = self.dir.with_extension("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(fd_lock::RwLock::new(file))
    }

    /// Creates the venv and installs into it unless it is ready. Call with the
    /// lock held exclusively.
    fn install(&self) -> Result<PathBuf, String> {
        if let Some(py) = self.ready() {
            return Ok(py); // another process installed it while we waited
        }
        let marker = self.dir.join(self.marker);
        let _ = fs::remove_file(&marker);
        let py = self.python();
        if !py.exists() {
            let mut cmd = Command::new("python3");
            cmd.args(["-m", "venv"]).arg(&self.dir);
            run(cmd)?;
        }
        let mut cmd = Command::new(&py);
        cmd.args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
            .args(&self.pip_args)
            .current_dir(workspace_root());
        run(cmd)?;
        // Written atomically so a concurrent fast path never sees half a file.
        let tmp = self.dir.join(format!("{}.tmp", self.marker));
        fs::write(&tmp, &self.stamp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        fs::rename(&tmp, &marker).map_err(|e| format!("marker: {e}"))?;
        Ok(py)
    }
}

fn venv_dir(env_var: &str, default_name: &str) -> PathBuf {
    match std::env::var_os(env_var) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target").join(default_name),
    }
}

fn requirements_spec() -> Result<VenvSpec, String> {
    let req_path = workspace_root().join("tests/python/requirements.txt");
    let req = fs::read_to_string(&req_path).map_err(|e| format!("{}: {e}", req_path.display()))?;
    Ok(VenvSpec {
        dir: venv_dir("ARRAYQ_PYVENV", "pyvenv"),
        marker: "arrayq-requirements.txt",
        stamp: req,
        pip_args: vec!["-r".into(), req_path.into()],
    })
}

/// FNV-1a over the installable sources of the Python client and the .proto, in a
/// fixed order (generated files and build by-products excluded).
fn client_source_hash(root: &Path) -> String {
    let pkg = root.join("client/python");
    let mut files = vec![
        pkg.join("pyproject.toml"),
        pkg.join("MANIFEST.in"),
        pkg.join("README.md"),
        pkg.join("_build/arrayq_build.py"),
        root.join("proto/arrayq/v1/arrayq.proto"),
    ];
    let mut modules: Vec<PathBuf> = fs::read_dir(pkg.join("arrayq"))
        .expect("client/python/arrayq")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    modules.sort();
    files.extend(modules);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for f in &files {
        let bytes = fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let name = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        for b in name.bytes().chain([0u8]).chain(bytes) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}\n")
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
