//! Mixed K-quant files against sentence-transformers, on the 255 dev texts of llama.cpp's figures
//! in `../shared/README.md` (left out: the 3 texts over 256 tokens and the 3 on which llama.cpp's
//! tokenizer differs from Hugging Face's: the Korean, the Hindi, the 300-character word).
//!
//! Bars (issue 17): mean cosine ≥ llama.cpp's mean on the same file − 0.0005, 1st percentile ≥
//! llama.cpp's − 0.001. The models and the tiny model's fixture are in `../shared`; without it
//! these tests print SKIPPED.

mod common;

use std::path::PathBuf;

use common::reference::cosine;
use ggufembed::{Options, open_with};
use serde_json::Value;

fn shared(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED: ../shared/{rel} not found");
        None
    }
}

/// (text, embedding_256) of the texts llama.cpp's figures use.
fn cases(fixture: &PathBuf) -> Vec<(String, Vec<f32>)> {
    let text = std::fs::read_to_string(fixture).unwrap();
    let all: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(all.len(), 261, "{}", fixture.display());
    let kept: Vec<(String, Vec<f32>)> = all
        .iter()
        .filter(|v| {
            let t = v["text"].as_str().unwrap();
            let hangul = t.chars().any(|c| ('\u{ac00}'..='\u{d7af}').contains(&c));
            let devanagari = t.chars().any(|c| ('\u{0900}'..='\u{097f}').contains(&c));
            let long_word = t.split_whitespace().any(|w| w.chars().count() >= 300);
            v["ids"].as_array().unwrap().len() <= 256 && !hangul && !devanagari && !long_word
        })
        .map(|v| {
            let e = v["embedding_256"].as_array().unwrap();
            (
                v["text"].as_str().unwrap().to_string(),
                e.iter().map(|x| x.as_f64().unwrap() as f32).collect(),
            )
        })
        .collect();
    assert_eq!(kept.len(), 255);
    kept
}

/// numpy's default (linear) percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let pos = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + frac * (sorted[hi] - sorted[lo])
}

fn check(model: &str, fixture: &str, llama_mean: f64, llama_p1: f64) {
    let (Some(model_path), Some(fixture)) = (shared(&format!("models/{model}")), shared(fixture))
    else {
        return;
    };
    let m = open_with(&model_path, Options::default().max_len(256)).unwrap();
    let cases = cases(&fixture);
    let texts: Vec<&str> = cases.iter().map(|c| c.0.as_str()).collect();
    let emb = m.embed(&texts).unwrap();
    let mut cos: Vec<f64> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| cosine(emb.row(i), &c.1))
        .collect();
    cos.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mean = cos.iter().sum::<f64>() / cos.len() as f64;
    let p1 = percentile(&cos, 1.0);
    eprintln!(
        "{model}: min {:.6} p1 {p1:.6} mean {mean:.6} (llama.cpp p1 {llama_p1} mean {llama_mean})",
        cos[0]
    );
    assert!(
        mean >= llama_mean - 0.0005,
        "{model}: mean {mean} < {llama_mean} - 0.0005"
    );
    assert!(
        p1 >= llama_p1 - 0.001,
        "{model}: p1 {p1} < {llama_p1} - 0.001"
    );
}

#[test]
fn tiny_bert256_q4_k_m_is_as_accurate_as_llama_cpp() {
    check(
        "tiny-bert256.Q4_K_M.gguf",
        "fixtures/tiny-bert256-dev-reference.jsonl",
        0.995186,
        0.994494,
    );
}

#[test]
fn minilm_q4_k_m_is_as_accurate_as_llama_cpp() {
    check(
        "all-MiniLM-L6-v2.Q4_K_M.gguf",
        "fixtures/minilm-dev-reference.jsonl",
        0.991069,
        0.970291,
    );
}

/// `min`, `p1`, `mean` of cosines (sorted in place).
fn stats(cos: &mut [f64]) -> (f64, f64, f64) {
    cos.sort_by(f64::total_cmp);
    let mean = cos.iter().sum::<f64>() / cos.len() as f64;
    (cos[0], percentile(cos, 1.0), mean)
}

/// Every `all-MiniLM-L6-v2.TYPE.gguf` that `scripts/peers/make-quant-models.sh` wrote (llama-quantize's
/// output per type, with llama.cpp's own embeddings `*.llama-embeddings.jsonl` and their
/// `*.stats.json` beside it) in `$GGUFEMBED_QUANT_MODELS`, checked against the bars on the texts
/// where llama.cpp's ids equal Hugging Face's, and against llama.cpp's own embeddings (mean cosine
/// ≥ 0.999). Prints the table of docs/PERFORMANCE.md; skipped when the variable is unset.
/// `scripts/quant-accuracy.sh` runs it.
#[test]
fn every_llama_quantize_file_meets_the_bars() {
    let Some(dir) = std::env::var_os("GGUFEMBED_QUANT_MODELS").map(PathBuf::from) else {
        eprintln!("SKIPPED: GGUFEMBED_QUANT_MODELS (the folder of make-quant-models.sh) not set");
        return;
    };
    let Some(fixture) = shared("fixtures/minilm-dev-reference.jsonl") else {
        return;
    };
    // llama.cpp's files index the dev texts of at most 256 Hugging Face ids, in order.
    let text = std::fs::read_to_string(&fixture).unwrap();
    let dev: Vec<(String, Vec<f32>)> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["ids"].as_array().unwrap().len() <= 256)
        .map(|v| {
            let e = v["embedding_256"].as_array().unwrap();
            let e = e.iter().map(|x| x.as_f64().unwrap() as f32).collect();
            (v["text"].as_str().unwrap().to_string(), e)
        })
        .collect();
    assert_eq!(dev.len(), 258);
    let texts: Vec<&str> = dev.iter().map(|c| c.0.as_str()).collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with("all-MiniLM-L6-v2.") && name.ends_with(".gguf")
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no all-MiniLM-L6-v2.*.gguf in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    println!(
        "| file | ours min | ours p1 | ours mean | llama.cpp min | llama.cpp p1 | llama.cpp mean | \
         ours vs llama.cpp (mean / min) | bars |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let theirs = |ext: &str| dir.join(format!("{name}.llama-embeddings.jsonl{ext}"));
        let llama_stats: Value =
            serde_json::from_str(&std::fs::read_to_string(theirs(".stats.json")).unwrap()).unwrap();
        let b = &llama_stats["tokens_agree_le256"];
        let (l_min, l_p1, l_mean) = (
            b["min"].as_f64().unwrap(),
            b["p1"].as_f64().unwrap(),
            b["mean"].as_f64().unwrap(),
        );
        let llama: Vec<Value> = std::fs::read_to_string(theirs(""))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(llama.len(), dev.len(), "{name}");
        let m = open_with(&file, Options::default().max_len(256)).unwrap();
        let emb = m.embed(&texts).unwrap();
        let (mut vs_st, mut vs_llama) = (Vec::new(), Vec::new());
        for l in &llama {
            if !l["ids_agree"].as_bool().unwrap() {
                continue;
            }
            let i = l["index"].as_u64().unwrap() as usize;
            let e: Vec<f32> = l["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            vs_st.push(cosine(emb.row(i), &dev[i].1));
            vs_llama.push(cosine(emb.row(i), &e));
        }
        assert_eq!(vs_st.len(), b["n"].as_u64().unwrap() as usize, "{name}");
        let (min, p1, mean) = stats(&mut vs_st);
        let (ll_min, _, ll_mean) = stats(&mut vs_llama);
        let mut bad = Vec::new();
        if mean < l_mean - 0.0005 {
            bad.push(format!("mean {mean:.6} < {l_mean:.6} - 0.0005"));
        }
        if p1 < l_p1 - 0.001 {
            bad.push(format!("p1 {p1:.6} < {l_p1:.6} - 0.001"));
        }
        if ll_mean < 0.999 {
            bad.push(format!("vs llama.cpp mean {ll_mean:.6} < 0.999"));
        }
        println!(
            "| `{name}` | {min:.6} | {p1:.6} | {mean:.6} | {l_min:.6} | {l_p1:.6} | {l_mean:.6} | \
             {ll_mean:.6} / {ll_min:.6} | {} |",
            if bad.is_empty() { "pass" } else { "**fail**" }
        );
        failures.extend(bad.into_iter().map(|b| format!("{name}: {b}")));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
