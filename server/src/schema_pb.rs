//! Array schemas between the protobuf messages (`arrayq_proto::v1`) and storage: the
//! one place the server converts them (CreateArray, DescribeArray, the responses'
//! schemas), with the defaults a schema may leave open; and the array's stored
//! retention policy for DescribeArray.

use arrayq_proto::v1 as pb;
use arrayq_proto::v1::attribute::Fill;
use arrayq_proto::v1::dimension::Coordinate as PbCoordinate;
use arrayq_storage::{
    ArraySchema, Attribute, BytesToBytes, CodecChain, Coordinate, DType, Dimension, Layout,
    Metadata, MetadataMap, Retention, Scalar,
};
use tonic::Status;

/// Default zstd level of layouts that ask for "server default" (level 0).
pub const DEFAULT_ZSTD_LEVEL: i32 = arrayq_storage::schema::DEFAULT_ZSTD_LEVEL;

fn bad(msg: impl Into<String>) -> Status {
    Status::invalid_argument(msg.into())
}

/// The storage schema of a CreateArray schema message (validated further by storage).
pub fn schema_from_pb(s: &pb::ArraySchema) -> Result<ArraySchema, Status> {
    if s.name.is_empty() {
        return Err(bad("the array needs a name"));
    }
    let mut dims = Vec::with_capacity(s.dimensions.len());
    for d in &s.dimensions {
        let (coord, len) = match &d.coordinate {
            None => (
                Coordinate::Regular {
                    start: 0.0,
                    step: 1.0,
                },
                d.length,
            ),
            Some(PbCoordinate::Regular(r)) => (
                Coordinate::Regular {
                    start: r.start,
                    step: r.step,
                },
                d.length,
            ),
            Some(PbCoordinate::Time(t)) => (
                Coordinate::Time {
                    start_ns: t.start_unix_ns,
                    step_ns: t.step_ns,
                },
                d.length,
            ),
            Some(PbCoordinate::Labels(_)) | Some(PbCoordinate::TextLabels(_)) => {
                let coord = match &d.coordinate {
                    Some(PbCoordinate::Labels(l)) => Coordinate::int_labels(l.labels.clone()),
                    Some(PbCoordinate::TextLabels(l)) => {
                        Coordinate::text_labels(l.labels.iter().cloned())
                    }
                    _ => unreachable!("matched above"),
                };
                let n = coord.label_count() as u64;
                if d.length != 0 && d.length != n {
                    return Err(bad(format!(
                        "dimension '{}' has {n} labels but length {}",
                        d.name, d.length
                    )));
                }
                (coord, n)
            }
        };
        dims.push(Dimension {
            name: d.name.clone(),
            coord,
            len,
            growable: d.growable,
        });
    }
    let mut attrs = Vec::with_capacity(s.attributes.len());
    for a in &s.attributes {
        let dtype = match pb::DType::from_wire(a.dtype) {
            Ok(pb::DType::String) => {
                return Err(bad(format!(
                    "attribute '{}': dtype STRING is a result-only type, attributes hold numbers or booleans",
                    a.name
                )))
            }
            Ok(d) => d.element(),
            Err(_) => None,
        }
        .ok_or_else(|| {
            bad(format!(
                "attribute '{}': invalid dtype value {}",
                a.name, a.dtype
            ))
        })?;
        let fill = match &a.fill {
            None => None,
            Some(f) => Some(fill_scalar(&a.name, dtype, f)?),
        };
        attrs.push(Attribute::new(&a.name, dtype, fill));
    }
    let esize = attrs.iter().map(|a| a.dtype.size()).max().unwrap_or(4);
    let rank = dims.len();
    let mut layouts = Vec::with_capacity(s.layouts.len().max(1));
    for (k, l) in s.layouts.iter().enumerate() {
        if l.chunk_shape.len() != rank {
            return Err(bad(format!(
                "layout '{}' has {} chunk extents for {rank} dimensions",
                l.name,
                l.chunk_shape.len()
            )));
        }
        let name = if l.name.is_empty() {
            format!("layout{k}")
        } else {
            l.name.clone()
        };
        let level = if l.zstd_level == 0 {
            DEFAULT_ZSTD_LEVEL
        } else {
            l.zstd_level
        };
        let codec = if l.shuffle {
            CodecChain::shuffle_zstd(esize, level)
        } else {
            CodecChain::zstd(level)
        };
        layouts.push(Layout::new(&name, l.chunk_shape.clone(), codec));
    }
    if layouts.is_empty() && rank > 0 {
        layouts.push(arrayq_storage::schema::default_layout(&dims, &attrs));
    }
    Ok(ArraySchema {
        name: s.name.clone(),
        dims,
        attrs,
        layouts,
        metadata: metadata_from_pb(s),
    })
}

/// The storage metadata of a schema message: the array's own map and each
/// dimension's and attribute's (storage checks the names and the size).
fn metadata_from_pb(s: &pb::ArraySchema) -> Metadata {
    let mut m = Metadata {
        array: to_map(&s.metadata),
        ..Metadata::default()
    };
    let items = s.dimensions.iter().map(|d| (&d.name, &d.metadata));
    for (name, map) in items.chain(s.attributes.iter().map(|a| (&a.name, &a.metadata))) {
        m.set(name, to_map(map));
    }
    m
}

fn to_map(m: &std::collections::HashMap<String, String>) -> MetadataMap {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The protobuf map of a metadata map.
pub fn map_to_pb(m: &MetadataMap) -> std::collections::HashMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A fill value, checked to be representable in `dtype` without loss.
fn fill_scalar(attr: &str, dtype: DType, f: &Fill) -> Result<Scalar, Status> {
    let lossy = || {
        bad(format!(
            "attribute '{attr}': fill value {f:?} does not fit dtype {dtype}"
        ))
    };
    let int_range = |dtype: DType| -> (i128, i128) {
        match dtype {
            DType::I8 => (i8::MIN as i128, i8::MAX as i128),
            DType::I16 => (i16::MIN as i128, i16::MAX as i128),
            DType::I32 => (i32::MIN as i128, i32::MAX as i128),
            DType::I64 => (i64::MIN as i128, i64::MAX as i128),
            DType::U8 => (0, u8::MAX as i128),
            DType::U16 => (0, u16::MAX as i128),
            DType::U32 => (0, u32::MAX as i128),
            DType::U64 => (0, u64::MAX as i128),
            DType::Bool => (0, 1),
            DType::F32 | DType::F64 => (i128::MIN, i128::MAX),
        }
    };
    if dtype.is_float() {
        return Ok(match *f {
            Fill::FillDouble(v) => Scalar::F64(v),
            Fill::FillInt(v) => Scalar::I64(v),
            Fill::FillUint(v) => Scalar::U64(v),
            Fill::FillBool(_) => return Err(lossy()),
        });
    }
    let (lo, hi) = int_range(dtype);
    let v: i128 = match *f {
        Fill::FillInt(v) => v as i128,
        Fill::FillUint(v) => v as i128,
        Fill::FillBool(b) => {
            if dtype == DType::Bool {
                return Ok(Scalar::Bool(b));
            }
            return Err(lossy());
        }
        Fill::FillDouble(v) => {
            if !v.is_finite() || v.fract() != 0.0 || v.abs() > 9.0e18 {
                return Err(lossy());
            }
            v as i128
        }
    };
    if v < lo || v > hi {
        return Err(lossy());
    }
    Ok(match dtype {
        DType::Bool => Scalar::Bool(v != 0),
        DType::U64 => Scalar::U64(v as u64),
        _ => Scalar::I64(v as i64),
    })
}

/// The protobuf form of a stored retention policy; None when no rule is set.
pub fn retention_to_pb(r: &Retention) -> Option<pb::RetentionPolicy> {
    (!r.is_empty()).then_some(pb::RetentionPolicy {
        keep_versions: r.versions,
        max_age_ns: r.max_age_ns,
    })
}

/// The protobuf schema of a stored schema (`omit_labels` leaves label lists empty).
pub fn schema_to_pb(s: &ArraySchema, omit_labels: bool) -> pb::ArraySchema {
    pb::ArraySchema {
        name: s.name.clone(),
        dimensions: s
            .dims
            .iter()
            .map(|d| pb::Dimension {
                name: d.name.clone(),
                coordinate: Some(match &d.coord {
                    Coordinate::Regular { start, step } => {
                        PbCoordinate::Regular(pb::RegularCoordinate {
                            start: *start,
                            step: *step,
                        })
                    }
                    Coordinate::Time { start_ns, step_ns } => {
                        PbCoordinate::Time(pb::TimeCoordinate {
                            start_unix_ns: *start_ns,
                            step_ns: *step_ns,
                        })
                    }
                    Coordinate::Labels { labels } => PbCoordinate::Labels(pb::LabelCoordinate {
                        labels: if omit_labels {
                            Vec::new()
                        } else {
                            labels.to_vec()
                        },
                    }),
                    Coordinate::TextLabels { labels } => {
                        PbCoordinate::TextLabels(pb::TextLabelCoordinate {
                            labels: if omit_labels {
                                Vec::new()
                            } else {
                                labels.to_vec()
                            },
                        })
                    }
                }),
                length: d.len,
                growable: d.growable,
                metadata: map_to_pb(s.metadata.of(&d.name)),
            })
            .collect(),
        attributes: s
            .attrs
            .iter()
            .map(|a| pb::Attribute {
                name: a.name.clone(),
                dtype: pb::DType::from(a.dtype) as i32,
                fill: fill_to_pb(a),
                metadata: map_to_pb(s.metadata.of(&a.name)),
            })
            .collect(),
        layouts: s
            .layouts
            .iter()
            .map(|l| {
                let mut level = 0;
                let mut shuffle = false;
                for c in &l.codec.bytes_to_bytes {
                    match *c {
                        BytesToBytes::Shuffle { .. } => shuffle = true,
                        BytesToBytes::Zstd { level: z } => level = z,
                    }
                }
                pb::Layout {
                    name: l.name.clone(),
                    chunk_shape: l.chunk_shape.clone(),
                    zstd_level: level,
                    shuffle,
                }
            })
            .collect(),
        metadata: map_to_pb(&s.metadata.array),
    }
}

/// The fill of an attribute; absent when it is the dtype's default.
fn fill_to_pb(a: &Attribute) -> Option<Fill> {
    if a.fill == a.dtype.default_fill().to_le_bytes(a.dtype) {
        return None;
    }
    Some(match (a.dtype, a.fill_value()) {
        (DType::Bool, v) => Fill::FillBool(v.as_f64() != 0.0),
        (d, v) if d.is_float() => Fill::FillDouble(v.as_f64()),
        (_, Scalar::U64(v)) => Fill::FillUint(v),
        (_, Scalar::I64(v)) => Fill::FillInt(v),
        (_, v) => Fill::FillDouble(v.as_f64()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> pb::ArraySchema {
        pb::ArraySchema {
            name: "w".into(),
            dimensions: vec![
                pb::Dimension {
                    name: "time".into(),
                    coordinate: Some(PbCoordinate::Time(pb::TimeCoordinate {
                        start_unix_ns: 0,
                        step_ns: 3_600_000_000_000,
                    })),
                    length: 0,
                    growable: true,
                    metadata: Default::default(),
                },
                pb::Dimension {
                    name: "station".into(),
                    coordinate: Some(PbCoordinate::Labels(pb::LabelCoordinate {
                        labels: vec![5, 7],
                    })),
                    length: 2,
                    growable: true,
                    metadata: Default::default(),
                },
                pb::Dimension {
                    name: "asset".into(),
                    coordinate: Some(PbCoordinate::TextLabels(pb::TextLabelCoordinate {
                        labels: vec!["NL-WIND-042".into(), "b".into()],
                    })),
                    length: 2,
                    growable: false,
                    metadata: Default::default(),
                },
            ],
            attributes: vec![
                pb::Attribute {
                    name: "temp".into(),
                    dtype: pb::DType::F32 as i32,
                    fill: None,
                    metadata: Default::default(),
                },
                pb::Attribute {
                    name: "n".into(),
                    dtype: pb::DType::U16 as i32,
                    fill: Some(Fill::FillInt(7)),
                    metadata: Default::default(),
                },
            ],
            layouts: vec![],
            metadata: Default::default(),
        }
    }

    #[test]
    fn schema_roundtrip_with_default_layout() {
        let mut s = schema_from_pb(&sample()).unwrap();
        s.validate().unwrap();
        assert_eq!(s.layouts.len(), 1);
        assert_eq!(s.layouts[0].name, "primary");
        // Two growable dimensions (256 each, storage's default layout rule) and two
        // fixed text labels.
        assert_eq!(s.layouts[0].chunk_shape, vec![256, 256, 2]);
        assert_eq!(
            s.dims[2].coord,
            Coordinate::text_labels(["NL-WIND-042", "b"])
        );
        let back = schema_to_pb(&s, false);
        assert_eq!(back.dimensions, sample().dimensions);
        assert_eq!(back.attributes[0].fill, None);
        assert_eq!(back.attributes[1].fill, Some(Fill::FillUint(7)));
        assert_eq!(back.layouts[0].zstd_level, DEFAULT_ZSTD_LEVEL);
        assert!(back.layouts[0].shuffle);
        let omitted = schema_to_pb(&s, true);
        assert_eq!(omitted.dimensions[1].length, 2);
        assert_eq!(
            omitted.dimensions[1].coordinate,
            Some(PbCoordinate::Labels(pb::LabelCoordinate { labels: vec![] }))
        );
        assert_eq!(
            omitted.dimensions[2].coordinate,
            Some(PbCoordinate::TextLabels(pb::TextLabelCoordinate {
                labels: vec![]
            }))
        );
    }

    #[test]
    fn fills_are_checked() {
        let mut s = sample();
        s.attributes[1].fill = Some(Fill::FillInt(-1));
        assert!(schema_from_pb(&s).is_err());
        s.attributes[1].fill = Some(Fill::FillDouble(3.5));
        assert!(schema_from_pb(&s).is_err());
        s.attributes[1].fill = Some(Fill::FillDouble(3.0));
        assert!(schema_from_pb(&s).is_ok());
        s.attributes[0].dtype = 0;
        assert!(schema_from_pb(&s).is_err());
        s.attributes[0].dtype = pb::DType::String as i32;
        let e = schema_from_pb(&s).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(
            e.message().contains("dtype STRING is a result-only type"),
            "{}",
            e.message()
        );
    }
}
