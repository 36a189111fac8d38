//! The pieces of the `ggufembed` and `ggufembed-profile` binaries that are not argument parsing:
//! [`input`] (the JSONL/lines reader of `embed` and `tokenize`), [`inspect`] (what `ggufembed inspect` prints) and [`usage`] (clap errors as one line, for
//! both binaries). The embedding library itself is the `ggufembed` crate; the converter is
//! `ggufembed-convert`.

pub mod input;
pub mod inspect;
pub mod usage;
