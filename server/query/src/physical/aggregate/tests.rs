use super::accumulator::*;
use super::kernels::{accumulate, PieceArgs};
use crate::eval::Col;
use crate::physical::cells::{strides, NO_GROUP};

const ALL: NeededStats = NeededStats {
    sum: true,
    min: true,
    max: true,
    var: true,
    f32: true,
    hold: false,
};

/// A piece `count` at `start` inside a row-major box of `shape`: accumulating it in
/// place (strided) gives the statistics of accumulating a contiguous copy.
fn same_in_place_and_copied(shape: [usize; 3], start: [usize; 3], count: [usize; 3]) {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| {
            if i % 13 == 5 {
                f32::NAN
            } else {
                (i as f32 * 0.37).sin() * 10.0 + 280.0
            }
        })
        .collect();
    let st = strides(&shape);
    let mut copy = Vec::new();
    for a in 0..count[0] {
        for b in 0..count[1] {
            let off = (start[0] + a) * st[0] + (start[1] + b) * st[1] + start[2];
            copy.extend_from_slice(&data[off..off + count[2]]);
        }
    }
    let offset: usize = (0..3).map(|d| start[d] * st[d]).sum();
    // Group keys: (dim 0) reduce the rest; (dims 1, 2) slices; dim 2 alone with a
    // hole (cell by cell).
    let groupings: Vec<(usize, Vec<Vec<usize>>)> = vec![
        (
            count[0],
            vec![
                (0..count[0]).collect(),
                vec![0; count[1]],
                vec![0; count[2]],
            ],
        ),
        (
            count[1] * count[2],
            vec![
                vec![0; count[0]],
                (0..count[1]).map(|i| i * count[2]).collect(),
                (0..count[2]).collect(),
            ],
        ),
        (
            count[2],
            vec![
                vec![0; count[0]],
                vec![0; count[1]],
                (0..count[2])
                    .map(|i| if i == 1 { NO_GROUP } else { i })
                    .collect(),
            ],
        ),
        (
            1,
            vec![vec![0; count[0]], vec![0; count[1]], vec![0; count[2]]],
        ),
    ];
    for (ng, contrib) in groupings {
        let cs: Vec<&[usize]> = contrib.iter().map(|c| c.as_slice()).collect();
        let own = strides(&count);
        let mut a = GroupStats::new(ng, ALL);
        let mut b = GroupStats::new(ng, ALL);
        let args = |offset, strides| PieceArgs {
            shape: &count,
            contrib: &cs,
            lo: 0,
            offset,
            strides,
        };
        accumulate(&mut a, ALL, &Col::F32(data.clone()), &args(offset, &st));
        accumulate(&mut b, ALL, &Col::F32(copy.clone()), &args(0, &own));
        // Plain counts and f64 extrema, as the end of a query sees them.
        let flat = |x: &GroupStats| {
            let mut m = GroupStats::new(ng, NeededStats { f32: false, ..ALL });
            m.merge_from(x, 0);
            m
        };
        let (a, b) = (flat(&a), flat(&b));
        // The shifts may differ (first value of the box vs of the piece).
        let d = a.shift - b.shift;
        for g in 0..ng {
            let (na, nb) = (a.counts.get(g).copied(), b.counts.get(g).copied());
            assert_eq!(na.unwrap_or(0), nb.unwrap_or(0), "count[{g}]");
            let n = na.unwrap_or(0) as f64;
            let (sa, sb) = (a.sums[g] + n * d, b.sums[g]);
            assert!(
                (sa - sb).abs() <= 1e-9 * sb.abs().max(1.0),
                "sum[{g}] {sa} {sb}"
            );
            assert_eq!(a.mins[g], b.mins[g], "min[{g}]");
            assert_eq!(a.maxs[g], b.maxs[g], "max[{g}]");
        }
    }
}

/// Per group of a direct loop over the cells: count, sum, min, max, var_pop.
fn direct(cells: &[Vec<f64>]) -> Vec<(u64, f64, f64, f64, f64)> {
    cells
        .iter()
        .map(|c| {
            let v: Vec<f64> = c.iter().copied().filter(|x| !x.is_nan()).collect();
            let n = v.len() as f64;
            let sum: f64 = v.iter().sum();
            let mean = sum / n;
            let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
            let mn = v.iter().copied().fold(f64::INFINITY, f64::min);
            let mx = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (v.len() as u64, sum, mn, mx, var)
        })
        .collect()
}

/// `GROUP BY` the first dimension of a piece left strided in its chunk (rows of
/// every width, the last rows ending where the values end, groups skipped by label
/// picks, groups holding NaN or infinities): the rows kernel against a direct loop,
/// for every combination of statistics.
#[test]
fn rows_kernel_matches_a_direct_loop() {
    let needs = [
        ALL,
        NeededStats {
            min: false,
            max: false,
            var: false,
            ..ALL
        },
        NeededStats {
            sum: false,
            max: false,
            var: false,
            ..ALL
        },
        NeededStats {
            sum: false,
            min: false,
            var: false,
            ..ALL
        },
        NeededStats {
            sum: false,
            min: false,
            max: false,
            var: false,
            ..ALL
        },
    ];
    for (shape, start, count) in [
        ([40usize, 8, 8], [0usize, 0, 0], [40usize, 8, 8]),
        ([40, 8, 8], [3, 2, 3], [37, 6, 5]),
        ([40, 8, 8], [0, 7, 7], [40, 1, 1]),
        ([9, 5, 23], [1, 1, 2], [8, 4, 21]),
        ([9, 5, 23], [0, 0, 15], [9, 5, 8]),
        ([6, 3, 300], [0, 1, 0], [6, 2, 300]),
    ] {
        let n: usize = shape.iter().product();
        let st = strides(&shape);
        let data: Vec<f32> = (0..n)
            .map(|i| {
                let t = i / st[0];
                match (t % 5, i % 11) {
                    (1, 4) => f32::NAN,
                    (3, 6) => f32::INFINITY,
                    (3, 7) => f32::NEG_INFINITY,
                    _ => (i as f32 * 0.61).cos() * 15.0 + 285.0,
                }
            })
            .collect();
        // Every other group of the first dimension picked (the rest skipped).
        let ng = count[0].div_ceil(2);
        let c0: Vec<usize> = (0..count[0])
            .map(|t| if t % 2 == 0 { t / 2 } else { NO_GROUP })
            .collect();
        let contrib = [c0.clone(), vec![0; count[1]], vec![0; count[2]]];
        let cs: Vec<&[usize]> = contrib.iter().map(|c| c.as_slice()).collect();
        let mut cells = vec![Vec::new(); ng];
        for t in 0..count[0] {
            for i in 0..count[1] {
                for j in 0..count[2] {
                    let off = (start[0] + t) * st[0] + (start[1] + i) * st[1] + start[2] + j;
                    if c0[t] != NO_GROUP {
                        cells[c0[t]].push(data[off] as f64);
                    }
                }
            }
        }
        let want = direct(&cells);
        let offset: usize = (0..3).map(|d| start[d] * st[d]).sum();
        let args = PieceArgs {
            shape: &count,
            contrib: &cs,
            lo: 0,
            offset,
            strides: &st,
        };
        for need in needs {
            let mut acc = GroupStats::new(ng, need);
            accumulate(&mut acc, need, &Col::F32(data.clone()), &args);
            let mut m = GroupStats::new(ng, NeededStats { f32: false, ..need });
            m.merge_from(&acc, 0);
            for (g, &(n, sum, mn, mx, var)) in want.iter().enumerate() {
                let what = format!("group {g} of {count:?} at {start:?} in {shape:?}, {need:?}");
                assert_eq!(m.counts[g], n, "count, {what}");
                let nf = n as f64;
                if need.sum {
                    let got = nf * m.shift + m.sums[g];
                    let ok = got == sum
                        || (got.is_nan() && sum.is_nan())
                        || (got - sum).abs() <= 1e-12 * sum.abs().max(1.0);
                    assert!(ok, "sum {got} vs {sum}, {what}");
                }
                if need.var && sum.is_finite() {
                    let got = (m.sums_sq[g] - m.sums[g] * m.sums[g] / nf).max(0.0) / nf;
                    assert!(
                        (got - var).abs() <= 1e-9 * var.max(1.0),
                        "var {got} vs {var}, {what}"
                    );
                }
                if need.min {
                    assert_eq!(m.mins[g], mn, "min, {what}");
                }
                if need.max {
                    assert_eq!(m.maxs[g], mx, "max, {what}");
                }
            }
        }
    }
}

/// Counts from visits (few and long, or many and short) and plain counts, over
/// any range: against counting group by group.
#[test]
fn counts_in_matches_counting_each_visit() {
    let len = 200;
    let few: Vec<(usize, usize)> = vec![(0, 200), (20, 50), (20, 50), (150, 50), (199, 1)];
    let many: Vec<(usize, usize)> = (0..300).map(|i| ((i * 37) % 190, 1 + i % 9)).collect();
    for visits in [few, many] {
        for plain in [false, true] {
            let mut acc = GroupStats::new(len, ALL);
            acc.visits = visits.clone();
            if plain {
                acc.counts = (0..len as u64).map(|g| g % 3).collect();
            }
            for r in [0..len, 0..1, 19..71, 70..200, 100..100, 150..199] {
                let want: Vec<u64> = r
                    .clone()
                    .map(|g| {
                        let n = if plain { g as u64 % 3 } else { 0 };
                        n + visits.iter().filter(|v| v.0 <= g && g < v.0 + v.1).count() as u64
                    })
                    .collect();
                assert_eq!(acc.counts_in(r.clone()), want, "{r:?}, plain {plain}");
            }
        }
    }
}

#[test]
fn strided_pieces_match_copies() {
    same_in_place_and_copied([3, 5, 80], [1, 1, 3], [2, 3, 70]);
    same_in_place_and_copied([3, 5, 80], [0, 0, 0], [3, 5, 80]);
    same_in_place_and_copied([4, 6, 9], [1, 2, 2], [3, 3, 5]);
    same_in_place_and_copied([2, 40, 70], [0, 3, 0], [2, 30, 70]);
}
