//! The input reader of `ggufembed embed` and `ggufembed tokenize`: one record per line, JSONL
//! objects with a `"text"` field (other fields carried through) or plain text lines. Every
//! error names its 1-based line. A library module so that the fuzz target `jsonl_input`
//! (`fuzz/fuzz_targets/jsonl_input.rs`) can reach it.

use std::io::{self, BufRead};

use serde_json::{Map, Value};

/// One input record: its text and, for JSONL, the other fields to carry through.
pub struct Record {
    /// The text to embed or tokenize.
    pub text: String,
    /// The JSONL object's other fields (empty for plain lines).
    pub extra: Map<String, Value>,
}

/// Reads records one line at a time, naming the line in every error.
pub struct Records<R> {
    lines: io::Split<R>,
    line_no: usize,
    text_lines: bool,
}

impl<R: BufRead> Records<R> {
    /// Reads `reader`; `text_lines`: each line is a text (else a JSONL object).
    pub fn new(reader: R, text_lines: bool) -> Self {
        Records {
            lines: reader.split(b'\n'),
            line_no: 0,
            text_lines,
        }
    }

    /// The next record, `None` at the end of the input, or an error naming the line.
    ///
    /// # Errors
    ///
    /// A read error, a line that is not UTF-8, or (JSONL) an empty line, invalid JSON, a
    /// value that is not an object, or a missing or non-string `"text"` field.
    pub fn next_record(&mut self) -> Result<Option<Record>, String> {
        let Some(line) = self.lines.next() else {
            return Ok(None);
        };
        self.line_no += 1;
        let n = self.line_no;
        let mut bytes = line.map_err(|e| format!("reading input line {n}: {e}"))?;
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let line = String::from_utf8(bytes).map_err(|e| {
            format!(
                "input line {n} is not valid UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            )
        })?;
        if self.text_lines {
            return Ok(Some(Record {
                text: line,
                extra: Map::new(),
            }));
        }
        if line.trim().is_empty() {
            return Err(format!(
                "input line {n} is empty (JSONL input needs one object with a \"text\" field per line; use --text-lines for plain text)"
            ));
        }
        let value: Value = serde_json::from_str(&line)
            .map_err(|e| format!("input line {n} is not valid JSON: {e}"))?;
        let Value::Object(mut obj) = value else {
            return Err(format!("input line {n} is not a JSON object"));
        };
        match obj.remove("text") {
            Some(Value::String(text)) => Ok(Some(Record { text, extra: obj })),
            Some(other) => Err(format!(
                "input line {n}: \"text\" must be a string, found {}",
                json_type(&other)
            )),
            None => Err(format!("input line {n} has no \"text\" field")),
        }
    }
}

/// How a JSON value's type is named in error messages ("a number", "an array", …).
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl AsRef<str> for Record {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl<R> Records<R> {
    /// How many lines have been read so far (the number of the last line read).
    pub fn line_no(&self) -> usize {
        self.line_no
    }
}

#[cfg(test)]
mod tests {
    use super::Records;

    /// The fuzzer's first CI run (`jsonl_input`, seed `json-escaped-newline`): a JSONL text may
    /// hold an escaped newline; it is one record of one line, its text with the newline.
    #[test]
    fn jsonl_text_may_hold_an_escaped_newline() {
        let input: &[u8] = b"{\"text\":\" hnt\\n\\nt\\nello\", \"id\": 1}\n{\"tex}\r\n";
        let mut records = Records::new(input, false);
        let Ok(Some(first)) = records.next_record() else {
            panic!("the first line is a record");
        };
        assert_eq!(first.text, " hnt\n\nt\nello");
        assert_eq!(records.line_no(), 1);
        let Err(err) = records.next_record() else {
            panic!("the second line is refused");
        };
        assert!(err.contains("line 2"), "{err}");
    }
}
