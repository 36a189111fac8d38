//! A call's schedule: the run order of a checked batch's sequences and its micro-batches, each
//! a selection of them ([`CheckedBatch::select`]) laid out back to back. Only sequence
//! lengths are read: no id is copied.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;

use crate::batch::CheckedBatch;

/// The sequence length at which attention costs about as much per token as the matmuls, for
/// balancing the workers' loads: MiniLM's profile at 256-token passages gives attention about
/// as much thread time as its matmuls (docs/PERFORMANCE.md). Only the balance depends on it,
/// never a result.
pub(super) const ATTENTION_TOKENS: u64 = 256;

/// One micro-batch of a [`Plan`]: its sequences, as positions in the run order.
#[derive(Clone, Debug)]
pub(super) struct MicroBatch {
    pub(super) texts: Range<usize>,
}

/// A call's schedule, kept between calls so a steady state allocates none of it.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// Sequence indices in run order.
    pub(super) order: Vec<usize>,
    /// Each sequence's range, relative to its micro-batch's first token, in run order.
    seqs: Vec<Range<usize>>,
    pub(super) batches: Vec<MicroBatch>,
    /// Scratch of [`Plan::fill_balanced`], kept so that a steady-state call allocates nothing
    /// (tests/alloc.rs).
    balance: Balance,
}

/// The working space of [`Plan::fill_balanced`].
#[derive(Debug, Default)]
struct Balance {
    /// Sequence indices, longest first: the dealing order.
    dealt: Vec<usize>,
    /// The micro-batch each dealt sequence went to, by position in `dealt`.
    bin_of: Vec<usize>,
    /// Per micro-batch: its load, its tokens and its rank in run order.
    load: Vec<u64>,
    tokens: Vec<usize>,
    rank: Vec<usize>,
    /// Micro-batch indices, most expensive first.
    run: Vec<usize>,
    /// A min-heap of (load, micro-batch).
    heap: BinaryHeap<Reverse<(u64, usize)>>,
}

impl Plan {
    /// Puts the sequences of ranges `seqs` in run order (longest first if `sorted`) and cuts
    /// them into micro-batches of at most `budget` tokens (a longer sequence alone).
    pub(super) fn fill(&mut self, seqs: &[Range<usize>], sorted: bool, budget: usize) {
        let n = seqs.len();
        self.order.clear();
        self.order.extend(0..n);
        if sorted {
            // Longest first: workers finish together, and similar lengths share a micro-batch.
            self.order
                .sort_unstable_by_key(|&i| (Reverse(seqs[i].len()), i));
        }
        self.seqs.clear();
        self.batches.clear();
        let mut first = 0;
        while first < n {
            let (mut last, mut t) = (first, 0);
            while last < n {
                let len = seqs[self.order[last]].len();
                if last > first && t + len > budget {
                    break;
                }
                t += len;
                last += 1;
            }
            let mut at = 0;
            for k in first..last {
                let len = seqs[self.order[k]].len();
                self.seqs.push(at..at + len);
                at += len;
            }
            self.batches.push(MicroBatch { texts: first..last });
            first = last;
        }
    }

    /// Longest first, then spread over `workers` so that they finish together: the sequences
    /// are dealt, longest first, to the least-loaded of `workers · ⌈tokens / (workers ·
    /// budget)⌉` micro-batches (LPT scheduling; a new one is opened when the least-loaded one
    /// has no room under `budget`, so a longer sequence runs alone), and the micro-batches run
    /// most expensive first. Cutting the sorted run greedily instead left one worker idle
    /// through the last micro-batch of every call (see docs/PERFORMANCE.md, "No idle tail").
    ///
    /// The load of a sequence of `len` tokens is `len · (len + ATTENTION_TOKENS)`: per-token
    /// matmuls plus attention, which grows with the length.
    pub(super) fn fill_balanced(&mut self, seqs: &[Range<usize>], budget: usize, workers: usize) {
        let n = seqs.len();
        let total: usize = seqs.iter().map(|r| r.len()).sum();
        // Rounds of one micro-batch per worker, filled to 7/8 of the budget on average so that
        // the least-loaded one has room for the next text (else a small extra one is opened).
        let per_round = (workers.saturating_mul(budget) / 8)
            .saturating_mul(7)
            .max(1);
        let bins = workers
            .saturating_mul(total.div_ceil(per_round))
            .clamp(1, n.max(1));
        let w = &mut self.balance;
        w.dealt.clear();
        w.dealt.extend(0..n);
        w.dealt
            .sort_unstable_by_key(|&i| (Reverse(seqs[i].len()), i));
        w.load.clear();
        w.load.resize(bins, 0);
        w.tokens.clear();
        w.tokens.resize(bins, 0);
        w.bin_of.clear();
        w.heap.clear();
        w.heap.extend((0..bins).map(|b| Reverse((0, b))));
        for &i in &w.dealt {
            let len = seqs[i].len();
            let cost = len as u64 * (len as u64 + ATTENTION_TOKENS);
            let b = match w.heap.peek() {
                Some(&Reverse((_, b))) if w.tokens[b] == 0 || w.tokens[b] + len <= budget => {
                    w.heap.pop();
                    b
                }
                _ => {
                    w.load.push(0);
                    w.tokens.push(0);
                    w.load.len() - 1
                }
            };
            w.load[b] += cost;
            w.tokens[b] += len;
            w.bin_of.push(b);
            w.heap.push(Reverse((w.load[b], b)));
        }
        w.run.clear();
        w.run.extend((0..w.load.len()).filter(|&b| w.tokens[b] > 0));
        let load = &w.load;
        w.run.sort_unstable_by_key(|&b| (Reverse(load[b]), b));
        w.rank.clear();
        w.rank.resize(w.load.len(), usize::MAX);
        for (r, &b) in w.run.iter().enumerate() {
            w.rank[b] = r;
        }
        // Dealt positions grouped by their micro-batch's rank, in dealing order within one
        // (the keys are unique, so the unstable sort is deterministic and allocates nothing).
        let (rank, bin_of) = (&w.rank, &w.bin_of);
        w.run.clear();
        w.run.extend(0..w.dealt.len());
        w.run.sort_unstable_by_key(|&k| (rank[bin_of[k]], k));
        self.order.clear();
        self.seqs.clear();
        self.batches.clear();
        let w = &self.balance;
        let mut k = 0;
        while k < w.run.len() {
            let bin = w.bin_of[w.run[k]];
            let (first, mut at) = (self.order.len(), 0);
            while k < w.run.len() && w.bin_of[w.run[k]] == bin {
                let i = w.dealt[w.run[k]];
                let len = seqs[i].len();
                self.order.push(i);
                self.seqs.push(at..at + len);
                at += len;
                k += 1;
            }
            self.batches.push(MicroBatch {
                texts: first..self.order.len(),
            });
        }
    }

    /// Micro-batch `b` of `batch` (the checked batch this plan was filled from): a selection
    /// of its sequences, no copy.
    pub(super) fn batch<'p>(
        &'p self,
        batch: &CheckedBatch<'p>,
        b: &MicroBatch,
    ) -> CheckedBatch<'p> {
        batch.select(&self.order[b.texts.clone()], &self.seqs[b.texts.clone()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Batch, BatchLimits};

    fn lens(plan: &Plan) -> Vec<Vec<usize>> {
        plan.batches
            .iter()
            .map(|b| plan.seqs[b.texts.clone()].iter().map(|r| r.len()).collect())
            .collect()
    }

    fn checked<'a>(ids: &'a [u32], seqs: &'a [Range<usize>]) -> CheckedBatch<'a> {
        let limits = BatchLimits {
            max_len: ids.len(),
            n_vocab: ids.len(),
            n_types: None,
        };
        Batch::new(ids, seqs).check(&limits).unwrap()
    }

    /// Tokens of micro-batch `b`: where its last range ends.
    fn tokens(plan: &Plan, b: &MicroBatch) -> usize {
        plan.seqs[b.texts.clone()].last().map_or(0, |r| r.end)
    }

    fn ids_of(plan: &Plan, batch: &CheckedBatch<'_>, b: usize) -> Vec<u32> {
        plan.batch(batch, &plan.batches[b]).ids().collect()
    }

    #[test]
    fn plans_pack_longest_first_under_the_budget() {
        // Lengths 2, 5, 1, 3, 9 (index order).
        let ids: Vec<u32> = (0..20).collect();
        let seqs = [0..2, 2..7, 7..8, 8..11, 11..20];
        let batch = checked(&ids, &seqs);
        let mut plan = Plan::default();
        plan.fill(&seqs, true, 6);
        assert_eq!(plan.order, [4, 1, 3, 0, 2]);
        assert_eq!(lens(&plan), [vec![9], vec![5], vec![3, 2, 1]]);
        // Each micro-batch reads its sequences' ids in run order, ranges relative to it.
        let last = plan.batch(&batch, &plan.batches[2]);
        assert_eq!(ids_of(&plan, &batch, 2), [8, 9, 10, 0, 1, 7]);
        assert_eq!(last.seqs(), [0..3, 3..5, 5..6]);
        assert_eq!(last.tokens(), tokens(&plan, &plan.batches[2]));
        // Input order (the GPU's): contiguous runs.
        plan.fill(&seqs, false, 7);
        assert_eq!(lens(&plan), [vec![2, 5], vec![1, 3], vec![9]]);
        assert_eq!(ids_of(&plan, &batch, 0), [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn balanced_plans_give_the_workers_equal_loads_under_the_budget() {
        // Four passages on two workers: greedy cuts gave [300], [280], [250, 200] (one worker
        // idle through the third); dealt to the least loaded, [280, 250] and [300, 200].
        let passages = [250usize, 300, 200, 280];
        let mut seqs = Vec::new();
        let mut at = 0;
        for l in passages {
            seqs.push(at..at + l);
            at += l;
        }
        let ids: Vec<u32> = (0..at as u32).collect();
        let batch = checked(&ids, &seqs);
        let mut plan = Plan::default();
        plan.fill_balanced(&seqs, 824, 2);
        assert_eq!(lens(&plan), [vec![280, 250], vec![300, 200]]);
        assert_eq!(plan.order, [3, 0, 1, 2]);
        let first = plan.batch(&batch, &plan.batches[0]);
        assert_eq!(ids_of(&plan, &batch, 0)[..3], [750, 751, 752]);
        assert_eq!(first.seqs(), [0..280, 280..530]);
        // Many short texts: a multiple of the workers, each under the budget, every text once.
        let short: Vec<usize> = (0..300).map(|i| 5 + (i * 37) % 60).collect();
        let mut seqs = Vec::new();
        let mut at = 0;
        for &l in &short {
            seqs.push(at..at + l);
            at += l;
        }
        let cost = |l: usize| (l * (l + ATTENTION_TOKENS as usize)) as u64;
        for (budget, workers) in [(824, 2), (600, 3), (2000, 2), (100_000, 4)] {
            plan.fill_balanced(&seqs, budget, workers);
            let mut seen = plan.order.clone();
            seen.sort_unstable();
            assert_eq!(seen, (0..short.len()).collect::<Vec<_>>());
            let tokens: Vec<usize> = plan.batches.iter().map(|b| tokens(&plan, b)).collect();
            assert!(tokens.iter().all(|&t| t <= budget), "{tokens:?}");
            assert_eq!(
                plan.batches.len() % workers,
                0,
                "{budget} {workers}: {tokens:?}"
            );
            // LPT: no two loads differ by more than the largest text's.
            let loads: Vec<u64> = (0..plan.batches.len())
                .map(|b| {
                    plan.seqs[plan.batches[b].texts.clone()]
                        .iter()
                        .map(|r| cost(r.len()))
                        .sum()
                })
                .collect();
            let (lo, hi) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
            assert!(hi - lo <= cost(64), "{budget} {workers}: {loads:?}");
        }
        // A sequence over the budget runs alone.
        plan.fill_balanced(&seqs, 40, 2);
        assert!(
            plan.batches
                .iter()
                .all(|b| tokens(&plan, b) <= 40 || b.texts.len() == 1)
        );
    }

    #[test]
    fn plans_carry_token_types() {
        let ids = [5u32, 6, 7];
        let types = [0u32, 1, 1];
        let seqs = [0..1, 1..3];
        let limits = BatchLimits {
            max_len: 3,
            n_vocab: 8,
            n_types: Some(2),
        };
        let batch = Batch {
            types: Some(&types),
            ..Batch::new(&ids, &seqs)
        }
        .check(&limits)
        .unwrap();
        let mut plan = Plan::default();
        plan.fill(&seqs, true, 8);
        let mb = plan.batch(&batch, &plan.batches[0]);
        assert_eq!(mb.ids().collect::<Vec<_>>(), [6, 7, 5]);
        assert_eq!(
            (mb.seq_types(0), mb.seq_types(1)),
            (Some(&[1u32, 1][..]), Some(&[0u32][..]))
        );
    }
}
