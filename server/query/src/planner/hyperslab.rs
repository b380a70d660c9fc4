//! Constraints -> hyperslab: each dimension's constraints become an index range
//! (exact for time steps and float grids) plus label picks, with notes for values
//! outside the grid.

use super::where_clause::{CLit, Constraint};
use crate::logical::DimSel;
use crate::timeutil::format_instant;
use arrayq_storage::{ArraySchema, Coordinate, LabelRef};
use std::collections::BTreeSet;
use std::ops::Range;

pub(super) fn time_index_range(
    start: i64,
    step: i64,
    len: u64,
    lo: Option<(i64, bool)>,
    hi: Option<(i64, bool)>,
) -> Range<u64> {
    let (start, step) = (start as i128, step as i128);
    let mut a: i128 = 0;
    let mut b: i128 = len as i128;
    if let Some((v, incl)) = lo {
        let p = v as i128 - start;
        let i = if incl {
            ceil_div(p, step)
        } else {
            p.div_euclid(step) + 1
        };
        a = a.max(i);
    }
    if let Some((v, incl)) = hi {
        let p = v as i128 - start;
        let e = if incl {
            p.div_euclid(step) + 1
        } else {
            ceil_div(p, step)
        };
        b = b.min(e);
    }
    let a = a.clamp(0, len as i128) as u64;
    let b = b.clamp(0, len as i128) as u64;
    a..b.max(a)
}

pub(super) fn ceil_div(p: i128, q: i128) -> i128 {
    -((-p).div_euclid(q))
}

pub(super) fn nearest(coord: &Coordinate, len: u64, v: &CLit) -> Option<u64> {
    match (coord, v) {
        (Coordinate::Time { start_ns, step_ns }, CLit::Time(t)) => {
            let (p, s) = (*t as i128 - *start_ns as i128, *step_ns as i128);
            let i = (2 * p + s).div_euclid(2 * s);
            (0..len as i128).contains(&i).then_some(i as u64)
        }
        (Coordinate::Regular { .. }, CLit::Num(x)) => coord.nearest(*x, len),
        (Coordinate::Labels { .. }, CLit::Label(l)) => coord.label_index(*l),
        (Coordinate::TextLabels { .. }, CLit::Text(t)) => coord.label_position(LabelRef::Text(t)),
        _ => None,
    }
}

pub(super) fn grid_text(coord: &Coordinate, len: u64) -> String {
    if len == 0 {
        return "empty".into();
    }
    let n = coord.label_count();
    if n > 8 {
        return format!("{n} labels");
    }
    if coord.is_labels() {
        return (0..n as u64)
            .filter_map(|i| coord.label_at(i))
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join(", ");
    }
    let f = |i: u64| match coord.value(i) {
        arrayq_storage::CoordValue::Number(x) => format!("{x}"),
        arrayq_storage::CoordValue::Time(t) => format_instant(t),
        arrayq_storage::CoordValue::Label(l) => l.to_string(),
        arrayq_storage::CoordValue::Text(t) => format!("'{t}'"),
    };
    format!("{} .. {}", f(0), f(len - 1))
}

/// Applies the constraints of one dimension.
pub(super) fn select_dim(
    schema: &ArraySchema,
    d: usize,
    cons: &[(Constraint, String)],
    notes: &mut Vec<String>,
) -> DimSel {
    let dim = &schema.dims[d];
    let len = dim.len;
    let mut range = 0..len;
    let mut picks: Option<BTreeSet<u64>> = None;
    let mut squeeze = false;
    let restrict = |range: &mut Range<u64>, r: Range<u64>| {
        let a = range.start.max(r.start);
        let b = range.end.min(r.end).max(a);
        *range = a..b;
    };
    // How the label at index i compares with a label literal (None: not a label pair).
    let label_cmp = |i: u64, v: &CLit| match (&dim.coord, v) {
        (Coordinate::Labels { labels }, CLit::Label(l)) => Some(labels[i as usize].cmp(l)),
        (Coordinate::TextLabels { labels }, CLit::Text(t)) => {
            Some(labels[i as usize].as_str().cmp(t.as_str()))
        }
        _ => None,
    };
    for (c, text) in cons {
        match c {
            Constraint::Eq(v) => match nearest(&dim.coord, len, v) {
                Some(i) => {
                    restrict(&mut range, i..i + 1);
                    squeeze = true;
                }
                None => {
                    notes.push(format!(
                        "{text}: {v} lies outside the grid of '{}' ({}), nothing selected",
                        dim.name,
                        grid_text(&dim.coord, len)
                    ));
                    range = 0..0;
                }
            },
            Constraint::Lo(v, incl) | Constraint::Hi(v, incl) => {
                let is_lo = matches!(c, Constraint::Lo(..));
                let r = match (&dim.coord, v) {
                    (Coordinate::Time { start_ns, step_ns }, CLit::Time(t)) => {
                        let b = Some((*t, *incl));
                        if is_lo {
                            time_index_range(*start_ns, *step_ns, len, b, None)
                        } else {
                            time_index_range(*start_ns, *step_ns, len, None, b)
                        }
                    }
                    (Coordinate::Regular { .. }, CLit::Num(x)) => {
                        let b = Some((*x, *incl));
                        if is_lo {
                            dim.coord.index_range(b, None, len)
                        } else {
                            dim.coord.index_range(None, b, len)
                        }
                    }
                    // Int labels by value, text labels by byte order (as Postgres' "C"
                    // collation); either way labels are filtered one by one.
                    (Coordinate::Labels { .. }, CLit::Label(_))
                    | (Coordinate::TextLabels { .. }, CLit::Text(_)) => {
                        use std::cmp::Ordering::*;
                        let keep: BTreeSet<u64> = (0..len)
                            .filter(|&i| {
                                let o = label_cmp(i, v);
                                match (is_lo, incl) {
                                    (true, true) => matches!(o, Some(Greater | Equal)),
                                    (true, false) => o == Some(Greater),
                                    (false, true) => matches!(o, Some(Less | Equal)),
                                    (false, false) => o == Some(Less),
                                }
                            })
                            .collect();
                        picks = Some(match picks.take() {
                            None => keep,
                            Some(p) => p.intersection(&keep).copied().collect(),
                        });
                        0..len
                    }
                    _ => 0..len,
                };
                restrict(&mut range, r);
                if range.is_empty() {
                    notes.push(format!(
                        "{text}: no cell of '{}' ({}) satisfies it",
                        dim.name,
                        grid_text(&dim.coord, len)
                    ));
                }
            }
            Constraint::In(vals) => {
                let mut set = BTreeSet::new();
                for v in vals {
                    match nearest(&dim.coord, len, v) {
                        Some(i) => {
                            set.insert(i);
                        }
                        None => notes.push(format!(
                            "{v} is not in '{}' ({}); ignored",
                            dim.name,
                            grid_text(&dim.coord, len)
                        )),
                    }
                }
                picks = Some(match picks.take() {
                    None => set,
                    Some(p) => p.intersection(&set).copied().collect(),
                });
            }
            Constraint::NotIn(vals) => {
                let drop: BTreeSet<u64> = vals
                    .iter()
                    .filter_map(|v| nearest(&dim.coord, len, v))
                    .collect();
                let base = picks.take().unwrap_or_else(|| (0..len).collect());
                picks = Some(base.difference(&drop).copied().collect());
            }
        }
    }
    if let Some(p) = picks {
        let p: Vec<u64> = p.into_iter().filter(|i| range.contains(i)).collect();
        if p.is_empty() {
            if !range.is_empty() {
                notes.push(format!("no cell of '{}' satisfies the selection", dim.name));
            }
            return DimSel {
                range: 0..0,
                picks: None,
                squeeze: false,
            };
        }
        let r = p[0]..p[p.len() - 1] + 1;
        let contiguous = p.len() as u64 == r.end - r.start;
        return DimSel {
            range: r,
            picks: (!contiguous).then_some(p),
            squeeze: squeeze && !range.is_empty(),
        };
    }
    let squeeze = squeeze && !range.is_empty();
    DimSel {
        range,
        picks: None,
        squeeze,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ranges_are_exact() {
        let h = 3_600_000_000_000i64;
        assert_eq!(
            time_index_range(0, h, 48, Some((0, true)), Some((2 * h, true))),
            0..3
        );
        assert_eq!(
            time_index_range(0, h, 48, Some((0, false)), Some((2 * h, false))),
            1..2
        );
        assert_eq!(time_index_range(0, h, 48, Some((h / 2, true)), None), 1..48);
        assert_eq!(time_index_range(0, h, 48, None, Some((-1, true))), 0..0);
        let c = Coordinate::Time {
            start_ns: 0,
            step_ns: h,
        };
        assert_eq!(nearest(&c, 48, &CLit::Time(h / 2 - 1)), Some(0));
        assert_eq!(nearest(&c, 48, &CLit::Time(-h / 2 - 1)), None);
        assert_eq!(nearest(&c, 48, &CLit::Time(47 * h + h / 2 - 1)), Some(47));
        assert_eq!(nearest(&c, 48, &CLit::Time(48 * h)), None);
    }
}
