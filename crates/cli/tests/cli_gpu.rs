//! `ggufembed embed --device` with the GPU backend compiled in (feature `gpu`): an explicit
//! `gpu` without a usable adapter is one error line; `auto` falls back to the CPU and says why.
#![cfg(feature = "gpu")]

use ggufembed_testkit::TinyBert;

/// Through the CLI: no adapter for an explicit `--device gpu` is an error naming the problem;
/// `auto` runs on the CPU and says why at info level.
#[test]
fn cli_device_choice_and_missing_adapter() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let path = TinyBert::default().write(dir.path(), "tiny.gguf");
    let run = |device: &str, backend: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ggufembed"));
        cmd.args([
            "embed",
            "-m",
            path.to_str().unwrap(),
            "--text-lines",
            "--device",
            device,
        ])
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        if let Some(b) = backend {
            // A backend this platform does not build (DX12 on Linux): no adapter at all.
            cmd.env("WGPU_BACKEND", b);
        }
        let mut child = cmd.spawn().unwrap();
        // A run refused at `open` may exit before reading its input: ignore that broken pipe.
        if let Err(e) = child.stdin.take().unwrap().write_all(b"the cat\n") {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "writing stdin: {e}"
            );
        }
        child.wait_with_output().unwrap()
    };
    if cfg!(target_os = "linux") {
        let out = run("gpu", Some("dx12"));
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error: no usable GPU adapter"), "{err}");
        let out = run("auto", Some("dx12"));
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("device auto: CPU (no usable GPU adapter"),
            "{err}"
        );
    }
    let out = run("auto", None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
