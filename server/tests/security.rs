//! Bearer-token authentication and TLS of the real `arrayqd`.

mod common;

use arrayq_proto::v1::array_q_client::ArrayQClient;
use arrayq_proto::v1::*;
use common::*;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic::{Code, Request};

fn with_token<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert("authorization", token.parse().unwrap());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_required_except_for_health() {
    let (_t, dir) = data_dir();
    let d = Daemon::start(&dir, &[], &[("ARRAYQ_TOKEN", "s3cret-token")]);
    let mut c = d.client().await;

    // Health is open, but shows its counters only to authenticated callers.
    let h = c.health(HealthRequest {}).await.unwrap();
    assert_eq!(h.get_ref().status(), ServingStatus::Serving);
    assert!(h.metadata().get("arrayq-chunks-read").is_none());
    assert_eq!(
        metric(&mut c, "arrayq-calls-running", Some("s3cret-token")).await,
        0
    );

    let e = c.list_arrays(ListArraysRequest {}).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    for bad in [
        "Bearer wrong",
        "Bearer s3cret-toke",
        "s3cret-token",
        "Basic czNjcmV0",
    ] {
        let e = c
            .list_arrays(with_token(ListArraysRequest {}, bad))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{bad}");
    }
    // Streaming calls are checked too.
    let e = c
        .query(QueryRequest {
            sql: "SHOW ARRAYS".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let e = c
        .write(tokio_stream::iter(Vec::<WriteRequest>::new()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);

    // With the token everything works (an interceptor adds it to every call).
    let channel = Channel::from_shared(d.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut authed = ArrayQClient::with_interceptor(channel, |mut r: Request<()>| {
        r.metadata_mut()
            .insert("authorization", "Bearer s3cret-token".parse().unwrap());
        Ok(r)
    });
    authed
        .create_array(CreateArrayRequest {
            definition: Some(create_array_request::Definition::Schema(cube_schema(
                "cube", 2, 3,
            ))),
        })
        .await
        .unwrap();
    let header = WriteHeader {
        array: "cube".into(),
        attributes: vec!["t2m".into()],
        region: vec![
            IndexRange::new(0, 1),
            IndexRange::new(0, 2),
            IndexRange::new(0, 3),
        ],
        ..Default::default()
    };
    let data = f32_bytes(&cube_values(0, 1, 2, 3));
    let msgs = arrayq_proto::write_requests(header, vec![data]);
    assert_eq!(
        authed
            .write(tokio_stream::iter(msgs))
            .await
            .unwrap()
            .into_inner()
            .version,
        1
    );
    let mut stream = authed
        .query(QueryRequest {
            sql: "SELECT t2m FROM cube".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while stream.message().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 3, "header, one data block, footer");
    let l = authed
        .list_arrays(ListArraysRequest {})
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = l.arrays.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["cube"]);
    assert_eq!(
        (l.arrays[0].shape.clone(), l.arrays[0].head_version),
        (vec![1, 2, 3], 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_self_signed_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (t, dir) = data_dir();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = ck.cert.pem();
    let cert = t.path().join("cert.pem");
    let key = t.path().join("key.pem");
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let d = Daemon::start(
        &dir,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
    );

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&cert_pem))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://localhost:{}", d.addr.port()))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("TLS connection");
    let mut c = ArrayQClient::new(channel);
    let h = c.health(HealthRequest {}).await.unwrap().into_inner();
    assert_eq!(h.status(), ServingStatus::Serving);
    c.create_array(CreateArrayRequest {
        definition: Some(create_array_request::Definition::Schema(cube_schema(
            "cube", 2, 3,
        ))),
    })
    .await
    .unwrap();
    write_cube(&mut c, "cube", 0, 4, 2, 3).await.unwrap();
    let r = query(&mut c, "SELECT t2m FROM cube").await.unwrap();
    assert_eq!(f32_values(&r.columns[0]), cube_values(0, 4, 2, 3));

    // Plaintext clients cannot talk to it.
    let plain = async {
        let mut p = ArrayQClient::connect(d.endpoint()).await?;
        p.health(HealthRequest {}).await.map_err(Box::new)?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    assert!(plain.await.is_err());
    // Nor clients that do not trust the certificate.
    let untrusted = Channel::from_shared(format!("https://localhost:{}", d.addr.port()))
        .unwrap()
        .tls_config(ClientTlsConfig::new().domain_name("localhost"))
        .unwrap()
        .connect()
        .await;
    if let Ok(ch) = untrusted {
        assert!(ArrayQClient::new(ch)
            .health(HealthRequest {})
            .await
            .is_err());
    }
}
