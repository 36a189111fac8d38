//! Arbitrary bytes through the CLI's input reader (`ggufembed_cli::input::Records`), as JSONL
//! (first byte's bit 0 clear) or plain text lines (set), with the default cap on a line's
//! bytes (`MAX_LINE_BYTES`) when bit 1 is clear, else a cap of the byte's top 6 bits (0–63
//! bytes, so that mutations cross it). Reading on after every error, checks each line against a reference
//! split of the input: no panic; one result per line, numbered in order, none lost after a
//! bad line; a line over the cap refused naming its number and the cap, one within it never
//! refused for its length; every error names its line; a text line is the line's bytes, a
//! JSONL record the line's `"text"`.
//! Run: `scripts/fuzz.sh jsonl_input SECONDS` (see docs/SECURITY.md).
#![no_main]

use ggufembed_cli::input::{MAX_LINE_BYTES, Records};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// What a JSONL line's record text is, by a direct parse: `None` when it has none.
fn jsonl_text(line: &[u8]) -> Option<String> {
    let line = std::str::from_utf8(line).ok()?;
    match serde_json::from_str::<Value>(line).ok()? {
        Value::Object(mut obj) => match obj.remove("text")? {
            Value::String(text) => Some(text),
            _ => None,
        },
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let text_lines = mode % 2 == 1;
    let max = if mode & 2 == 0 {
        MAX_LINE_BYTES
    } else {
        usize::from(mode >> 2)
    };
    // The input's lines without their `\n` (a final `\n` ends the last line, it starts none).
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if input.is_empty() || input.ends_with(b"\n") {
        lines.pop();
    }
    let mut records = Records::new(input, text_lines).with_max_line_bytes(max);
    let mut n = 0usize;
    loop {
        let result = records.next_record();
        if let Ok(None) = result {
            break;
        }
        n += 1;
        assert_eq!(records.line_no(), n, "line numbers out of order");
        let line = lines.get(n - 1).expect("more results than lines");
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let too_long = line.len() > max;
        match result {
            Ok(Some(r)) => {
                assert!(
                    !too_long,
                    "line {n} of {} bytes > {max} accepted",
                    line.len()
                );
                if text_lines {
                    assert_eq!(r.text.as_bytes(), line, "text line {n} changed");
                } else {
                    // A JSON string may escape a newline (`"a\nb"`), which the fuzzer's first
                    // CI run found (seed `json-escaped-newline`, test
                    // `jsonl_text_may_hold_an_escaped_newline`).
                    assert_eq!(Some(r.text), jsonl_text(line), "JSONL line {n} misread");
                }
            }
            Err(e) => {
                if too_long {
                    assert_eq!(
                        e,
                        format!("input line {n} is longer than {max} bytes, the limit per line")
                    );
                } else {
                    let named = e
                        .strip_prefix(&format!("input line {n}"))
                        .is_some_and(|rest| rest.starts_with([' ', ':']));
                    assert!(named, "error without its line: {e}");
                    if text_lines {
                        assert!(std::str::from_utf8(line).is_err(), "line {n} refused: {e}");
                    } else {
                        assert_eq!(jsonl_text(line), None, "line {n} refused: {e}");
                    }
                }
            }
            Ok(None) => unreachable!(),
        }
    }
    assert_eq!(n, lines.len(), "lines lost");
});
