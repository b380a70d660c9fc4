//! Conversions between the storage schema types (`arrayq_storage`) and the
//! wire schema (`arrayq.v1.ArraySchema`), so programs that build schemas with
//! the storage types (for example the workload generators) can create the
//! same arrays over gRPC.

use arrayq_proto::v1;
use arrayq_storage::{ArraySchema, BytesToBytes, Coordinate, Scalar};

use crate::result::dtype_to_proto;

/// The wire form of a storage schema: dimensions with their coordinates,
/// lengths and growability; attributes with dtype and fill (left absent when
/// it is the dtype's default); layouts with chunk shape, zstd level and
/// shuffle taken from the codec chain.
pub fn schema_to_proto(s: &ArraySchema) -> v1::ArraySchema {
    let dimensions = s
        .dims
        .iter()
        .map(|d| v1::Dimension {
            name: d.name.clone(),
            coordinate: Some(match &d.coord {
                Coordinate::Regular { start, step } => {
                    v1::dimension::Coordinate::Regular(v1::RegularCoordinate {
                        start: *start,
                        step: *step,
                    })
                }
                Coordinate::Time { start_ns, step_ns } => {
                    v1::dimension::Coordinate::Time(v1::TimeCoordinate {
                        start_unix_ns: *start_ns,
                        step_ns: *step_ns,
                    })
                }
                Coordinate::Labels { labels } => {
                    v1::dimension::Coordinate::Labels(v1::LabelCoordinate {
                        labels: labels.clone(),
                    })
                }
            }),
            length: d.len,
            growable: d.growable,
        })
        .collect();
    let attributes = s
        .attrs
        .iter()
        .map(|a| {
            let fill = a.fill_value();
            let default = a.dtype.default_fill();
            let is_default = match (fill, default) {
                (Scalar::F64(x), Scalar::F64(y)) => {
                    x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
                }
                (x, y) => x == y,
            };
            let fill = if is_default {
                None
            } else {
                Some(match fill {
                    Scalar::F64(x) => v1::attribute::Fill::FillDouble(x),
                    Scalar::I64(x) => v1::attribute::Fill::FillInt(x),
                    Scalar::U64(x) => v1::attribute::Fill::FillUint(x),
                    Scalar::Bool(x) => v1::attribute::Fill::FillBool(x),
                })
            };
            v1::Attribute {
                name: a.name.clone(),
                dtype: dtype_to_proto(a.dtype) as i32,
                fill,
            }
        })
        .collect();
    let layouts = s
        .layouts
        .iter()
        .map(|l| {
            let mut zstd_level = 0;
            let mut shuffle = false;
            for c in &l.codec.bytes_to_bytes {
                match c {
                    BytesToBytes::Shuffle { .. } => shuffle = true,
                    BytesToBytes::Zstd { level } => zstd_level = *level,
                }
            }
            v1::Layout {
                name: l.name.clone(),
                chunk_shape: l.chunk_shape.clone(),
                zstd_level,
                shuffle,
            }
        })
        .collect();
    v1::ArraySchema {
        name: s.name.clone(),
        dimensions,
        attributes,
        layouts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrayq_storage::{Attribute, CodecChain, DType, Dimension, Layout};

    #[test]
    fn converts_all_parts() {
        let s = ArraySchema {
            name: "a".into(),
            dims: vec![
                Dimension {
                    name: "t".into(),
                    coord: Coordinate::Time {
                        start_ns: 5,
                        step_ns: 10,
                    },
                    len: 3,
                    growable: true,
                },
                Dimension {
                    name: "id".into(),
                    coord: Coordinate::Labels { labels: vec![4, 8] },
                    len: 2,
                    growable: false,
                },
            ],
            attrs: vec![
                Attribute::new("x", DType::F32, None),
                Attribute::new("n", DType::I32, Some(Scalar::I64(-1))),
            ],
            layouts: vec![Layout::new("l", vec![2, 2], CodecChain::shuffle_zstd(4, 5))],
        };
        let p = schema_to_proto(&s);
        assert_eq!(p.dimensions.len(), 2);
        assert!(p.dimensions[0].growable);
        assert_eq!(p.dimensions[1].length, 2);
        assert_eq!(p.attributes[0].fill, None);
        assert_eq!(p.attributes[1].fill, Some(v1::attribute::Fill::FillInt(-1)));
        assert_eq!(p.attributes[1].dtype, v1::DType::I32 as i32);
        assert_eq!(p.layouts[0].zstd_level, 5);
        assert!(p.layouts[0].shuffle);
    }
}
