//! The first pass of a Zarr load: the store opened and checked, nothing read but
//! coordinates. Like one NetCDF file: the main dimensions are those of the asked-for
//! (or the largest) data variable, the first of them time (CF units decoded), the
//! others evenly spaced coordinates.

use super::store::{self, Store};
use crate::shell::cf::metadata::{keep, SourceMetadata};
use crate::shell::cf::{regular, TimeUnits};
use crate::shell::netcdf::scan::{FileSlot, LoadPlan, SpaceDim};

/// Checks the store and plans the load of `vars` (all data variables on the main
/// dimensions when empty).
pub fn scan(store: &Store, vars: &[String]) -> Result<LoadPlan, String> {
    let at = |msg: String| format!("{}: {msg}", store.path.display());
    let mut arrays = Vec::new();
    for name in store.array_names()? {
        let a = store.array(&name)?;
        arrays.push((name, store::dims(&a), a));
    }
    // Coordinate arrays are named after their only dimension.
    let data: Vec<&(String, Vec<String>, _)> = arrays
        .iter()
        .filter(|(n, d, _)| !(d.len() == 1 && &d[0] == n))
        .collect();
    let pick = |name: &str| {
        data.iter().find(|(n, _, _)| n == name).ok_or_else(|| {
            let names: Vec<&str> = data.iter().map(|(n, _, _)| n.as_str()).collect();
            at(format!(
                "no data variable '{name}' (it has {})",
                names.join(", ")
            ))
        })
    };
    let main: Vec<String> = match vars.first() {
        Some(v) => pick(v)?.1.clone(),
        None => data
            .iter()
            .max_by_key(|(_, d, _)| d.len())
            .ok_or_else(|| at("no data variables".into()))?
            .1
            .clone(),
    };
    let vars: Vec<String> = if vars.is_empty() {
        data.iter()
            .filter(|(_, d, _)| *d == main)
            .map(|(n, _, _)| n.clone())
            .collect()
    } else {
        for v in vars {
            let d = &pick(v)?.1;
            if *d != main {
                return Err(at(format!(
                    "variable '{v}' has dimensions ({}), not ({})",
                    d.join(", "),
                    main.join(", ")
                )));
            }
        }
        vars.to_vec()
    };
    if main.len() < 2 {
        return Err(at(format!(
            "variables on ({}) have no time and grid dimensions to load",
            main.join(", ")
        )));
    }
    let coord = |name: &str| arrays.iter().find(|(n, d, _)| n == name && d.len() == 1);
    let time_dim = main[0].clone();
    let (_, _, tarr) = coord(&time_dim)
        .ok_or_else(|| at(format!("dimension '{time_dim}' has no coordinate array")))?;
    let units = store::text(tarr, "units").ok_or_else(|| {
        at(format!(
            "'{time_dim}' has no units (CF time: '<unit> since <date>')"
        ))
    })?;
    let cal = store::text(tarr, "calendar");
    let tu = TimeUnits::parse(&units, cal.as_deref()).map_err(at)?;
    let raw =
        store::read_all_f64(tarr).map_err(|e| at(format!("cannot read '{time_dim}': {e}")))?;
    let times: Vec<i64> = raw.iter().map(|&v| tu.to_ns(v)).collect();
    let step = match times.as_slice() {
        [] => return Err(at(format!("'{time_dim}' is empty"))),
        [_] => 3_600_000_000_000,
        [a, b, ..] => b - a,
    };
    if step <= 0 || times.windows(2).any(|w| w[1] - w[0] != step) {
        return Err(at(format!("'{time_dim}' is not evenly spaced in time")));
    }
    let shape = pick(&vars[0])?.2.shape().to_vec();
    let mut space = Vec::new();
    for (name, &len) in main[1..].iter().zip(&shape[1..]) {
        let (start, step) = match coord(name) {
            Some((_, _, c)) => {
                let v =
                    store::read_all_f64(c).map_err(|e| at(format!("cannot read '{name}': {e}")))?;
                regular(&v)
                    .ok_or_else(|| at(format!("coordinate '{name}' is not evenly spaced")))?
            }
            None => (0.0, 1.0),
        };
        space.push(SpaceDim {
            name: name.clone(),
            start,
            step,
            len: len as usize,
        });
    }
    // Descriptions: the group's, then those of time, the grid and the variables.
    let mut metadata = SourceMetadata {
        global: keep(store::listed(&store.group_attributes()?), false),
        ..SourceMetadata::default()
    };
    for name in main.iter().chain(&vars) {
        if let Some((_, _, a)) = arrays.iter().find(|(n, _, _)| n == name) {
            let map = keep(store::listed(a.attributes()), *name == time_dim);
            if !map.is_empty() {
                metadata.items.insert(name.clone(), map);
            }
        }
    }
    Ok(LoadPlan {
        time_dim,
        time_start_ns: times[0],
        time_step_ns: step,
        time_len: times.len() as u64,
        space,
        vars,
        files: vec![FileSlot {
            path: store.path.clone(),
            first: 0,
            steps: times.len(),
        }],
        metadata,
    })
}
