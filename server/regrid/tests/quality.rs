//! Interpolation quality against analytic fields whose value at any (lat, lon) is
//! known: the error at every target cell centre, per method, against the documented
//! bounds. Run with `--nocapture` to see the table of errors.

use arrayq_regrid::kernels::{interpolate, Window};
use arrayq_regrid::{
    coord_map, Bounds, CoordMap, IndexBox, Method, SourceGrid, TargetGrid, Transformer,
};
use std::sync::Arc;

const TMERC: &str = "+proj=tmerc +lon_0=15 +datum=WGS84";

fn smooth(lat: f64, lon: f64) -> f64 {
    (2.0 * lat.to_radians()).sin() * lon.to_radians().cos()
}

/// A front 0.5 degrees wide along latitude 50.
fn front(lat: f64, _lon: f64) -> f64 {
    ((lat - 50.0) / 0.25).tanh()
}

/// ERA5's European grid (72 -> 34, -25 -> 45) at `step` degrees, descending or not.
fn europe(step: f64, descending: bool) -> SourceGrid {
    let ny = (38.0 / step).round() as usize + 1;
    let nx = (70.0 / step).round() as usize + 1;
    let (y0, dy) = if descending {
        (72.0, -step)
    } else {
        (34.0, step)
    };
    SourceGrid {
        y0,
        dy,
        ny,
        x0: -25.0,
        dx: step,
        nx,
        geographic: true,
    }
}

fn q7_target(res: f64) -> TargetGrid {
    let b = Bounds {
        xmin: -2_020_000.0,
        ymin: 4_040_000.0,
        xmax: 1_400_000.0,
        ymax: 7_450_000.0,
    };
    TargetGrid::covering(b, res).unwrap()
}

fn sample(g: &SourceGrid, f: fn(f64, f64) -> f64) -> Vec<f64> {
    (0..g.ny)
        .flat_map(|i| (0..g.nx).map(move |j| (i, j)))
        .map(|(i, j)| {
            let (lon, lat) = g.centre(i, j);
            f(lat, lon)
        })
        .collect()
}

fn map_for(src: SourceGrid, tgt: TargetGrid, crs: &str) -> Arc<CoordMap> {
    let t = Transformer::new(crs, "EPSG:4326").unwrap();
    coord_map(src, tgt, &t).unwrap().0
}

fn regrid(map: &CoordMap, data: &[f64], method: Method) -> Vec<f64> {
    let g = map.source;
    let win = Window {
        data,
        cells: IndexBox {
            i: 0..g.ny,
            j: 0..g.nx,
        },
        grid_ny: g.ny,
        grid_nx: g.nx,
        wraps: g.wraps(),
    };
    let mut out = vec![0.0; map.target.ny * map.target.nx];
    interpolate(
        method,
        map,
        &win,
        0..map.target.ny,
        0..map.target.nx,
        &mut out,
    )
    .unwrap();
    out
}

/// (max, rms, cells compared) of `got` against `f` at the target centres, over the
/// cells `keep` accepts (by lat) that have a value.
fn errors(
    map: &CoordMap,
    got: &[f64],
    f: fn(f64, f64) -> f64,
    keep: impl Fn(f64) -> bool,
) -> (f64, f64, usize) {
    let (mut max, mut sq, mut n) = (0.0f64, 0.0, 0);
    for (k, &g) in got.iter().enumerate() {
        let (lon, lat) = (map.src_x[k], map.src_y[k]);
        if g.is_nan() || !keep(lat) {
            continue;
        }
        let e = (g - f(lat, lon)).abs();
        max = max.max(e);
        sq += e * e;
        n += 1;
    }
    (max, (sq / n.max(1) as f64).sqrt(), n)
}

#[test]
fn smooth_field_errors_per_method_meet_their_bounds() {
    let map = map_for(europe(0.25, true), q7_target(10_000.0), TMERC);
    let data = sample(&map.source, smooth);
    let mut table = Vec::new();
    for m in [Method::Nearest, Method::Bilinear, Method::Cubic] {
        let got = regrid(&map, &data, m);
        table.push((m, errors(&map, &got, smooth, |_| true)));
    }
    for (m, (max, rms, n)) in &table {
        println!(
            "smooth 0.25deg -> 10 km tmerc  {:<9} max {max:.3e}  rms {rms:.3e}  ({n} cells)",
            m.name()
        );
    }
    let (nearest, bilinear, cubic) = (table[0].1, table[1].1, table[2].1);
    // Nearest: at most half a cell away along each axis, times the largest slopes
    // (|df/dlat| <= 2, |df/dlon| <= 1 per radian).
    let half_cell = 0.125f64.to_radians();
    assert!(
        nearest.0 <= (2.0 + 1.0) * half_cell,
        "nearest max {}",
        nearest.0
    );
    // Bilinear: h^2/8 times the second derivatives (<= 4 and 1) per axis, plus the cross term.
    let h = 0.25f64.to_radians();
    assert!(
        bilinear.0 <= h * h / 8.0 * (4.0 + 1.0) + h * h / 4.0 * 2.0,
        "bilinear max {}",
        bilinear.0
    );
    assert!(
        cubic.0 < bilinear.0 && cubic.1 < bilinear.1,
        "cubic {cubic:?} vs bilinear {bilinear:?}"
    );
    // Every method fills the same cells: the Q7 grid reaches past the source only in
    // its corners.
    assert!(nearest.2 > 100_000 && bilinear.2 > 100_000 && cubic.2 > 100_000);
}

#[test]
fn bilinear_error_falls_fourfold_when_the_source_resolution_is_halved() {
    let tgt = q7_target(10_000.0);
    let mut maxes = Vec::new();
    for step in [0.25, 0.125] {
        let map = map_for(europe(step, true), tgt, TMERC);
        let got = regrid(&map, &sample(&map.source, smooth), Method::Bilinear);
        // The same cells for both: away from the source's edges.
        let e = errors(&map, &got, smooth, |lat| (36.0..70.0).contains(&lat));
        println!("bilinear at {step} deg: max {:.3e} rms {:.3e}", e.0, e.1);
        maxes.push(e);
    }
    let ratio_max = maxes[0].0 / maxes[1].0;
    let ratio_rms = maxes[0].1 / maxes[1].1;
    assert!((3.5..4.5).contains(&ratio_rms), "rms ratio {ratio_rms}");
    assert!((3.0..5.0).contains(&ratio_max), "max ratio {ratio_max}");
}

#[test]
fn sharp_front_no_overshoot_but_cubic_and_small_errors_away_from_it() {
    let map = map_for(europe(0.25, true), q7_target(10_000.0), TMERC);
    let data = sample(&map.source, front);
    for m in [Method::Nearest, Method::Bilinear, Method::Cubic] {
        let got = regrid(&map, &data, m);
        let (lo, hi) = got
            .iter()
            .filter(|v| !v.is_nan())
            .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let near = errors(&map, &got, front, |lat| (lat - 50.0).abs() < 1.0);
        let far = errors(&map, &got, front, |lat| (lat - 50.0).abs() > 3.0);
        println!(
            "front {:<9} range [{lo:.4}, {hi:.4}]  near max {:.3e} rms {:.3e}  far max {:.3e}",
            m.name(),
            near.0,
            near.1,
            far.0
        );
        match m {
            // Convex combinations of source values never leave their range.
            Method::Nearest | Method::Bilinear => assert!(lo >= -1.0 && hi <= 1.0),
            // Keys' kernel overshoots a step by at most ~7%.
            _ => assert!(lo >= -1.08 && hi <= 1.08, "cubic range [{lo}, {hi}]"),
        }
        assert!(far.0 < 1e-3, "{} far from the front: {}", m.name(), far.0);
        assert!(near.0 < 1.0, "{} near the front: {}", m.name(), near.0);
    }
}

#[test]
fn average_conserves_the_area_mean_of_coarse_cells() {
    // 100 km cells from a 0.25 degree (~28 km) source.
    let map = map_for(europe(0.25, true), q7_target(100_000.0), TMERC);
    let data = sample(&map.source, smooth);
    let got = regrid(&map, &data, Method::Average);
    // The exact mean of the field over each target cell, by 16 x 16 sub-samples in
    // the target plane (cells of a conformal projection are near-equal in area).
    let t = map.target;
    let inv = Transformer::new(TMERC, "EPSG:4326").unwrap();
    let mut pts = Vec::with_capacity(t.ny * t.nx * 256);
    for r in 0..t.ny {
        for c in 0..t.nx {
            for a in 0..16 {
                for b in 0..16 {
                    pts.push((
                        t.xmin + (c as f64 + (b as f64 + 0.5) / 16.0) * t.res_x,
                        t.ymax - (r as f64 + (a as f64 + 0.5) / 16.0) * t.res_y,
                    ));
                }
            }
        }
    }
    inv.transform(&mut pts).unwrap();
    let (mut sum_got, mut sum_true, mut n, mut worst) = (0.0, 0.0, 0usize, 0.0f64);
    for (k, &v) in got.iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        let cell = &pts[k * 256..(k + 1) * 256];
        let exact = cell.iter().map(|&(lon, lat)| smooth(lat, lon)).sum::<f64>() / 256.0;
        worst = worst.max((v - exact).abs());
        sum_got += v;
        sum_true += exact;
        n += 1;
    }
    let mean_err = (sum_got - sum_true).abs() / n as f64;
    println!("average 0.25deg -> 100 km: {n} cells, area mean error {mean_err:.3e}, worst cell {worst:.3e}");
    assert!(n > 900, "{n} cells");
    assert!(mean_err < 2e-4, "area mean off by {mean_err}");
    // A cell's footprint is approximated by the box of its corners: small per-cell error.
    assert!(worst < 5e-3, "worst cell off by {worst}");
}

#[test]
fn ascending_latitudes_give_the_exact_values_too() {
    let map = map_for(europe(0.25, false), q7_target(10_000.0), TMERC);
    let got = regrid(&map, &sample(&map.source, smooth), Method::Bilinear);
    let (max, _, n) = errors(&map, &got, smooth, |_| true);
    assert!(n > 100_000 && max < 3e-5, "max {max} over {n} cells");
}

#[test]
fn global_grid_wraps_across_the_seam() {
    // 0 .. 359 E, 1 degree: a tmerc grid centred on 0 E reads both sides of the seam.
    let src = SourceGrid {
        y0: 90.0,
        dy: -1.0,
        ny: 181,
        x0: 0.0,
        dx: 1.0,
        nx: 360,
        geographic: true,
    };
    let b = Bounds {
        xmin: -500_000.0,
        ymin: 4_000_000.0,
        xmax: 500_000.0,
        ymax: 6_000_000.0,
    };
    let map = map_for(
        src,
        TargetGrid::covering(b, 50_000.0).unwrap(),
        "+proj=tmerc +lon_0=0 +datum=WGS84",
    );
    let data = sample(&src, smooth);
    for m in [
        Method::Nearest,
        Method::Bilinear,
        Method::Cubic,
        Method::Average,
    ] {
        let got = regrid(&map, &data, m);
        assert!(
            got.iter().all(|v| !v.is_nan()),
            "{} left NaN at the seam",
            m.name()
        );
        let (max, _, _) = errors(&map, &got, smooth, |_| true);
        assert!(max < 0.03, "{}: max {max}", m.name());
    }
}

#[test]
fn outside_the_source_and_fill_values_give_nan() {
    let map = map_for(europe(0.25, true), q7_target(10_000.0), TMERC);
    let mut data = sample(&map.source, smooth);
    // One source cell missing: lat 50, lon 15 (row 88, column 160).
    let hole = 88 * map.source.nx + 160;
    data[hole] = f64::NAN;
    for m in [Method::Nearest, Method::Bilinear, Method::Cubic] {
        let got = regrid(&map, &data, m);
        let (r, _) = m.reach();
        for (k, &g) in got.iter().enumerate() {
            let (fi, fj) = (map.fi[k], map.fj[k]);
            let out = !(-0.5..=152.5).contains(&fi) || !(-0.5..=280.5).contains(&fj);
            if out {
                assert!(
                    g.is_nan(),
                    "{} cell {k} outside the grid has a value",
                    m.name()
                );
            }
            let reads_hole = match m {
                Method::Nearest => (fi - 88.0).abs() < 0.5 && (fj - 160.0).abs() < 0.5,
                _ => (fi - 88.0).abs() < (r + 1) as f64 && (fj - 160.0).abs() < (r + 1) as f64,
            };
            if reads_hole && (fi - 88.0).abs() < 0.99 && (fj - 160.0).abs() < 0.99 {
                assert!(
                    g.is_nan(),
                    "{} cell {k} next to the hole has a value",
                    m.name()
                );
            }
            if (fi - 88.0).abs() > 3.0 || (fj - 160.0).abs() > 3.0 {
                assert!(out || g.is_finite() || fi > 151.0 || fj > 279.0 || fi < 1.0 || fj < 1.0);
            }
        }
    }
}
