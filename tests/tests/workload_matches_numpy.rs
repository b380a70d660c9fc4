//! The Rust workload generator (`arrayq-workload`) against the project's independent
//! numpy reference (`tests/reference/workload_ref.py`) at scale XS.

use arrayq_tests::{read_npy_f32, run_reference, ulp_diff, Npy};
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

/// Asserts `rust` equals `numpy` bit for bit: both compute every value in `f64` in
/// the formula's operation order and round to `f32` once (the generator's contract).
/// A failure reports how many values differ and the first, with its distance in ulps.
fn assert_same(what: &str, rust: &[f32], numpy: &[f32]) {
    assert_eq!(rust.len(), numpy.len(), "{what}: lengths");
    let differ: Vec<usize> = (0..rust.len())
        .filter(|&k| rust[k].to_bits() != numpy[k].to_bits())
        .collect();
    if let Some(&k) = differ.first() {
        panic!(
            "{what}: {} of {} values differ; first [{k}]: rust {} numpy {} ({} ulp)",
            differ.len(),
            rust.len(),
            rust[k],
            numpy[k],
            ulp_diff(rust[k], numpy[k])
        );
    }
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

    // The loaders' box generator and the per-cell formula against numpy's cells.
    let at = |h: usize, i: usize, j: usize| numpy.data[(h * era5::N_LAT + i) * era5::N_LON + j];
    let (t, la, lo) = (5..29, 70..83, 270..281);
    let boxed = era5::block(t.clone(), la.clone(), lo.clone());
    let mut want = Vec::with_capacity(boxed.len());
    for h in t {
        for i in la.clone() {
            for j in lo.clone() {
                want.push(at(h, i, j));
            }
        }
    }
    assert_same("era5::block", &boxed, &want);
    let cells: Vec<(usize, usize, usize)> = (0..n)
        .step_by(7)
        .flat_map(|h| (0..era5::N_LAT).step_by(19).map(move |i| (h, i)))
        .flat_map(|(h, i)| (0..era5::N_LON).step_by(23).map(move |j| (h, i, j)))
        .collect();
    let per_cell: Vec<f32> = cells
        .iter()
        .map(|&(h, i, j)| era5::value(h as u64, i, j))
        .collect();
    let want: Vec<f32> = cells.iter().map(|&(h, i, j)| at(h, i, j)).collect();
    assert_same("era5::value", &per_cell, &want);
}

/// numpy's portfolio `(asset, quarter)` after ingest round `round` (`None`: newest).
fn numpy_portfolio(round: Option<u32>) -> Npy<f32> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("energy.npy");
    let mut args = vec!["--energy", "XS", "--out", path.to_str().unwrap()];
    let r = round.map(|r| r.to_string());
    if let Some(r) = &r {
        args.extend(["--as-of-round", r.as_str()]);
    }
    reference(&args);
    read_npy_f32(&path).unwrap()
}

#[test]
fn energy_portfolio_matches_numpy() {
    let (n_assets, _) = energy::sizes(Scale::XS);
    for round in [None, Some(1), Some(2), Some(3)] {
        let numpy = numpy_portfolio(round);
        assert_eq!(numpy.shape, [n_assets, energy::n_quarters(Scale::XS)]);
        let rust = energy::portfolio(Scale::XS, round);
        assert_eq!(rust.shape(), numpy.shape.as_slice());
        assert_same(
            &format!("energy XS as of {round:?}"),
            rust.as_slice().unwrap(),
            &numpy.data,
        );
    }
}

/// Applying the Rust ingest rounds 1..=3 in order yields numpy's "as of round"
/// portfolios, and after the last round numpy's newest one: every cell is written
/// in round 1, later rounds overwrite exactly the batches that have newer versions.
#[test]
fn rounds_reproduce_numpy_portfolio() {
    let (n_assets, _) = energy::sizes(Scale::XS);
    let n_q = energy::n_quarters(Scale::XS);
    let mut m = vec![f32::NAN; n_assets * n_q];
    for r in 1..=3 {
        for b in energy::round(Scale::XS, r) {
            assert_eq!(b.version, r, "round {r} delivers version {r}");
            let row = (b.asset as usize - 1) * n_q;
            m[row + b.q0..row + b.q0 + b.values.len()].copy_from_slice(&b.values);
        }
        assert_same(
            &format!("rounds 1..={r}"),
            &m,
            &numpy_portfolio(Some(r)).data,
        );
    }
    assert_same("rounds 1..=3 vs newest", &m, &numpy_portfolio(None).data);
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
