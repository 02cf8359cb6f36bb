#!/usr/bin/env python3
"""Writes the GGUF fixtures of Tests/ModelTests/GGUFTests.swift (committed; rerun only to change them) with gguf-py
(gguf==0.19.0, numpy), the reference implementation of the format and of dequantization:

  types.gguf            metadata of every value type (arrays of strings, ints, floats, a nested array of string
                        arrays), then one tensor per type SwiftTIR dequantizes, each 2 rows x 512 columns (GGUF dims
                        [512, 2]: K-quants have 2 blocks per row), a 3-D F32 and a 3-D Q8_0 tensor, and a Q2_K
                        tensor (which SwiftTIR must refuse to dequantize, by name).
  types.expected.f32    gguf-py's dequantization of every tensor of types.gguf except the Q2_K one, in file order,
                        as raw little-endian float32.
  aligned64.gguf        general.alignment = 64 and tensors whose sizes are not multiples of 64.
  aligned64.expected.f32

Types gguf-py can quantize (BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) get quantized Gaussian data; the K-quants
(which gguf-py only dequantizes) get random bytes with finite fp16 scales: dequantization is defined for any
bytes, so random blocks exercise every bit of the format.

  /work/venv/bin/python reference/make_gguf_fixtures.py            # write the fixtures
  /work/venv/bin/python reference/make_gguf_fixtures.py --check F  # read F (written by GGUFWriter) with gguf-py
"""
import os, sys
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T, GGUFValueType as V

here = os.path.dirname(os.path.abspath(__file__))
out_dir = os.path.join(here, "..", "Tests", "ModelTests", "Fixtures", "gguf")


def random_blocks(rng, qtype, rows, cols):
    """Random bytes for `rows` rows of `cols` elements of a K-quant type, with finite fp16 scales."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(rows * cols // block, size), dtype=np.uint8)
    scales = lambda n: (rng.standard_normal(n) * 0.05).astype(np.float16).view(np.uint8).reshape(n, 2)
    n = raw.shape[0]
    if qtype in (T.Q4_K, T.Q5_K, T.Q2_K):   # d, dmin first (Q2_K: last)
        at = [0, 2] if qtype != T.Q2_K else [size - 4, size - 2]
        for a in at:
            raw[:, a:a + 2] = scales(n)
    elif qtype == T.Q6_K:                    # d last
        raw[:, size - 2:] = scales(n)
    else:
        raise ValueError(qtype)
    return raw.reshape(rows, -1)


def add_every_value_type(w):
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.1)               # stored as float32 0.1, read back exactly as Float(0.1)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo wörld 🚀")
    w.add_uint64("test.u64", 18000000000000000000)
    w.add_int64("test.i64", -9000000000000000000)
    w.add_float64("test.f64", 2.718281828459045)
    w.add_array("test.strings", ["a", "", "Ġthe", "<|im_end|>"])
    w.add_key_value("test.i32s", [1, 3, -4, 5], V.ARRAY, sub_type=V.INT32)
    w.add_key_value("test.u8s", [0, 255, 7], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("test.u64s", [2**64 - 1, 0], V.ARRAY, sub_type=V.UINT64)
    w.add_key_value("test.f32s", [0.5, -1.25, 3.0], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("test.bools", [True, False], V.ARRAY, sub_type=V.BOOL)
    w.add_array("test.nested", [["x", "y"], ["z"]])
    w.add_uint32("llama.context_length", 8192)
    w.add_float32("llama.rope.freq_base", 100000.0)


def write(name, w, expected):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    np.concatenate([e.astype("<f4").ravel() for e in expected]).tofile(os.path.join(out_dir, name + ".expected.f32"))


def make_types(rng):
    w = gguf.GGUFWriter(os.path.join(out_dir, "types.gguf"), "test")
    add_every_value_type(w)
    expected = []
    data = rng.standard_normal((2, 512)).astype(np.float32)
    w.add_tensor("f32", data)
    expected.append(data)
    f16 = data.astype(np.float16)
    # special values: -0, smallest subnormal, a subnormal, largest finite, infinity, a quiet NaN with a payload
    f16.view(np.uint16)[0, :6] = [0x8000, 0x0001, 0x03FF, 0x7BFF, 0xFC00, 0x7E01]
    w.add_tensor("f16", f16)
    expected.append(f16.astype(np.float32))
    for qtype in (T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0):
        q = gguf.quants.quantize(data * (1 + qtype), qtype)
        w.add_tensor(qtype.name.lower(), q, raw_dtype=qtype)
        expected.append(gguf.quants.dequantize(q, qtype))
    for qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
        q = random_blocks(rng, qtype, 2, 512)
        w.add_tensor(qtype.name.lower(), q, raw_dtype=qtype)
        expected.append(gguf.quants.dequantize(q, qtype))
    cube = rng.standard_normal((2, 3, 4)).astype(np.float32)          # GGUF dims [4, 3, 2]
    w.add_tensor("cube", cube)
    expected.append(cube)
    q = gguf.quants.quantize(rng.standard_normal((2, 3, 64)).astype(np.float32), T.Q8_0)   # dims [64, 3, 2]
    w.add_tensor("cube.q8_0", q, raw_dtype=T.Q8_0)
    expected.append(gguf.quants.dequantize(q, T.Q8_0))
    w.add_tensor("unsupported.q2_k", random_blocks(rng, T.Q2_K, 1, 256), raw_dtype=T.Q2_K)
    write("types", w, expected)


def make_aligned64(rng):
    w = gguf.GGUFWriter(os.path.join(out_dir, "aligned64.gguf"), "test")
    w.add_custom_alignment(64)
    expected = []
    q = gguf.quants.quantize(rng.standard_normal((1, 32)).astype(np.float32), T.Q8_0)   # 34 bytes
    w.add_tensor("a.q8_0", q, raw_dtype=T.Q8_0)
    expected.append(gguf.quants.dequantize(q, T.Q8_0))
    for name, n in (("b.f32", 3), ("c.f32", 17)):                                      # 12, 68 bytes
        x = rng.standard_normal(n).astype(np.float32)
        w.add_tensor(name, x)
        expected.append(x)
    x = rng.standard_normal(5).astype(np.float16)                                      # 10 bytes
    w.add_tensor("d.f16", x)
    expected.append(x.astype(np.float32))
    write("aligned64", w, expected)


def check(path):
    """Prints what gguf-py's reader sees in a file GGUFWriter wrote (GGUFTests.testWriterOutputForLlamaCpp writes
    the file this was checked on)."""
    r = gguf.GGUFReader(path)
    for f in r.fields.values():
        if f.name.startswith("GGUF."):
            continue
        types = [V(t).name for t in f.types]
        print(f.name, types, f.contents())
    for t in r.tensors:
        print(t.name, T(t.tensor_type).name, list(map(int, t.shape)), t.data.dtype, t.data.ravel()[:8].tolist())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
        sys.exit(0)
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(20250101)
    make_types(rng)
    make_aligned64(rng)
    for f in sorted(os.listdir(out_dir)):
        print(f, os.path.getsize(os.path.join(out_dir, f)))
