//! Text label dimensions end to end against a real `arrayqd`: created in SQL, labels
//! appended through the Write RPC, queried through the Rust client (short coordinate
//! lists in the header, long ones in CoordinateBlocks) and through the shell's JSON.

mod common;

use arrayq_client::proto as v1;
use arrayq_client::{Buffer, Client, Code, ColumnValues, Coords, Error};
use common::Server;
use ndarray::ArrayD;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn text_append(dim: &str, labels: &[&str]) -> Vec<v1::LabelAppend> {
    vec![v1::LabelAppend {
        dim: dim.into(),
        text_labels: labels.iter().map(|l| l.to_string()).collect(),
        ..Default::default()
    }]
}

fn f32s(shape: &[usize], v: Vec<f32>) -> Buffer {
    Buffer::F32(ArrayD::from_shape_vec(shape.to_vec(), v).unwrap())
}

#[test]
fn text_labels_through_write_query_and_shell() {
    let s = Server::start();
    rt().block_on(async {
        let c = Client::connect(s.url()).await.unwrap();
        c.create_array_sql(
            "CREATE ARRAY power (asset TEXT LABELS () GROWABLE,
               time TIMESTAMP START '2023-01-01T00:00:00Z' STEP '1 hour' LENGTH 3,
               value REAL)",
        )
        .await
        .unwrap();
        // Two writes, each appending its assets: value = 10 a + t for asset index a.
        let w = c
            .write(
                "power",
                &["value"],
                &[0..2, 0..3],
                text_append("asset", &["NL-WIND-042", "NL-SOLAR-007"]),
                &[f32s(&[2, 3], vec![0.0, 1.0, 2.0, 10.0, 11.0, 12.0])],
            )
            .await
            .unwrap();
        assert_eq!(w.version, 1);
        c.write(
            "power",
            &["value"],
            &[2..3, 0..3],
            text_append("asset", &["DE-HYDRO-001"]),
            &[f32s(&[1, 3], vec![20.0, 21.0, 22.0])],
        )
        .await
        .unwrap();

        // The schema names its text labels.
        let d = c.describe("power").await.unwrap();
        let dim = &d.schema.as_ref().unwrap().dimensions[0];
        assert_eq!(
            dim.coordinate,
            Some(v1::dimension::Coordinate::TextLabels(
                v1::TextLabelCoordinate {
                    labels: vec![
                        "NL-WIND-042".into(),
                        "NL-SOLAR-007".into(),
                        "DE-HYDRO-001".into()
                    ]
                }
            ))
        );

        let r = c
            .query("SELECT sum(value) AS s FROM power WHERE asset IN ('DE-HYDRO-001', 'NL-WIND-042') GROUP BY asset")
            .await
            .unwrap();
        assert_eq!(
            r.dims[0].coords,
            Coords::TextLabels(vec!["NL-WIND-042".into(), "DE-HYDRO-001".into()])
        );
        match &r.column("s").unwrap().values {
            ColumnValues::Numeric(b) => assert_eq!(b.to_f64_vec(), vec![3.0, 63.0]),
            other => panic!("numbers expected, got {other:?}"),
        }
        let r = c
            .query("SELECT value FROM power WHERE asset = 'NL-SOLAR-007'")
            .await
            .unwrap();
        assert_eq!(r.dim_names(), vec!["time"]);
        match &r.column("value").unwrap().values {
            ColumnValues::Numeric(b) => assert_eq!(b.to_f64_vec(), vec![10.0, 11.0, 12.0]),
            other => panic!("numbers expected, got {other:?}"),
        }

        // A label already there, and a label of the wrong kind: named, nothing written.
        let e = c
            .write(
                "power",
                &["value"],
                &[3..4, 0..3],
                text_append("asset", &["NL-WIND-042"]),
                &[f32s(&[1, 3], vec![0.0; 3])],
            )
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("label 'NL-WIND-042' already exists in dimension 'asset'"),
            "{e}"
        );
        let e = c
            .write(
                "power",
                &["value"],
                &[3..4, 0..3],
                vec![v1::LabelAppend {
                    dim: "asset".into(),
                    labels: vec![871],
                    ..Default::default()
                }],
                &[f32s(&[1, 3], vec![0.0; 3])],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Status(s) if s.code == Code::InvalidArgument),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .contains("dimension 'asset' has text labels, so the label 871 does not fit it"),
            "{e}"
        );
        // Comparing with a number: a positioned error.
        let e = c
            .query("SELECT value FROM power WHERE asset = 5")
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("1:39: type error: text label dimension 'asset' is compared with 5"),
            "{e}"
        );
        assert_eq!(c.describe("power").await.unwrap().head_version, 2);
    });

    // The shell: JSON strings for text coordinates, CSV and table as text.
    let out = s.ok(&[
        "-c",
        "SELECT value FROM power WHERE asset IN ('NL-WIND-042', 'DE-HYDRO-001') AND time = '2023-01-01T02:00:00Z'",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v["coords"]["asset"],
        serde_json::json!(["NL-WIND-042", "DE-HYDRO-001"])
    );
    assert_eq!(v["values"]["value"], serde_json::json!([2.0, 22.0]));
    let out = s.ok(&[
        "-c",
        "SELECT value FROM power WHERE time = '2023-01-01T01:00:00Z'",
        "--format",
        "csv",
    ]);
    assert_eq!(
        out,
        "asset,value\nNL-WIND-042,1\nNL-SOLAR-007,11\nDE-HYDRO-001,21\n"
    );
    // .npy holds the values only, whatever the coordinates (as documented).
    let npy = s.dir.path().join("power.npy");
    s.ok(&[
        "-c",
        "SELECT value FROM power WHERE time = '2023-01-01T01:00:00Z'",
        "--format",
        "npy",
        "-o",
        npy.to_str().unwrap(),
    ]);
    let a = arrayq_tests::read_npy_f32(&npy).unwrap();
    assert_eq!((a.shape, a.data), (vec![3], vec![1.0, 11.0, 21.0]));
}

#[test]
fn long_text_coordinate_lists_arrive_in_coordinate_blocks() {
    let s = Server::start();
    rt().block_on(async {
        let c = Client::connect(s.url()).await.unwrap();
        c.create_array_sql("CREATE ARRAY many (asset TEXT LABELS () GROWABLE, value REAL)")
            .await
            .unwrap();
        // 240,000 labels of 24 bytes: about 6.2 MB of coordinates, more than one
        // message holds; appended over two writes of about 3 MB each.
        let name = |a: usize| format!("NL-WIND-FARM-PARK-{a:06}");
        let n = 240_000usize;
        for (lo, hi) in [(0, n / 2), (n / 2, n)] {
            let region = lo as u64..hi as u64;
            let labels: Vec<String> = (lo..hi).map(name).collect();
            c.write(
                "many",
                &["value"],
                std::slice::from_ref(&region),
                vec![v1::LabelAppend {
                    dim: "asset".into(),
                    text_labels: labels,
                    ..Default::default()
                }],
                &[f32s(&[hi - lo], (lo..hi).map(|a| a as f32).collect())],
            )
            .await
            .unwrap();
        }
        let r = c.query("SELECT value FROM many").await.unwrap();
        let want: Vec<String> = (0..n).map(name).collect();
        assert_eq!(r.dims[0].coords, Coords::TextLabels(want));
        match &r.column("value").unwrap().values {
            ColumnValues::Numeric(b) => {
                assert_eq!(b.to_f64_vec(), (0..n).map(|a| a as f64).collect::<Vec<_>>())
            }
            other => panic!("numbers expected, got {other:?}"),
        }
    });
}
