//! Stored chunks over the wire: the server sends whole chunks of a plain
//! projection as they are on disk and this client decodes them. Values are
//! checked against the formula the cube was written from, with and without
//! stored chunks, across cut chunks, never-written chunks, several columns and
//! queries that cannot use them.

mod common;

use arrayq_client::{Buffer, Client, QueryOptions};
use common::Server;
use ndarray::ArrayD;

const NT: usize = 10;
const NLAT: usize = 12;
const NLON: usize = 9;
/// Time steps never written: one whole chunk (time chunks of 2).
const GAP: std::ops::Range<usize> = 4..6;

fn t_at(t: usize, la: usize, lo: usize) -> f32 {
    if GAP.contains(&t) {
        return f32::NAN;
    }
    (t * 100 + la * 10 + lo) as f32 + 0.25
}

fn d_at(t: usize, la: usize, lo: usize) -> f64 {
    if GAP.contains(&t) {
        return f64::NAN;
    }
    ((t * NLAT + la) * NLON + lo) as f64 * 1.5 - 7.0
}

/// Expected values of the cells `times x lats x lons`, row-major.
fn expected<T>(
    f: fn(usize, usize, usize) -> T,
    times: std::ops::Range<usize>,
    lats: std::ops::Range<usize>,
) -> Vec<T> {
    let mut v = Vec::new();
    for t in times {
        for la in lats.clone() {
            for lo in 0..NLON {
                v.push(f(t, la, lo));
            }
        }
    }
    v
}

/// `got` holds exactly `want` (NaN where `want` has NaN).
fn same_f32(got: &Buffer, want: &[f32]) {
    let Buffer::F32(a) = got else {
        panic!("not f32: {:?}", got.dtype())
    };
    same(
        a.iter().map(|&x| x as f64),
        want.iter().map(|&x| x as f64),
        want.len(),
    );
}

fn same_f64(got: &Buffer, want: &[f64]) {
    let Buffer::F64(a) = got else {
        panic!("not f64: {:?}", got.dtype())
    };
    same(a.iter().copied(), want.iter().copied(), want.len());
}

fn same(got: impl ExactSizeIterator<Item = f64>, want: impl Iterator<Item = f64>, n: usize) {
    assert_eq!(got.len(), n);
    for (i, (x, y)) in got.zip(want).enumerate() {
        assert!(
            x == y || (x.is_nan() && y.is_nan()),
            "element {i}: {x} vs {y}"
        );
    }
}

async fn load(c: &Client) {
    c.query(
        "CREATE ARRAY cube (
           time TIMESTAMP START '2023-01-01T00:00:00Z' STEP '1 hour' GROWABLE,
           lat DOUBLE START 50 STEP 1 LENGTH 12,
           lon DOUBLE START 0 STEP 1 LENGTH 9,
           t REAL, d DOUBLE
         ) WITH (chunks = (2, 12, 9))",
    )
    .await
    .unwrap();
    for part in [0..GAP.start, GAP.end..NT] {
        let (a, b) = (part.start, part.end);
        let shape = vec![b - a, NLAT, NLON];
        let t = ArrayD::from_shape_vec(shape.clone(), expected(t_at, a..b, 0..NLAT)).unwrap();
        let d = ArrayD::from_shape_vec(shape, expected(d_at, a..b, 0..NLAT)).unwrap();
        c.write(
            "cube",
            &["t", "d"],
            &[a as u64..b as u64, 0..NLAT as u64, 0..NLON as u64],
            vec![],
            &[Buffer::F32(t), Buffer::F64(d)],
        )
        .await
        .unwrap();
    }
}

#[test]
fn stored_chunks_decode_to_the_written_values() {
    // Small blocks: several stored blocks per column (two 864-byte f32 chunks, or one
    // 1728-byte f64 chunk, per 2000-byte block).
    let s = Server::start_with(&["--block-bytes", "2000"]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = Client::connect(s.url()).await.unwrap();
        load(&c).await;
        let raw = QueryOptions {
            raw_blocks: true,
            ..Default::default()
        };
        let chunk_f32 = (2 * NLAT * NLON * 4) as u64;

        // Whole cube, two columns: every written chunk goes stored (nothing is
        // decoded on the server), the gap arrives as fill values.
        let sql = "SELECT t, d FROM cube";
        let stored = c.query(sql).await.unwrap();
        same_f32(
            stored.columns[0].values.numbers().unwrap(),
            &expected(t_at, 0..NT, 0..NLAT),
        );
        same_f64(
            stored.columns[1].values.numbers().unwrap(),
            &expected(d_at, 0..NT, 0..NLAT),
        );
        assert_eq!(stored.shape, vec![NT, NLAT, NLON]);
        assert_eq!(stored.stats.chunks_read, 8, "4 chunks per attribute");
        assert_eq!(stored.stats.bytes_decoded, 0, "decoded by the client");
        let plain = c.query_stream_with(sql, &raw).await.unwrap();
        let plain = plain.collect().await.unwrap();
        same_f32(
            plain.columns[0].values.numbers().unwrap(),
            &expected(t_at, 0..NT, 0..NLAT),
        );
        same_f64(
            plain.columns[1].values.numbers().unwrap(),
            &expected(d_at, 0..NT, 0..NLAT),
        );
        assert_eq!(plain.stats.bytes_decoded, 8 * chunk_f32 * 3 / 2);

        // Block by block: contiguous, in order, each decoded.
        let mut st = c.query_stream("SELECT d FROM cube").await.unwrap();
        let want = expected(d_at, 0..NT, 0..NLAT);
        let (mut next, mut blocks) = (0, 0);
        while let Some(b) = st.next_block().await.unwrap() {
            assert_eq!(b.offset, next);
            let n = b.values.len();
            same_f64(&b.values, &want[next..next + n]);
            next += n;
            blocks += 1;
        }
        assert_eq!((next, blocks), (want.len(), NT / 2));

        // next_block reads one block ahead; next_raw after it still gets every block.
        let mut st = c.query_stream("SELECT d FROM cube").await.unwrap();
        let first = st.next_block().await.unwrap().unwrap();
        let mut next = first.values.len();
        while let Some((_, offset, b)) = st.next_raw().await.unwrap() {
            assert_eq!(offset, next);
            next += b.len() / 8;
        }
        assert_eq!(next, want.len());
        let mut st = c.query_stream("SELECT t FROM cube").await.unwrap();
        let mut bytes = Vec::new();
        while let Some((_, offset, b)) = st.next_raw().await.unwrap() {
            assert_eq!(offset * 4, bytes.len());
            bytes.extend_from_slice(&b);
        }
        let got: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        same_f32(
            &Buffer::F32(ArrayD::from_shape_vec(vec![got.len()], got).unwrap()),
            &expected(t_at, 0..NT, 0..NLAT),
        );

        // A cut first chunk is decoded on the server, the rest goes stored.
        let r = c
            .query("SELECT t FROM cube WHERE time >= '2023-01-01T03:00:00Z'")
            .await
            .unwrap();
        same_f32(
            r.columns[0].values.numbers().unwrap(),
            &expected(t_at, 3..NT, 0..NLAT),
        );
        assert_eq!(r.stats.bytes_decoded, chunk_f32);

        // Not a contiguous run of chunks, or not a bare attribute: decoded as usual,
        // every written chunk whole (the chunks span all latitudes).
        for (sql, want) in [
            (
                "SELECT t FROM cube WHERE lat BETWEEN 52 AND 55",
                expected(t_at, 0..NT, 2..6),
            ),
            (
                "SELECT t * 2 AS t2 FROM cube",
                expected(t_at, 0..NT, 0..NLAT)
                    .into_iter()
                    .map(|x| x * 2.0)
                    .collect(),
            ),
        ] {
            let r = c.query(sql).await.unwrap();
            same_f32(r.columns[0].values.numbers().unwrap(), &want);
            assert_eq!(r.stats.bytes_decoded, 4 * chunk_f32, "{sql}");
            assert_eq!(r.stats.chunks_read, 4, "{sql}");
        }
    });
}
