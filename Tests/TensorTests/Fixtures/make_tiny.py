#!/usr/bin/env python3
"""Writes tiny.safetensors with the reference `safetensors` package (pip install safetensors numpy; 0.8.0 used),
so SafeTensorsTests checks our reader against a file written by another tool.

Tensors (every value is exactly representable in its dtype, so the Swift test compares exactly):
  f32.weight  F32  [2,3]  float32 of 0.1, -2.5, 3e-7, 1e30, -0.0, 123456.789
  bf16.bias   BF16 [5]    1, -0.5, 3.140625, 196608, 2^-20
  f16.scale   F16  [2,4]  1, -2.5, 65504, 2^-14, 2^-24, -3*2^-24, +inf, 0.333251953125 (= f16(1/3))
  scalar      F32  []     42
metadata: {"format": "np", "producer": "make_tiny.py"}
"""
import json
import os
import struct
import sys

import numpy as np
import safetensors

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "tiny.safetensors")

f32 = np.array([[0.1, -2.5, 3e-7], [1e30, -0.0, 123456.789]], dtype=np.float32)
f16 = np.array([[1.0, -2.5, 65504.0, 2.0**-14], [2.0**-24, -3 * 2.0**-24, np.inf, 1 / 3]], dtype=np.float16)
bf16_values = np.array([1.0, -0.5, 3.140625, 196608.0, 2.0**-20], dtype=np.float32)
# numpy has no bfloat16: keep the top 16 bits of each float32 (exact for these values)
bits = bf16_values.view(np.uint32)
assert np.all(bits & 0xFFFF == 0), "bf16 values must be exact"
bf16 = (bits >> 16).astype(np.uint16)
scalar = np.array(42.0, dtype=np.float32)

# numpy cannot name bfloat16, so hand the raw uint16 buffer to the Rust serializer with dtype "bfloat16"
# (the same call safetensors.numpy.save_file makes internally).
specs = {
    "f32.weight": safetensors.TensorSpec(dtype="float32", shape=list(f32.shape), data_ptr=f32.ctypes.data, data_len=f32.nbytes),
    "bf16.bias": safetensors.TensorSpec(dtype="bfloat16", shape=list(bf16.shape), data_ptr=bf16.ctypes.data, data_len=bf16.nbytes),
    "f16.scale": safetensors.TensorSpec(dtype="float16", shape=list(f16.shape), data_ptr=f16.ctypes.data, data_len=f16.nbytes),
    "scalar": safetensors.TensorSpec(dtype="float32", shape=[], data_ptr=scalar.ctypes.data, data_len=scalar.nbytes),
}
safetensors.serialize_file(specs, out, metadata={"format": "np", "producer": "make_tiny.py"})

# Show what was written (header as stored on disk).
with open(out, "rb") as f:
    raw = f.read()
(n,) = struct.unpack("<Q", raw[:8])
print(f"{out}: {len(raw)} bytes, header {n} bytes, safetensors {safetensors.__version__}", file=sys.stderr)
print(json.dumps(json.loads(raw[8:8 + n]), indent=1, sort_keys=True), file=sys.stderr)
