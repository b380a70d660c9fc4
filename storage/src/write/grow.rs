//! How a commit changes an array's extent: labels appended, dimensions grown
//! backward (prepends) and forward (to fit the writes).

use crate::coord::{Coordinate, LabelRef, Labels};
use crate::error::{Result, StorageError};
use crate::region::Region;
use crate::schema::ArraySchema;

/// Moves the start of dimension `d` `cells` steps back (see [`WriteTx::prepend`]).
pub(super) fn prepend_cells(schema: &mut ArraySchema, d: usize, cells: u64) -> Result<()> {
    let name = schema.dims[d].name.clone();
    let refuse = |why: String| {
        Err(StorageError::SchemaConflict(format!(
            "dimension '{name}' cannot grow backward by {cells} cells: {why}"
        )))
    };
    if cells == 0 {
        return Ok(());
    }
    if !schema.dims[d].growable {
        return refuse("it is not growable".into());
    }
    for l in &schema.layouts {
        let chunk = l.chunk_shape[d];
        let reserve = l.key_offset.get(d).copied().unwrap_or(0);
        if !cells.is_multiple_of(chunk) {
            return refuse(format!(
                "layout '{}' has chunks of {chunk} cells along it (whole chunks only)",
                l.name
            ));
        }
        if cells / chunk > reserve {
            return refuse(format!(
                "layout '{}' reserves only {reserve} chunks before its start",
                l.name
            ));
        }
    }
    let dim = &mut schema.dims[d];
    match &mut dim.coord {
        Coordinate::Regular { start, step } => *start -= *step * cells as f64,
        Coordinate::Time { start_ns, step_ns } => {
            let back = i64::try_from(cells)
                .ok()
                .and_then(|c| c.checked_mul(*step_ns))
                .and_then(|b| start_ns.checked_sub(b));
            match back {
                Some(s) => *start_ns = s,
                None => return refuse("the start would leave the time range".into()),
            }
        }
        _ => return refuse("label dimensions only grow by appending".into()),
    }
    dim.len += cells;
    for l in &mut schema.layouts {
        l.key_offset[d] -= cells / l.chunk_shape[d];
    }
    Ok(())
}

/// Appends `new` to dimension `d` of `schema`; returns the region of the new labels.
pub(super) fn apply_labels(schema: &mut ArraySchema, d: usize, new: &Labels) -> Result<Region> {
    let dim = &mut schema.dims[d];
    if !dim.growable {
        return Err(StorageError::SchemaConflict(format!(
            "dimension '{}' is not growable; labels cannot be appended",
            dim.name
        )));
    }
    let first = match new {
        Labels::Int(v) => v.first().map(|&l| LabelRef::Int(l)),
        Labels::Text(v) => v.first().map(|l| LabelRef::Text(l)),
    };
    if let Some(l) = first {
        dim.check_label_kind(l)?;
    }
    let start = dim.len;
    let dup = |l: &dyn std::fmt::Display, name: &str| {
        StorageError::SchemaConflict(format!("label {l} already exists in dimension '{name}'"))
    };
    match (&mut dim.coord, new) {
        (Coordinate::Labels { labels }, Labels::Int(v)) => {
            for &l in v {
                if !labels.push(l) {
                    return Err(dup(&LabelRef::Int(l), &dim.name));
                }
            }
        }
        (Coordinate::TextLabels { labels }, Labels::Text(v)) => {
            for l in v {
                if !labels.push(l.clone()) {
                    return Err(dup(&LabelRef::Text(l), &dim.name));
                }
            }
        }
        // Empty appends of the other kind, or a dimension without labels.
        (c, _) if c.is_labels() => {}
        (c, _) => {
            return Err(StorageError::SchemaConflict(format!(
                "dimension '{}' has {} coordinates, not labels",
                dim.name,
                c.kind_name()
            )))
        }
    }
    dim.len = dim.coord.label_count() as u64;
    let mut r = Region::full(&schema.shape());
    r.0[d] = start..schema.dims[d].len;
    Ok(r)
}

/// Grows `shape` (of `schema`'s dimensions) so that `region` fits, where growable
/// dimensions allow it; label dimensions only grow by appending labels.
pub(super) fn fit_region(schema: &ArraySchema, shape: &mut [u64], region: &Region) -> Result<()> {
    let before = shape.to_vec();
    for (d, r) in region.0.iter().enumerate() {
        if r.end <= shape[d] {
            continue;
        }
        let dim = &schema.dims[d];
        let why = if !dim.growable {
            format!(
                "dimension '{}' has {} cells and is not growable",
                dim.name, shape[d]
            )
        } else if dim.coord.is_labels() {
            format!(
                "dimension '{}' has {} labels; append labels before writing beyond them",
                dim.name, shape[d]
            )
        } else {
            shape[d] = r.end;
            continue;
        };
        return Err(StorageError::OutOfRange {
            array: schema.name.clone(),
            region: region.to_string(),
            shape: before,
            why,
        });
    }
    Ok(())
}

pub(super) fn grow_to_fit<'a>(
    schema: &mut ArraySchema,
    regions: impl IntoIterator<Item = &'a Region>,
) -> Result<()> {
    let mut shape = schema.shape();
    for region in regions {
        fit_region(schema, &mut shape, region)?;
    }
    for (dim, len) in schema.dims.iter_mut().zip(shape) {
        dim.len = len;
    }
    Ok(())
}
