//! `write_rpc`: bytes -> a stream of length-delimited `WriteRequest`s (prost) ->
//! the server's own header and block checks (`arrayq_server::open_write`, the
//! function the Write RPC calls) -> commit -> read back. Every header in the input
//! starts a new Write on the same array. After every Write, committed or refused,
//! the array's shape, labels and every cell of every attribute must equal the
//! model's (`write_model`): a refused Write leaves nothing behind.

use crate::write_model::{Model, ATTRS, CREATE};
use arrayq_proto::v1 as pb;
use arrayq_query::{Engine, EngineConfig, QueryContext};
use arrayq_server::{data_block, open_write, WriteLimits};
use arrayq_storage::{AsOf, Coordinate, Options, Region, Store};
use prost::Message;
use std::sync::Mutex;

/// Small limits, so the size check and the spill to the staging file both run.
const LIMITS: WriteLimits = WriteLimits {
    max_write_bytes: 1 << 14,
    staging_memory_bytes: 64,
};

/// Regions reaching beyond this along any dimension are checked but not
/// committed (the model is dense; the store would grow `t` to that length).
const MAX_END: u64 = 64;

/// A fresh store every this many inputs, so a long run's disk stays small. Each
/// input writes an array of its own (named `w` in the input, see [`run`]), so no
/// input pays for a DROP and the compaction after it (a sled flush and segment file
/// churn, most of an input's time).
const INPUTS_PER_STORE: u32 = 256;

pub fn run(data: &[u8]) {
    let mut buf = data;
    let mut msgs = Vec::new();
    while !buf.is_empty() && msgs.len() < 64 {
        match pb::WriteRequest::decode_length_delimited(&mut buf) {
            Ok(m) => msgs.push(m),
            Err(_) => break,
        }
    }
    with_engine(|engine, n| {
        let store = engine.store();
        // The input's writes name array `w`; this input's `w` is array `w<n>`.
        let name = format!("w{n}");
        let create = CREATE.replacen("ARRAY w ", &format!("ARRAY {name} "), 1);
        engine
            .execute(&create, &QueryContext::default())
            .expect("create the target's array");
        let mut model = Model::new();
        check(store, &name, &model);
        let mut rest = &msgs[..];
        while let Some((first, more)) = rest.split_first() {
            let n = more
                .iter()
                .position(|m| matches!(m.msg, Some(pb::write_request::Msg::Header(_))));
            let (blocks, next) = more.split_at(n.unwrap_or(more.len()));
            model = write(store, &name, model, first.clone(), blocks);
            check(store, &name, &model);
            rest = next;
        }
    });
}

/// One Write as the RPC runs it; returns the model after it.
fn write(
    store: &Store,
    name: &str,
    model: Model,
    first: pb::WriteRequest,
    blocks: &[pb::WriteRequest],
) -> Model {
    let Ok(mut header) = first.into_header() else {
        return model;
    };
    // Any other name is an unknown array, as it was when `w` was the only array (an
    // earlier input's `w<k>` must not take writes).
    header.array = match header.array.as_str() {
        "w" => name.to_string(),
        _ => String::new(),
    };
    let Ok(mut open) = open_write(store, &header, LIMITS) else {
        return model;
    };
    let labels: usize = header
        .labels
        .iter()
        .map(|l| l.labels.len() + l.text_labels.len())
        .sum();
    if labels > 32
        || header
            .region
            .iter()
            .any(|r| r.start.saturating_add(r.count) > MAX_END)
    {
        return model;
    }
    let mut data = vec![Vec::new(); header.attributes.len()];
    for m in blocks {
        let Ok(b) = data_block(m.clone()) else {
            return model;
        };
        if open.push(&b).is_err() {
            return model;
        }
        data[b.attribute as usize].extend_from_slice(&b.data);
    }
    match open.commit() {
        Ok(_) => model.apply(&header, &data),
        Err(_) => model,
    }
}

/// The store's array `name` equals the model: shape, labels, every cell's bytes.
fn check(store: &Store, name: &str, model: &Model) {
    let snap = store.snapshot(name, AsOf::Latest).expect("snapshot of w");
    assert_eq!(snap.shape(), model.shape.to_vec(), "shape");
    match &snap.schema().dims[1].coord {
        Coordinate::Labels { labels } => assert_eq!(labels.as_slice(), &model.labels[..], "labels"),
        other => panic!("site has coordinate {other:?}"),
    }
    if model.shape.contains(&0) {
        return;
    }
    for (a, (attr, _)) in ATTRS.iter().enumerate() {
        let got = snap
            .read(attr, &Region::full(&model.shape))
            .expect("read back");
        assert!(
            got.to_le_bytes() == model.cells[a],
            "attribute '{attr}' differs from the model"
        );
    }
}

/// Calls `f` with the process's engine and the number of the input in its store.
fn with_engine(f: impl FnOnce(&Engine, u32)) {
    static STORE: Mutex<Option<(Engine, tempfile::TempDir, u32)>> = Mutex::new(None);
    let mut guard = STORE.lock().unwrap_or_else(|e| e.into_inner());
    if guard.as_ref().is_none_or(|s| s.2 >= INPUTS_PER_STORE) {
        *guard = None;
        let dir = crate::scratch::scratch_dir();
        let opts = Options {
            durable: false,
            cache_bytes: 4 << 20,
            inline_bytes: 64,
            ..Options::default()
        };
        let store = Store::open_with(dir.path(), opts).expect("target store");
        *guard = Some((Engine::new(store, EngineConfig::default()), dir, 0));
    }
    let s = guard.as_mut().expect("store");
    s.2 += 1;
    f(&s.0, s.2);
}
