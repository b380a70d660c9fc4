//! The Python client package (`client/python`, import name `arrayq`) against the real
//! `arrayqd`: the package is pip-installed into its own venv (`target/pyclient-venv`,
//! or `$ARRAYQ_PYCLIENT_VENV`) exactly as a user installs it (`pip install
//! client/python[test]`, the build backend generating the protobuf stubs from
//! `proto/`), the ERA5 XS cube is loaded with `arrayq demo era5 --scale XS`, and
//! `python -m pytest client/python/tests` runs with the server's address in
//! `ARRAYQ_TEST_ADDR`: eager queries, Dask-lazy reads (threads and a
//! `dask.distributed.LocalCluster` with 2 workers) compared with the numpy reference
//! (`tests/reference/workload_ref.py`), writes, subscriptions and errors.
//!
//! The venv is reinstalled only when the package's sources or the .proto change (a
//! marker file holds their hash); installs happen under a lock file, and a test run
//! holds the lock shared, so parallel runs never see a half-installed package. A
//! failing pip or pytest fails the test with its output; a skipped pytest test fails
//! it too.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use arrayq_tests::{arrayq_command, workspace_root, TestServer};

/// File in the venv recording the hash of what was installed.
const MARKER: &str = "arrayq-client-installed.txt";

fn venv_dir() -> PathBuf {
    match std::env::var_os("ARRAYQ_PYCLIENT_VENV") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target").join("pyclient-venv"),
    }
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python3")
    }
}

/// FNV-1a over the installable sources of the package and the .proto, in a fixed
/// order (generated files and build by-products excluded).
fn source_hash(root: &Path) -> String {
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
        for b in f
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .bytes()
            .chain([0u8])
            .chain(bytes)
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}\n")
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Creates the venv and (re)installs the package when its sources changed. Called
/// with the install lock held exclusively.
fn install(root: &Path, venv: &Path) {
    let py = venv_python(venv);
    let hash = source_hash(root);
    if py.exists() && fs::read_to_string(venv.join(MARKER)).ok().as_deref() == Some(hash.as_str()) {
        return;
    }
    let _ = fs::remove_file(venv.join(MARKER));
    if !py.exists() {
        run(
            Command::new("python3").args(["-m", "venv"]).arg(venv),
            "python3 -m venv",
        );
    }
    let started = Instant::now();
    let spec = format!("{}[test]", root.join("client/python").display());
    run(
        Command::new(&py)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
            .arg(&spec)
            .current_dir(root),
        "pip install client/python[test]",
    );
    eprintln!("installed client/python in {:?}", started.elapsed());
    let tmp = venv.join(format!("{MARKER}.tmp"));
    fs::write(&tmp, &hash).unwrap();
    fs::rename(&tmp, venv.join(MARKER)).unwrap();
}

#[test]
fn python_client_package_passes_its_tests_against_arrayqd() {
    let root = workspace_root();
    let venv = venv_dir();
    fs::create_dir_all(venv.parent().unwrap()).unwrap();
    let lock_path = venv.with_extension("lock");
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("{}: {e}", lock_path.display()));
    let mut lock = fd_lock::RwLock::new(lock_file);
    {
        let _exclusive = lock.write().expect("install lock");
        install(&root, &venv);
    }
    // Shared while the tests run: nobody reinstalls under them.
    let _shared = lock.read().expect("shared install lock");

    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::builder(tmp.path().join("data"))
        .clean_env()
        .log_file(tmp.path().join("arrayqd.log"))
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = server.addr().to_string();
    let load = run(
        arrayq_command(&addr).args(["demo", "era5", "--scale", "XS"]),
        "arrayq demo era5 --scale XS",
    );
    let loaded = String::from_utf8_lossy(&load.stdout).to_string();
    assert!(
        loaded.contains("loaded era5: time=48 x lat=153 x lon=281"),
        "{loaded}"
    );

    let started = Instant::now();
    let mut pytest = Command::new(venv_python(&venv));
    arrayq_tests::clean_env(&mut pytest);
    let out = pytest
        .args([
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rfEs",
            "client/python/tests",
        ])
        .current_dir(&root)
        .env("ARRAYQ_TEST_ADDR", &addr)
        .env("ARRAYQ_TEST_ARRAY", "era5")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("cannot start pytest");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}(pytest took {:?})", started.elapsed());
    assert!(
        out.status.success(),
        "pytest client/python/tests failed ({}):\n{text}",
        out.status
    );
    let summary = text
        .lines()
        .rev()
        .find(|l| l.contains(" passed"))
        .unwrap_or_else(|| panic!("no pytest summary line:\n{text}"));
    assert!(
        !summary.contains("skipped") && !summary.contains("failed") && !summary.contains("error"),
        "pytest must run every test: {summary}"
    );
    drop(server);
}
