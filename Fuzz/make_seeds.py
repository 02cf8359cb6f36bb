#!/usr/bin/env python3
"""Writes the seed corpus Fuzz/corpus/<harness>/ (committed; rerun only to change the seeds). Files it does not
write (the regression-* inputs of crashes found, which the fuzz runs replay) are kept.

Each seed is a small valid or nearly valid input, so the fuzzer starts from the shapes the parsers accept.
Inputs with several parts separate them with a NUL byte (see FuzzSupport.splitAtNUL)."""
import json, os, struct

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "corpus")


def write(harness, name, data):
    d = os.path.join(root, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(header, data=b""):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


# safetensors: a file written by the reference implementation, and hand-made F32 / BF16 / F16 / empty ones.
write("safetensors", "reference-tiny", open(os.path.join(here, "../Tests/TensorTests/Fixtures/tiny.safetensors"), "rb").read())
write("safetensors", "f32-metadata", safetensors(
    {"__metadata__": {"step": "3"}, "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}},
    struct.pack("<4f", 1, -2, 0.5, 3)))
write("safetensors", "half-types", safetensors(
    {"a": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]},
     "b": {"dtype": "F16", "shape": [1, 2], "data_offsets": [6, 10]}},
    struct.pack("<5H", 0x3F80, 0xBF00, 0x4049, 0x3C00, 0x7C00)))
write("safetensors", "empty-and-scalar", safetensors(
    {"e": {"dtype": "F32", "shape": [0, 4], "data_offsets": [0, 0]},
     "s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}, struct.pack("<f", 42)))
write("safetensors", "no-tensors", safetensors({}))

# config: GRPOConfig JSON, then NUL, then `--set` overrides one per line.
write("config", "empty", "{}")
write("config", "fields", json.dumps({"steps": 3, "lr": 0.001, "lrSchedule": "cosine", "advantage": "drGRPO",
                                      "aggregation": "seqMeanTokenSum", "klEstimator": "k2", "klBeta": 0.01,
                                      "reward": "simpletir", "sandboxTimeout": 1.5, "seed": 7}))
write("config", "overrides", '{"groupSize": 4}\0lr=0.0005\ntemperature=0.7\nfilterVoidTurns=false\nreward=torl')
write("config", "typo", '{"stpes": 3}')
write("config", "sections", json.dumps({"steps": 2, "optimizer": {"lr": 0.001, "schedule": "cosine", "warmupSteps": 1},
                                        "loss": {"aggregation": "seqMeanTokenMean", "dualClip": 0},
                                        "kl": {"beta": 0.01, "estimator": "k1"}, "filter": {"voidTurns": False},
                                        "rollout": {"maxToolCalls": 1, "sampling": {"temperature": 0.8, "topK": 5}},
                                        "reward": {"scheme": "simpletir"}, "sandbox": {"timeout": 2},
                                        "correction": {"mode": "tis", "tisCap": 2}, "rolloutWeights": "bf16"}))
write("config", "dotted-overrides", '{"kl": {"beta": 0.1}}\0optimizer.lr=0.0003\nrollout.sampling.topP=0.9\n'
      'loss.epsHigh=0.3\nreward.scheme=torl\ntasks.difficulty=3')

# jsonl: the dataset shapes `tir eval --data` reads.
write("jsonl", "math", '{"problem": "What is 1+1?", "answer": "2"}\n'
      '{"question": "Half?", "solution": "so \\\\boxed{\\\\frac{1}{2}}.", "unique_id": "m/1"}\n\n'
      '{"question": "Count", "answer": 5, "id": 7}\n')
write("jsonl", "crlf", '{"problem": "p", "answer": "3"}\r\n{"problem": "q", "answer": 0.25}\r\n')
write("jsonl", "bad-line", '{"question": "a", "answer": "1"}\n{not json}\n')

# turns: policy turn text, then NUL, stderr, then NUL and two bytes of observation cap.
write("turns", "closed", "Let me compute.\n```python\nprint(4817*362-95)\n```\nmore\0\0\x40\x00")
write("turns", "marker", "```python\nprint(2**10)\n```output\0NameError: x\n\0\x21\x00")
write("turns", "fences-in-strings", "```python\nprint(\"```\")\ns = '```python'\n```\n```py\nx\n```\n")
write("turns", "crlf", "```python \r\nprint(1)\r\n``` \n\0Traceback:\r\nValueError: bad\r\n\0\x11\x00")
write("turns", "long-output", "\n".join(str(i) for i in range(200)) + "\0\0\x30\x00")

# answers: policy text, then NUL, then the reference answer.
for name, text, ref in [("frac", "so \\boxed{\\frac{1}{2}}.", "0.5"), ("commas", "The answer is \\boxed{1,000}.", "1000"),
                        ("text-unit", "\\boxed{5\\text{ cm}}", "5"), ("dfrac-neg", "\\boxed{-\\dfrac34}", "-3/4"),
                        ("nested", "\\boxed{\\boxed{x=7}} and \\boxed{", "7"), ("sci", "\\boxed{1e3}", "1000.0"),
                        ("left-right", "\\boxed{\\left(1,2\\right)}", "(1,2)"), ("percent", "\\boxed{50\\%}", "50")]:
    write("answers", name, text + "\0" + ref)
