//! The tiny BERT of `ggufembed-testkit`, and the MiniLM reference fixture.
#![allow(dead_code, unused_imports)]

pub mod reference;

pub use ggufembed_testkit::{TinyBert, WORDS};
