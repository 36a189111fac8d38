// Sum over a 64-invocation workgroup, in a fixed tree order (so every row reduces the same
// way). Put in front of the shaders that reduce a row: layer_norm.wgsl, l2_normalize.wgsl.

var<workgroup> red: array<f32, 64>;

// Sum of every invocation's `v`; every invocation must call it.
fn workgroup_sum(li: u32, v: f32) -> f32 {
    red[li] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (li < s) {
            red[li] += red[li + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}
