//! The zstd step: one zstd frame (with content size) of its input.

use super::{BytesCodec, CodecError};
use std::cell::RefCell;

/// zstd at `level` (-7..=22).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZstdCodec {
    pub level: i32,
}

impl BytesCodec for ZstdCodec {
    fn validate(&self) -> Result<(), CodecError> {
        if !(-7..=22).contains(&self.level) {
            return Err(CodecError::Invalid(format!(
                "zstd level {} must be -7..22",
                self.level
            )));
        }
        Ok(())
    }

    fn encode(&self, src: &[u8]) -> Result<Vec<u8>, CodecError> {
        zstd_compress(src, self.level)
    }

    fn decode_into(&self, src: &[u8], dst: &mut [u8]) -> Result<(), CodecError> {
        zstd_decompress(src, dst)
    }
}

thread_local! {
    static CCTX: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static DCTX: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn step_err(step: &'static str) -> impl Fn(std::io::Error) -> CodecError {
    move |e| CodecError::Step {
        step,
        message: e.to_string(),
    }
}

/// zstd compression with a reused per-thread context.
pub fn zstd_compress(src: &[u8], level: i32) -> Result<Vec<u8>, CodecError> {
    CCTX.with(|c| {
        let mut c = c.borrow_mut();
        let comp = match &mut *c {
            Some((l, comp)) if *l == level => comp,
            slot => {
                let comp = zstd::bulk::Compressor::new(level).map_err(step_err("zstd init"))?;
                &mut slot.insert((level, comp)).1
            }
        };
        comp.compress(src).map_err(step_err("zstd compress"))
    })
}

/// zstd decompression into an exactly sized buffer, with a reused per-thread context.
pub fn zstd_decompress(src: &[u8], out: &mut [u8]) -> Result<(), CodecError> {
    DCTX.with(|d| {
        let mut d = d.borrow_mut();
        let dec = match &mut *d {
            Some(dec) => dec,
            slot => slot.insert(zstd::bulk::Decompressor::new().map_err(step_err("zstd init"))?),
        };
        let n = dec
            .decompress_to_buffer(src, out)
            .map_err(step_err("zstd decompress"))?;
        if n != out.len() {
            return Err(CodecError::Size {
                what: "zstd output",
                got: n,
                expected: out.len(),
            });
        }
        Ok(())
    })
}
