//! The regrid node: a virtual array on a projected target grid, read by
//! interpolating a scan of the source array.

use super::ScanNode;
use arrayq_regrid::{CacheLookup, CoordMap, Method};
use arrayq_storage::ArraySchema;
use std::sync::Arc;

/// What `reproject(array, ...)` reads: the virtual array (carried dimensions...,
/// y, x) and how its cells come from the source.
pub struct RegridNode {
    /// The scan of the source array; its region is set by the `regrid_source` rule
    /// from the target cells the query selects.
    pub source: ScanNode,
    /// The virtual array: the source's other dimensions, then `y` (descending) and
    /// `x`; one attribute per source attribute (float32 stays, others float64).
    pub schema: ArraySchema,
    pub spec: RegridSpec,
}

/// How target cells come from source cells (shared by the node and its operator).
pub struct RegridSpec {
    pub map: Arc<CoordMap>,
    /// Whether the coordinate map came from the cache.
    pub cache: CacheLookup,
    pub method: Method,
    /// Per carried dimension of the virtual array, the source dimension it is.
    pub carried: Vec<usize>,
    /// The source's (y, x) dimensions.
    pub src_yx: [usize; 2],
    /// The target CRS, as given.
    pub crs: String,
}
