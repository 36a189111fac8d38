//! Sentence-pair encoding for cross-encoders: `[CLS] A [SEP] B [SEP]` with token types 0 for
//! `[CLS] A [SEP]` and 1 for `B [SEP]`, as BERT's `TemplateProcessing` pair template
//! (`[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1`) writes it, truncated longest first as Hugging Face's
//! `TruncationStrategy::LongestFirst` does.

use super::{Inner, Tokenizer};
use crate::error::{Result, RuntimeError};

/// Special tokens of the pair template: `[CLS]`, and `[SEP]` twice.
const PAIR_SPECIALS: usize = 3;

/// A sentence pair's ids and token types, as [`Tokenizer::encode_pair`] returns them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodedPair {
    /// `[CLS] A [SEP] B [SEP]`.
    pub ids: Vec<u32>,
    /// One per id: 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`.
    pub types: Vec<u32>,
    /// Whether ids of `A` or `B` were cut to fit the maximum length.
    pub truncated: bool,
}

impl Tokenizer {
    /// Encodes the pair (`a`, `b`) — a query and a document — as
    /// `[CLS] a [SEP] b [SEP]`, with at most `max_len` ids, special tokens included.
    ///
    /// An empty `b` gives `[CLS] a [SEP] [SEP]` (types `0 … 0 1`), as sentence-transformers'
    /// `CrossEncoder` encodes it. Longer pairs are cut as Hugging Face's `longest_first`
    /// truncation does: with `n1 ≤ n2` the two sides' lengths and `m = max_len − 3`, the shorter
    /// side is kept whole and the longer cut to `m − n1` when that leaves it at least as long;
    /// otherwise both are cut, to `⌊m/2⌋` for the shorter and `⌊m/2⌋ + m mod 2` for the longer
    /// (`a` counting as the shorter on ties). Each side keeps its beginning.
    ///
    /// # Errors
    ///
    /// - [`RuntimeError::InvalidArgument`] if `max_len < 3` (no room for the special tokens);
    /// - [`RuntimeError::Tokenizer`] if the tokenizer is not BERT's WordPiece (the only family
    ///   whose pair template is known from a GGUF) or fails, which it is not known to do.
    pub fn encode_pair(&self, a: &str, b: &str, max_len: usize) -> Result<EncodedPair> {
        let mut pair = EncodedPair::default();
        self.encode_pair_into(a, b, max_len, &mut pair)?;
        Ok(pair)
    }

    /// Like [`Tokenizer::encode_pair`], into `pair` (cleared first), reusing its capacity.
    ///
    /// # Errors
    ///
    /// As [`Tokenizer::encode_pair`]; `pair` is left empty.
    pub fn encode_pair_into(
        &self,
        a: &str,
        b: &str,
        max_len: usize,
        pair: &mut EncodedPair,
    ) -> Result<()> {
        pair.ids.clear();
        pair.types.clear();
        pair.truncated = false;
        let (Inner::WordPiece(_), Some(cls), Some(sep)) = (&self.inner, self.first, self.last)
        else {
            return Err(RuntimeError::tokenizer(format!(
                "pair encoding ([CLS] A [SEP] B [SEP]) is only implemented for BERT WordPiece \
                 tokenizers, not '{}'",
                self.model()
            )));
        };
        if max_len < PAIR_SPECIALS {
            return Err(RuntimeError::InvalidArgument {
                name: "max_len",
                reason: format!(
                    "{max_len} leaves no room for a pair's 3 special tokens; it must be at least 3"
                ),
            });
        }
        // Encode `a` in place after [CLS] and `b` after it, then cut and frame.
        let ids = &mut pair.ids;
        ids.push(cls);
        if let Err(e) = self.encode_body(a, ids) {
            ids.clear();
            return Err(e);
        }
        let n_a = ids.len() - 1;
        if let Err(e) = self.encode_body(b, ids) {
            ids.clear();
            return Err(e);
        }
        let n_b = ids.len() - 1 - n_a;
        let (keep_a, keep_b) = longest_first(n_a, n_b, max_len - PAIR_SPECIALS);
        pair.truncated = keep_a < n_a || keep_b < n_b;
        // ids = [CLS] a[..keep_a] [SEP] b[..keep_b] [SEP].
        ids.truncate(1 + n_a + keep_b);
        ids.drain(1 + keep_a..1 + n_a);
        ids.insert(1 + keep_a, sep);
        ids.push(sep);
        pair.types.resize(keep_a + 2, 0);
        pair.types.resize(ids.len(), 1);
        Ok(())
    }
}

/// How many ids of each side Hugging Face's `LongestFirst` truncation keeps when the pair's
/// sides hold `n_a` and `n_b` ids and `target` ids fit (the specials already subtracted); a
/// transcription of `tokenizers::utils::truncation::truncate_encodings`.
fn longest_first(n_a: usize, n_b: usize, target: usize) -> (usize, usize) {
    if n_a + n_b <= target {
        return (n_a, n_b);
    }
    // n1 is the shorter side; the longer side's own length matters no more.
    let swap = n_a > n_b;
    let mut n1 = n_a.min(n_b);
    let mut n2 = if n1 > target { n1 } else { n1.max(target - n1) };
    if n1 + n2 > target {
        n1 = target / 2;
        n2 = n1 + target % 2;
    }
    let (keep_1, keep_2) = if swap { (n2, n1) } else { (n1, n2) };
    (keep_1.min(n_a), keep_2.min(n_b))
}

#[cfg(test)]
mod tests {
    use super::longest_first;

    #[test]
    fn longest_first_cuts_as_hugging_face() {
        // Fits: unchanged.
        assert_eq!(longest_first(3, 4, 7), (3, 4));
        // Only the longer side is cut.
        assert_eq!(longest_first(10, 600, 509), (10, 499));
        assert_eq!(longest_first(600, 10, 509), (499, 10));
        // Both are cut: the fixture's 367-token query with a longer document keeps 254 + 255.
        assert_eq!(longest_first(367, 400, 509), (254, 255));
        // The longer side gets the odd id, whichever side it is.
        assert_eq!(longest_first(400, 367, 509), (255, 254));
        // Equal sides: `a` counts as the shorter.
        assert_eq!(longest_first(300, 300, 509), (254, 255));
        // The shorter side alone exceeds the room.
        assert_eq!(longest_first(600, 700, 509), (254, 255));
        assert_eq!(longest_first(0, 700, 509), (0, 509));
        assert_eq!(longest_first(5, 5, 0), (0, 0));
        assert_eq!(longest_first(1, 5, 1), (0, 1));
    }
}
