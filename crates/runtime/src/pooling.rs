//! How token vectors become one sentence vector.

use std::fmt;
use std::str::FromStr;

/// Pooling of the last hidden states into one vector per text (or none: one per token).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pooling {
    /// Mean of all token vectors, special tokens included (sentence-transformers' mean pooling).
    Mean,
    /// The first token's vector (`[CLS]`).
    Cls,
    /// The last token's vector.
    Last,
    /// No pooling: one vector per token.
    None,
    /// A cross-encoder's score (llama.cpp's pooling type `rank`, 4): the classification head
    /// applied to the first (`[CLS]`) token; one row of `n_labels` raw logits per sequence.
    /// Only graphs with a classification head accept it; the file decides it, not the options.
    Rank,
}

impl Pooling {
    /// Output vectors for a text of `tokens` tokens: 1, or `tokens` without pooling.
    pub fn rows(self, tokens: usize) -> usize {
        match self {
            Pooling::None => tokens,
            _ => 1,
        }
    }

    /// llama.cpp's `pooling_type` metadata value of an embedding: 0 none, 1 mean, 2 cls,
    /// 3 last; `None` for the others (4, [`Pooling::Rank`], is read by the graphs that have a
    /// classification head).
    pub fn from_gguf(value: u64) -> Option<Pooling> {
        match value {
            0 => Some(Pooling::None),
            1 => Some(Pooling::Mean),
            2 => Some(Pooling::Cls),
            3 => Some(Pooling::Last),
            _ => None,
        }
    }

    /// The name used by options and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Last => "last",
            Pooling::None => "none",
            Pooling::Rank => "rank",
        }
    }
}

impl fmt::Display for Pooling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Pooling {
    type Err = String;

    fn from_str(s: &str) -> Result<Pooling, String> {
        match s {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            "last" => Ok(Pooling::Last),
            "none" => Ok(Pooling::None),
            other => Err(format!(
                "unknown pooling '{other}' (mean, cls, last or none)"
            )),
        }
    }
}
