//! The server end to end on loopback, with a tiny generated model (no shared files needed):
//! rows bit-identical to `Model::embed` whatever the batching, every route's format, and the
//! faults of issue 20 (bad JSON, wrong types, empty and huge inputs, limits, auth).

mod support;

use base64::Engine as _;
use ggufembed::Options;
use serde_json::{Value, json};
use support::{assert_error, floats, get, openai_rows, post, send, start, texts};

fn reference(path: &std::path::Path, texts: &[String]) -> Vec<Vec<f32>> {
    let model = ggufembed::open_with(path, Options::default().threads(1)).unwrap();
    let e = model.embed(texts).unwrap();
    e.iter().map(<[f32]>::to_vec).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_are_bit_identical_to_model_embed_whatever_the_batching() {
    // A long timeout so that concurrent requests share batches.
    let mut s = start(&["--batch-timeout-ms", "50"]);
    let texts = texts(24);
    let want = reference(&s.model_path, &texts);

    // Eight concurrent requests of three texts each, then one of all of them.
    let mut tasks = Vec::new();
    for (k, chunk) in texts.chunks(3).enumerate() {
        let addr = s.addr;
        let body = json!({"input": chunk, "model": "m"});
        tasks.push(tokio::spawn(async move {
            (k, post(addr, "/v1/embeddings", &body).await)
        }));
    }
    for t in tasks {
        let (k, r) = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text);
        let rows = openai_rows(&r.json);
        assert_eq!(rows, want[k * 3..k * 3 + 3].to_vec(), "request {k}");
        assert_eq!(r.json["object"], "list");
        assert_eq!(r.json["model"], "m");
        assert_eq!(r.json["data"][1]["index"], 1);
        assert_eq!(r.json["data"][0]["object"], "embedding");
    }
    // Dynamic batching happened: fewer batches than requests.
    let rendered = s.state.metrics.render();
    let count_line = rendered
        .lines()
        .find(|l| l.starts_with("ggufembed_batch_requests_count"))
        .unwrap();
    let n_batches: f64 = count_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n_batches < 8.0, "{n_batches} batches for 8 requests");

    let all = post(s.addr, "/v1/embeddings", &json!({"input": texts})).await;
    assert_eq!(openai_rows(&all.json), want);
    let tokens: usize = texts
        .iter()
        .map(|t| s.state.model.tokenize(t).unwrap().len())
        .sum();
    assert_eq!(all.json["usage"]["prompt_tokens"], tokens);
    assert_eq!(all.json["usage"]["total_tokens"], tokens);
    assert_eq!(all.json["model"], "tiny");

    // A single string; base64 (little-endian f32); token ids; TEI's /embed.
    let one = post(s.addr, "/v1/embeddings", &json!({"input": texts[5]})).await;
    assert_eq!(openai_rows(&one.json), vec![want[5].clone()]);
    let b64 = post(
        s.addr,
        "/v1/embeddings",
        &json!({"input": [texts[2], texts[3]], "encoding_format": "base64"}),
    )
    .await;
    for (i, d) in b64.json["data"].as_array().unwrap().iter().enumerate() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(d["embedding"].as_str().unwrap())
            .unwrap();
        let row: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(row, want[2 + i], "base64 row {i}");
    }
    let ids: Vec<Vec<u32>> = texts[..4]
        .iter()
        .map(|t| s.state.model.tokenize(t).unwrap())
        .collect();
    let by_ids = post(s.addr, "/v1/embeddings", &json!({"input": ids})).await;
    assert_eq!(openai_rows(&by_ids.json), want[..4].to_vec());
    let flat = post(s.addr, "/v1/embeddings", &json!({"input": ids[1]})).await;
    assert_eq!(openai_rows(&flat.json), vec![want[1].clone()]);
    let tei = post(s.addr, "/embed", &json!({"inputs": texts[..5]})).await;
    let tei_rows: Vec<Vec<f32>> = tei.json.as_array().unwrap().iter().map(floats).collect();
    assert_eq!(tei_rows, want[..5].to_vec());

    // Matryoshka: truncated, re-normalized.
    let short = post(
        s.addr,
        "/v1/embeddings",
        &json!({"input": texts[7], "dimensions": 16}),
    )
    .await;
    let row = &openai_rows(&short.json)[0];
    assert_eq!(row.len(), 16);
    let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    let scale = row[0] / want[7][0];
    assert!((row[3] / want[7][3] - scale).abs() < 1e-4);

    // /tokenize gives `Model::tokenize`'s ids.
    let tok = post(
        s.addr,
        "/tokenize",
        &json!({"inputs": [texts[0], texts[1]]}),
    )
    .await;
    assert_eq!(tok.json, json!([ids[0], ids[1]]));

    s.stop();
    s.handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_wrong_types_and_empty_inputs_get_clear_errors() {
    let mut s = start(&[]);
    let a = s.addr;
    let raw = |body: &'static str| async move {
        send(a, "POST", "/v1/embeddings", &[], body).await.unwrap()
    };
    // 400, naming serde_json's parse error and where it is.
    let r = raw("{\"input\": ").await;
    assert_error(&r, 400, "not valid JSON");
    assert_error(&r, 400, "EOF while parsing a value at line 1 column 10");
    assert_error(
        &raw("not json").await,
        400,
        "expected ident at line 1 column 2",
    );
    assert_error(
        &raw("").await,
        400,
        "EOF while parsing a value at line 1 column 0",
    );
    assert_error(
        &raw("{\"input\": \"a\",}").await,
        400,
        "trailing comma at line 1",
    );
    assert_error(&raw("{}").await, 422, "missing field `input`");
    assert_error(&raw("[1, 2]").await, 422, "invalid type");
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("/v1/embeddings", json!({"input": 5}), 422, "found a number"),
        ("/v1/embeddings", json!({"input": null}), 422, "found null"),
        (
            "/v1/embeddings",
            json!({"input": []}),
            422,
            "`input` is empty",
        ),
        (
            "/v1/embeddings",
            json!({"input": ["a", 2]}),
            422,
            "`input[1]`",
        ),
        (
            "/v1/embeddings",
            json!({"input": [[]]}),
            422,
            "no token ids",
        ),
        (
            "/v1/embeddings",
            json!({"input": [[1, 999999]]}),
            422,
            "outside the vocabulary",
        ),
        (
            "/v1/embeddings",
            json!({"input": "a", "encoding_format": "hex"}),
            422,
            "unknown variant",
        ),
        (
            "/v1/embeddings",
            json!({"input": "a", "dimensions": 0}),
            422,
            "`dimensions` 0",
        ),
        (
            "/v1/embeddings",
            json!({"input": "a", "dimensions": 65}),
            422,
            "1..=64",
        ),
        (
            "/v1/embeddings",
            json!({"input": "a", "dimensions": -3}),
            422,
            "invalid value",
        ),
        (
            "/embed",
            json!({"inputs": "a", "normalize": false}),
            422,
            "`normalize`",
        ),
        (
            "/embed",
            json!({"inputs": "a", "prompt_name": "query"}),
            422,
            "no prompt presets",
        ),
        (
            "/embed",
            json!({"inputs": "a", "truncate": "yes"}),
            422,
            "invalid type",
        ),
        (
            "/embed",
            json!({"input": "a"}),
            422,
            "missing field `inputs`",
        ),
        (
            "/tokenize",
            json!({"inputs": [[1, 2]]}),
            422,
            "array of strings",
        ),
    ];
    for (path, body, status, needle) in cases {
        let r = post(a, path, &body).await;
        assert_error(&r, status, needle);
    }
    assert_error(&get(a, "/nope").await, 404, "no such route");
    assert_eq!(get(a, "/v1/embeddings").await.status, 405);
    // The server still serves, and counted the failures.
    assert_eq!(post(a, "/embed", &json!({"inputs": ""})).await.status, 200);
    assert!(s.state.metrics.answered("/v1/embeddings", 422) >= 10);
    s.stop();
    s.handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_answer_413_and_a_1mb_input_is_refused_or_truncated() {
    let mut s = start(&["--max-client-batch-size", "4", "--payload-limit", "1500000"]);
    let a = s.addr;
    let five = texts(5);
    assert_error(
        &post(a, "/v1/embeddings", &json!({"input": five})).await,
        413,
        "above the limit of 4 (--max-client-batch-size)",
    );
    assert_error(
        &post(a, "/tokenize", &json!({"inputs": five})).await,
        413,
        "--max-client-batch-size",
    );
    let big = "x".repeat(1_600_000);
    assert_error(
        &post(a, "/v1/embeddings", &json!({"input": big})).await,
        413,
        "--payload-limit",
    );
    // 1 MB of words: within the payload limit, far above the model's 48 tokens.
    let mut mb = String::with_capacity(1 << 20);
    while mb.len() < 1 << 20 {
        mb.push_str("the cat sat on the mat ");
    }
    let r = post(a, "/v1/embeddings", &json!({"input": mb})).await;
    let full = s.state.model.tokenize(&mb).unwrap().len();
    assert_error(
        &r,
        413,
        &format!("input 0 has {full} tokens, above the limit of 48"),
    );
    // TEI's per-request truncate: the row of `Model::embed` (which truncates the same way).
    let want = reference(&s.model_path, std::slice::from_ref(&mb));
    let r = post(a, "/embed", &json!({"inputs": mb, "truncate": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(floats(&r.json[0]), want[0]);
    // Token ids beyond max_len are refused too.
    let long: Vec<u32> = vec![5; 49];
    assert_error(
        &post(a, "/v1/embeddings", &json!({"input": [long]})).await,
        413,
        "49 tokens",
    );
    s.stop();
    s.handle.await.unwrap().unwrap();

    // --auto-truncate: OpenAI requests are cut instead.
    let mut s = start(&["--auto-truncate"]);
    let r = post(s.addr, "/v1/embeddings", &json!({"input": [mb, "hello"]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(openai_rows(&r.json)[0], want[0]);
    assert_eq!(r.json["usage"]["prompt_tokens"], 48 + 3);
    s.stop();
    s.handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_is_required_everywhere_but_health() {
    let mut s = start(&["--api-key", "sesame"]);
    let a = s.addr;
    let body = json!({"input": "hello"}).to_string();
    assert_eq!(get(a, "/health").await.status, 200);
    let none = send(a, "POST", "/v1/embeddings", &[], body.clone())
        .await
        .unwrap();
    assert_error(&none, 401, "Authorization: Bearer");
    assert_eq!(none.headers["www-authenticate"], "Bearer");
    let wrong = [("authorization", "Bearer sesam")];
    assert_error(
        &send(a, "POST", "/v1/embeddings", &wrong, body.clone())
            .await
            .unwrap(),
        401,
        "wrong",
    );
    let basic = [("authorization", "Basic c2VzYW1l")];
    assert_eq!(
        send(a, "POST", "/embed", &basic, body.clone())
            .await
            .unwrap()
            .status,
        401
    );
    assert_eq!(get(a, "/metrics").await.status, 401);
    assert_eq!(get(a, "/info").await.status, 401);
    let right = [("authorization", "Bearer sesame")];
    let ok = send(a, "POST", "/v1/embeddings", &right, body)
        .await
        .unwrap();
    assert_eq!(ok.status, 200, "{}", ok.text);
    let info = send(a, "GET", "/info", &right, "").await.unwrap();
    assert_eq!(info.json["dimensions"], 64);
    assert_eq!(info.json["max_input_length"], 48);
    assert_eq!(info.json["architecture"], "bert");
    assert_eq!(info.json["max_concurrent_requests"], 32);
    assert_eq!(info.json["batch_timeout_ms"], 0);
    let metrics = send(a, "GET", "/metrics", &right, "").await.unwrap();
    for name in [
        "ggufembed_requests_total{route=\"/v1/embeddings\",status=\"200\"} 1",
        "ggufembed_requests_total{route=\"/v1/embeddings\",status=\"401\"} 2",
        "ggufembed_request_duration_seconds_bucket",
        "ggufembed_queue_duration_seconds_count 1",
        "ggufembed_batch_tokens_sum 3",
        "ggufembed_embedded_tokens_total 3",
        "ggufembed_tokens_per_second",
        "ggufembed_queue_size 0",
    ] {
        assert!(
            metrics.text.contains(name),
            "{name} not in\n{}",
            metrics.text
        );
    }
    s.stop();
    s.handle.await.unwrap().unwrap();
}
