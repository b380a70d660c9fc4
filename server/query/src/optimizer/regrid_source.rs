//! Rule: a regridded scan's target cells become the source box it reads. The
//! coordinate map gives the source cells the method needs for the selected target
//! rows and columns (plus its reach: 2 x 2 for bilinear, 4 x 4 for cubic, the
//! footprint for average); the carried dimensions keep the target's selection. So
//! a map of a small target window reads only the source chunks under it, and the
//! layout rule then chooses the source layout for that box.

use super::OptimizerRule;
use crate::error::QueryError;
use crate::logical::{DimSel, LogicalPlan, ScanNode};

pub struct RegridSourceBox;

impl OptimizerRule for RegridSourceBox {
    fn name(&self) -> &'static str {
        "regrid source box"
    }

    fn rewrite(&self, plan: LogicalPlan) -> Result<LogicalPlan, QueryError> {
        plan.transform_up(&|node| match node {
            LogicalPlan::Scan(scan) if scan.regrid.is_some() => {
                Ok(LogicalPlan::Scan(source_box(scan)?))
            }
            other => Ok(other),
        })
    }
}

fn source_box(mut scan: ScanNode) -> Result<ScanNode, QueryError> {
    let Some(rg) = scan.regrid.as_mut() else {
        return Ok(scan);
    };
    let nc = rg.spec.carried.len();
    let (rows, cols) = (scan.dims[nc].range.clone(), scan.dims[nc + 1].range.clone());
    let cells = if scan.empty {
        None
    } else {
        rg.spec
            .map
            .source_box(
                rg.spec.method,
                rows.start as usize..rows.end as usize,
                cols.start as usize..cols.end as usize,
            )
            .map_err(|e| QueryError::plan(e.to_string()))?
    };
    let src = &mut rg.source;
    let mut dims: Vec<DimSel> = src
        .snap
        .schema()
        .dims
        .iter()
        .map(|d| DimSel::all(d.len))
        .collect();
    for (k, &d) in rg.spec.carried.iter().enumerate() {
        dims[d] = scan.dims[k].clone();
    }
    match &cells {
        Some(b) => {
            dims[rg.spec.src_yx[0]].range = b.i.start as u64..b.i.end as u64;
            dims[rg.spec.src_yx[1]].range = b.j.start as u64..b.j.end as u64;
        }
        None => dims[rg.spec.src_yx[0]].range = 0..0,
    }
    src.set_dims(dims);
    // The WHERE conditions are the target's (EXPLAIN shows them on the regrid step).
    src.filters.clear();
    Ok(scan)
}
