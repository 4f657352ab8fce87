#![no_main]

// The body is shared with the corpus replay test (tests/fuzz_corpus.rs).
#[path = "../../tests/fuzz_cases/decode_body.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
