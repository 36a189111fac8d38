//! `ggufembed convert` on a tiny synthetic Hugging Face BERT directory: it converts, and every
//! error is one `error:` line with the right exit code.

use std::process::{Command, Output};

use gguf_loader::{GgufFile, Value};
use ggufembed_testkit::hf::{DIMS, tiny_model};
use safetensors::tensor::Dtype;

fn ggufembed(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ggufembed"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_converts_and_reports_errors_on_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_model(tmp.path(), DIMS, Dtype::F32);
    let out = tmp.path().join("tiny.q8_0.gguf");
    let (d, o) = (dir.to_str().unwrap(), out.to_str().unwrap());

    let run = ggufembed(&["convert", "--from-hf", d, "-o", o, "--type", "q8_0"]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("37 tensors"));
    let file = GgufFile::open(&out).unwrap();
    assert_eq!(file.get("general.file_type"), Some(&Value::U32(7)));

    // The default type is f16, as llama.cpp's.
    let run = ggufembed(&["convert", "--from-hf", d, "-o", o]);
    assert_eq!(run.status.code(), Some(0));
    assert_eq!(
        GgufFile::open(&out).unwrap().get("general.file_type"),
        Some(&Value::U32(1))
    );

    std::fs::write(dir.join("config.json"), "{").unwrap();
    let run = ggufembed(&["convert", "--from-hf", d, "-o", o, "--type", "f32"]);
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8(run.stderr).unwrap();
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.starts_with("error:") && last.contains("config.json"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );

    for args in [
        &["convert", "--from-hf", d][..],
        &["convert", "-o", o][..],
        &["convert", "--from-hf", d, "-o", o, "--type", "q4_0"][..],
    ] {
        let run = ggufembed(args);
        assert_eq!(run.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(run.stderr).unwrap();
        assert!(
            err.starts_with("error:") && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    // Missing options are named on the one line.
    let err = String::from_utf8(ggufembed(&["convert", "--from-hf", d]).stderr).unwrap();
    assert!(err.contains("--output"), "{err}");
}

/// `--type` with a type the converter cannot write (every quantized type `embed` reads, and
/// llama-quantize's file types) is refused before anything is read or written: exit 2, one
/// `error:` line naming the type and what to do, no output file.
#[test]
fn convert_refuses_types_it_cannot_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_model(tmp.path(), DIMS, Dtype::F32);
    let out = tmp.path().join("out.gguf");
    let (d, o) = (dir.to_str().unwrap(), out.to_str().unwrap());
    for ty in [
        "q4_0", "Q4_1", "q5_0", "q5_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl", "IQ4_XS",
        "Q4_K_M", "bf16", "tq1_0",
    ] {
        let run = ggufembed(&["convert", "--from-hf", d, "-o", o, "--type", ty]);
        assert_eq!(run.status.code(), Some(2), "{ty}");
        let err = String::from_utf8(run.stderr).unwrap();
        assert!(
            err.starts_with("error:") && err.lines().count() == 1,
            "{ty}: {err}"
        );
        assert!(
            err.contains(&format!("'{ty}' cannot be written")) && err.contains("llama-quantize"),
            "{ty}: {err}"
        );
        assert!(!out.exists(), "{ty}: wrote {o}");
    }
    let err =
        String::from_utf8(ggufembed(&["convert", "--from-hf", d, "-o", o, "--type", "q9"]).stderr)
            .unwrap();
    assert!(err.contains("unknown output type 'q9'"), "{err}");
}
