//! Arbitrary bytes (strict or lossy UTF-8) through the wordpiece tokenizer built from
//! `fuzz/dicts/wordpiece.gguf`: no panic, ids in range, special ids in place, truncation right.
//! Run: `scripts/fuzz.sh tokenize_wordpiece SECONDS` (see docs/SECURITY.md).
#![no_main]

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

static TOKENIZER: LazyLock<common::Fixture> =
    LazyLock::new(|| common::tokenizer(include_bytes!("../dicts/wordpiece.gguf")));

fuzz_target!(|data: &[u8]| common::check_tokenizer(&TOKENIZER, data));
