//! `POST /rerank` (TEI) and `POST /v1/rerank` (Cohere / Jina) on loopback with a tiny
//! generated cross-encoder: scores bit-identical to `Model::score_pairs` (raw, or through the
//! sigmoid), best first, `top_n`, documents returned on request, truncation and clear errors;
//! and the wrong kind of model refused both ways.

mod support;

use ggufembed::Options;
use ggufembed_testkit::{Classifier, TinyBert};
use serde_json::json;
use support::{assert_error, post, start, start_with};

fn reranker() -> TinyBert {
    TinyBert {
        classifier: Some(Classifier {
            pooler: true,
            n_labels: 1,
        }),
        ..TinyBert::default()
    }
}

const QUERY: &str = "the cat";
const DOCS: [&str; 5] = [
    "the cat sat on the mat.",
    "a dog ran fast",
    "",
    "hello world!",
    "red",
];

fn reference(path: &std::path::Path) -> Vec<f32> {
    let m = ggufembed::open_with(path, Options::default().threads(1)).unwrap();
    let pairs: Vec<(&str, &str)> = DOCS.iter().map(|d| (QUERY, *d)).collect();
    m.score_pairs(&pairs)
        .unwrap()
        .iter()
        .map(|s| s.score)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tei_rerank_is_sorted_and_bit_identical_to_the_library() {
    let mut s = start_with(reranker(), &[]);
    let want = reference(&s.model_path);
    let raw = post(
        s.addr,
        "/rerank",
        &json!({"query": QUERY, "texts": DOCS, "raw_scores": true, "return_text": true}),
    )
    .await;
    assert_eq!(raw.status, 200, "{}", raw.text);
    let items = raw.json.as_array().unwrap();
    assert_eq!(items.len(), DOCS.len());
    let mut prev = f64::INFINITY;
    for it in items {
        let i = it["index"].as_u64().unwrap() as usize;
        let score = it["score"].as_f64().unwrap();
        assert_eq!(score as f32, want[i], "document {i}");
        assert_eq!(it["text"], DOCS[i]);
        assert!(score <= prev, "best first");
        prev = score;
    }
    // Default: the sigmoid, no text.
    let sig = post(s.addr, "/rerank", &json!({"query": QUERY, "texts": DOCS})).await;
    for it in sig.json.as_array().unwrap() {
        let i = it["index"].as_u64().unwrap() as usize;
        assert_eq!(
            it["score"].as_f64().unwrap() as f32,
            ggufembed::sigmoid(want[i])
        );
        assert!(it.get("text").is_none());
    }
    // /info says what the model is.
    let info = support::get(s.addr, "/info").await;
    assert_eq!(info.json["model_type"], "reranker");
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cohere_rerank_has_top_n_documents_and_usage() {
    let mut s = start_with(reranker(), &[]);
    let want = reference(&s.model_path);
    let docs = json!([DOCS[0], {"text": DOCS[1]}, DOCS[2], DOCS[3], {"text": DOCS[4]}]);
    let r = post(
        s.addr,
        "/v1/rerank",
        &json!({"model": "m", "query": QUERY, "documents": docs, "top_n": 2,
                "return_documents": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["model"], "m");
    let results = r.json["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let mut order: Vec<usize> = (0..DOCS.len()).collect();
    order.sort_by(|&a, &b| want[b].total_cmp(&want[a]).then(a.cmp(&b)));
    for (res, &i) in results.iter().zip(&order) {
        assert_eq!(res["index"], i);
        assert_eq!(
            res["relevance_score"].as_f64().unwrap() as f32,
            ggufembed::sigmoid(want[i])
        );
        assert_eq!(res["document"]["text"], DOCS[i]);
    }
    let m = &s.state.model;
    let tokens: usize = DOCS
        .iter()
        .map(|d| m.tokenize_pair(QUERY, d).unwrap().ids.len())
        .sum();
    assert_eq!(r.json["usage"]["total_tokens"], tokens);
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_long_pairs_and_wrong_models_get_clear_errors() {
    let mut s = start_with(reranker(), &[]);
    let a = s.addr;
    let long = "red ".repeat(100);
    for (path, body, status, needle) in [
        (
            "/rerank",
            json!({"query": "q"}),
            422,
            "missing field `texts`",
        ),
        (
            "/rerank",
            json!({"query": "q", "texts": []}),
            422,
            "no documents",
        ),
        (
            "/rerank",
            json!({"query": 1, "texts": ["a"]}),
            422,
            "invalid type",
        ),
        (
            "/rerank",
            json!({"query": "q", "texts": [long]}),
            413,
            "document 0",
        ),
        (
            "/v1/rerank",
            json!({"query": "q", "documents": [3]}),
            422,
            "`documents[0]`",
        ),
        (
            "/v1/rerank",
            json!({"query": "q", "documents": ["a"], "top_n": 0}),
            422,
            "top_n",
        ),
        (
            "/v1/embeddings",
            json!({"input": ["a"]}),
            422,
            "is a reranker",
        ),
        ("/embed", json!({"inputs": ["a"]}), 422, "is a reranker"),
    ] {
        assert_error(&post(a, path, &body).await, status, needle);
    }
    // Truncation on request.
    let r = post(
        a,
        "/rerank",
        &json!({"query": "q", "texts": [long], "truncate": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.stop();

    let mut e = start(&[]);
    let r = post(e.addr, "/rerank", &json!({"query": "q", "texts": ["a"]})).await;
    assert_error(&r, 422, "not a reranker");
    let r = post(
        e.addr,
        "/v1/rerank",
        &json!({"query": "q", "documents": ["a"]}),
    )
    .await;
    assert_error(&r, 422, "not a reranker");
    e.stop();
}
