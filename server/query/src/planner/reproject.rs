//! `FROM reproject(array, ...)`: the target grid, the cached coordinate map and the
//! virtual array the rest of the query is planned against.

use crate::ast::Reproject;
use crate::error::{QueryError, Span};
use crate::logical::{RegridNode, RegridSpec, ScanNode};
use arrayq_regrid::{
    coord_map, is_geographic, normalize_crs, source_bounds, Bounds, IndexBox, Method, RegridError,
    SourceGrid, TargetGrid, Transformer,
};
use arrayq_storage::{
    ArraySchema, AsOf, Attribute, CodecChain, Coordinate, DType, Dimension, Layout, Metadata,
    Snapshot, Store,
};

/// The source CRS when the query names none.
pub const DEFAULT_SOURCE_CRS: &str = "EPSG:4326";

/// Plans the regrid of `snap` that `r` asks for (the source scan reads everything
/// until the `regrid_source` rule narrows it).
pub fn regrid_node(
    store: &Store,
    snap: &Snapshot,
    r: &Reproject,
    forced_layout: Option<usize>,
) -> Result<RegridNode, QueryError> {
    let schema = snap.schema();
    let src_yx = source_dims(schema, r)?;
    let src_crs_text = r
        .src_crs
        .as_ref()
        .map_or(DEFAULT_SOURCE_CRS, |c| c.0.as_str());
    let src_crs_at = r.src_crs.as_ref().map_or(r.span, |c| c.1);
    let (crs, crs_at) = r.crs.clone().expect("checked by the parser");
    let src_crs = normalize_crs(src_crs_text);
    let grid_of = |d: usize| match schema.dims[d].coord {
        Coordinate::Regular { start, step } => Ok((start, step, schema.dims[d].len as usize)),
        ref other => Err(QueryError::plan(format!(
            "reproject needs regular coordinates on '{}', which has {} coordinates",
            schema.dims[d].name,
            other.kind_name()
        ))
        .at(r.span)),
    };
    let (y0, dy, ny) = grid_of(src_yx[0])?;
    let (x0, dx, nx) = grid_of(src_yx[1])?;
    let source = SourceGrid {
        y0,
        dy,
        ny,
        x0,
        dx,
        nx,
        geographic: is_geographic(&src_crs),
    };
    let crs_error = |e: RegridError, at: Span| QueryError::plan(e.to_string()).at(at);
    // Target -> source for the map; source -> target for the default bounds.
    let to_source = Transformer::new(&crs, &src_crs).map_err(|e| {
        let at = if matches!(&e, RegridError::Crs { .. }) && r.src_crs.is_some() {
            // PROJ names which of the two it refused; point at the target's unless
            // the message is about the source.
            if e.to_string().contains(&src_crs) && !e.to_string().contains(&normalize_crs(&crs)) {
                src_crs_at
            } else {
                crs_at
            }
        } else {
            crs_at
        };
        crs_error(e, at)
    })?;
    let target = match &r.like {
        Some(like) => like_grid(store, like)?,
        None => {
            let (res, res_at) = r.resolution.expect("checked by the parser");
            let (bounds, at) = match r.bounds {
                Some((b, at)) => (
                    Bounds {
                        xmin: b[0],
                        ymin: b[1],
                        xmax: b[2],
                        ymax: b[3],
                    },
                    at,
                ),
                None => {
                    let all = IndexBox { i: 0..ny, j: 0..nx };
                    let b = source_bounds(source, &all, &to_source.inverse())
                        .map_err(|e| crs_error(e, crs_at))?;
                    (b, res_at)
                }
            };
            // Bounds given: the grid starts at their top-left edge. From the data:
            // edges snapped outward to multiples of the resolution.
            let grid = if r.bounds.is_some() {
                TargetGrid::anchored(bounds, res)
            } else {
                TargetGrid::covering(bounds, res)
            };
            grid.map_err(|e| crs_error(e, at))?
        }
    };
    let method = match &r.method {
        Some((m, at)) => Method::parse(m).map_err(|e| crs_error(e, *at))?,
        None => Method::Bilinear,
    };
    let (map, cache) = coord_map(source, target, &to_source).map_err(|e| crs_error(e, crs_at))?;
    let carried: Vec<usize> = (0..schema.dims.len())
        .filter(|d| !src_yx.contains(d))
        .collect();
    let virtual_schema = target_schema(schema, &carried, &target, r)?;
    let source_scan = ScanNode::whole(snap.clone(), Vec::new(), forced_layout, None);
    Ok(RegridNode {
        source: source_scan,
        schema: virtual_schema,
        spec: RegridSpec {
            map,
            cache,
            method,
            carried,
            src_yx,
            crs,
        },
    })
}

/// The source's (y, x) dimensions: `dims => (...)`, else lat/latitude and
/// lon/longitude.
fn source_dims(schema: &ArraySchema, r: &Reproject) -> Result<[usize; 2], QueryError> {
    let find = |names: &[&str]| {
        schema
            .dims
            .iter()
            .position(|d| names.iter().any(|n| d.name.eq_ignore_ascii_case(n)))
    };
    let dims: Vec<&str> = schema.dims.iter().map(|d| d.name.as_str()).collect();
    match &r.dims {
        Some((names, at)) => {
            let mut out = [0; 2];
            for (k, n) in names.iter().enumerate() {
                out[k] = find(&[n.as_str()]).ok_or_else(|| {
                    QueryError::plan(format!(
                        "array '{}' has no dimension '{n}' (it has {})",
                        schema.name,
                        dims.join(", ")
                    ))
                    .at(*at)
                })?;
            }
            if out[0] == out[1] {
                return Err(QueryError::plan("dims => names the same dimension twice").at(*at));
            }
            Ok(out)
        }
        None => match (find(&["lat", "latitude"]), find(&["lon", "longitude"])) {
            (Some(y), Some(x)) => Ok([y, x]),
            _ => Err(QueryError::plan(format!(
                "array '{}' has no lat/latitude and lon/longitude dimensions (it has {}); name its grid's dimensions with dims => ('y_dim', 'x_dim')",
                schema.name,
                dims.join(", ")
            ))
            .at(r.span)),
        },
    }
}

/// The grid of another array's `y` and `x` dimensions (regular, y descending).
fn like_grid(store: &Store, like: &crate::ast::Name) -> Result<TargetGrid, QueryError> {
    let snap = store
        .snapshot(&like.value, AsOf::Latest)
        .map_err(|_| crate::command::unknown_array(store, &like.value).at(like.span))?;
    let s = snap.schema();
    let dim = |n: &str| {
        s.dims
            .iter()
            .find(|d| d.name == n)
            .and_then(|d| match d.coord {
                Coordinate::Regular { start, step } => Some((start, step, d.len)),
                _ => None,
            })
    };
    match (dim("y"), dim("x")) {
        (Some((ys, ystep, ny)), Some((xs, xstep, nx))) if ystep < 0.0 && xstep > 0.0 => {
            TargetGrid::checked(xs - xstep / 2.0, ys - ystep / 2.0, xstep, -ystep, nx, ny)
                .map_err(|e| QueryError::plan(e.to_string()).at(like.span))
        }
        _ => Err(QueryError::plan(format!(
            "like => {} needs regular dimensions 'y' (descending) and 'x' (ascending), as a reprojected result has",
            like.value
        ))
        .at(like.span)),
    }
}

/// The virtual array: carried dimensions, then `y` (descending) and `x`.
fn target_schema(
    src: &ArraySchema,
    carried: &[usize],
    t: &TargetGrid,
    r: &Reproject,
) -> Result<ArraySchema, QueryError> {
    let mut dims: Vec<Dimension> = carried.iter().map(|&d| src.dims[d].clone()).collect();
    if let Some(d) = dims.iter().find(|d| d.name == "y" || d.name == "x") {
        return Err(QueryError::plan(format!(
            "array '{}' already has a dimension '{}', which the reprojected grid's y/x would hide",
            src.name, d.name
        ))
        .at(r.span));
    }
    let regular = |name: &str, start: f64, step: f64, len: usize| Dimension {
        name: name.into(),
        coord: Coordinate::Regular { start, step },
        len: len as u64,
        growable: false,
    };
    dims.push(regular("y", t.y_centre(0), -t.res_y, t.ny));
    dims.push(regular("x", t.x_centre(0), t.res_x, t.nx));
    let attrs = src
        .attrs
        .iter()
        .map(|a| {
            let dtype = if a.dtype == DType::F32 {
                DType::F32
            } else {
                DType::F64
            };
            Attribute::new(&a.name, dtype, None)
        })
        .collect();
    let mut chunk: Vec<u64> = carried.iter().map(|_| 1).collect();
    chunk.extend([t.ny as u64, t.nx as u64]);
    let layout = Layout::new("regrid", chunk, CodecChain::raw());
    // Carried dimensions and the attributes keep their descriptions; y and x are
    // CF projection coordinates in metres.
    let mut metadata = Metadata::default();
    for name in dims
        .iter()
        .map(|d| &d.name)
        .chain(src.attrs.iter().map(|a| &a.name))
    {
        metadata.set(name, src.metadata.of(name).clone());
    }
    for axis in ["y", "x"] {
        let map = [
            ("standard_name", format!("projection_{axis}_coordinate")),
            ("units", "m".to_string()),
        ];
        metadata.set(axis, map.map(|(k, v)| (k.to_string(), v)).into());
    }
    Ok(ArraySchema {
        name: format!("reproject({})", src.name),
        dims,
        attrs,
        layouts: vec![layout],
        metadata,
    })
}
