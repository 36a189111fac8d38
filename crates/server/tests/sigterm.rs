//! 1,000 requests racing a real SIGTERM to the `ggufembed-server` process (issue 20): the
//! server exits 0, every request it received was answered, and every answer reached its
//! client whole. Requests it never took (refused connections, a connection closed before its
//! request was read) are the only failures a client may see.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{openai_rows, send};

const N: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_racing_sigterm_are_all_answered() {
    let dir = tempfile::tempdir().unwrap();
    let model = support::common::TinyBert::default().write(dir.path(), "tiny.gguf");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ggufembed-server"))
        .args([
            "-m",
            model.to_str().unwrap(),
            "--port",
            "0",
            "--threads",
            "2",
        ])
        // Every request may be in flight at once: none is refused with 429.
        .args([
            "--max-concurrent-requests",
            "2000",
            "--batch-timeout-ms",
            "2",
        ])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // stderr: the address once listening, then the shutdown's counts; read on a thread so the
    // pipe never fills.
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server started");
        if let Some(a) = line.strip_prefix("listening on http://") {
            break a.parse().unwrap();
        }
    };

    // Each request on its own connection, staggered over ~0.3 s (faster than the server
    // answers them, so many are in flight), and the SIGTERM sent once a tenth are answered.
    let answered = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(N);
    for i in 0..N {
        let answered = Arc::clone(&answered);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_micros(300 * i as u64)).await;
            let body = json!({"input": [format!("the cat {i}"), "a dog"]}).to_string();
            let r = send(addr, "POST", "/v1/embeddings", &[], body).await;
            if r.is_ok() {
                answered.fetch_add(1, Ordering::Relaxed);
            }
            r
        }));
    }
    let t = Instant::now();
    while answered.load(Ordering::Relaxed) < N / 10 {
        assert!(t.elapsed() < Duration::from_secs(60), "no tenth answered");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(status.success(), "exit status {status}");

    let mut ok = 0;
    let mut never_taken = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => {
                // Whatever got an answer got a full, correct one.
                assert_eq!(r.status, 200, "{}", r.text);
                assert_eq!(openai_rows(&r.json).len(), 2);
                ok += 1;
            }
            // Refused, or closed before the server read the request.
            Err(e) => {
                assert!(
                    e.starts_with("connect")
                        || e.starts_with("handshake")
                        || e.starts_with("request"),
                    "{e}"
                );
                never_taken += 1;
            }
        }
    }
    let counts = rx
        .try_iter()
        .find_map(|l| {
            let rest = l.strip_prefix("shut down: ")?;
            let (received, answered) = rest.split_once(" requests received, ")?;
            let answered = answered.strip_suffix(" answered")?;
            Some((
                received.parse::<usize>().ok()?,
                answered.parse::<usize>().ok()?,
            ))
        })
        .expect("the shutdown line");
    eprintln!("{ok} answered, {never_taken} never taken; server: {counts:?}");
    // Every request the server received was answered, and every answer arrived.
    assert_eq!(counts, (ok, ok));
    assert_eq!(ok + never_taken, N);
    assert!(ok >= N / 10);
}
