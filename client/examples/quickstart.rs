//! The library example of client/README.md: run against a server with an
//! empty store, e.g. `arrayqd --data /tmp/q --grpc 127.0.0.1:50051`, then
//! `cargo run -p arrayq-client --example quickstart`.

use arrayq_client::{Buffer, Client, Code};
use ndarray::ArrayD;

#[tokio::main]
async fn main() -> arrayq_client::Result<()> {
    let client = Client::connect("http://127.0.0.1:50051").await?;
    // or: Client::connect_with(ConnectOptions { addr, token, ca_cert_pem, tls_domain, .. })
    //     client.with_token("secret")?

    client
        .create_array_sql(
            "CREATE ARRAY temps (time TIMESTAMP START '2024-05-01T00:00:00Z' STEP '1 hour' \
             LENGTH 24 GROWABLE, station INT START 0 STEP 1 LENGTH 3, t REAL)",
        )
        .await?;

    // Write a dense region: one buffer per attribute, row-major over the
    // region; sent in blocks of at most MAX_BLOCK_BYTES, committed atomically.
    let t = ArrayD::from_shape_vec(vec![24, 3], (0..72).map(|i| i as f32 * 0.5).collect()).unwrap();
    let w = client
        .write("temps", &["t"], &[0..24, 0..3], vec![], &[Buffer::F32(t)])
        .await?;
    println!("version {}", w.version);

    // Collected result: dims with coordinates, shape, typed columns.
    let r = client
        .query("SELECT t FROM temps WHERE station = 1")
        .await?;
    println!("{:?} {:?}", r.dim_names(), r.shape);
    println!("first time {}", r.dims[0].coords.text(0)); // 2024-05-01T00:00:00Z
    if let Some(Buffer::F32(a)) = r.column("t").unwrap().values.numbers() {
        println!("{}", a[[3]]);
    }

    // Streaming: the header first, then blocks as they arrive. Dropping the
    // stream cancels the query on the server.
    let mut s = client.query_stream("SELECT t FROM temps").await?;
    println!("shape {:?}", s.header().shape);
    while let Some(b) = s.next_block().await? {
        println!(
            "column {} elements {}..{}",
            b.column,
            b.offset,
            b.offset + b.values.len()
        );
    }

    // Typed errors: gRPC code, message, position in the SQL text.
    match client.query("SELECT t\nFROM temps WHERE >").await {
        Err(e) if e.code() == Code::InvalidArgument => {
            println!("{} at {:?}", e.message(), e.position()); // Some(Position { line: 2, .. })
        }
        other => println!("{other:?}"),
    }

    // Change events (never ends by itself; drop it to stop).
    let mut events = client.subscribe("temps", 1).await?;
    while let Some(ev) = events.next().await? {
        println!("seq {} version {}", ev.seq, ev.version);
        if ev.version == w.version {
            break;
        }
    }
    Ok(())
}
