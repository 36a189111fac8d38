//! Portable elementwise kernels: the `generic` bodies compiled for the baseline target.

use super::{Table, generic as g};

pub(crate) const TABLE: Table = Table {
    layer_norm: g::layer_norm,
    add_layer_norm: g::add_layer_norm,
    rms_norm: g::rms_norm,
    add: g::add,
    add_bias: g::add_bias,
    add_bias_gelu: g::add_bias_gelu,
    gelu: g::gelu,
    gelu_tanh: g::gelu_tanh,
    silu: g::silu,
    geglu: g::geglu,
    swiglu: g::swiglu,
    softmax: g::softmax,
    mean_pool: g::mean_pool,
    l2_normalize: g::l2_normalize,
    dequantize_q8_0: g::dequantize_q8_0,
    dequantize_f16: g::dequantize_f16,
    dequantize_bf16: g::dequantize_bf16,
};
