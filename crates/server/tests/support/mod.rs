//! A tiny model, a server on a free loopback port, and a small HTTP client (hyper) for the
//! server's tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use ggufembed_server::{AppState, ServeArgs, Server};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use ggufembed_testkit as common;

/// A running server and what the test needs of it.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub model_path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    pub handle: JoinHandle<Result<(), ggufembed_server::Error>>,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Triggers the graceful shutdown.
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts a server on the tiny BERT (2 threads, max_len = its context of 48) with `flags`.
pub fn start(flags: &[&str]) -> Running {
    start_with(common::TinyBert::default(), flags)
}

/// Starts a server on `model` (2 threads) with `flags`.
pub fn start_with(model: common::TinyBert, flags: &[&str]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let model_path = model.write(dir.path(), "tiny.gguf");
    let mut argv = vec![
        "serve".to_string(),
        "-m".into(),
        model_path.display().to_string(),
        "--port".into(),
        "0".into(),
        "--threads".into(),
        "2".into(),
    ];
    argv.extend(flags.iter().map(|s| s.to_string()));
    let server = Server::new(ServeArgs::try_parse_from(argv).unwrap()).unwrap();
    let addr = server.local_addr().unwrap();
    let state = server.state();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    Running {
        addr,
        state,
        model_path,
        stop: Some(tx),
        handle,
        _dir: dir,
    }
}

/// A response: status, headers, and the body parsed as JSON (`Value::Null` if it is not).
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub text: String,
    pub json: Value,
}

/// One request on a fresh connection.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Reply, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body.into())).unwrap();
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Reply {
        status,
        headers,
        text,
        json,
    })
}

/// POSTs a JSON value.
pub async fn post(addr: SocketAddr, path: &str, body: &Value) -> Reply {
    send(addr, "POST", path, &[], body.to_string())
        .await
        .unwrap()
}

/// GETs a path.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    send(addr, "GET", path, &[], Bytes::new()).await.unwrap()
}

/// Asserts an error response's status and that its message names `needle`.
pub fn assert_error(reply: &Reply, status: u16, needle: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    let message = reply.json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "expected '{needle}' in: {}",
        reply.text
    );
    assert!(reply.json["error"]["type"].is_string(), "{}", reply.text);
}

/// The `embedding` arrays of an OpenAI response, as f32.
pub fn openai_rows(json: &Value) -> Vec<Vec<f32>> {
    json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| floats(&d["embedding"]))
        .collect()
}

/// A JSON array of numbers as f32 (exact: the server writes each f32's shortest round-trip form).
pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Texts of the tiny vocabulary, of assorted lengths.
pub fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            (0..1 + i % 11)
                .map(|j| common::WORDS[(i * 7 + j * 3) % common::WORDS.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}
