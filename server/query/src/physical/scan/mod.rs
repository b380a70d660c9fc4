//! The scan: attributes of one array version over a region, through one layout,
//! cut into pieces (one chunk's part of the region each).
//!
//! Parents drive it from their own rayon workers: each takes a [`Reader`] and reads
//! the pieces it works on, so a chunk decodes once, into the memory the kernels
//! read. Its metrics count what storage delivered (chunks, bytes, read time).

mod reader;

pub use reader::Reader;

use super::explain::fmt_bytes;
use super::regrid::RegridExec;
use super::{Block, BlockStream, ExecutionPlan, OperatorMetrics, TaskContext, NO_MATCH};
use crate::error::QueryError;
use crate::logical::{chunk_pieces, DimSel, LayoutChoice, LayoutWhy, ScanNode};
use crate::optimizer::NEAR_BYTES;
use arrayq_storage::{ArraySchema, Coordinate, LayoutCost, Region, Snapshot};
use std::sync::Arc;

/// Reads the attributes a query uses over the selected region, through one layout.
pub struct ScanExec {
    pub snap: Snapshot,
    /// Slot -> attribute index.
    pub attrs: Vec<usize>,
    pub dims: Vec<DimSel>,
    pub region: Region,
    pub empty: bool,
    /// Index of the layout read.
    pub layout: usize,
    pub layout_why: LayoutWhy,
    pub candidates: Vec<LayoutCost>,
    pub filters: Vec<String>,
    pub metrics: OperatorMetrics,
    /// Cells on a target grid, interpolated from a source scan (`reproject`).
    pub regrid: Option<Arc<RegridExec>>,
    /// `JOIN`: the right array, whose attributes fill the slots past the left's.
    pub join: Option<Arc<crate::planner::JoinSpec>>,
}

impl ScanExec {
    pub fn new(node: ScanNode) -> Result<ScanExec, QueryError> {
        let LayoutChoice {
            layout,
            why,
            candidates,
        } = node
            .layout
            .ok_or_else(|| QueryError::Internal("a scan without a layout".into()))?;
        let regrid = match node.regrid {
            Some(r) => {
                let r = *r;
                Some(Arc::new(RegridExec {
                    source: Arc::new(ScanExec::new(r.source)?),
                    schema: r.schema,
                    spec: r.spec,
                }))
            }
            None => None,
        };
        Ok(ScanExec {
            snap: node.snap,
            attrs: node.attrs,
            dims: node.dims,
            region: node.region,
            empty: node.empty,
            layout,
            layout_why: why,
            candidates,
            filters: node.filters,
            metrics: OperatorMetrics::default(),
            regrid,
            join: node.join,
        })
    }

    /// The array read: the stored one, or the virtual one on a target grid.
    pub fn schema(&self) -> &ArraySchema {
        match &self.regrid {
            Some(r) => &r.schema,
            None => self.snap.schema(),
        }
    }

    pub fn chunk_shape(&self) -> &[u64] {
        &self.schema().layouts[self.layout].chunk_shape
    }

    pub fn coords(&self) -> Vec<Coordinate> {
        self.schema().dims.iter().map(|d| d.coord.clone()).collect()
    }

    /// The pieces of `region` that hold at least one selected cell: with label picks
    /// (`asset IN (1, 51, 101)`) chunks between the picked labels are never read.
    pub fn selected_pieces(&self, region: &Region) -> Vec<Region> {
        let mut pieces = chunk_pieces(region, self.chunk_shape());
        pieces.retain(|p| {
            self.dims.iter().zip(&p.0).all(|(sel, r)| match &sel.picks {
                None => true,
                Some(picks) => {
                    let k = picks.partition_point(|&i| i < r.start);
                    k < picks.len() && picks[k] < r.end
                }
            })
        });
        pieces
    }
}

impl ScanExec {
    /// Starts reading in the stored chunks under `pieces` (of the attributes in the
    /// slots `used` marks; `None`: all), ahead of the workers that decode them. Only a
    /// hint (see `Snapshot::prefetch`): a failure here surfaces, if real, in the read.
    pub fn prefetch(&self, pieces: &[Region], used: Option<&[bool]>) {
        if self.regrid.is_some() || self.empty || pieces.is_empty() {
            return;
        }
        let cs = self.chunk_shape();
        let chunks: Vec<Vec<u64>> = pieces.iter().map(|p| chunk_of(p, cs)).collect();
        let nattrs = self.snap.schema().attrs.len();
        for (k, &a) in self.attrs.iter().enumerate() {
            if a < nattrs && used.is_none_or(|u| u.get(k).copied().unwrap_or(false)) {
                let _ = self.snap.prefetch(a, self.layout, &chunks);
            }
        }
    }
}

/// The chunk (grid coordinates) a piece of a scan lies in.
pub(crate) fn chunk_of(piece: &Region, chunk_shape: &[u64]) -> Vec<u64> {
    piece
        .0
        .iter()
        .zip(chunk_shape)
        .map(|(r, &c)| r.start / c)
        .collect()
}

impl ExecutionPlan for ScanExec {
    fn name(&self) -> &'static str {
        match self.regrid {
            Some(_) => "Regrid",
            None => "Scan",
        }
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        match &self.regrid {
            Some(r) => vec![r.source.as_ref() as &dyn ExecutionPlan],
            None => vec![],
        }
    }

    fn fmt_explain(&self) -> Vec<String> {
        if let Some(r) = &self.regrid {
            let mut lines = r.explain_lines(&self.region);
            if !self.filters.is_empty() {
                lines.insert(1, format!("  where: {}", self.filters.join(" AND ")));
            }
            return lines;
        }
        let schema = self.snap.schema();
        let attrs: Vec<&str> = self
            .attrs
            .iter()
            .filter(|&&a| a < schema.attrs.len())
            .map(|&a| schema.attrs[a].name.as_str())
            .collect();
        let mut lines = vec![format!(
            "Scan: {} version {} attributes [{}]",
            schema.name,
            self.snap.version(),
            attrs.join(", ")
        )];
        if !self.filters.is_empty() {
            lines.push(format!("  where: {}", self.filters.join(" AND ")));
        }
        let picks: Vec<String> = self
            .dims
            .iter()
            .enumerate()
            .filter_map(|(d, s)| {
                s.picks.as_ref().map(|p| {
                    let of = s.range.end - s.range.start;
                    format!("{}: {} of {of}", schema.dims[d].name, p.len())
                })
            })
            .collect();
        lines.push(format!(
            "  region: {} ({} cells){}",
            self.region,
            self.region.len(),
            if picks.is_empty() {
                String::new()
            } else {
                format!(", picks {}", picks.join(", "))
            }
        ));
        let chosen = &schema.layouts[self.layout];
        let why = match self.layout_why {
            LayoutWhy::Forced => "forced by WITH (layout = ...)".to_string(),
            LayoutWhy::Empty => "empty selection: nothing is read".to_string(),
            _ if self.candidates.len() == 1 => "the only layout".to_string(),
            LayoutWhy::LeastBytes => "least estimated bytes to read".to_string(),
            LayoutWhy::Statistics => {
                "an aggregate from chunk statistics: the fewest bytes left to decode".to_string()
            }
            LayoutWhy::SmallerChunks => format!(
                "estimated bytes within {:.0}% of the least, smaller chunks",
                NEAR_BYTES * 100.0
            ),
        };
        lines.push(format!(
            "  layout: {} {:?} ({why})",
            chosen.name, chosen.chunk_shape
        ));
        for c in &self.candidates {
            let mark = if c.layout == self.layout {
                "  <- chosen"
            } else {
                ""
            };
            lines.push(format!(
                "    {} {:?}: {} chunks, ~{}{mark}",
                c.name,
                c.chunk_shape,
                c.chunks,
                fmt_bytes(c.est_bytes)
            ));
        }
        if let Some(j) = &self.join {
            let rs = j.right.schema();
            let cells: u64 = rs.dims.iter().map(|d| d.len).product();
            let right_attrs: Vec<&str> = self
                .attrs
                .iter()
                .filter(|&&a| a >= j.nleft)
                .map(|&a| rs.attrs[a - j.nleft].name.as_str())
                .collect();
            let mut out = vec![
                j.describe(),
                format!(
                    "  right: Scan: {} version {} attributes [{}] region {} ({} of {cells} cells, held in memory)",
                    rs.name,
                    j.right.version(),
                    right_attrs.join(", "),
                    j.rbox,
                    j.rbox.len()
                ),
            ];
            for k in &j.keys {
                let matched = k.map.iter().filter(|&&m| m != NO_MATCH).count();
                out.push(format!(
                    "  key: {}.{} <- {}: {matched} of {} left coordinates match",
                    j.right_name,
                    rs.dims[k.right_dim].name,
                    match &k.bucket {
                        Some(b) => b.text(&schema.dims[k.left_dim].name),
                        None => schema.dims[k.left_dim].name.clone(),
                    },
                    k.map.len()
                ));
            }
            for (i, l) in lines.into_iter().enumerate() {
                out.push(match i {
                    0 => format!("  left: {l}"),
                    _ => format!("  {l}"),
                });
            }
            return out;
        }
        lines
    }

    /// On its own, a scan streams its pieces in row-major chunk order.
    fn execute(self: Arc<Self>, ctx: Arc<TaskContext>) -> Result<BlockStream, QueryError> {
        let pieces = if self.empty {
            vec![]
        } else {
            self.selected_pieces(&self.region)
        };
        self.prefetch(&pieces, None);
        let mut reader = Reader::new(&self);
        let mut next = pieces.into_iter();
        Ok(Box::new(std::iter::from_fn(move || {
            let region = next.next()?;
            Some(reader.read(&self, &ctx, &region).map(|()| Block::Piece {
                region,
                columns: reader.cols.clone(),
            }))
        })))
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }
}

#[cfg(test)]
mod tests;
