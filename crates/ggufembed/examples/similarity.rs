//! Embeds a few sentences and prints their cosine-similarity matrix.
//!
//! `cargo run --release -p ggufembed --example similarity -- MODEL.gguf [SENTENCE…]`

use std::process::ExitCode;

const DEFAULT_SENTENCES: &[&str] = &[
    "The cat sits outside",
    "A man is playing guitar",
    "The new movie is awesome",
    "A kitten rests on the porch",
    "Someone plays a guitar on stage",
    "The film was great",
];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(model_path) = args.next() else {
        eprintln!("usage: similarity MODEL.gguf [SENTENCE…]");
        return ExitCode::from(2);
    };
    let given: Vec<String> = args.collect();
    let sentences: Vec<&str> = if given.is_empty() {
        DEFAULT_SENTENCES.to_vec()
    } else {
        given.iter().map(String::as_str).collect()
    };
    let start = std::time::Instant::now();
    let model = match ggufembed::open(&model_path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let opened = start.elapsed();
    let embeddings = match model.embed(&sentences) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let embedded = start.elapsed() - opened;
    println!(
        "{} ({}, dim {}): opened in {:.1} ms, embedded {} sentences in {:.1} ms\n",
        model_path,
        model.architecture(),
        model.dim(),
        opened.as_secs_f64() * 1e3,
        sentences.len(),
        embedded.as_secs_f64() * 1e3
    );
    for (i, s) in sentences.iter().enumerate() {
        println!("  [{i}] {s}");
    }
    print!("\n     ");
    for j in 0..sentences.len() {
        print!("  [{j}] ");
    }
    println!();
    for i in 0..sentences.len() {
        print!("  [{i}]");
        for j in 0..sentences.len() {
            // Embeddings are L2-normalized: the dot product is the cosine.
            let cos: f32 = embeddings
                .row(i)
                .iter()
                .zip(embeddings.row(j))
                .map(|(a, b)| a * b)
                .sum();
            print!(" {cos:5.2}");
        }
        println!();
    }
    ExitCode::SUCCESS
}
