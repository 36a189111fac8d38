//! Builds GGUF bytes field by field, including fields no valid writer would produce.
#![allow(dead_code)]

use gguf_loader::{GgmlType, GgufWriter};

/// Raw little-endian GGUF bytes under construction.
#[derive(Clone, Default)]
pub struct Raw(pub Vec<u8>);

impl Raw {
    /// Magic, version, tensor count and kv count.
    pub fn header(version: u32, n_tensors: u64, n_kv: u64) -> Raw {
        Raw::default()
            .bytes(b"GGUF")
            .u32(version)
            .u64(n_tensors)
            .u64(n_kv)
    }
    pub fn bytes(mut self, b: &[u8]) -> Raw {
        self.0.extend_from_slice(b);
        self
    }
    pub fn u8(self, v: u8) -> Raw {
        self.bytes(&[v])
    }
    pub fn u32(self, v: u32) -> Raw {
        self.bytes(&v.to_le_bytes())
    }
    pub fn u64(self, v: u64) -> Raw {
        self.bytes(&v.to_le_bytes())
    }
    pub fn str(self, s: &str) -> Raw {
        self.u64(s.len() as u64).bytes(s.as_bytes())
    }
    /// A key followed by a type tag (the value is appended by the caller).
    pub fn key(self, key: &str, tag: u32) -> Raw {
        self.str(key).u32(tag)
    }
    pub fn kv_u32(self, key: &str, v: u32) -> Raw {
        self.key(key, 4).u32(v)
    }
    pub fn kv_str(self, key: &str, v: &str) -> Raw {
        self.key(key, 8).str(v)
    }
    pub fn tensor_info(self, name: &str, dims: &[u64], ggml_type: u32, offset: u64) -> Raw {
        let mut r = self.str(name).u32(dims.len() as u32);
        for &d in dims {
            r = r.u64(d);
        }
        r.u32(ggml_type).u64(offset)
    }
    /// Zero padding up to the next multiple of `align`.
    pub fn pad(mut self, align: usize) -> Raw {
        while !self.0.len().is_multiple_of(align) {
            self.0.push(0);
        }
        self
    }
    pub fn zeros(mut self, n: usize) -> Raw {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// A small valid file with metadata of several types and three tensors (F32, F16, Q8_0).
pub fn valid_file() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", "bert").unwrap();
    w.add_metadata("bert.block_count", 2u32).unwrap();
    w.add_metadata("bert.attention.layer_norm_epsilon", 1e-12f32)
        .unwrap();
    w.add_metadata(
        "tokenizer.ggml.tokens",
        gguf_loader::Array::String(vec!["[PAD]".into(), "▁hello".into()]),
    )
    .unwrap();
    w.add_metadata(
        "tokenizer.ggml.scores",
        gguf_loader::Array::F32(vec![0.5, -1.0]),
    )
    .unwrap();
    w.add_metadata("flag", true).unwrap();
    let f32s: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    w.add_tensor("a.weight", GgmlType::F32, &[4, 2], f32s)
        .unwrap();
    let f16s: Vec<u8> = (0..4)
        .flat_map(|i| half::f16::from_f32(i as f32).to_le_bytes())
        .collect();
    w.add_tensor("b.weight", GgmlType::F16, &[4], f16s).unwrap();
    let q8: Vec<u8> = (0..68).map(|i| i as u8).collect();
    w.add_tensor("c.weight", GgmlType::Q8_0, &[32, 2], q8)
        .unwrap();
    w.to_bytes()
}
