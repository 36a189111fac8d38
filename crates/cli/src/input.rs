//! The input reader of `ggufembed embed` and `ggufembed tokenize`: one record per line, JSONL
//! objects with a `"text"` field (other fields carried through) or plain text lines. Every
//! error names its 1-based line. A line holds at most [`MAX_LINE_BYTES`]: a longer one is
//! refused without being buffered whole. A library module so that the fuzz target
//! `jsonl_input` (`fuzz/fuzz_targets/jsonl_input.rs`) can reach it.

use std::io::{self, BufRead};

use serde_json::{Map, Value};

/// One input record: its text and, for JSONL, the other fields to carry through.
pub struct Record {
    /// The text to embed or tokenize.
    pub text: String,
    /// The JSONL object's other fields (empty for plain lines).
    pub extra: Map<String, Value>,
}

/// The longest input line [`Records`] accepts, in bytes, without its `\n` or `\r\n`: 16 MiB.
/// Input comes from anywhere (a pipe, a file from the internet) and a line is buffered whole
/// before it is parsed, so without a cap one line with no newline would take as much memory
/// as it is long. A model reads at most its context of a text (512 tokens for MiniLM: a few
/// KB); 16 MiB leaves room for whole documents and JSONL objects with large extra fields
/// while bounding the reader's memory to that.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Reads records one line at a time, naming the line in every error.
pub struct Records<R> {
    reader: R,
    line_no: usize,
    text_lines: bool,
    max_line_bytes: usize,
    /// The last line was refused as too long before its end: the next read skips its rest.
    skip_rest: bool,
}

/// One line as read, without its `\n`: `complete` false when it was cut after more than
/// the cap's bytes (its rest is still unread).
struct Line {
    bytes: Vec<u8>,
    complete: bool,
}

impl<R: BufRead> Records<R> {
    /// Reads `reader`; `text_lines`: each line is a text (else a JSONL object). Lines longer
    /// than [`MAX_LINE_BYTES`] are refused.
    pub fn new(reader: R, text_lines: bool) -> Self {
        Records {
            reader,
            line_no: 0,
            text_lines,
            max_line_bytes: MAX_LINE_BYTES,
            skip_rest: false,
        }
    }

    /// The same reader with another cap than [`MAX_LINE_BYTES`] on a line's bytes (without
    /// its newline); the fuzz target `jsonl_input` uses small ones to reach the check.
    #[must_use]
    pub fn with_max_line_bytes(mut self, max_line_bytes: usize) -> Self {
        self.max_line_bytes = max_line_bytes;
        self
    }

    /// Reads the next line, keeping at most the cap + 1 bytes (enough to strip a final `\r`
    /// and still see that a line is too long): a longer line is returned incomplete at once,
    /// its rest skipped by the next call. `None` at the end of the input.
    fn read_line(&mut self) -> io::Result<Option<Line>> {
        if self.skip_rest {
            self.skip_to_next_line()?;
            self.skip_rest = false;
        }
        let keep = self.max_line_bytes.saturating_add(1);
        let mut bytes = Vec::new();
        let mut any = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(any.then_some(Line {
                    bytes,
                    complete: true,
                }));
            }
            any = true;
            let newline = chunk.iter().position(|&b| b == b'\n');
            let end = newline.unwrap_or(chunk.len());
            let take = end.min(keep - bytes.len());
            bytes.extend_from_slice(&chunk[..take]);
            if take < end {
                self.reader.consume(take);
                self.skip_rest = true;
                return Ok(Some(Line {
                    bytes,
                    complete: false,
                }));
            }
            self.reader.consume(newline.map_or(end, |i| i + 1));
            if newline.is_some() {
                return Ok(Some(Line {
                    bytes,
                    complete: true,
                }));
            }
        }
    }

    /// Discards the input up to and including the next `\n` (or to its end).
    fn skip_to_next_line(&mut self) -> io::Result<()> {
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(());
            }
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.reader.consume(i + 1);
                    return Ok(());
                }
                None => {
                    let n = chunk.len();
                    self.reader.consume(n);
                }
            }
        }
    }

    /// The next record, `None` at the end of the input, or an error naming the line. After
    /// an error about a line's contents the next call reads the next line, so a caller that
    /// goes on loses nothing after the bad line (the CLI stops at the first error instead).
    ///
    /// # Errors
    ///
    /// A read error, a line longer than the cap ([`MAX_LINE_BYTES`] unless
    /// [`with_max_line_bytes`](Self::with_max_line_bytes) set another; refused as soon as the
    /// cap is passed, without reading the rest of the line), a line that is not UTF-8, or
    /// (JSONL) an empty line, invalid JSON, a value that is not an object, or a missing or
    /// non-string `"text"` field.
    pub fn next_record(&mut self) -> Result<Option<Record>, String> {
        let n = self.line_no + 1;
        let line = self.read_line().map_err(|e| {
            self.line_no = n;
            format!("reading input line {n}: {e}")
        })?;
        let Some(Line {
            mut bytes,
            complete,
        }) = line
        else {
            return Ok(None);
        };
        self.line_no = n;
        if bytes.last() == Some(&b'\r') && complete {
            bytes.pop();
        }
        let max = self.max_line_bytes;
        if !complete || bytes.len() > max {
            return Err(format!(
                "input line {n} is longer than {max} bytes, the limit per line"
            ));
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
    use std::cell::Cell;
    use std::io::{self, BufReader, Read};

    use super::{MAX_LINE_BYTES, Records};

    /// A reader that counts the bytes taken from it.
    struct Counting<'a, R> {
        inner: R,
        read: &'a Cell<usize>,
    }

    impl<R: Read> Read for Counting<'_, R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read.set(self.read.get() + n);
            Ok(n)
        }
    }

    /// The defect `Records` had (a line read with `BufRead::split`, buffered whole): one huge
    /// line without a newline took as much memory as it was long. Now it is refused once the
    /// cap is passed, having read little more than the cap, and the line after it is read.
    #[test]
    fn one_huge_line_is_refused_without_buffering_it_whole() {
        let read = Cell::new(0);
        let huge = io::repeat(b'x').take(4 * MAX_LINE_BYTES as u64);
        let rest: &[u8] = b"\n{\"text\":\"after\"}\n";
        let reader = BufReader::new(Counting {
            inner: huge.chain(rest),
            read: &read,
        });
        let mut records = Records::new(reader, false);
        let Err(err) = records.next_record() else {
            panic!("the huge line is refused");
        };
        assert_eq!(
            err,
            format!("input line 1 is longer than {MAX_LINE_BYTES} bytes, the limit per line")
        );
        assert!(
            read.get() <= MAX_LINE_BYTES + 64 * 1024,
            "{} bytes read to refuse the line",
            read.get()
        );
        let Ok(Some(after)) = records.next_record() else {
            panic!("the line after the huge one is read");
        };
        assert_eq!((after.text.as_str(), records.line_no()), ("after", 2));
        assert!(matches!(records.next_record(), Ok(None)));
    }

    /// The cap counts a line's bytes without its `\n` or `\r\n`: exactly the cap passes, one
    /// byte more is refused naming the line and the limit, in both modes, and no line after a
    /// refused one is lost.
    #[test]
    fn the_line_cap_is_exact_and_nothing_after_a_long_line_is_lost() {
        let input: &[u8] = b"12345\r\n123456\n1234\n123456789\r\n12345";
        let mut records = Records::new(input, true).with_max_line_bytes(5);
        let mut seen = Vec::new();
        while records.line_no() < 5 {
            seen.push(match records.next_record() {
                Ok(Some(r)) => r.text,
                Ok(None) => panic!("lines lost: {seen:?}"),
                Err(e) => e,
            });
        }
        assert_eq!(
            seen,
            [
                "12345",
                "input line 2 is longer than 5 bytes, the limit per line",
                "1234",
                "input line 4 is longer than 5 bytes, the limit per line",
                "12345",
            ]
        );
        assert!(matches!(records.next_record(), Ok(None)));
        let input: &[u8] = b"{\"text\":\"a\"}\n{\"text\":\"toolong\"}\n{\"text\":\"b\"}";
        let mut records = Records::new(input, false).with_max_line_bytes(12);
        assert_eq!(records.next_record().unwrap().unwrap().text, "a");
        let err = records.next_record().err().unwrap();
        assert_eq!(
            err,
            "input line 2 is longer than 12 bytes, the limit per line"
        );
        assert_eq!(records.next_record().unwrap().unwrap().text, "b");
        assert!(matches!(records.next_record(), Ok(None)));
        assert_eq!(records.line_no(), 3);
    }

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
