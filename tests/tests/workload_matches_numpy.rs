//! The Rust workload generator (`arrayq-workload`) against the project's independent
//! numpy reference (`tests/reference/workload_ref.py`) at scale XS.

use arrayq_tests::{read_npy_f32, run_reference, ulp_diff};
use arrayq_workload::{energy, era5, Scale};

/// Runs the reference with `args`, panicking with its stderr on failure.
fn reference(args: &[&str]) -> String {
    let out = run_reference(args);
    assert!(
        out.status.success(),
        "workload_ref.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Asserts `rust` equals `numpy`: bit-identical except for at most a handful of
/// values 1 ulp apart (libm differences), whose count is printed.
fn assert_same(what: &str, rust: &[f32], numpy: &[f32]) {
    assert_eq!(rust.len(), numpy.len(), "{what}: lengths");
    let mut off = 0usize;
    for (k, (&r, &p)) in rust.iter().zip(numpy).enumerate() {
        if r.to_bits() != p.to_bits() {
            let d = ulp_diff(r, p);
            assert!(d <= 1, "{what}[{k}]: rust {r} numpy {p} ({d} ulp)");
            off += 1;
        }
    }
    println!("{what}: {} values, {off} differ by 1 ulp", rust.len());
    assert!(
        off * 100_000 <= rust.len(),
        "{what}: {off} values 1 ulp off"
    );
}

#[test]
fn era5_cube_matches_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("era5.npy");
    reference(&["--era5", "XS", "--out", path.to_str().unwrap()]);
    let numpy = read_npy_f32(&path).unwrap();
    let n = era5::n_time(Scale::XS);
    assert_eq!(numpy.shape, [n, era5::N_LAT, era5::N_LON]);
    let rust = era5::cube(Scale::XS);
    assert_same("era5 XS", rust.as_slice().unwrap(), &numpy.data);
}

#[test]
fn energy_portfolio_matches_numpy() {
    let dir = tempfile::tempdir().unwrap();
    for round in [None, Some(1), Some(2)] {
        let path = dir.path().join("energy.npy");
        let mut args = vec!["--energy", "xs", "--out", path.to_str().unwrap()];
        let r = round.map(|r: u32| r.to_string());
        if let Some(r) = &r {
            args.extend(["--as-of-round", r.as_str()]);
        }
        reference(&args);
        let numpy = read_npy_f32(&path).unwrap();
        let rust = energy::portfolio(Scale::XS, round);
        assert_eq!(numpy.shape, rust.shape());
        assert_same(
            &format!("energy XS as of {round:?}"),
            rust.as_slice().unwrap(),
            &numpy.data,
        );
    }
}

/// Applying rounds 1..=3 in order yields the "as of" portfolios and finally the newest.
#[test]
fn rounds_reproduce_portfolio() {
    let mut m = energy::portfolio(Scale::XS, None);
    m.fill(f32::NAN);
    for r in 1..=3 {
        for b in energy::round(Scale::XS, r) {
            let mut row = m.row_mut(b.asset as usize - 1);
            for (k, v) in b.values.iter().enumerate() {
                row[b.q0 + k] = *v;
            }
        }
        let want = energy::portfolio(Scale::XS, Some(r));
        assert!(
            m.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
            "round {r}"
        );
    }
    assert_eq!(m, energy::portfolio(Scale::XS, None));
}

/// The reference's CSV (every version in ingest order) lists exactly the Rust batches.
#[test]
fn rounds_match_reference_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.csv");
    reference(&["--energy", "XS", "--csv", path.to_str().unwrap()]);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("asset_id,ts,version,value"));
    let rust = (1..=3)
        .flat_map(|r| energy::round(Scale::XS, r))
        .flat_map(|b| {
            let (asset, version, q0) = (b.asset, b.version, b.q0);
            b.values
                .into_iter()
                .enumerate()
                .map(move |(k, v)| (asset, energy::ts_ns(q0 + k), version, v))
        });
    let mut n = 0;
    for (line, (asset, ts, version, value)) in lines.by_ref().zip(rust) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0].parse::<i64>().unwrap(), asset, "{line}");
        assert_eq!(f[1], iso_utc(ts), "{line}");
        assert_eq!(f[2].parse::<u32>().unwrap(), version, "{line}");
        assert_eq!(f[3].parse::<f64>().unwrap(), value as f64, "{line}");
        n += 1;
    }
    assert_eq!(lines.next(), None, "reference has more rows than Rust");
    assert_eq!(
        n,
        text.lines().count() - 1,
        "Rust has more rows than the reference"
    );
}

/// `YYYY-MM-DDTHH:MM:SSZ` of nanoseconds since the epoch, as the reference writes it.
fn iso_utc(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
