//! CRS names and the PROJ transformations between them.

use crate::RegridError;
use parking_lot::Mutex;
use proj::Proj;
use rayon::prelude::*;

/// A CRS as PROJ takes it: `EPSG:nnnn` upper-cased, a PROJ string marked as a CRS
/// (`+type=crs`, which PROJ otherwise warns about), anything else (WKT, `OGC:...`)
/// as given.
pub fn normalize_crs(text: &str) -> String {
    let t = text.trim();
    if let Some(code) = t
        .strip_prefix("EPSG:")
        .or_else(|| t.strip_prefix("epsg:"))
        .or_else(|| t.strip_prefix("Epsg:"))
    {
        return format!("EPSG:{}", code.trim());
    }
    if t.starts_with('+') && !t.split_whitespace().any(|w| w == "+type=crs") {
        return format!("{t} +type=crs");
    }
    t.to_string()
}

/// Whether a (normalized) CRS has longitude/latitude axes in degrees, the one case in
/// which longitudes wrap around.
pub fn is_geographic(crs: &str) -> bool {
    let words: Vec<&str> = crs.split_whitespace().collect();
    crs == "EPSG:4326"
        || words.contains(&"+proj=longlat")
        || words.contains(&"+proj=latlong")
        || words.contains(&"+proj=lonlat")
}

/// A transformation from one CRS to another, in the axis order of visualisation
/// (longitude or easting first) whatever the CRS's official order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Transformer {
    pub from: String,
    pub to: String,
}

impl Transformer {
    /// Checks that PROJ accepts the pair (once per pair and process: creating a
    /// PROJ transformation looks the CRSs up in PROJ's database, ~25 ms).
    pub fn new(from: &str, to: &str) -> Result<Transformer, RegridError> {
        static ACCEPTED: Mutex<Vec<Transformer>> = Mutex::new(Vec::new());
        let t = Transformer {
            from: normalize_crs(from),
            to: normalize_crs(to),
        };
        if ACCEPTED.lock().contains(&t) {
            return Ok(t);
        }
        t.proj()?;
        let mut accepted = ACCEPTED.lock();
        if accepted.len() >= 256 {
            accepted.remove(0);
        }
        accepted.push(t.clone());
        Ok(t)
    }

    fn proj(&self) -> Result<Proj, RegridError> {
        Proj::new_known_crs(&self.from, &self.to, None).map_err(|e| RegridError::Crs {
            from: self.from.clone(),
            to: self.to.clone(),
            reason: e.to_string(),
        })
    }

    /// Transforms `points` in place, in parallel (one PROJ object per task: they
    /// cannot be shared between threads). Points PROJ cannot transform become NaN.
    pub fn transform(&self, points: &mut [(f64, f64)]) -> Result<(), RegridError> {
        let tasks = rayon::current_num_threads().max(1);
        let per = points.len().div_ceil(tasks).max(1024);
        points.par_chunks_mut(per).try_for_each(|part| {
            let p = self.proj()?;
            for pt in part.iter_mut() {
                *pt = p.convert(*pt).unwrap_or((f64::NAN, f64::NAN));
                if !pt.0.is_finite() || !pt.1.is_finite() {
                    *pt = (f64::NAN, f64::NAN);
                }
            }
            Ok(())
        })
    }

    /// The inverse transformation.
    pub fn inverse(&self) -> Transformer {
        Transformer {
            from: self.to.clone(),
            to: self.from.clone(),
        }
    }
}
