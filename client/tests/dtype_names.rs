//! Type names and the default layout mean the same through both doors of a real
//! arrayqd: SQL `CREATE ARRAY` and `CreateArray` with a wire schema whose dtypes come
//! from the proto name lookup. `int8` is SQL's 8-byte integer, `int1`/`tinyint` the
//! 1-byte one; an array created without layouts gets the documented default layout
//! (docs/format.md, "Default layout").

mod common;

use arrayq_client::proto as v1;
use arrayq_client::{Buffer, Client};
use common::Server;

/// (type name, dtype it must mean) — from the SQL / numpy definitions of the names.
const NAMES: &[(&str, v1::DType)] = &[
    ("INT8", v1::DType::I64),
    ("BIGINT", v1::DType::I64),
    ("TINYINT", v1::DType::I8),
    ("INT1", v1::DType::I8),
    ("INT2", v1::DType::I16),
    ("INT4", v1::DType::I32),
    ("REAL", v1::DType::F32),
    ("FLOAT8", v1::DType::F64),
    ("uint16", v1::DType::U16),
    ("BOOLEAN", v1::DType::Bool),
];

fn attr_dtypes(d: &v1::DescribeArrayResponse) -> Vec<v1::DType> {
    let schema = d.schema.as_ref().expect("schema");
    schema
        .attributes
        .iter()
        .map(|a| v1::DType::try_from(a.dtype).expect("known dtype"))
        .collect()
}

fn layout(d: &v1::DescribeArrayResponse) -> &v1::Layout {
    let schema = d.schema.as_ref().expect("schema");
    assert_eq!(schema.layouts.len(), 1);
    &schema.layouts[0]
}

/// Dimensions of era5's shape: growable hours, 153 latitudes, 281 longitudes.
/// Default chunks by the rule: 256x153x256, halved (lon, time, lat, lon) to 128x77x64.
const ERA5_DEFAULT_CHUNKS: [u64; 3] = [128, 77, 64];

#[tokio::test]
async fn both_doors_give_names_and_default_layout_one_meaning() {
    let server = Server::start();
    let c = Client::connect(server.url()).await.unwrap();

    let attrs: Vec<String> = NAMES
        .iter()
        .enumerate()
        .map(|(k, (name, _))| format!("a{k} {name}"))
        .collect();
    c.create_array_sql(&format!(
        "CREATE ARRAY by_sql (time TIMESTAMP START '2024-01-01T00:00:00Z' STEP '1 hour' GROWABLE, \
         lat DOUBLE START 72 STEP -0.25 LENGTH 153, lon DOUBLE START -25 STEP 0.25 LENGTH 281, {})",
        attrs.join(", ")
    ))
    .await
    .unwrap();

    let regular = |name: &str, start: f64, step: f64, length: u64| v1::Dimension {
        name: name.into(),
        coordinate: Some(v1::dimension::Coordinate::Regular(v1::RegularCoordinate {
            start,
            step,
        })),
        length,
        growable: false,
        metadata: Default::default(),
    };
    let schema = v1::ArraySchema {
        name: "by_wire".into(),
        dimensions: vec![
            v1::Dimension {
                name: "time".into(),
                coordinate: Some(v1::dimension::Coordinate::Time(v1::TimeCoordinate {
                    start_unix_ns: 1_704_067_200_000_000_000,
                    step_ns: 3_600_000_000_000,
                })),
                length: 0,
                growable: true,
                metadata: Default::default(),
            },
            regular("lat", 72.0, -0.25, 153),
            regular("lon", -25.0, 0.25, 281),
        ],
        attributes: NAMES
            .iter()
            .enumerate()
            .map(|(k, (name, _))| v1::Attribute {
                name: format!("a{k}"),
                dtype: v1::DType::from_name(name).expect("a known name") as i32,
                fill: None,
                metadata: Default::default(),
            })
            .collect(),
        layouts: vec![],
        metadata: Default::default(),
    };
    c.create_array(schema).await.unwrap();

    let want: Vec<v1::DType> = NAMES.iter().map(|&(_, d)| d).collect();
    for name in ["by_sql", "by_wire"] {
        let d = c.describe(name).await.unwrap();
        assert_eq!(attr_dtypes(&d), want, "{name}");
        let l = layout(&d);
        assert_eq!(l.name, "primary", "{name}");
        assert_eq!(l.chunk_shape, ERA5_DEFAULT_CHUNKS, "{name}");
        assert_eq!(l.zstd_level, 3, "{name}");
        assert!(l.shuffle, "{name}");
    }
}

#[tokio::test]
async fn an_int8_column_holds_64_bit_values() {
    let server = Server::start();
    let c = Client::connect(server.url()).await.unwrap();
    c.create_array_sql(
        "CREATE ARRAY t (i DOUBLE START 0 STEP 1 LENGTH 3, big INT8 FILL 5000000000, small INT1 FILL -7)",
    )
    .await
    .unwrap();
    let r = c.query("SELECT big, small FROM t").await.unwrap();
    match r.columns[0].values.numbers().unwrap() {
        Buffer::I64(a) => assert_eq!(a.iter().copied().collect::<Vec<_>>(), [5_000_000_000; 3]),
        other => panic!("int8 column came back as {:?}", other.dtype()),
    }
    match r.columns[1].values.numbers().unwrap() {
        Buffer::I8(a) => assert_eq!(a.iter().copied().collect::<Vec<_>>(), [-7; 3]),
        other => panic!("int1 column came back as {:?}", other.dtype()),
    }
}
