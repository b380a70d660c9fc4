//! The suite's queries Q1-Q6 (SQL and the index region each reads) and their
//! reference answers from the generator.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use arrayq_storage::Region;
use arrayq_workload::{era5, Scale};

use crate::suites::common::answers::Answer;
use crate::suites::common::era5_files::write_cube_npy;
use crate::suites::common::iso;

/// One query of the suite.
pub(crate) struct Query {
    pub id: &'static str,
    pub sql: String,
    /// The index region it reads (floors, chunk counts).
    pub region: Region,
}

/// Index ranges of the suite's point, box, hour and week at `n` hours.
struct Grid {
    n: u64,
    point: (u64, u64),
    lat_box: std::ops::Range<u64>,
    lon_box: std::ops::Range<u64>,
    hour: u64,
    week: u64,
}

fn grid(n: usize) -> Grid {
    let qs = crate::suites::layouts::queries(n);
    let point = (qs[0].1 .0[1].start, qs[0].1 .0[2].start);
    let hour = qs[1].1 .0[0].start;
    Grid {
        n: n as u64,
        point,
        lat_box: qs[2].1 .0[1].clone(),
        lon_box: qs[2].1 .0[2].clone(),
        hour,
        week: (7 * 24).min(n as u64),
    }
}

pub(crate) fn queries(n: usize) -> Vec<Query> {
    let g = grid(n);
    let (nl, nm) = (era5::N_LAT as u64, era5::N_LON as u64);
    let (i, j) = g.point;
    vec![
        Query {
            id: "Q1",
            sql: "SELECT t2m FROM era5 WHERE lat = 52.0 AND lon = 5.0".into(),
            region: Region(vec![0..g.n, i..i + 1, j..j + 1]),
        },
        Query {
            id: "Q2",
            sql: format!(
                "SELECT t2m FROM era5 WHERE time = '{}'",
                iso(era5::time_ns(g.hour as usize))
            ),
            region: Region(vec![g.hour..g.hour + 1, 0..nl, 0..nm]),
        },
        Query {
            id: "Q3",
            sql: "SELECT avg(t2m) FROM era5 WHERE lat BETWEEN 50 AND 54 AND lon BETWEEN 3 AND 8 \
                  GROUP BY time"
                .into(),
            region: Region(vec![0..g.n, g.lat_box.clone(), g.lon_box.clone()]),
        },
        Query {
            id: "Q4",
            sql: "SELECT avg(t2m) AS t2m FROM era5 WHERE time < '2023-01-08T00:00:00Z' \
                  GROUP BY lat, lon"
                .into(),
            region: Region(vec![0..g.week, 0..nl, 0..nm]),
        },
        Query {
            id: "Q5",
            sql: "SELECT max(t2m) FROM era5 WHERE time < '2023-01-08T00:00:00Z' \
                  GROUP BY date_trunc('day', time), lat, lon"
                .into(),
            region: Region(vec![0..g.week, 0..nl, 0..nm]),
        },
        Query {
            id: "Q6",
            sql: "SELECT avg(t2m) FROM era5".into(),
            region: Region(vec![0..g.n, 0..nl, 0..nm]),
        },
    ]
}

/// Whether query `id` returns values of the cube itself (compared exactly).
pub(crate) fn exact(id: &str) -> bool {
    matches!(id, "Q1" | "Q2")
}

/// Reference answers from the generator, float64 accumulation; with `npy`, also
/// writes the cube there (float32, C order) for the peers, in the same pass.
pub(crate) fn reference(
    scale: Scale,
    npy: Option<&Path>,
) -> Result<BTreeMap<&'static str, Answer>> {
    let n = era5::n_time(scale);
    let g = grid(n);
    let (nl, nm) = (era5::N_LAT, era5::N_LON);
    let (pi, pj) = (g.point.0 as usize, g.point.1 as usize);
    let mut out = BTreeMap::new();
    let q1 = era5::block(0..n, pi..pi + 1, pj..pj + 1);
    out.insert(
        "Q1",
        Answer::from_values(vec![n], q1.iter().map(|&v| v as f64).collect()),
    );
    let h = g.hour as usize;
    let q2 = era5::block(h..h + 1, 0..nl, 0..nm);
    out.insert(
        "Q2",
        Answer::from_values(vec![nl, nm], q2.iter().map(|&v| v as f64).collect()),
    );
    let (bi, bj) = (
        g.lat_box.start as usize..g.lat_box.end as usize,
        g.lon_box.start as usize..g.lon_box.end as usize,
    );
    let cells = bi.len() * bj.len();
    let q3 = era5::block(0..n, bi, bj);
    out.insert(
        "Q3",
        Answer::from_values(
            vec![n],
            q3.chunks(cells)
                .map(|m| m.iter().map(|&v| v as f64).sum::<f64>() / cells as f64)
                .collect(),
        ),
    );
    let week = g.week as usize;
    let w = era5::block(0..week, 0..nl, 0..nm);
    let plane = nl * nm;
    let mut mean = vec![0f64; plane];
    for m in w.chunks(plane) {
        for (a, &v) in mean.iter_mut().zip(m) {
            *a += v as f64;
        }
    }
    mean.iter_mut().for_each(|a| *a /= week as f64);
    out.insert("Q4", Answer::from_values(vec![nl, nm], mean));
    let days = week.div_ceil(24);
    let mut max = vec![f64::NEG_INFINITY; days * plane];
    for (h, m) in w.chunks(plane).enumerate() {
        let d = &mut max[(h / 24) * plane..][..plane];
        for (a, &v) in d.iter_mut().zip(m) {
            *a = a.max(v as f64);
        }
    }
    out.insert("Q5", Answer::from_values(vec![days, nl, nm], max));

    // Q6 (and the .npy) in month-sized slabs.
    out.insert(
        "Q6",
        Answer::from_values(vec![], vec![write_cube_npy(scale, npy)?]),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_sql() {
        let q = queries(744);
        assert_eq!(q[0].region, Region(vec![0..744, 80..81, 120..121]));
        assert!(q[1].sql.contains("2023-01-15T12:00:00Z"), "{}", q[1].sql);
        assert_eq!(q[2].region, Region(vec![0..744, 72..89, 112..133]));
        assert_eq!(q[3].region.0[0], 0..168);
        let xs = queries(48);
        assert!(xs[1].sql.contains("2023-01-02T23:00:00Z"));
        assert_eq!(xs[4].region.0[0], 0..48);
    }

    #[test]
    fn reference_writes_the_cube_as_npy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cube.npy");
        let answers = reference(Scale::XS, Some(&path)).unwrap();
        let cube = arrayq_tests::read_npy_f32(&path).unwrap();
        assert_eq!(cube.shape, vec![48, era5::N_LAT, era5::N_LON]);
        // Values straight from the formula, C order (hour, lat, lon).
        for (h, i, j) in [(0, 0, 0), (5, 80, 120), (47, 152, 280)] {
            let k = (h * era5::N_LAT + i) * era5::N_LON + j;
            assert_eq!(cube.data[k], era5::value(h as u64, i, j), "({h}, {i}, {j})");
        }
        let mean: f64 = cube.data.iter().map(|&v| v as f64).sum::<f64>() / cube.data.len() as f64;
        // The same mean summed in another order: equal to float64 rounding.
        let q6 = answers["Q6"].values.as_ref().unwrap()[0];
        assert!((q6 - mean).abs() <= 1e-12 * mean, "{q6} vs {mean}");
    }
}
