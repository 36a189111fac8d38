//! Parsing the GGUF header, metadata and tensor infos, with every check a hostile file needs.
//!
//! Nothing here trusts a count or a size read from the file: a count is compared with the bytes
//! left before anything is allocated for it, sizes use checked arithmetic, and recursion into
//! arrays of arrays is bounded.

use std::collections::HashMap;

use crate::cursor::{Cursor, FieldName};
use crate::error::{GgufError, Result};
use crate::ggml_type::GgmlType;
use crate::tensor::TensorInfo;
use crate::value::{Array, Value, ValueType};

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Alignment of the data section and of every tensor when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// The largest `general.alignment` accepted. Real files use 32; anything near this is a sign of
/// a corrupt or hostile file, and a huge alignment would only waste address space.
pub const MAX_ALIGNMENT: u64 = 1 << 20;
/// Deepest nesting of arrays of arrays accepted (ggml itself accepts none; gguf-py a few).
pub const MAX_ARRAY_DEPTH: u32 = 16;
/// ggml's `GGML_MAX_DIMS`.
pub const MAX_DIMS: u32 = 4;
/// ggml's `GGML_MAX_NAME`: tensor names are at most 63 bytes.
pub const MAX_TENSOR_NAME: u64 = 63;
/// The GGUF specification limits keys to 65535 bytes.
pub const MAX_KEY_LEN: u64 = 65_535;

/// Smallest possible key-value pair: empty key (8-byte length), type tag, one-byte value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// Smallest possible tensor info: empty name, n_dims, type, offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

/// Everything the header, metadata and tensor infos say.
pub(crate) struct Parsed {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    /// File offset of each metadata value (parallel to `metadata`).
    pub value_offsets: Vec<u64>,
    pub index: HashMap<String, usize>,
    pub tensors: Vec<TensorInfo>,
    pub tensor_index: HashMap<String, usize>,
    pub alignment: u64,
    pub data_offset: u64,
}

fn invalid(field: String, offset: u64, reason: impl Into<String>) -> GgufError {
    GgufError::Invalid {
        field,
        offset,
        reason: reason.into(),
    }
}

/// Refuses a count that could not fit in the bytes left, before anything is allocated for it.
fn check_count(
    c: &Cursor<'_>,
    count: u64,
    min_each: u64,
    offset: u64,
    field: FieldName<'_>,
) -> Result<()> {
    let fits = c.remaining() / min_each;
    if count > fits {
        return Err(invalid(
            field(),
            offset,
            format!(
                "count {count} cannot fit in the {} bytes left in the file (each item takes at least {min_each} bytes, so at most {fits} fit)",
                c.remaining()
            ),
        ));
    }
    Ok(())
}

pub(crate) fn parse(buf: &[u8]) -> Result<Parsed> {
    let mut c = Cursor::new(buf);
    let magic: [u8; 4] = {
        let bytes = c.take(4, &|| "header magic".into())?;
        [bytes[0], bytes[1], bytes[2], bytes[3]]
    };
    if magic != GGUF_MAGIC {
        return Err(GgufError::BadMagic { found: magic });
    }
    let version = c.u32(&|| "header version".into())?;
    match version {
        2 | 3 => {}
        1 => {
            return Err(GgufError::UnsupportedVersion {
                version,
                reason: "GGUF v1 used 32-bit counts and lengths and is no longer written by any tool; re-convert the model",
            });
        }
        v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
            return Err(GgufError::UnsupportedVersion {
                version,
                reason: "this is a big-endian GGUF file; only little-endian files are supported",
            });
        }
        _ => {
            return Err(GgufError::UnsupportedVersion {
                version,
                reason: "only versions 2 and 3 are supported",
            });
        }
    }
    let n_tensors_offset = c.offset();
    let n_tensors = c.u64(&|| "header n_tensors".into())?;
    let n_kv_offset = c.offset();
    let n_kv = c.u64(&|| "header n_kv".into())?;
    check_count(&c, n_kv, MIN_KV_BYTES, n_kv_offset, &|| {
        "header n_kv".into()
    })?;
    check_count(
        &c,
        n_tensors,
        MIN_TENSOR_INFO_BYTES,
        n_tensors_offset,
        &|| "header n_tensors".into(),
    )?;

    let (metadata, value_offsets, index) = parse_metadata(&mut c, n_kv)?;
    let alignment = alignment(&metadata, &value_offsets, &index)?;

    check_count(
        &c,
        n_tensors,
        MIN_TENSOR_INFO_BYTES,
        n_tensors_offset,
        &|| "header n_tensors".into(),
    )?;
    let (tensors, tensor_index) = parse_tensor_infos(&mut c, n_tensors, alignment)?;

    let end_of_infos = c.offset();
    let data_offset = end_of_infos
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| invalid("data section start".into(), end_of_infos, "overflows"))?;
    let file_len = buf.len() as u64;
    let data_len = file_len.saturating_sub(data_offset);
    if !tensors.is_empty() && data_offset > file_len {
        return Err(GgufError::Truncated {
            field: "data section".into(),
            offset: data_offset,
            needed: 1,
            available: 0,
        });
    }
    check_tensor_extents(&tensors, data_offset, data_len)?;

    Ok(Parsed {
        version,
        metadata,
        value_offsets,
        index,
        tensors,
        tensor_index,
        alignment,
        data_offset,
    })
}

type Metadata = (Vec<(String, Value)>, Vec<u64>, HashMap<String, usize>);

fn parse_metadata(c: &mut Cursor<'_>, n_kv: u64) -> Result<Metadata> {
    // The count was checked against the bytes left, so this reservation is bounded by the file.
    let mut metadata = Vec::with_capacity(n_kv as usize);
    let mut index: HashMap<String, usize> = HashMap::with_capacity(n_kv as usize);
    let mut key_offsets = Vec::with_capacity(n_kv as usize);
    let mut value_offsets = Vec::with_capacity(n_kv as usize);
    for i in 0..n_kv {
        let key_offset = c.offset();
        let key = c.string(&|| format!("kv[{i}] key"))?;
        if key.len() as u64 > MAX_KEY_LEN {
            return Err(invalid(
                format!("kv[{i}] key"),
                key_offset,
                format!(
                    "key is {} bytes long; GGUF allows at most {MAX_KEY_LEN}",
                    key.len()
                ),
            ));
        }
        if let Some(&first) = index.get(&key) {
            let first_offset: u64 = key_offsets[first];
            return Err(invalid(
                format!("kv[{i}] key"),
                key_offset,
                format!("duplicate key '{key}' (first defined at offset {first_offset})"),
            ));
        }
        let tag_offset = c.offset();
        let tag = c.u32(&|| format!("kv[{i}] '{key}' type"))?;
        let ty = ValueType::from_tag(tag).ok_or_else(|| {
            invalid(
                format!("kv[{i}] '{key}' type"),
                tag_offset,
                format!("unknown value type {tag}"),
            )
        })?;
        value_offsets.push(c.offset());
        let value = read_value(c, ty, 0, &|| format!("kv[{i}] '{key}' value"))?;
        index.insert(key.clone(), metadata.len());
        key_offsets.push(key_offset);
        metadata.push((key, value));
    }
    Ok((metadata, value_offsets, index))
}

fn read_value(
    c: &mut Cursor<'_>,
    ty: ValueType,
    depth: u32,
    field: FieldName<'_>,
) -> Result<Value> {
    Ok(match ty {
        ValueType::U8 => Value::U8(c.u8(field)?),
        ValueType::I8 => Value::I8(c.u8(field)? as i8),
        ValueType::U16 => Value::U16(c.u16(field)?),
        ValueType::I16 => Value::I16(c.u16(field)? as i16),
        ValueType::U32 => Value::U32(c.u32(field)?),
        ValueType::I32 => Value::I32(c.u32(field)? as i32),
        ValueType::F32 => Value::F32(f32::from_bits(c.u32(field)?)),
        ValueType::U64 => Value::U64(c.u64(field)?),
        ValueType::I64 => Value::I64(c.u64(field)? as i64),
        ValueType::F64 => Value::F64(f64::from_bits(c.u64(field)?)),
        ValueType::Bool => Value::Bool(read_bool(c, field)?),
        ValueType::String => Value::String(c.string(field)?),
        ValueType::Array => Value::Array(read_array(c, depth, field)?),
    })
}

fn read_bool(c: &mut Cursor<'_>, field: FieldName<'_>) -> Result<bool> {
    let offset = c.offset();
    match c.u8(field)? {
        0 => Ok(false),
        1 => Ok(true),
        b => Err(invalid(
            field(),
            offset,
            format!("bool must be 0 or 1, found {b}"),
        )),
    }
}

/// Reads `count` fixed-size little-endian numbers; the caller has checked that they fit.
fn read_numbers<T, const N: usize>(
    c: &mut Cursor<'_>,
    count: u64,
    field: FieldName<'_>,
    from: fn([u8; N]) -> T,
) -> Result<Vec<T>> {
    let bytes = c.take(count * N as u64, field)?;
    Ok(bytes
        .chunks_exact(N)
        .map(|chunk| {
            let mut a = [0u8; N];
            a.copy_from_slice(chunk);
            from(a)
        })
        .collect())
}

fn read_array(c: &mut Cursor<'_>, depth: u32, field: FieldName<'_>) -> Result<Array> {
    let tag_offset = c.offset();
    let tag = c.u32(&|| format!("{} array element type", field()))?;
    let elem = ValueType::from_tag(tag).ok_or_else(|| {
        invalid(
            format!("{} array element type", field()),
            tag_offset,
            format!("unknown value type {tag}"),
        )
    })?;
    let count_offset = c.offset();
    let count = c.u64(&|| format!("{} array length", field()))?;
    check_count(c, count, elem.min_encoded_size(), count_offset, &|| {
        format!("{} array length", field())
    })?;
    let item = |i: u64| move || format!("{}[{i}]", field());
    Ok(match elem {
        ValueType::U8 => Array::U8(c.take(count, field)?.to_vec()),
        ValueType::I8 => Array::I8(c.take(count, field)?.iter().map(|&b| b as i8).collect()),
        ValueType::U16 => Array::U16(read_numbers(c, count, field, u16::from_le_bytes)?),
        ValueType::I16 => Array::I16(read_numbers(c, count, field, i16::from_le_bytes)?),
        ValueType::U32 => Array::U32(read_numbers(c, count, field, u32::from_le_bytes)?),
        ValueType::I32 => Array::I32(read_numbers(c, count, field, i32::from_le_bytes)?),
        ValueType::F32 => Array::F32(read_numbers(c, count, field, f32::from_le_bytes)?),
        ValueType::U64 => Array::U64(read_numbers(c, count, field, u64::from_le_bytes)?),
        ValueType::I64 => Array::I64(read_numbers(c, count, field, i64::from_le_bytes)?),
        ValueType::F64 => Array::F64(read_numbers(c, count, field, f64::from_le_bytes)?),
        ValueType::Bool => {
            let mut v = Vec::with_capacity(count as usize);
            for i in 0..count {
                v.push(read_bool(c, &item(i))?);
            }
            Array::Bool(v)
        }
        ValueType::String => {
            // No reservation from the count: each string takes at least 8 bytes in the file, so
            // the vector grows with what is actually read, never with what the file claims.
            let mut v = Vec::new();
            for i in 0..count {
                v.push(c.string(&item(i))?);
            }
            Array::String(v)
        }
        ValueType::Array => {
            if depth + 1 >= MAX_ARRAY_DEPTH {
                return Err(invalid(
                    format!("{} array element type", field()),
                    tag_offset,
                    format!("arrays nested more than {MAX_ARRAY_DEPTH} deep"),
                ));
            }
            let mut v = Vec::new();
            for i in 0..count {
                v.push(read_array(c, depth + 1, &item(i))?);
            }
            Array::Array(v)
        }
    })
}

fn alignment(
    metadata: &[(String, Value)],
    value_offsets: &[u64],
    index: &HashMap<String, usize>,
) -> Result<u64> {
    let Some(&i) = index.get("general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    let field = || "metadata 'general.alignment'".to_string();
    let offset = value_offsets[i];
    match metadata[i].1 {
        Value::U32(a) => {
            let a = u64::from(a);
            if a == 0 || !a.is_power_of_two() {
                Err(invalid(
                    field(),
                    offset,
                    format!("alignment {a} is not a power of two"),
                ))
            } else if a > MAX_ALIGNMENT {
                Err(invalid(
                    field(),
                    offset,
                    format!("alignment {a} exceeds the maximum {MAX_ALIGNMENT}"),
                ))
            } else {
                Ok(a)
            }
        }
        ref v => Err(invalid(
            field(),
            offset,
            format!("must be a u32, found {}", v.type_description()),
        )),
    }
}

type Tensors = (Vec<TensorInfo>, HashMap<String, usize>);

fn parse_tensor_infos(c: &mut Cursor<'_>, n_tensors: u64, alignment: u64) -> Result<Tensors> {
    let mut tensors: Vec<TensorInfo> = Vec::with_capacity(n_tensors as usize);
    let mut index: HashMap<String, usize> = HashMap::with_capacity(n_tensors as usize);
    for i in 0..n_tensors {
        let info_offset = c.offset();
        let name = c.string(&|| format!("tensor_info[{i}] name"))?;
        if name.len() as u64 > MAX_TENSOR_NAME {
            return Err(invalid(
                format!("tensor_info[{i}] name"),
                info_offset,
                format!(
                    "name is {} bytes long; ggml allows at most {MAX_TENSOR_NAME}",
                    name.len()
                ),
            ));
        }
        if let Some(&first) = index.get(&name) {
            return Err(invalid(
                format!("tensor_info[{i}] name"),
                info_offset,
                format!(
                    "duplicate tensor name '{name}' (first defined at offset {})",
                    tensors[first].info_offset
                ),
            ));
        }
        let what = |f: &str| format!("tensor_info[{i}] '{name}' {f}");
        let n_dims_offset = c.offset();
        let n_dims = c.u32(&|| what("n_dims"))?;
        if n_dims > MAX_DIMS {
            return Err(invalid(
                what("n_dims"),
                n_dims_offset,
                format!("{n_dims} dimensions; at most {MAX_DIMS} are allowed"),
            ));
        }
        let mut dims = [1u64; 4];
        // The product of the non-zero dimensions must fit: with a zero dimension the element
        // count is 0, but the row count (product of ne[1..]) must still be computable.
        let mut n_elements_nonzero: u64 = 1;
        for (d, dim) in dims.iter_mut().enumerate().take(n_dims as usize) {
            let dim_offset = c.offset();
            let ne = c.u64(&|| what(&format!("ne[{d}]")))?;
            if ne > i64::MAX as u64 {
                return Err(invalid(
                    what(&format!("ne[{d}]")),
                    dim_offset,
                    format!("dimension {ne} is negative as ggml's int64"),
                ));
            }
            n_elements_nonzero = n_elements_nonzero
                .checked_mul(ne.max(1))
                .filter(|&n| n <= i64::MAX as u64)
                .ok_or_else(|| {
                    invalid(
                        what(&format!("ne[{d}]")),
                        dim_offset,
                        "the product of the dimensions overflows a 64-bit element count",
                    )
                })?;
            *dim = ne;
        }
        let n_elements = dims.iter().product::<u64>();
        let type_offset = c.offset();
        let type_id = c.u32(&|| what("type"))?;
        let ggml_type = match GgmlType::from_id(type_id) {
            Some(t) => t,
            None => {
                let reason = match GgmlType::retired(type_id) {
                    Some(why) => format!("tensor type {type_id} is retired: {why}"),
                    None => format!("unknown tensor type {type_id}"),
                };
                return Err(invalid(what("type"), type_offset, reason));
            }
        };
        let row_bytes = ggml_type.row_bytes(dims[0]).ok_or_else(|| {
            invalid(
                what("ne[0]"),
                n_dims_offset + 4,
                format!(
                    "row length {} is not a multiple of the {} block size {}",
                    dims[0],
                    ggml_type,
                    ggml_type.block_size()
                ),
            )
        })?;
        let n_bytes = dims[1..]
            .iter()
            .try_fold(row_bytes, |acc, &d| acc.checked_mul(d))
            .filter(|&b| b <= isize::MAX as u64)
            .ok_or_else(|| {
                invalid(
                    what("shape"),
                    n_dims_offset,
                    "tensor size in bytes overflows",
                )
            })?;
        let offset_offset = c.offset();
        let offset = c.u64(&|| what("offset"))?;
        if !offset.is_multiple_of(alignment) {
            return Err(invalid(
                what("offset"),
                offset_offset,
                format!("data offset {offset} is not a multiple of the alignment {alignment}"),
            ));
        }
        index.insert(name.clone(), tensors.len());
        tensors.push(TensorInfo {
            name,
            ggml_type,
            n_dims,
            dims,
            n_elements,
            n_bytes,
            offset,
            info_offset,
            offset_field_offset: offset_offset,
        });
    }
    Ok((tensors, index))
}

/// Every tensor lies inside the data section, and no two overlap.
fn check_tensor_extents(tensors: &[TensorInfo], data_offset: u64, data_len: u64) -> Result<()> {
    for t in tensors.iter() {
        let end = t.offset.checked_add(t.n_bytes);
        if end.is_none_or(|e| e > data_len) {
            return Err(invalid(
                format!("tensor_info '{}' offset", t.name),
                t.offset_field_offset,
                format!(
                    "data [{}, {}+{}) runs past the end of the {data_len}-byte data section starting at file offset {data_offset}",
                    t.offset, t.offset, t.n_bytes
                ),
            ));
        }
    }
    let mut order: Vec<usize> = (0..tensors.len())
        .filter(|&i| tensors[i].n_bytes > 0)
        .collect();
    order.sort_by_key(|&i| tensors[i].offset);
    for pair in order.windows(2) {
        let (a, b) = (&tensors[pair[0]], &tensors[pair[1]]);
        if a.offset + a.n_bytes > b.offset {
            return Err(invalid(
                format!("tensor_info '{}' offset", b.name),
                b.offset_field_offset,
                format!(
                    "data at {} overlaps tensor '{}' at [{}, {})",
                    b.offset,
                    a.name,
                    a.offset,
                    a.offset + a.n_bytes
                ),
            ));
        }
    }
    Ok(())
}
