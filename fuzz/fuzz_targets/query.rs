#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| arrayq_fuzz_targets::query::run(data));
