//! `ggufembed inspect`: a readable (or JSON) report of a GGUF file's header, metadata and
//! tensors.

use std::fmt::Write as _;

use gguf_loader::{Array, GgufFile, Value};
use serde_json::{Map, Value as Json, json};

/// How many leading items of a long array are shown.
pub const ARRAY_HEAD: usize = 8;

/// A human-readable report: header facts, every metadata key (long arrays abbreviated to their
/// first [`ARRAY_HEAD`] items and their count), and a table of every tensor.
pub fn render_text(file: &GgufFile, path: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{path}: GGUF v{}, {} bytes, alignment {}, data section at offset {}",
        file.version(),
        file.file_size(),
        file.alignment(),
        file.data_offset()
    );
    let _ = writeln!(out, "\nmetadata ({} keys):", file.metadata().len());
    for (key, value) in file.metadata() {
        let _ = writeln!(
            out,
            "  {key}: {} = {}",
            value.type_description(),
            text_value(value)
        );
    }
    let tensors = file.tensors();
    let _ = writeln!(out, "\ntensors ({}):", tensors.len());
    let name_w = tensors
        .iter()
        .map(|t| t.name().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let shapes: Vec<String> = tensors.iter().map(|t| format!("{:?}", t.shape())).collect();
    let shape_w = shapes.iter().map(String::len).max().unwrap_or(5).max(5);
    let _ = writeln!(
        out,
        "  {:>4}  {:<name_w$}  {:<7}  {:<shape_w$}  {:>12}  {:>12}",
        "#", "name", "type", "shape", "offset", "bytes"
    );
    for (i, (t, shape)) in tensors.iter().zip(&shapes).enumerate() {
        let _ = writeln!(
            out,
            "  {:>4}  {:<name_w$}  {:<7}  {:<shape_w$}  {:>12}  {:>12}",
            i,
            t.name(),
            t.ggml_type().to_string(),
            shape,
            t.offset(),
            t.n_bytes()
        );
    }
    out
}

fn text_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => text_array(a),
        other => scalar_json(other).to_string(),
    }
}

fn text_array(array: &Array) -> String {
    let head = array_items(array, ARRAY_HEAD);
    let items: Vec<String> = head.iter().map(Json::to_string).collect();
    if array.len() > ARRAY_HEAD {
        format!("[{}, … ({} items)]", items.join(", "), array.len())
    } else {
        format!("[{}]", items.join(", "))
    }
}

fn scalar_json(value: &Value) -> Json {
    match *value {
        Value::U8(v) => json!(v),
        Value::I8(v) => json!(v),
        Value::U16(v) => json!(v),
        Value::I16(v) => json!(v),
        Value::U32(v) => json!(v),
        Value::I32(v) => json!(v),
        Value::U64(v) => json!(v),
        Value::I64(v) => json!(v),
        // NaN and infinities have no JSON form: they become null.
        Value::F32(v) => json!(v),
        Value::F64(v) => json!(v),
        Value::Bool(v) => json!(v),
        Value::String(ref s) => json!(s),
        Value::Array(ref a) => array_json(a),
    }
}

/// The first `limit` items of an array as JSON values.
fn array_items(array: &Array, limit: usize) -> Vec<Json> {
    fn take<T: Clone + Into<Json>>(v: &[T], limit: usize) -> Vec<Json> {
        v.iter().take(limit).cloned().map(Into::into).collect()
    }
    match array {
        Array::U8(v) => take(v, limit),
        Array::I8(v) => take(v, limit),
        Array::U16(v) => take(v, limit),
        Array::I16(v) => take(v, limit),
        Array::U32(v) => take(v, limit),
        Array::I32(v) => take(v, limit),
        Array::U64(v) => take(v, limit),
        Array::I64(v) => take(v, limit),
        Array::F32(v) => take(v, limit),
        Array::F64(v) => take(v, limit),
        Array::Bool(v) => take(v, limit),
        Array::String(v) => take(v, limit),
        Array::Array(v) => v.iter().take(limit).map(array_json).collect(),
    }
}

fn array_json(array: &Array) -> Json {
    let mut m = Map::new();
    m.insert("element_type".into(), json!(array.element_type().name()));
    m.insert("len".into(), json!(array.len()));
    m.insert("items".into(), Json::Array(array_items(array, ARRAY_HEAD)));
    m.insert("truncated".into(), json!(array.len() > ARRAY_HEAD));
    Json::Object(m)
}

/// The same report as JSON: `{"path","version","file_size","alignment","data_offset",
/// "metadata":{key:{"type","value"}},"tensors":[{"name","type","shape","offset","bytes"}]}`.
/// Arrays are objects `{"element_type","len","items","truncated"}` with the first
/// [`ARRAY_HEAD`] items.
pub fn render_json(file: &GgufFile, path: &str) -> Json {
    let metadata: Map<String, Json> = file
        .metadata()
        .map(|(k, v)| {
            (
                k.to_string(),
                json!({ "type": v.value_type().name(), "value": scalar_json(v) }),
            )
        })
        .collect();
    let tensors: Vec<Json> = file
        .tensors()
        .iter()
        .map(|t| {
            json!({
                "name": t.name(),
                "type": t.ggml_type().to_string(),
                "shape": t.shape(),
                "offset": t.offset(),
                "bytes": t.n_bytes(),
            })
        })
        .collect();
    json!({
        "path": path,
        "version": file.version(),
        "file_size": file.file_size(),
        "alignment": file.alignment(),
        "data_offset": file.data_offset(),
        "metadata": metadata,
        "tensors": tensors,
    })
}
