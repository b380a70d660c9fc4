use crate::RegridError;

/// How a target cell's value is computed from the source cells around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// The source cell whose centre is nearest in index space.
    Nearest,
    /// Bilinear in index space over the 2 x 2 surrounding source cells.
    Bilinear,
    /// Keys cubic convolution (a = -0.5) over the 4 x 4 surrounding source cells.
    Cubic,
    /// Mean of the source cells under the target cell's footprint, weighted by the
    /// overlapped area (for targets coarser than the source).
    Average,
}

impl Method {
    pub fn parse(s: &str) -> Result<Method, RegridError> {
        match s.to_ascii_lowercase().as_str() {
            "nearest" => Ok(Method::Nearest),
            "bilinear" => Ok(Method::Bilinear),
            "cubic" => Ok(Method::Cubic),
            "average" => Ok(Method::Average),
            _ => Err(RegridError::Method(s.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Nearest => "nearest",
            Method::Bilinear => "bilinear",
            Method::Cubic => "cubic",
            Method::Average => "average",
        }
    }

    /// Source cells read below/above `floor(index)` along each axis: the window a
    /// fractional index `f` needs is `floor(f) - before ..= floor(f) + after`.
    pub fn reach(self) -> (i64, i64) {
        match self {
            Method::Nearest => (0, 1),
            Method::Bilinear => (0, 1),
            Method::Cubic => (1, 2),
            // The footprint's extent is taken from the cell corners, not the centre.
            Method::Average => (0, 1),
        }
    }
}
