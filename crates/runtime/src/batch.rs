//! The packed batch, unchecked and checked.
//!
//! A caller packs its sequences into a [`Batch`]. [`Batch::check`] is the one check of its
//! ranges, ids and token types against an encoder's [`BatchLimits`], and the only way to make a
//! [`CheckedBatch`]. A checked batch is the only type a graph's `forward` takes, so graphs
//! re-check nothing. The scheduler's micro-batches are [`CheckedBatch`]es too: views that pick
//! some of the checked batch's sequences, in run order. No id is copied or checked again.

use std::fmt;
use std::ops::Range;

use crate::error::{Result, RuntimeError};
use crate::pooling::Pooling;

/// Packed sequences: every sequence's token ids back to back, one range per sequence, and
/// optionally one token-type (segment) id per token, for cross-encoder pairs.
///
/// No padding anywhere: a graph runs one matmul over all `ids.len()` tokens and attention per
/// sequence. Unchecked: [`Batch::check`] turns it into the [`CheckedBatch`] graphs run on.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// All sequences' token ids, back to back.
    pub ids: &'a [u32],
    /// Sequence `i`'s range in `ids`.
    pub seqs: &'a [Range<usize>],
    /// Token-type ids, one per token of `ids` (`None`: type 0 everywhere). Graphs without
    /// segment embeddings ignore them.
    pub types: Option<&'a [u32]>,
}

impl<'a> Batch<'a> {
    /// A batch of `seqs` over `ids`, without token types.
    pub fn new(ids: &'a [u32], seqs: &'a [Range<usize>]) -> Batch<'a> {
        Batch {
            ids,
            seqs,
            types: None,
        }
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// Whether the batch holds no sequence.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Total tokens.
    pub fn tokens(&self) -> usize {
        self.ids.len()
    }

    /// Output rows for `pooling`: one per sequence, or one per token for [`Pooling::None`].
    pub fn rows(&self, pooling: Pooling) -> usize {
        match pooling {
            Pooling::None => self.ids.len(),
            _ => self.seqs.len(),
        }
    }

    /// Checks the batch once, before it is cut into micro-batches. Every range must be
    /// non-empty, at most `limits.max_len` long, and back to back from 0 to `ids.len()` (in
    /// order, without gaps or overlaps). Every id must be below `limits.n_vocab`. The token
    /// types, if any, must be one per id, each below `limits.n_types` when the graph reads
    /// them.
    ///
    /// # Errors
    /// [`RuntimeError::InvalidArgument`] (`name: "tokens"`) naming the first sequence at fault
    /// and why.
    pub fn check(&self, limits: &BatchLimits) -> Result<CheckedBatch<'a>> {
        let bad = |reason: String| RuntimeError::InvalidArgument {
            name: "tokens",
            reason,
        };
        let max_len = limits.max_len;
        if let Some(t) = self.types
            && t.len() != self.ids.len()
        {
            return Err(bad(format!(
                "{} token types for {} ids",
                t.len(),
                self.ids.len()
            )));
        }
        let mut next = 0;
        for (i, r) in self.seqs.iter().enumerate() {
            if r.start != next {
                return Err(bad(format!(
                    "sequence {i} starts at token {}, expected {next} (sequences back to back \
                     from 0)",
                    r.start
                )));
            }
            if r.end > self.ids.len() {
                return Err(bad(format!(
                    "sequence {i} range {r:?} is outside the {} ids",
                    self.ids.len()
                )));
            }
            if r.is_empty() || r.len() > max_len {
                return Err(bad(format!(
                    "sequence {i} has {} tokens, expected 1..={max_len}",
                    r.end.saturating_sub(r.start)
                )));
            }
            next = r.end;
            if let Some(&id) = self.ids[r.clone()]
                .iter()
                .find(|&&id| id as usize >= limits.n_vocab)
            {
                return Err(bad(format!(
                    "sequence {i}: id {id} is outside the vocabulary of {}",
                    limits.n_vocab
                )));
            }
            if let (Some(types), Some(n_types)) = (self.types, limits.n_types)
                && let Some(&ty) = types[r.clone()].iter().find(|&&t| t as usize >= n_types)
            {
                return Err(bad(format!(
                    "sequence {i}: token type {ty} is outside the model's {n_types} types"
                )));
            }
        }
        if next != self.ids.len() {
            return Err(bad(format!(
                "{} ids, but the sequences cover {next}",
                self.ids.len()
            )));
        }
        Ok(CheckedBatch {
            source: *self,
            limits: *limits,
            picks: None,
            seqs: self.seqs,
        })
    }
}

/// What a batch is checked against: an encoder's facts (its context length, vocabulary and
/// token types), with `max_len` possibly lowered by the scheduler's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    /// Longest sequence, in tokens.
    pub max_len: usize,
    /// Ids must be below this (rows of the token embedding).
    pub n_vocab: usize,
    /// Token types must be below this, for a graph that reads them (BERT's segment table);
    /// `None`: the graph reads no types, so any are accepted (and ignored).
    pub n_types: Option<usize>,
}

impl fmt::Display for BatchLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "max_len {}, n_vocab {}", self.max_len, self.n_vocab)?;
        match self.n_types {
            Some(n) => write!(f, ", {n} token types"),
            None => write!(f, ", token types unread"),
        }
    }
}

/// A [`Batch`] that passed [`Batch::check`], or a micro-batch picked from one: the only input
/// a graph's `forward` takes.
///
/// It holds the checked batch (the *source*) and a selection of its sequences, laid out back
/// to back from token 0 in the order picked. A whole batch picks every sequence in order. A
/// graph reads the selection: [`seqs`](CheckedBatch::seqs) (ranges in the selection's token
/// positions), [`ids`](CheckedBatch::ids) and [`seq_ids`](CheckedBatch::seq_ids) (the source's
/// ids, never copied) and [`seq_types`](CheckedBatch::seq_types).
///
/// Guaranteed by construction: ranges non-empty, back to back from 0, each at most
/// `limits().max_len` tokens; ids below `limits().n_vocab`; types, if any, one per id and below
/// `limits().n_types`.
///
/// ```
/// use ggufembed_runtime::{Batch, BatchLimits};
/// let (ids, seq) = ([101u32, 7, 102], 0..3);
/// let limits = BatchLimits { max_len: 8, n_vocab: 200, n_types: None };
/// let checked = Batch::new(&ids, std::slice::from_ref(&seq)).check(&limits).unwrap();
/// assert_eq!((checked.len(), checked.tokens()), (1, 3));
/// ```
///
/// An unchecked [`Batch`] is not a `CheckedBatch`, and none can be made but by the check:
///
/// ```compile_fail,E0308
/// use ggufembed_runtime::{Batch, CheckedBatch};
/// let (ids, seq) = ([101u32, 7, 102], 0..3);
/// let unchecked: CheckedBatch<'_> = Batch::new(&ids, std::slice::from_ref(&seq));
/// ```
///
/// ```compile_fail,E0451
/// use ggufembed_runtime::{Batch, BatchLimits, CheckedBatch};
/// let (ids, seq) = ([101u32, 7, 102], 0..3);
/// let source = Batch::new(&ids, std::slice::from_ref(&seq));
/// let limits = BatchLimits { max_len: 8, n_vocab: 200, n_types: None };
/// let forged = CheckedBatch { source, limits, picks: None, seqs: source.seqs };
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CheckedBatch<'a> {
    /// The whole checked batch.
    source: Batch<'a>,
    /// What the source was checked against.
    limits: BatchLimits,
    /// Which of the source's sequences the selection holds, in its order; `None`: all of
    /// them, in order.
    picks: Option<&'a [usize]>,
    /// Each picked sequence's range in the selection's token positions.
    seqs: &'a [Range<usize>],
}

impl<'a> CheckedBatch<'a> {
    /// A selection of the source's sequences: `picks[k]` is the source index of the
    /// selection's sequence `k`, and `seqs[k]` its range, back to back from 0 in the order
    /// picked. The scheduler's planner builds both from the source's ranges (see
    /// `scheduler::plan`); a mismatch is a bug there, caught here in debug builds.
    pub(crate) fn select<'p>(
        &self,
        picks: &'p [usize],
        seqs: &'p [Range<usize>],
    ) -> CheckedBatch<'p>
    where
        'a: 'p,
    {
        debug_assert_eq!(picks.len(), seqs.len());
        debug_assert!(picks.iter().zip(seqs).enumerate().all(|(k, (&i, r))| {
            let start = k.checked_sub(1).map_or(0, |p| seqs[p].end);
            r.start == start && self.source.seqs.get(i).is_some_and(|s| s.len() == r.len())
        }));
        CheckedBatch {
            source: self.source,
            limits: self.limits,
            picks: Some(picks),
            seqs,
        }
    }

    /// What the batch was checked against.
    pub fn limits(&self) -> &BatchLimits {
        &self.limits
    }

    /// Refuses a batch that was checked against looser limits than `graph`'s, for example
    /// a batch checked for another model. This compares the limits only and reads no id.
    ///
    /// # Errors
    /// [`RuntimeError::InvalidArgument`] (`name: "batch"`) naming both limits.
    pub fn fits(&self, graph: &BatchLimits) -> Result<()> {
        let l = &self.limits;
        let types = !self.typed()
            || match (l.n_types, graph.n_types) {
                (_, None) => true,
                (Some(checked), Some(read)) => checked <= read,
                (None, Some(_)) => false,
            };
        if l.max_len <= graph.max_len && l.n_vocab <= graph.n_vocab && types {
            return Ok(());
        }
        Err(RuntimeError::InvalidArgument {
            name: "batch",
            reason: format!("checked against {l}, which this graph's {graph} do not cover"),
        })
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// Whether the batch holds no sequence.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Total tokens.
    pub fn tokens(&self) -> usize {
        self.seqs.last().map_or(0, |r| r.end)
    }

    /// Sequence `k`'s range in this batch's token positions: back to back from 0.
    pub fn seqs(&self) -> &'a [Range<usize>] {
        self.seqs
    }

    /// Output rows for `pooling`: one per sequence, or one per token for [`Pooling::None`].
    pub fn rows(&self, pooling: Pooling) -> usize {
        match pooling {
            Pooling::None => self.tokens(),
            _ => self.len(),
        }
    }

    /// Whether the batch carries token types.
    pub fn typed(&self) -> bool {
        self.source.types.is_some()
    }

    /// Sequence `k`'s index in the batch that was checked.
    pub fn source_index(&self, k: usize) -> usize {
        self.picks.map_or(k, |p| p[k])
    }

    /// Sequence `k`'s token ids.
    pub fn seq_ids(&self, k: usize) -> &'a [u32] {
        &self.source.ids[self.source.seqs[self.source_index(k)].clone()]
    }

    /// Sequence `k`'s token types (`None`: type 0 everywhere).
    pub fn seq_types(&self, k: usize) -> Option<&'a [u32]> {
        let r = self.source.seqs[self.source_index(k)].clone();
        self.source.types.map(|t| &t[r])
    }

    /// Every token's id, in this batch's order.
    pub fn ids(&self) -> impl Iterator<Item = u32> + 'a {
        let batch = *self;
        (0..batch.len()).flat_map(move |k| batch.seq_ids(k).iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_len: usize, n_vocab: usize) -> BatchLimits {
        BatchLimits {
            max_len,
            n_vocab,
            n_types: None,
        }
    }

    #[test]
    fn check_refuses_gaps_overlaps_long_sequences_and_bad_ids() {
        let ids = [1u32, 2, 3, 4, 5];
        let ok = [0..2, 2..5];
        let checked = Batch::new(&ids, &ok).check(&limits(3, 6)).unwrap();
        assert_eq!((checked.len(), checked.tokens()), (2, 5));
        assert_eq!(checked.ids().collect::<Vec<_>>(), ids);
        let short: Vec<Range<usize>> = std::iter::once(0..2).collect();
        let cases: [(&[Range<usize>], usize, usize, &str); 6] = [
            (
                &[0..2, 3..5],
                3,
                6,
                "sequence 1 starts at token 3, expected 2",
            ),
            (
                &[0..3, 2..5],
                3,
                6,
                "sequence 1 starts at token 2, expected 3",
            ),
            (
                &[0..1, 1..5],
                3,
                6,
                "sequence 1 has 4 tokens, expected 1..=3",
            ),
            (
                &[0..2, 2..6],
                9,
                6,
                "sequence 1 range 2..6 is outside the 5 ids",
            ),
            (
                &[0..2, 2..5],
                3,
                5,
                "sequence 1: id 5 is outside the vocabulary of 5",
            ),
            (&short, 3, 6, "5 ids, but the sequences cover 2"),
        ];
        for (seqs, max_len, n_vocab, want) in cases {
            let err = Batch::new(&ids, seqs)
                .check(&limits(max_len, n_vocab))
                .unwrap_err();
            assert!(err.to_string().contains(want), "{seqs:?}: {err}");
        }
    }

    #[test]
    fn check_refuses_token_types_the_graph_does_not_have() {
        let ids = [1u32, 2, 3, 4, 5];
        let seqs = [0..2, 2..5];
        let typed = |types: &'static [u32]| Batch {
            types: Some(types),
            ..Batch::new(&ids, &seqs)
        };
        let two = BatchLimits {
            n_types: Some(2),
            ..limits(3, 6)
        };
        let err = typed(&[0; 4]).check(&two).unwrap_err();
        assert!(err.to_string().contains("4 token types for 5 ids"), "{err}");
        let err = typed(&[0, 0, 0, 2, 1]).check(&two).unwrap_err();
        assert!(
            err.to_string()
                .contains("sequence 1: token type 2 is outside the model's 2 types"),
            "{err}"
        );
        let ok = typed(&[0, 0, 0, 1, 1]).check(&two).unwrap();
        assert_eq!(ok.seq_types(1), Some(&[0, 1, 1][..]));
        // A graph that reads no types accepts any.
        typed(&[0, 0, 0, 2, 1]).check(&limits(3, 6)).unwrap();
    }

    #[test]
    fn selections_read_the_source_in_the_order_picked() {
        let ids = [1u32, 2, 3, 4, 5, 6];
        let types = [0u32, 0, 1, 1, 1, 0];
        let seqs = [0..1, 1..4, 4..6];
        let batch = Batch {
            types: Some(&types),
            ..Batch::new(&ids, &seqs)
        };
        let checked = batch.check(&limits(3, 7)).unwrap();
        let (picks, rebased) = ([1usize, 2], [0..3, 3..5]);
        let mb = checked.select(&picks, &rebased);
        assert_eq!((mb.len(), mb.tokens(), mb.rows(Pooling::None)), (2, 5, 5));
        assert_eq!(mb.ids().collect::<Vec<_>>(), [2, 3, 4, 5, 6]);
        assert_eq!(mb.seq_ids(1), [5, 6]);
        assert_eq!(mb.seq_types(0), Some(&[0, 1, 1][..]));
        assert_eq!(mb.source_index(1), 2);
    }

    #[test]
    fn a_batch_checked_for_looser_limits_does_not_fit() {
        let ids = [1u32, 2];
        let seq = 0..2;
        let seqs = std::slice::from_ref(&seq);
        let checked = Batch::new(&ids, seqs).check(&limits(8, 100)).unwrap();
        checked.fits(&limits(8, 100)).unwrap();
        checked.fits(&limits(16, 200)).unwrap();
        let err = checked.fits(&limits(8, 50)).unwrap_err().to_string();
        assert!(
            err.contains("checked against max_len 8, n_vocab 100, token types unread"),
            "{err}"
        );
        assert!(checked.fits(&limits(4, 100)).is_err());
        // Types checked against no limit do not fit a graph that reads them.
        let types = [0u32, 5];
        let typed = Batch {
            types: Some(&types),
            ..Batch::new(&ids, seqs)
        }
        .check(&limits(8, 100))
        .unwrap();
        let reads = BatchLimits {
            n_types: Some(2),
            ..limits(8, 100)
        };
        assert!(typed.fits(&reads).is_err());
        checked.fits(&reads).unwrap();
    }
}
