//! Chaos under load: a real `arrayqd` on a real store, driven over gRPC by 50
//! clients (90% queries of mixed shapes over every client's array, 10% writes of
//! one's own array with `expect_version`) and Subscribe followers, is crashed with
//! SIGKILL at random moments and restarted on the same store and address. Then:
//!
//! - every acknowledged write is there bit for bit (`AS OF VERSION` each one);
//! - no query result was torn: each is exactly the pattern of the version the
//!   server says it read, and that version's committed tag;
//! - every follower received every committed event once, in order, by resuming
//!   from its last sequence number;
//! - every error a client saw was UNAVAILABLE, during a kill window.
//!
//! `ARRAYQ_CHAOS_KILLS` (default 20) sets the kills per run, `ARRAYQ_CHAOS_RUNS`
//! (default 1) the runs, `ARRAYQ_CHAOS_SEED` the random seed (docs/reliability.md).

mod follower;
mod load;
mod pattern;
mod verify;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrayq_client::Client;
use arrayq_tests::{TestServer, TestServerBuilder};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use follower::{run_follower, Followed};
use load::{prepare, run_client, LoadCtx};
use verify::{KillWindow, Outcome};

const CLIENTS: usize = 50;
const FOLLOWERS: usize = 3;
/// Time between a restart and the next kill: the load runs meanwhile.
const UP_MS: std::ops::Range<u64> = 300..1200;
/// Time the server stays down: clients meet a refused connection.
const DOWN_MS: std::ops::Range<u64> = 0..150;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

#[test]
fn chaos_sigkill_under_load_loses_no_acknowledged_write_and_no_event() {
    let kills = env_u64("ARRAYQ_CHAOS_KILLS", 20);
    let runs = env_u64("ARRAYQ_CHAOS_RUNS", 1);
    let seed = env_u64("ARRAYQ_CHAOS_SEED", rand::random::<u32>() as u64);
    for run in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let outcome = chaos_run(dir.path(), kills, seed + run);
        eprintln!(
            "chaos run {} of {runs} (seed {}): {outcome}",
            run + 1,
            seed + run
        );
    }
}

/// One run on a fresh store: load, `kills` crashes, then every check.
fn chaos_run(dir: &Path, kills: u64, seed: u64) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let builder = TestServer::builder(dir.join("data")).clean_env();
    let mut server = start(&builder, dir, 0);
    let addr = server.addr().to_string();
    let url = server.url();

    let setup = rt.block_on(Client::connect(url.clone())).unwrap();
    rt.block_on(async {
        for id in 0..CLIENTS {
            prepare(&setup, id).await.unwrap();
        }
    });

    let ctx = Arc::new(LoadCtx {
        clients: CLIENTS,
        t0: Instant::now(),
        stop: AtomicBool::new(false),
    });
    let followed: Vec<_> = (0..FOLLOWERS)
        .map(|_| Arc::new(Mutex::new(Followed::default())))
        .collect();
    let follower_tasks: Vec<_> = followed
        .iter()
        .enumerate()
        .map(|(i, out)| rt.spawn(run_follower(ctx.clone(), url.clone(), i, out.clone())))
        .collect();
    let client_tasks: Vec<_> = (0..CLIENTS)
        .map(|id| rt.spawn(run_client(ctx.clone(), url.clone(), id, seed)))
        .collect();

    let mut windows = Vec::new();
    for k in 1..=kills {
        std::thread::sleep(Duration::from_millis(rng.gen_range(UP_MS)));
        let killed_at = ctx.t0.elapsed();
        let status = server.sigkill().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "{status}"
        );
        std::thread::sleep(Duration::from_millis(rng.gen_range(DOWN_MS)));
        server = start(&builder.clone().grpc(addr.clone()), dir, k);
        windows.push(KillWindow {
            killed_at,
            up_at: ctx.t0.elapsed(),
        });
    }
    std::thread::sleep(Duration::from_millis(UP_MS.end));
    ctx.stop.store(true, Ordering::Relaxed);
    let mut logs: Vec<_> = rt.block_on(async {
        let mut logs = Vec::new();
        for t in client_tasks {
            logs.push(t.await.expect("a client panicked"));
        }
        logs
    });
    for (id, log) in logs.iter_mut().enumerate() {
        rt.block_on(load::resolve_in_doubt(&setup, id, log))
            .unwrap();
    }
    let outcome = verify::check(&rt, &setup, &logs, &followed, &windows);
    for t in follower_tasks {
        t.abort();
    }
    drop(server);
    outcome
}

/// Starts the server of incarnation `k`, logging to its own file.
fn start(builder: &TestServerBuilder, dir: &Path, k: u64) -> TestServer {
    builder
        .clone()
        .log_file(dir.join(format!("server-{k}.log")))
        .start()
        .unwrap_or_else(|e| panic!("restart {k}: {e}"))
}
