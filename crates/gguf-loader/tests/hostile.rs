//! One test per class of hostile file seen in public advisories against GGUF parsers.
//!
//! Each builds the bad file byte by byte and checks the exact refusal — the field and the byte
//! offset — so removing the corresponding check makes the test fail (the parse would then
//! succeed, loop, allocate or fail somewhere else).

mod common;

use common::Raw;
use gguf_loader::{GgufError, GgufFile};

/// Parses `bytes`, expecting an `Invalid` error whose field contains `field`, at `offset`, with
/// a reason containing `reason`.
fn assert_invalid(bytes: &[u8], field: &str, offset: u64, reason: &str) {
    match GgufFile::from_bytes(bytes) {
        Err(GgufError::Invalid {
            field: f,
            offset: o,
            reason: r,
        }) => {
            assert!(
                f.contains(field),
                "field {f:?} does not contain {field:?} (reason: {r})"
            );
            assert_eq!(o, offset, "offset for {f:?} ({r})");
            assert!(
                r.contains(reason),
                "reason {r:?} does not contain {reason:?}"
            );
        }
        Err(e) => panic!("expected invalid {field} at {offset}, got error: {e}"),
        Ok(_) => panic!("expected invalid {field} at {offset}, but the file parsed"),
    }
}

const HEADER: u64 = 24;

// ---- header ---------------------------------------------------------------------------

#[test]
fn bad_magic() {
    let err = GgufFile::from_bytes(b"GGML\x03\0\0\0").unwrap_err();
    assert!(
        matches!(err, GgufError::BadMagic { found } if &found == b"GGML"),
        "{err}"
    );
}

#[test]
fn version_1_unknown_and_big_endian_are_refused() {
    for (version, needle) in [
        (1u32, "v1"),
        (4, "only versions 2 and 3"),
        (0x0300_0000, "big-endian"),
    ] {
        let err = GgufFile::from_bytes(&Raw::header(version, 0, 0).0).unwrap_err();
        match err {
            GgufError::UnsupportedVersion { version: v, reason } => {
                assert_eq!(v, version);
                assert!(reason.contains(needle), "{reason}");
            }
            e => panic!("{e}"),
        }
    }
    assert!(GgufFile::from_bytes(&Raw::header(2, 0, 0).0).is_ok());
    assert!(GgufFile::from_bytes(&Raw::header(3, 0, 0).0).is_ok());
}

#[test]
fn truncated_header() {
    let full = Raw::header(3, 0, 0).0;
    for len in 0..full.len() {
        let err = GgufFile::from_bytes(&full[..len]).unwrap_err();
        assert!(
            matches!(err, GgufError::Truncated { .. }),
            "len {len}: {err}"
        );
    }
}

// ---- huge counts ----------------------------------------------------------------------

#[test]
fn huge_kv_count() {
    let bytes = Raw::header(3, 0, 1 << 63).0;
    assert_invalid(&bytes, "header n_kv", 16, "cannot fit");
}

#[test]
fn huge_tensor_count() {
    let bytes = Raw::header(3, u64::MAX, 0).0;
    assert_invalid(&bytes, "header n_tensors", 8, "cannot fit");
}

#[test]
fn huge_string_length() {
    let bytes = Raw::header(3, 0, 1)
        .u64(1 << 63)
        .bytes(b"key-and-some-more-bytes")
        .0;
    assert_invalid(&bytes, "kv[0] key length", HEADER, "runs past the end");
}

#[test]
fn huge_string_value_length() {
    let bytes = Raw::header(3, 0, 1).key("k", 8).u64(u64::MAX - 3).0;
    assert_invalid(
        &bytes,
        "kv[0] 'k' value length",
        HEADER + 8 + 1 + 4,
        "runs past the end",
    );
}

#[test]
fn huge_array_counts_for_every_element_type() {
    // u8 (min 1 byte), u32 (4), u64 (8), string (8), array (12).
    for tag in [0u32, 4, 10, 8, 9] {
        let bytes = Raw::header(3, 0, 1)
            .key("arr", 9)
            .u32(tag)
            .u64(1 << 62)
            .zeros(64)
            .0;
        let count_offset = HEADER + 8 + 3 + 4 + 4;
        assert_invalid(
            &bytes,
            "kv[0] 'arr' value array length",
            count_offset,
            "cannot fit",
        );
    }
}

#[test]
fn huge_array_count_that_overflows_when_multiplied() {
    // 2^62 + 1 u64 elements: count * 8 overflows u64 if computed naively.
    let bytes = Raw::header(3, 0, 1)
        .key("arr", 9)
        .u32(10)
        .u64((1 << 62) + 1)
        .0;
    assert_invalid(&bytes, "array length", HEADER + 8 + 3 + 8, "cannot fit");
}

#[test]
fn deeply_nested_arrays() {
    // 5000 levels of "array of array, count 1": a recursive parser without a depth limit
    // overflows its stack.
    let mut raw = Raw::header(3, 0, 1).key("deep", 9);
    for _ in 0..5000 {
        raw = raw.u32(9).u64(1);
    }
    let bytes = raw.u32(0).u64(0).0;
    // Level d's element-type tag sits at HEADER + key (8+4) + type (4) + 12*d.
    let limit = gguf_loader::MAX_ARRAY_DEPTH as u64 - 1;
    assert_invalid(
        &bytes,
        "array element type",
        HEADER + 16 + 12 * limit,
        "nested more than",
    );
}

#[test]
fn moderately_nested_arrays_are_fine() {
    let mut raw = Raw::header(3, 0, 1).key("nest", 9);
    for _ in 0..3 {
        raw = raw.u32(9).u64(1);
    }
    let file = GgufFile::from_bytes(&raw.u32(4).u64(2).u32(7).u32(8).0).unwrap();
    let outer = file.get_array::<gguf_loader::Array>("nest").unwrap();
    assert_eq!(outer.len(), 1);
}

// ---- unknown types --------------------------------------------------------------------

#[test]
fn unknown_value_type() {
    let bytes = Raw::header(3, 0, 1).key("k", 13).u32(0).0;
    assert_invalid(
        &bytes,
        "kv[0] 'k' type",
        HEADER + 9,
        "unknown value type 13",
    );
}

#[test]
fn unknown_array_element_type() {
    let bytes = Raw::header(3, 0, 1).key("k", 9).u32(0xFFFF_FFFF).u64(0).0;
    assert_invalid(
        &bytes,
        "array element type",
        HEADER + 13,
        "unknown value type 4294967295",
    );
}

#[test]
fn unknown_and_retired_tensor_types() {
    for (ty, needle) in [
        (43u32, "unknown tensor type 43"),
        (4, "retired"),
        (32, "retired"),
        (u32::MAX, "unknown"),
    ] {
        let bytes = Raw::header(3, 1, 0)
            .tensor_info("t", &[32], ty, 0)
            .pad(32)
            .zeros(64)
            .0;
        assert_invalid(
            &bytes,
            "tensor_info[0] 't' type",
            HEADER + 9 + 4 + 8,
            needle,
        );
    }
}

#[test]
fn invalid_bool_and_utf8() {
    let bytes = Raw::header(3, 0, 1).key("b", 7).u8(2).0;
    assert_invalid(
        &bytes,
        "kv[0] 'b' value",
        HEADER + 13,
        "bool must be 0 or 1",
    );
    let bytes = Raw::header(3, 0, 1)
        .u64(2)
        .bytes(&[b'a', 0xFF])
        .u32(4)
        .u32(0)
        .0;
    assert_invalid(&bytes, "kv[0] key", HEADER + 8 + 1, "not valid UTF-8");
}

// ---- tensor infos ---------------------------------------------------------------------

#[test]
fn too_many_dimensions() {
    let bytes = Raw::header(3, 1, 0)
        .tensor_info("t", &[1, 1, 1, 1, 1], 0, 0)
        .pad(32)
        .zeros(32)
        .0;
    assert_invalid(
        &bytes,
        "tensor_info[0] 't' n_dims",
        HEADER + 9,
        "5 dimensions",
    );
}

#[test]
fn dimension_product_overflows() {
    let bytes = Raw::header(3, 1, 0)
        .tensor_info("t", &[1 << 32, 1 << 32], 0, 0)
        .pad(32)
        .0;
    assert_invalid(&bytes, "'t' ne[1]", HEADER + 9 + 4 + 8, "overflows");
    // Overflow hidden behind a zero dimension (0 elements, but 2^64 rows).
    let bytes = Raw::header(3, 1, 0)
        .tensor_info("t", &[0, 1 << 32, 1 << 32], 0, 0)
        .pad(32)
        .0;
    assert_invalid(&bytes, "'t' ne[2]", HEADER + 9 + 4 + 16, "overflows");
}

#[test]
fn dimension_negative_as_int64() {
    let bytes = Raw::header(3, 1, 0)
        .tensor_info("t", &[1 << 63], 0, 0)
        .pad(32)
        .0;
    assert_invalid(&bytes, "'t' ne[0]", HEADER + 9 + 4, "negative");
}

#[test]
fn byte_size_overflows() {
    // 2^61 f32 elements = 2^63 bytes: the element count fits, the byte count does not fit isize.
    let bytes = Raw::header(3, 1, 0)
        .tensor_info("t", &[1 << 31, 1 << 30], 0, 0)
        .pad(32)
        .0;
    assert_invalid(&bytes, "'t' shape", HEADER + 9, "overflows");
}

#[test]
fn row_not_a_whole_number_of_blocks() {
    let bytes = Raw::header(3, 1, 0)
        .tensor_info("t", &[33, 2], 8, 0)
        .pad(32)
        .zeros(128)
        .0;
    assert_invalid(
        &bytes,
        "'t' ne[0]",
        HEADER + 9 + 4,
        "not a multiple of the Q8_0 block size 32",
    );
}

#[test]
fn tensor_data_past_end_of_file() {
    // Offset past the end.
    let raw = Raw::header(3, 1, 0)
        .tensor_info("t", &[8], 0, 1 << 40)
        .pad(32);
    let offset_field = HEADER + 9 + 4 + 8 + 4;
    assert_invalid(
        &raw.clone().zeros(32).0,
        "'t' offset",
        offset_field,
        "runs past the end",
    );
    // Offset in range, size runs past the end (8 f32 = 32 bytes, only 31 present).
    let raw = Raw::header(3, 1, 0)
        .tensor_info("t", &[8], 0, 0)
        .pad(32)
        .zeros(31);
    assert_invalid(&raw.0, "'t' offset", offset_field, "runs past the end");
    // offset + size overflows u64.
    let raw = Raw::header(3, 1, 0)
        .tensor_info("t", &[8], 0, u64::MAX - 31)
        .pad(32)
        .zeros(32);
    assert_invalid(&raw.0, "'t' offset", offset_field, "runs past the end");
}

#[test]
fn data_section_missing_entirely() {
    let bytes = Raw::header(3, 1, 0).tensor_info("t", &[8], 0, 0).0;
    let err = GgufFile::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(&err, GgufError::Truncated { field, .. } if field == "data section"),
        "{err}"
    );
}

#[test]
fn misaligned_tensor_offset() {
    let bytes = Raw::header(3, 1, 0)
        .tensor_info("t", &[8], 0, 4)
        .pad(32)
        .zeros(64)
        .0;
    assert_invalid(
        &bytes,
        "'t' offset",
        HEADER + 9 + 4 + 8 + 4,
        "not a multiple of the alignment 32",
    );
}

#[test]
fn overlapping_tensors() {
    let bytes = Raw::header(3, 2, 0)
        .tensor_info("a", &[16], 0, 0)
        .tensor_info("b", &[8], 0, 32)
        .pad(32)
        .zeros(128)
        .0;
    let second_offset_field = HEADER + (9 + 4 + 8 + 4 + 8) + 9 + 4 + 8 + 4;
    assert_invalid(
        &bytes,
        "'b' offset",
        second_offset_field,
        "overlaps tensor 'a'",
    );
}

#[test]
fn tensor_name_too_long() {
    let name = "n".repeat(64);
    let bytes = Raw::header(3, 1, 0)
        .tensor_info(&name, &[8], 0, 0)
        .pad(32)
        .zeros(32)
        .0;
    assert_invalid(&bytes, "tensor_info[0] name", HEADER, "at most 63");
}

// ---- alignment ------------------------------------------------------------------------

#[test]
fn bad_alignment_values() {
    let value_offset = HEADER + 8 + "general.alignment".len() as u64 + 4;
    for (a, needle) in [
        (0u32, "not a power of two"),
        (48, "not a power of two"),
        (1 << 30, "exceeds the maximum"),
    ] {
        let bytes = Raw::header(3, 0, 1).kv_u32("general.alignment", a).0;
        assert_invalid(&bytes, "general.alignment", value_offset, needle);
    }
    let bytes = Raw::header(3, 0, 1).key("general.alignment", 10).u64(32).0;
    assert_invalid(
        &bytes,
        "general.alignment",
        value_offset,
        "must be a u32, found u64",
    );
    let bytes = Raw::header(3, 0, 1).kv_str("general.alignment", "32").0;
    assert_invalid(
        &bytes,
        "general.alignment",
        value_offset,
        "must be a u32, found string",
    );
}

#[test]
fn custom_alignment_is_respected() {
    let raw = Raw::header(3, 1, 1)
        .kv_u32("general.alignment", 64)
        .tensor_info("t", &[2], 0, 0);
    let data_start = raw.len().next_multiple_of(64);
    let bytes = raw
        .pad(64)
        .bytes(&1.5f32.to_le_bytes())
        .bytes(&2.5f32.to_le_bytes())
        .0;
    let file = GgufFile::from_bytes(&bytes).unwrap();
    assert_eq!(file.alignment(), 64);
    assert_eq!(file.data_offset(), data_start as u64);
    assert_eq!(
        file.view_f32(file.require_tensor("t").unwrap()).unwrap(),
        &[1.5, 2.5]
    );
    // Offset 32 is aligned to the default 32 but not to the file's 64.
    let kv_bytes = 8 + "general.alignment".len() as u64 + 4 + 4;
    let offset_field = HEADER + kv_bytes + 9 + 4 + 8 + 4;
    let bytes = Raw::header(3, 1, 1)
        .kv_u32("general.alignment", 64)
        .tensor_info("t", &[2], 0, 32)
        .pad(64)
        .zeros(128)
        .0;
    assert_invalid(&bytes, "'t' offset", offset_field, "alignment 64");
}

// ---- duplicates -----------------------------------------------------------------------

#[test]
fn duplicate_keys() {
    let first = Raw::header(3, 0, 2).kv_u32("k", 1);
    let second_at = first.len() as u64;
    let bytes = first.kv_u32("k", 2).0;
    assert_invalid(
        &bytes,
        "kv[1] key",
        second_at,
        "duplicate key 'k' (first defined at offset 24)",
    );
}

#[test]
fn duplicate_tensor_names() {
    let first = Raw::header(3, 2, 0).tensor_info("t", &[8], 0, 0);
    let second_at = first.len() as u64;
    let bytes = first.tensor_info("t", &[8], 0, 32).pad(32).zeros(64).0;
    assert_invalid(
        &bytes,
        "tensor_info[1] name",
        second_at,
        "duplicate tensor name 't'",
    );
}
