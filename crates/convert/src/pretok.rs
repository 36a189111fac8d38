//! `tokenizer.ggml.pre`, as llama.cpp's `get_vocab_base_pre` picks it: tokenize a probe text
//! with the model's own `tokenizer.json` (the Hugging Face `tokenizers` library, which is what
//! transformers' fast tokenizers run), hash Python's `str()` of the token ids with SHA-256, and
//! look the hash up in llama.cpp's table.

use std::path::Path;

/// llama.cpp's probe text (`chktxt` in `convert_hf_to_gguf.py`).
const CHKTXT: &str = "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n\u{1f680} (normal) \u{1f636}\u{200d}\u{1f32b}\u{fe0f} (multiple emojis concatenated) \u{2705} \u{1f999}\u{1f999} 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 \u{1780}\u{17b6}\u{1793}\u{17cb}\u{178f}\u{17c2}\u{1796}\u{17b7}\u{179f}\u{17c1}\u{179f}\u{17a2}\u{17b6}\u{1785}\u{1f601} ?\u{6211}\u{60f3}\u{5728}apple\u{5de5}\u{4f5c}1314151\u{5929}\u{ff5e} ------======= \u{43d}\u{435}\u{449}\u{43e} \u{43d}\u{430} \u{411}\u{44a}\u{43b}\u{433}\u{430}\u{440}\u{441}\u{43a}\u{438} ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL";

/// The entries of llama.cpp's hash table that WordPiece (BERT) tokenizers produce, with the
/// name llama.cpp ends up with (its table is a chain of `if`s, so the last match wins: the
/// `bert-base-uncased` vocabulary hashes as both `bert-bge` and `jina-v2-en`, and gets
/// `jina-v2-en`).
const KNOWN: &[(&str, &str)] = &[
    (
        "0876d13b50744004aa9aeae05e7b0647eac9d801b5ba4668afc01e709c15e19f",
        "jina-v2-en",
    ),
    (
        "8e62295832751ca1e8f92f2226f403dea30dc5165e448b5bfa05af5340c64ec7",
        "bert-bge-large",
    ),
    (
        "c7699093ba4255a91e702aa38a596aa81669f3525dae06c2953267dde580f448",
        "jina-v1-en",
    ),
];

/// What the probe says about a tokenizer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PreTokenizer {
    /// The hash is in llama.cpp's table: its name.
    Known(&'static str),
    /// The hash is not in the table (llama.cpp refuses such models).
    Unknown(String),
    /// `tokenizer.json` could not be run (the reason).
    Unavailable(String),
}

/// Runs llama.cpp's probe on `tokenizer_json`. A tokenizer file the `tokenizers` library
/// rejects, or even panics on, is reported as [`PreTokenizer::Unavailable`].
pub(crate) fn identify(tokenizer_json: &Path) -> PreTokenizer {
    std::panic::catch_unwind(|| probe(tokenizer_json)).unwrap_or_else(|_| {
        PreTokenizer::Unavailable("the tokenizers library panicked on it".into())
    })
}

fn probe(tokenizer_json: &Path) -> PreTokenizer {
    let mut tok = match tokenizers::Tokenizer::from_file(tokenizer_json) {
        Ok(t) => t,
        Err(e) => return PreTokenizer::Unavailable(e.to_string()),
    };
    // transformers' `encode` neither truncates nor pads unless asked to.
    if let Err(e) = tok.with_truncation(None) {
        return PreTokenizer::Unavailable(e.to_string());
    }
    tok.with_padding(None);
    let ids = match tok.encode(CHKTXT, true) {
        Ok(enc) => enc.get_ids().to_vec(),
        Err(e) => return PreTokenizer::Unavailable(e.to_string()),
    };
    lookup(&ids)
}

/// How transformers builds a fast tokenizer from a slow `BertTokenizer` (`vocab.txt` and
/// `tokenizer_config.json`), as its `BertConverter` does.
pub(crate) struct SlowBert<'a> {
    /// The vocabulary, token to id.
    pub vocab: Vec<(String, u32)>,
    pub do_lower_case: bool,
    pub tokenize_chinese_chars: bool,
    pub strip_accents: Option<bool>,
    pub unk: &'a str,
    pub cls: &'a str,
    pub sep: &'a str,
}

/// Runs llama.cpp's probe on a tokenizer built from `vocab.txt` the way transformers converts
/// a slow `BertTokenizer` to a fast one.
pub(crate) fn identify_slow_bert(slow: &SlowBert<'_>) -> PreTokenizer {
    std::panic::catch_unwind(|| probe_slow_bert(slow)).unwrap_or_else(|_| {
        PreTokenizer::Unavailable("the tokenizers library panicked on it".into())
    })
}

fn probe_slow_bert(slow: &SlowBert<'_>) -> PreTokenizer {
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::bert::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::template::TemplateProcessing;

    let id = |t: &str| {
        slow.vocab
            .iter()
            .rev()
            .find(|(k, _)| k == t)
            .map(|(_, i)| *i)
    };
    let (Some(cls_id), Some(sep_id)) = (id(slow.cls), id(slow.sep)) else {
        return PreTokenizer::Unavailable(format!(
            "'{}' or '{}' is not in vocab.txt",
            slow.cls, slow.sep
        ));
    };
    let vocab: serde_json::Map<String, serde_json::Value> = slow
        .vocab
        .iter()
        .map(|(t, i)| (t.clone(), (*i).into()))
        .collect();
    // Through text: WordPiece's deserializer borrows its strings.
    let spec = serde_json::json!({
        "type": "WordPiece",
        "unk_token": slow.unk,
        "continuing_subword_prefix": "##",
        "max_input_chars_per_word": 100,
        "vocab": vocab,
    });
    let model: WordPiece = match serde_json::from_str(&spec.to_string()) {
        Ok(m) => m,
        Err(e) => return PreTokenizer::Unavailable(e.to_string()),
    };
    let template = TemplateProcessing::builder()
        .try_single(format!("{}:0 $A:0 {}:0", slow.cls, slow.sep))
        .and_then(|b| {
            b.try_pair(format!(
                "{}:0 $A:0 {}:0 $B:1 {}:1",
                slow.cls, slow.sep, slow.sep
            ))
        })
        .map_err(|e| e.to_string())
        .and_then(|b| {
            b.special_tokens(vec![
                (slow.cls.to_string(), cls_id),
                (slow.sep.to_string(), sep_id),
            ])
            .build()
            .map_err(|e| e.to_string())
        });
    let template = match template {
        Ok(t) => t,
        Err(e) => return PreTokenizer::Unavailable(e),
    };
    let mut tok = tokenizers::Tokenizer::new(model);
    tok.with_normalizer(Some(BertNormalizer::new(
        true,
        slow.tokenize_chinese_chars,
        slow.strip_accents,
        slow.do_lower_case,
    )));
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    tok.with_post_processor(Some(template));
    match tok.encode(CHKTXT, true) {
        Ok(enc) => lookup(enc.get_ids()),
        Err(e) => PreTokenizer::Unavailable(e.to_string()),
    }
}

fn lookup(ids: &[u32]) -> PreTokenizer {
    let hash = chkhsh(ids);
    match KNOWN.iter().find(|(h, _)| *h == hash) {
        Some((_, name)) => PreTokenizer::Known(name),
        None => PreTokenizer::Unknown(hash),
    }
}

/// `sha256(str(ids).encode()).hexdigest()`: Python renders a list of ints as `[1, 2, 3]`.
fn chkhsh(ids: &[u32]) -> String {
    let text = format!(
        "[{}]",
        ids.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    sha256(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 (FIPS 180-4).
fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in chunk.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (o, x) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: [u8; 32]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_test_vectors() {
        assert_eq!(
            hex(sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(hex(sha256(&[b'a'; 1000])).len(), 64);
    }

    #[test]
    fn python_list_repr() {
        // sha256("[101, 102]")
        assert_eq!(chkhsh(&[101, 102]), hex(sha256(b"[101, 102]")));
        assert_eq!(chkhsh(&[]), hex(sha256(b"[]")));
    }
}
