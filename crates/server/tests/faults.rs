//! Backpressure and lifecycle faults: 429 beyond the concurrency cap (at once, not after a
//! wait), clients that disconnect mid-request (nothing leaks, the others are served), and
//! requests racing a graceful shutdown (every request the server took is answered).

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use std::io::Write;
use support::{assert_error, openai_rows, post, send, start, texts};

/// Polls `f` until it holds, for at most 10 s.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_concurrency_cap_requests_get_429_at_once() {
    // Two may be in flight; a long batch timeout keeps them queued while the third arrives.
    let mut s = start(&[
        "--max-concurrent-requests",
        "2",
        "--batch-timeout-ms",
        "400",
    ]);
    let a = s.addr;
    let held: Vec<_> = (0..2)
        .map(|i| {
            tokio::spawn(async move {
                post(a, "/v1/embeddings", &json!({"input": format!("cat {i}")})).await
            })
        })
        .collect();
    let state = s.state.clone();
    eventually("two requests in flight", || {
        state.metrics.in_flight.get() == 2
    })
    .await;
    let t = Instant::now();
    let third = post(a, "/embed", &json!({"inputs": "dog"})).await;
    let waited = t.elapsed();
    assert_error(&third, 429, "--max-concurrent-requests");
    // Answered before the queued ones' batch (400 ms) even started: not queued behind them.
    assert!(
        s.state.metrics.in_flight.get() == 2,
        "the 429 came after the others finished ({waited:?})"
    );
    // Health and metrics are not subject to the cap.
    assert_eq!(support::get(a, "/health").await.status, 200);
    assert_eq!(support::get(a, "/metrics").await.status, 200);
    for h in held {
        assert_eq!(h.await.unwrap().status, 200);
    }
    assert_eq!(s.state.metrics.in_flight.get(), 0);
    // Once they are done, a new request is admitted.
    assert_eq!(
        post(a, "/embed", &json!({"inputs": "dog"})).await.status,
        200
    );
    s.stop();
    s.handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_disconnecting_mid_request_leak_nothing() {
    let mut s = start(&["--batch-timeout-ms", "30"]);
    let a = s.addr;
    let body = json!({"input": texts(64)}).to_string();
    for round in 0..6 {
        // A plain blocking socket: a few KB to loopback do not block.
        let mut stream = std::net::TcpStream::connect(a).unwrap();
        let head = format!(
            "POST /v1/embeddings HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        if round % 2 == 0 {
            // Half a body, then gone: the handler never gets its input.
            stream
                .write_all(&body.as_bytes()[..body.len() / 2])
                .unwrap();
        } else {
            // The whole request, then gone before the answer: it may be queued or running.
            stream.write_all(body.as_bytes()).unwrap();
            tokio::time::sleep(Duration::from_millis(5 * round)).await;
        }
        drop(stream);
    }
    // Meanwhile and afterwards the others are served, with the right rows.
    let want = texts(3);
    let r = post(a, "/v1/embeddings", &json!({"input": want})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(openai_rows(&r.json).len(), 3);
    let state = s.state.clone();
    eventually("no request left in flight", || {
        state.metrics.in_flight.get() == 0 && state.metrics.queue_size.get() == 0
    })
    .await;
    let cap = s.state.args.max_concurrent_requests as usize;
    assert_eq!(s.state.admission.available_permits(), cap);
    s.stop();
    s.handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_from_a_forming_batch_leaves_the_others_their_rows() {
    // A batch timeout long enough for the others to join the gone client's batch.
    let mut s = start(&["--batch-timeout-ms", "1500"]);
    let a = s.addr;
    let state = s.state.clone();
    let body = json!({"input": texts(8)}).to_string();
    let mut gone = std::net::TcpStream::connect(a).unwrap();
    let head = format!(
        "POST /v1/embeddings HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    gone.write_all(head.as_bytes()).unwrap();
    gone.write_all(body.as_bytes()).unwrap();
    // Queued: the batcher holds it as the first of a batch, waiting for company.
    eventually("the first request admitted", || {
        state.metrics.in_flight.get() == 1
    })
    .await;
    let want = texts(12);
    let reference = {
        let model =
            ggufembed::open_with(&s.model_path, ggufembed::Options::default().threads(1)).unwrap();
        let e = model.embed(&want).unwrap();
        e.iter().map(<[f32]>::to_vec).collect::<Vec<_>>()
    };
    let others: Vec<_> = (0..4)
        .map(|k| {
            let chunk = want[k * 3..k * 3 + 3].to_vec();
            tokio::spawn(
                async move { (k, post(a, "/v1/embeddings", &json!({"input": chunk})).await) },
            )
        })
        .collect();
    eventually("all five in flight", || state.metrics.in_flight.get() == 5).await;
    drop(gone);
    for t in others {
        let (k, r) = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            openai_rows(&r.json),
            reference[k * 3..k * 3 + 3].to_vec(),
            "request {k}"
        );
    }
    eventually("nothing left in flight", || {
        state.metrics.in_flight.get() == 0 && state.metrics.queue_size.get() == 0
    })
    .await;
    // One batch served the four others and nothing else: the gone client's request was
    // dropped (handler and queued job) before its batch ran, and its permit came back.
    let rendered = state.metrics.render();
    let value = |name: &str| -> f64 {
        let line = rendered.lines().find(|l| l.starts_with(name)).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value("ggufembed_batch_requests_count"), 1.0, "{rendered}");
    assert_eq!(value("ggufembed_batch_requests_sum"), 4.0, "{rendered}");
    assert_eq!(value("ggufembed_batch_size_sum"), 12.0, "{rendered}");
    assert_eq!(
        state.metrics.received.get(),
        state.metrics.answered_total.get() + 1
    );
    let cap = state.args.max_concurrent_requests as usize;
    assert_eq!(state.admission.available_permits(), cap);
    s.stop();
    s.handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_racing_a_shutdown_are_all_answered() {
    // 300 requests (issue 20 says 1,000; 300 keeps the test within seconds on 2 cores), each on
    // its own connection, with the shutdown triggered while they arrive.
    const N: usize = 300;
    let mut s = start(&[
        "--batch-timeout-ms",
        "5",
        "--max-concurrent-requests",
        "1000",
    ]);
    let a = s.addr;
    let mut tasks = Vec::with_capacity(N);
    for i in 0..N {
        tasks.push(tokio::spawn(async move {
            // Staggered over ~150 ms, so that the shutdown falls among them.
            tokio::time::sleep(Duration::from_micros(500 * i as u64)).await;
            let body = json!({"input": [format!("the cat {i}"), "a dog"]}).to_string();
            send(a, "POST", "/v1/embeddings", &[], body).await
        }));
    }
    // SIGTERM's stand-in once the first tenth is answered.
    let state = s.state.clone();
    eventually("a tenth answered", || {
        state.metrics.answered("/v1/embeddings", 200) >= N as u64 / 10
    })
    .await;
    s.stop();
    let deadline = Duration::from_secs(30);
    let served = tokio::time::timeout(deadline, &mut s.handle).await;
    served.expect("shutdown finished").unwrap().unwrap();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => {
                // Whatever got an answer got a full, correct one.
                assert_eq!(r.status, 200, "{}", r.text);
                assert_eq!(openai_rows(&r.json).len(), 2);
                ok += 1;
            }
            // Refused or closed before the server read it: never taken.
            Err(e) => assert!(
                e.starts_with("connect") || e.starts_with("handshake") || e.starts_with("request"),
                "{e}"
            ),
        }
    }
    // Every request the server answered reached its client, and some did.
    let answered = s.state.metrics.answered("/v1/embeddings", 200);
    assert_eq!(ok as u64, answered);
    assert!(ok > 0);
    assert_eq!(s.state.metrics.in_flight.get(), 0);
    // After the shutdown nothing listens.
    assert!(tokio::net::TcpStream::connect(a).await.is_err());
}
