//! A bounds-checked little-endian reader over the file's bytes.
//!
//! Every read checks what is left before touching memory and reports the field being read and
//! its byte offset; every size is computed with checked arithmetic.

use crate::error::{GgufError, Result};

/// Names the field being read, for error messages; only called when an error is built, so the
/// happy path never formats a string.
pub(crate) type FieldName<'f> = &'f dyn Fn() -> String;

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Current byte offset from the start of the file.
    pub(crate) fn offset(&self) -> u64 {
        self.pos as u64
    }

    /// Bytes left after the current offset.
    pub(crate) fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    pub(crate) fn take(&mut self, n: u64, field: FieldName<'_>) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(GgufError::Truncated {
                field: field(),
                offset: self.offset(),
                needed: n,
                available: self.remaining(),
            });
        }
        // `n <= remaining <= usize::MAX`, so the cast and the addition cannot overflow.
        let n = n as usize;
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, field: FieldName<'_>) -> Result<[u8; N]> {
        let bytes = self.take(N as u64, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: FieldName<'_>) -> Result<u8> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: FieldName<'_>) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: FieldName<'_>) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: FieldName<'_>) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// A GGUF string: u64 byte length, then that many bytes of UTF-8.
    pub(crate) fn string(&mut self, field: FieldName<'_>) -> Result<String> {
        let len_offset = self.offset();
        let len = self.u64(&|| format!("{} length", field()))?;
        if len > self.remaining() {
            return Err(GgufError::Invalid {
                field: format!("{} length", field()),
                offset: len_offset,
                reason: format!(
                    "string of {len} bytes runs past the end of the file ({} bytes left)",
                    self.remaining()
                ),
            });
        }
        let start = self.offset();
        let bytes = self.take(len, field)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(GgufError::Invalid {
                field: field(),
                offset: start + e.valid_up_to() as u64,
                reason: "string is not valid UTF-8".into(),
            }),
        }
    }
}
