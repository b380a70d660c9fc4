//! arrayq's side: Q7 over gRPC against a real `arrayqd` serving a copy of the cube
//! (kept running across the rounds), the smooth field written through the client,
//! and the answers kept as `.npy` for the checks.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use arrayq_client::{Client, Coords, QueryResult};
use arrayq_workload::era5;

use super::data::{self, Target, Window, RES, SMOOTH, SMOOTH_ATTR};
use crate::measure::{time_runs, Timing};
use crate::suites::common::arrayq::MAX_RESULT_BYTES;
use crate::suites::common::arrayqd::{ArrayqdOptions, ArrayqdProcess};
use crate::suites::common::grpc_client::client_runtime;
use crate::suites::Ctx;

/// Files of arrayq's answers in the suite's data directory.
pub(super) const ONE_NPY: &str = "arrayq-one.npy";
pub(super) const MAPS_NPY: &str = "arrayq-maps.npy";
pub(super) const SMOOTH_NPY: &str = "arrayq-smooth.npy";

/// What arrayq did; `error` set when a query failed (the rest is then missing).
#[derive(Debug, Default)]
pub(super) struct ArrayqRun {
    /// The first Q7 query after the server started (transform computed), seconds.
    pub first: Option<f64>,
    /// The server's own time of the first query, seconds.
    pub first_server: Option<f64>,
    /// Q7, one map, warm: one timing per round.
    pub one: Vec<Timing>,
    /// The server's own time of every timed one-map query, seconds.
    pub one_server: Vec<f64>,
    /// Q7 for every map of the window, warm: one timing per round.
    pub maps: Vec<Timing>,
    /// The server's own time of every timed multi-map query, seconds.
    pub maps_server: Vec<f64>,
    /// The first failure, as the client reported it.
    pub error: Option<String>,
    /// Results whose shape, dimensions or coordinates are not the target grid's.
    pub problems: Vec<String>,
    /// Which answers were written ([`ONE_NPY`], [`MAPS_NPY`], [`SMOOTH_NPY`]).
    pub written: Vec<&'static str>,
    /// The smooth field was stored (array created and written over gRPC).
    pub smooth_stored: bool,
}

/// Every run of every round as one timing.
pub(super) fn merged(rounds: &[Timing]) -> Option<Timing> {
    let all: Vec<f64> = rounds.iter().flat_map(|t| t.runs_s.clone()).collect();
    (!all.is_empty()).then(|| Timing::from_secs(all))
}

/// A running `arrayqd` serving a copy of the cube (array `era5`) and a client.
pub(super) struct Arrayq {
    // Dropped in this order: the client, its runtime, then the server (stopped).
    client: Client,
    rt: tokio::runtime::Runtime,
    _server: ArrayqdProcess,
}

impl Arrayq {
    /// Starts `arrayqd` on `served` with the suite's threads and connects.
    pub(super) fn start(ctx: &Ctx, served: &Path) -> Result<Arrayq> {
        let mut opts = ArrayqdOptions::for_ctx(ctx);
        opts.args = vec!["--max-result-bytes".into(), MAX_RESULT_BYTES.to_string()];
        let server = ArrayqdProcess::start(served, &opts)?;
        let rt = client_runtime(ctx.threads)?;
        let client = rt.block_on(Client::connect(server.url()))?;
        Ok(Arrayq {
            rt,
            client,
            _server: server,
        })
    }

    fn query(&self, sql: &str) -> Result<QueryResult> {
        self.rt
            .block_on(self.client.query(sql))
            .map_err(|e| anyhow!("{e}"))
    }

    /// The first Q7 query (transform computed, timed), then one of each query whose
    /// answer goes to `out` as `.npy`: one map, every map, and the smooth field
    /// (stored first through `CreateArray` + `Write`).
    pub(super) fn prepare(&self, w: &Window, out: &Path) -> Result<ArrayqRun> {
        let target = Target::q7();
        let mut run = ArrayqRun::default();
        let t = Instant::now();
        match self.query(&w.sql_one()) {
            Ok(first) => {
                run.first = Some(t.elapsed().as_secs_f64());
                run.first_server = Some(first.stats.elapsed.as_secs_f64());
                keep(&first, &target, None, out, ONE_NPY, &mut run)?;
                match self.query(&w.sql_maps()) {
                    Ok(r) => keep(&r, &target, Some(w.maps), out, MAPS_NPY, &mut run)?,
                    Err(e) => run.error = Some(format!("{e:#}")),
                }
            }
            Err(e) => run.error = Some(format!("{e:#}")),
        }
        match self.store_smooth() {
            Ok(()) => run.smooth_stored = true,
            Err(e) => {
                let e = format!("storing the smooth field: {e:#}");
                run.error.get_or_insert(e);
            }
        }
        if run.smooth_stored && run.error.is_none() {
            match self.query(&Window::sql_smooth()) {
                Ok(r) => keep(&r, &target, None, out, SMOOTH_NPY, &mut run)?,
                Err(e) => run.error = Some(format!("{e:#}")),
            }
        }
        Ok(run)
    }

    /// The smooth field as array `smooth` through the client's write path.
    fn store_smooth(&self) -> Result<()> {
        self.rt.block_on(async {
            self.client.create_array_sql(&data::smooth_ddl()).await?;
            let header = arrayq_client::client::write_header(
                SMOOTH,
                &[SMOOTH_ATTR],
                &[0..era5::N_LAT as u64, 0..era5::N_LON as u64],
                vec![],
            )?;
            let bytes: Vec<u8> = data::smooth_field()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            self.client.write_raw(header, vec![bytes]).await?;
            Ok(())
        })
    }

    /// One round: one map and every map, each one untimed run then `runs` timed.
    pub(super) fn round(&self, runs: usize, w: &Window, run: &mut ArrayqRun) -> Result<()> {
        let (t, server) = timed(runs, || self.query(&w.sql_one()))?;
        run.one.push(t);
        run.one_server.extend(server);
        let (t, server) = timed(runs, || self.query(&w.sql_maps()))?;
        run.maps.push(t);
        run.maps_server.extend(server);
        Ok(())
    }
}

/// One untimed run, then `runs` timed ones: the timing and the server's own
/// elapsed time (query statistics) of each timed run.
fn timed(runs: usize, mut f: impl FnMut() -> Result<QueryResult>) -> Result<(Timing, Vec<f64>)> {
    let mut server = Vec::new();
    let (t, _) = time_runs(runs, 1, || {
        let r = f()?;
        server.push(r.stats.elapsed.as_secs_f64());
        anyhow::Ok(())
    })?;
    // The warm-up's figure is not one of the timed runs.
    Ok((t, server.split_off(1)))
}

/// Checks a result against the target grid (`maps`: a leading time dimension of
/// that length) and writes its values as `.npy` when their count fits.
fn keep(
    r: &QueryResult,
    target: &Target,
    maps: Option<usize>,
    out: &Path,
    file: &'static str,
    run: &mut ArrayqRun,
) -> Result<()> {
    let mut want: Vec<usize> = maps.into_iter().collect();
    want.extend([target.height, target.width]);
    for p in grid_problems(r, target, &want) {
        run.problems.push(format!("{file}: {p}"));
    }
    let column = r.columns.first().context("a result without columns")?;
    let values: Vec<f32> = column
        .values
        .to_f64_vec()
        .into_iter()
        .map(|v| v as f32)
        .collect();
    if values.len() == want.iter().product::<usize>() {
        data::write_npy(&out.join(file), &want, &values)?;
        run.written.push(file);
    }
    Ok(())
}

/// What differs between a result and the grid it should have: shape, the names of
/// the last two dimensions (y, x) and their coordinates (cell centres).
pub(super) fn grid_problems(r: &QueryResult, target: &Target, want: &[usize]) -> Vec<String> {
    let mut v = Vec::new();
    if r.shape != want {
        v.push(format!("shape {:?}, expected {want:?}", r.shape));
    }
    let n = r.dims.len();
    if n < 2 {
        v.push(format!("{n} dimensions, expected (.., y, x)"));
        return v;
    }
    let (dy, dx) = (&r.dims[n - 2], &r.dims[n - 1]);
    if (dy.name.as_str(), dx.name.as_str()) != ("y", "x") {
        v.push(format!(
            "dimensions ({}, {}), expected (y, x)",
            dy.name, dx.name
        ));
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * RES;
    for (name, c, first, step) in [
        ("y", &dy.coords, target.y(0), -RES),
        ("x", &dx.coords, target.x(0), RES),
    ] {
        let ok = match c {
            Coords::Regular { start, step: s } => close(*start, first) && close(*s, step),
            Coords::Values(vals) => {
                vals.len() >= 2 && close(vals[0], first) && close(vals[1] - vals[0], step)
            }
            _ => false,
        };
        if !ok {
            v.push(format!(
                "{name} coordinates {}, expected centres from {first} by {step}",
                coords_text(c)
            ));
        }
    }
    v
}

/// A short description of coordinates (the first two of a list).
fn coords_text(c: &Coords) -> String {
    match c {
        Coords::Regular { start, step } => format!("from {start} by {step}"),
        Coords::Values(v) => format!(
            "{} values [{}, ..]",
            v.len(),
            v.iter()
                .take(2)
                .map(f64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("{other:?}").chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrayq_client::{Column, ColumnValues, DType, Dim};

    fn result(dims: Vec<(&str, Coords)>, shape: Vec<usize>) -> QueryResult {
        let n: usize = shape.iter().product();
        let bytes: Vec<u8> = (0..n).flat_map(|k| (k as f32).to_le_bytes()).collect();
        let values = arrayq_client::result::buffer_from_le(DType::F32, &bytes).unwrap();
        QueryResult {
            dims: dims
                .into_iter()
                .map(|(name, coords)| Dim {
                    name: name.into(),
                    coords,
                    metadata: Default::default(),
                })
                .collect(),
            shape,
            columns: vec![Column {
                name: "t2m".into(),
                values: ColumnValues::Numeric(values),
                metadata: Default::default(),
            }],
            scalar: false,
            notes: vec![],
            stats: Default::default(),
        }
    }

    #[test]
    fn the_target_grid_is_checked() {
        let t = Target::q7();
        let y = Coords::Regular {
            start: 7_445_000.0,
            step: -RES,
        };
        let x = Coords::Values((0..t.width).map(|k| t.x(k)).collect());
        let good = result(vec![("y", y.clone()), ("x", x.clone())], vec![341, 342]);
        assert!(grid_problems(&good, &t, &[341, 342]).is_empty());

        let dir = tempfile::tempdir().unwrap();
        let mut run = ArrayqRun::default();
        keep(&good, &t, None, dir.path(), ONE_NPY, &mut run).unwrap();
        assert_eq!(run.written, vec![ONE_NPY]);
        let back = arrayq_tests::read_npy_f32(dir.path().join(ONE_NPY)).unwrap();
        assert_eq!(back.shape, vec![341, 342]);
        assert_eq!(back.data[343], 343.0);

        // Transposed, and y ascending from the bottom.
        let up = Coords::Regular {
            start: 4_045_000.0,
            step: RES,
        };
        let bad = result(vec![("x", x), ("y", up)], vec![342, 341]);
        let p = grid_problems(&bad, &t, &[341, 342]);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p[0].contains("shape [342, 341]"), "{p:?}");
        assert!(
            p[3].contains("x coordinates from 4045000 by 10000"),
            "{p:?}"
        );
    }
}
