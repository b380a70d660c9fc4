use thiserror::Error;

/// What can go wrong setting up a reprojection.
#[derive(Debug, Error)]
pub enum RegridError {
    /// PROJ refused the CRS or the pair of CRSs.
    #[error("PROJ cannot transform between '{from}' and '{to}': {reason}")]
    Crs {
        from: String,
        to: String,
        reason: String,
    },
    /// The target grid is not a grid (resolution, bounds, size).
    #[error("{0}")]
    Grid(String),
    #[error("unknown reprojection method '{0}' (expected nearest, bilinear, cubic or average)")]
    Method(String),
}
