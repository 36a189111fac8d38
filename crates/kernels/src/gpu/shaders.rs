//! The WGSL sources of `crates/kernels/wgsl/`, embedded at compile time, and how a weight-reading
//! shader is assembled from its weight-type snippet.

/// A GGUF storage type of weights the shaders read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum WeightKind {
    F32,
    F16,
    Bf16,
    Q8_0,
}

impl WeightKind {
    pub(crate) const ALL: [WeightKind; 4] = [
        WeightKind::F32,
        WeightKind::F16,
        WeightKind::Bf16,
        WeightKind::Q8_0,
    ];

    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            WeightKind::F32 => "f32",
            WeightKind::F16 => "f16",
            WeightKind::Bf16 => "bf16",
            WeightKind::Q8_0 => "q8_0",
        }
    }

    /// The snippet defining `w_at(i)` for this type.
    fn snippet(self) -> &'static str {
        match self {
            WeightKind::F32 => include_str!("../../wgsl/weights_f32.wgsl"),
            WeightKind::F16 => include_str!("../../wgsl/weights_f16.wgsl"),
            WeightKind::Bf16 => include_str!("../../wgsl/weights_bf16.wgsl"),
            WeightKind::Q8_0 => include_str!("../../wgsl/weights_q8_0.wgsl"),
        }
    }
}

pub(crate) const MATMUL: &str = include_str!("../../wgsl/matmul.wgsl");
pub(crate) const GATHER: &str = include_str!("../../wgsl/gather.wgsl");
pub(crate) const LAYER_NORM: &str = include_str!("../../wgsl/layer_norm.wgsl");
pub(crate) const ATTENTION: &str = include_str!("../../wgsl/attention.wgsl");
pub(crate) const POOL: &str = include_str!("../../wgsl/pool.wgsl");
pub(crate) const L2_NORMALIZE: &str = include_str!("../../wgsl/l2_normalize.wgsl");

const WORKGROUP_SUM: &str = include_str!("../../wgsl/workgroup_sum.wgsl");

/// `body` (layer_norm or l2_normalize) with `workgroup_sum`.
pub(crate) fn with_workgroup_sum(body: &str) -> String {
    format!("{WORKGROUP_SUM}\n{body}")
}

/// `body` (matmul or gather) reading weights of type `kind`.
pub(crate) fn with_weights(kind: WeightKind, body: &str) -> String {
    format!("{}\n{body}", kind.snippet())
}
