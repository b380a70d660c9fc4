//! SVG bar charts (plotters): median time per case, one bar per system, with the
//! min..max range as a whisker; log scale when the times span more than 20x.

use std::path::Path;

use std::ops::Range;

use anyhow::{anyhow, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;

use crate::measure::fmt_secs;
use crate::results::CaseResult;

/// Colours of the systems, in order of first appearance.
const COLOURS: [RGBColor; 18] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(57, 59, 121),
    RGBColor(173, 73, 74),
    RGBColor(99, 121, 57),
    RGBColor(206, 109, 189),
    RGBColor(0, 0, 0),
    RGBColor(140, 109, 49),
    RGBColor(107, 174, 214),
    RGBColor(253, 174, 107),
];

/// Times above this ratio (max/min over all bars) use a logarithmic axis.
const LOG_RATIO: f64 = 20.0;

/// The y axis: values are drawn in "axis units" (log10 of seconds, or seconds).
struct Axis {
    log: bool,
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Axis {
    fn new(values: impl Iterator<Item = f64> + Clone) -> Axis {
        let pos = values.filter(|v| *v > 0.0 && v.is_finite());
        let min = pos.clone().fold(f64::INFINITY, f64::min);
        let max = pos.fold(0.0f64, f64::max);
        if !min.is_finite() || max <= 0.0 {
            return Axis {
                log: false,
                lo: 0.0,
                hi: 1.0,
                ticks: vec![0.0, 0.5, 1.0],
            };
        }
        if max / min > LOG_RATIO {
            let lo = (min.log10() - 0.3).floor();
            let hi = (max.log10() + 0.15).ceil();
            let ticks = (lo as i32..=hi as i32).map(f64::from).collect();
            Axis {
                log: true,
                lo,
                hi,
                ticks,
            }
        } else {
            let step = nice_step(max * 1.1 / 5.0);
            let hi = (max * 1.1 / step).ceil() * step;
            let ticks = (0..=(hi / step).round() as usize)
                .map(|k| k as f64 * step)
                .collect();
            Axis {
                log: false,
                lo: 0.0,
                hi,
                ticks,
            }
        }
    }

    /// Seconds to axis units.
    fn at(&self, secs: f64) -> f64 {
        if self.log {
            secs.max(10f64.powf(self.lo)).log10()
        } else {
            secs
        }
    }

    /// Axis units back to seconds (tick labels).
    fn secs(&self, y: f64) -> f64 {
        if self.log {
            10f64.powf(y)
        } else {
            y
        }
    }
}

/// A linear f64 axis whose ticks are exactly `keys` (bar centres, decades), labelled
/// by the chart's formatters.
struct Keyed {
    range: Range<f64>,
    keys: Vec<f64>,
}

impl Ranged for Keyed {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let f = if span > 0.0 {
            (value - self.range.start) / span
        } else {
            0.0
        };
        limit.0 + (f * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.max_num_points() == 0 || hint.weight().allow_light_points() {
            return vec![];
        }
        self.keys.clone()
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// 1, 2 or 5 times a power of ten, at least `x`.
fn nice_step(x: f64) -> f64 {
    let p = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&s| s >= x)
        .unwrap_or(10.0 * p)
}

/// Draws the median time of every case (x groups, in order of first appearance) and
/// system (bars within a group, coloured per system) into an SVG file, with the
/// legend to the right of the plot.
pub fn bar_chart(path: &Path, title: &str, cases: &[CaseResult]) -> Result<()> {
    let mut groups: Vec<&str> = Vec::new();
    let mut systems: Vec<&str> = Vec::new();
    for c in cases {
        if !groups.contains(&c.case.as_str()) {
            groups.push(&c.case);
        }
        if !systems.contains(&c.system.as_str()) {
            systems.push(&c.system);
        }
    }
    // Bars of each group: only the systems measured in it, side by side.
    let members: Vec<Vec<&CaseResult>> = groups
        .iter()
        .map(|g| cases.iter().filter(|c| c.case == *g).collect())
        .collect();
    let slots = members.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let n = groups.len().max(1);
    let axis = Axis::new(
        cases
            .iter()
            .flat_map(|c| [c.timing.median_s, c.timing.min_s, c.timing.max_s]),
    );
    let longest = groups.iter().map(|g| g.len()).max().unwrap_or(0);
    let group_px = (24 + 54 * slots).max(longest * 7 + 16);
    let legend_px = (systems.iter().map(|s| s.len()).max().unwrap_or(0) * 7 + 50).max(120);
    let width = (110 + n * group_px + legend_px).clamp(640, 6000) as u32;
    let height = 520u32;

    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (plot_area, legend_area) = root.split_horizontally(width - legend_px as u32);
    let centres: Vec<f64> = (0..n).map(|g| g as f64 + 0.5).collect();
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(
            Keyed {
                range: 0.0..n as f64,
                keys: centres,
            },
            Keyed {
                range: axis.lo..axis.hi,
                keys: axis.ticks.clone(),
            },
        )
        .map_err(|e| err(&e))?;
    let group_name = |x: &f64| -> String {
        let g = x.floor() as usize;
        groups.get(g).map_or(String::new(), |s| s.to_string())
    };
    let tick_label = |y: &f64| fmt_secs(axis.secs(*y));
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&group_name)
        .y_label_formatter(&tick_label)
        .y_desc(if axis.log {
            "median time (log scale); whiskers: min..max"
        } else {
            "median time; whiskers: min..max"
        })
        .draw()
        .map_err(|e| err(&e))?;

    let colour = |sys: &str| {
        let k = systems.iter().position(|s| *s == sys).unwrap_or(0);
        COLOURS[k % COLOURS.len()]
    };
    let w = 0.84 / slots as f64;
    // (left edge, case) of every bar; each group's bars are centred in the group.
    let bars: Vec<(f64, &CaseResult)> = members
        .iter()
        .enumerate()
        .flat_map(|(g, m)| {
            let x0 = g as f64 + 0.5 - w * m.len() as f64 / 2.0;
            m.iter()
                .enumerate()
                .map(move |(k, c)| (x0 + k as f64 * w, *c))
        })
        .collect();
    chart
        .draw_series(bars.iter().map(|(x0, c)| {
            Rectangle::new(
                [
                    (*x0 + w * 0.04, axis.lo),
                    (*x0 + w * 0.96, axis.at(c.timing.median_s)),
                ],
                colour(&c.system).filled(),
            )
        }))
        .map_err(|e| err(&e))?;
    // Whiskers: min..max of the runs.
    chart
        .draw_series(
            bars.iter()
                .filter(|(_, c)| c.timing.runs_s.len() > 1)
                .map(|(x0, c)| {
                    let xm = *x0 + w * 0.5;
                    PathElement::new(
                        vec![(xm, axis.at(c.timing.min_s)), (xm, axis.at(c.timing.max_s))],
                        BLACK.stroke_width(1),
                    )
                }),
        )
        .map_err(|e| err(&e))?;
    // The median as text above each bar.
    chart
        .draw_series(bars.iter().map(|(x0, c)| {
            Text::new(
                fmt_secs(c.timing.median_s),
                (
                    *x0 + w * 0.04,
                    axis.at(c.timing.max_s.max(c.timing.median_s)) + label_gap(&axis),
                ),
                ("sans-serif", 10).into_font(),
            )
        }))
        .map_err(|e| err(&e))?;

    // Legend: one swatch per system, right of the plot.
    for (k, sys) in systems.iter().enumerate() {
        let y = 50 + 20 * k as i32;
        legend_area
            .draw(&Rectangle::new(
                [(8, y), (22, y + 12)],
                colour(sys).filled(),
            ))
            .map_err(|e| err(&e))?;
        legend_area
            .draw(&Text::new(
                sys.to_string(),
                (28, y),
                ("sans-serif", 13).into_font(),
            ))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Room between a bar's top and its label, in axis units.
fn label_gap(axis: &Axis) -> f64 {
    (axis.hi - axis.lo) * 0.035
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Timing;

    #[test]
    fn axis_switches_to_log() {
        let a = Axis::new([0.001, 2.0].into_iter());
        assert!(a.log);
        assert_eq!((a.lo, a.hi), (-4.0, 1.0));
        let b = Axis::new([1.0, 3.0].into_iter());
        assert!(!b.log);
        assert_eq!(b.lo, 0.0);
        assert!(b.hi >= 3.3 && b.ticks.len() >= 3);
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(0.13), 0.2);
    }

    #[test]
    fn draws_an_svg() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.svg");
        let cases = vec![
            CaseResult::new("point", "map", Timing::from_secs(vec![0.2, 0.25, 0.3])),
            CaseResult::new("point", "pencils", Timing::from_secs(vec![0.0004])),
            CaseResult::new("full", "map", Timing::from_secs(vec![0.1])),
        ];
        bar_chart(&p, "t", &cases).unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        assert!(svg.contains("pencils") && svg.contains("point"), "{svg}");
    }
}
