//! Arbitrary bytes through the CLI's input reader (`ggufembed_cli::input::Records`), as JSONL
//! (first byte even) or plain text lines (odd): no panic; every error names the line it is
//! about; no line before the error is lost (records + the failing line = lines read); in
//! text-lines mode, every line of a UTF-8 input is one record.
//! Run: `scripts/fuzz.sh jsonl_input SECONDS` (see docs/SECURITY.md).
#![no_main]

use ggufembed_cli::input::Records;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let text_lines = mode % 2 == 1;
    let mut records = Records::new(input, text_lines);
    let mut n = 0usize;
    loop {
        match records.next_record() {
            Ok(Some(r)) => {
                n += 1;
                // Only a plain-text line cannot hold a newline: a JSON string may escape one
                // (`"a\nb"`), which the fuzzer's first CI run found (seed
                // `json-escaped-newline`, test `jsonl_text_may_hold_an_escaped_newline`).
                if text_lines {
                    assert!(!r.text.contains('\n'), "a text line spans lines");
                }
            }
            Ok(None) => {
                assert_eq!(n, records.line_no(), "lines read but not returned");
                if text_lines {
                    let lines = input.split(|&b| b == b'\n').count()
                        - usize::from(input.is_empty() || input.ends_with(b"\n"));
                    assert_eq!(n, lines, "text lines lost");
                }
                break;
            }
            Err(e) => {
                let line = records.line_no();
                assert_eq!(n + 1, line, "records lost before the error");
                assert!(
                    e.contains(&format!("line {line}")),
                    "error without its line: {e}"
                );
                break;
            }
        }
    }
});
