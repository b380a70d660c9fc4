//! The suite's queries E1-E4 (their windows and SQL) and their reference answers
//! from the generator.

use std::collections::BTreeMap;

use arrayq_workload::{energy, Scale};

use crate::suites::common::answers::Answer;
use crate::suites::common::iso;

/// The windows of the queries, as UTC quarter ranges, and E1/E4's asset ids.
pub(crate) struct Windows {
    pub ids: Vec<usize>,
    pub week: (usize, usize),
    pub month: (usize, usize),
    pub n_days: usize,
    pub e3_assets: usize,
}

pub(crate) fn windows(scale: Scale) -> Windows {
    let (n_assets, n_days) = energy::sizes(scale);
    let days = energy::local_days(n_days);
    // Local week Jan 9-15 (every day when there are fewer than 15), as energy_pg.py.
    let week = if days.len() >= 15 {
        &days[8..15]
    } else {
        &days[..]
    };
    let month = &days[..days.len().min(31)];
    let span = |d: &[(usize, usize)]| (d[0].0, d[d.len() - 1].0 + d[d.len() - 1].1);
    Windows {
        ids: (1..=n_assets).step_by(50).collect(),
        week: span(week),
        month: span(month),
        n_days,
        e3_assets: n_assets.min(10),
    }
}

pub(crate) fn queries(w: &Windows) -> Vec<(&'static str, String)> {
    let ids: Vec<String> = w.ids.iter().map(|a| a.to_string()).collect();
    let range = |(a, b): (usize, usize)| {
        format!(
            "time >= '{}' AND time < '{}'",
            iso(energy::ts_ns(a)),
            iso(energy::ts_ns(b))
        )
    };
    let e1 = format!(
        "SELECT sum(value) FROM power WHERE asset IN ({}) AND {} GROUP BY time",
        ids.join(", "),
        range(w.week)
    );
    vec![
        ("E1", e1.clone()),
        (
            "E2",
            format!(
                "SELECT sum(value) FROM power WHERE {} GROUP BY time",
                range(w.month)
            ),
        ),
        (
            "E3",
            format!(
                "SELECT sum(value * 0.25) AS mwh FROM power WHERE asset BETWEEN 1 AND {} \
                 GROUP BY asset, date_trunc('day', time, 'Europe/Amsterdam')",
                w.e3_assets
            ),
        ),
        (
            "E4",
            e1.replacen("FROM power", "FROM power AS OF VERSION 2", 1),
        ),
    ]
}

/// E1-E4 from the generator, float64 sums.
pub(crate) fn reference(scale: Scale, w: &Windows) -> BTreeMap<&'static str, Answer> {
    let newest = energy::portfolio(scale, None);
    let mut out = BTreeMap::new();
    let series = |rows: &dyn Fn(usize) -> Vec<f32>, assets: &[usize], (q0, q1): (usize, usize)| {
        let mut s = vec![0f64; q1 - q0];
        for &a in assets {
            let r = rows(a);
            for (x, &v) in s.iter_mut().zip(&r[q0..q1]) {
                *x += v as f64;
            }
        }
        Answer::from_values(vec![q1 - q0], s)
    };
    let row_newest = |a: usize| newest.row(a - 1).to_vec();
    let row_v2 = |a: usize| energy::rows(scale, a - 1..a, Some(2));
    out.insert("E1", series(&row_newest, &w.ids, w.week));
    let all: Vec<usize> = (1..=newest.nrows()).collect();
    out.insert("E2", series(&row_newest, &all, w.month));
    let days = energy::local_days(w.n_days);
    let mut e3 = Vec::new();
    for a in 1..=w.e3_assets {
        let r = newest.row(a - 1);
        for &(q0, n) in &days {
            e3.push(r.iter().skip(q0).take(n).map(|&v| v as f64).sum::<f64>() * 0.25);
        }
    }
    out.insert("E3", Answer::from_values(vec![w.e3_assets, days.len()], e3));
    out.insert("E4", series(&row_v2, &w.ids, w.week));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_of_s() {
        let w = windows(Scale::S);
        assert_eq!(w.ids, vec![1, 51, 101, 151]);
        assert_eq!(w.week.1 - w.week.0, 7 * 96);
        assert_eq!(w.month.1 - w.month.0, 31 * 96);
        let xs = windows(Scale::XS);
        assert_eq!(xs.week, (0, 3 * 96));
        let q = queries(&w);
        assert!(q[3].1.contains("AS OF VERSION 2"), "{}", q[3].1);
        assert!(q[0].1.contains("'2023-01-08T23:00:00Z'"), "{}", q[0].1);
    }
}
