#!/usr/bin/env python3
"""Writes the seed corpus Fuzz/corpus/<harness>/ (committed; rerun only to change the seeds). Files it does not
write (the regression-* inputs of crashes found, which the fuzz runs replay) are kept.

Each seed is a small valid or nearly valid input, so the fuzzer starts from the shapes the parsers accept.
Inputs with several parts separate them with a NUL byte (see FuzzSupport.splitAtNUL)."""
import json, os, random, struct

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

# gguf: the fixture with alignment 64 (written by gguf-py), and hand-made files: every value type, one block of
# every supported tensor type, unsupported types, version 2 with 3-D and 4-D tensors, empty tensors, no tensors.
def gguf_string(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf_value(vtype, v):
    simple = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    if vtype in simple:
        return struct.pack("<" + simple[vtype], v)
    if vtype == 8:
        return gguf_string(v)
    etype, items = v   # array
    return struct.pack("<IQ", etype, len(items)) + b"".join(gguf_value(etype, x) for x in items)


def gguf(kvs, tensors, version=3, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, dims (GGUF order), ggml type, data bytes)]."""
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    head += b"".join(gguf_string(k) + struct.pack("<I", t) + gguf_value(t, v) for k, t, v in kvs)
    data, infos = b"", b""
    for name, dims, gtype, raw in tensors:
        infos += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", gtype, len(data))
        data += raw + b"\0" * (-len(raw) % alignment)
    head += infos
    return head + b"\0" * (-len(head) % alignment) + data


def quant_block(rng, size, scale_at):
    """Random bytes of one block, with the fp16 scales at `scale_at` set to small finite values."""
    b = bytearray(rng.randbytes(size))
    for at in scale_at:
        b[at:at + 2] = struct.pack("<e", rng.uniform(-0.1, 0.1))
    return bytes(b)


rng = random.Random(7)
write("gguf", "reference-aligned64", open(os.path.join(here, "../Tests/ModelTests/Fixtures/gguf/aligned64.gguf"), "rb").read())
write("gguf", "every-value-type", gguf(
    [("general.architecture", 8, "llama"), ("a.u8", 0, 200), ("a.i8", 1, -3), ("a.u16", 2, 60000), ("a.i16", 3, -300),
     ("llama.context_length", 4, 8192), ("a.i32", 5, -7), ("llama.rope.freq_base", 6, 1e5), ("a.bool", 7, True),
     ("a.u64", 10, 2**64 - 1), ("a.i64", 11, -2**63), ("a.f64", 12, 0.1),
     ("tokenizer.ggml.tokens", 9, (8, ["a", "\u0120b", "<|im_end|>", ""])), ("tokenizer.ggml.token_type", 9, (5, [1, 1, 3, 5])),
     ("tokenizer.ggml.scores", 9, (6, [0.0, -1.5, 2.0, 0.0])), ("a.nested", 9, (9, [(8, ["x", "y"]), (0, [1, 2]), (7, [])]))],
    [("w", [4, 2], 0, struct.pack("<8f", 1, -2, 0.5, 3, 0, -0.0, 1e-30, 7))]))
write("gguf", "quant-types", gguf([("general.alignment", 4, 32)], [
    ("f32", [8], 0, struct.pack("<8f", *[rng.uniform(-1, 1) for _ in range(8)])),
    ("f16", [8], 1, struct.pack("<8e", *[rng.uniform(-1, 1) for _ in range(8)])),
    ("bf16", [8], 30, rng.randbytes(16)),
    ("q4_0", [32], 2, quant_block(rng, 18, [0])), ("q4_1", [32], 3, quant_block(rng, 20, [0, 2])),
    ("q5_0", [32], 6, quant_block(rng, 22, [0])), ("q5_1", [32], 7, quant_block(rng, 24, [0, 2])),
    ("q8_0", [32], 8, quant_block(rng, 34, [0])), ("q4_k", [256], 12, quant_block(rng, 144, [0, 2])),
    ("q5_k", [256], 13, quant_block(rng, 176, [0, 2])), ("q6_k", [256], 14, quant_block(rng, 210, [208]))]))
write("gguf", "unsupported-types", gguf([], [("q2_k", [256], 10, rng.randbytes(84)), ("iq4_nl", [32, 1], 20, rng.randbytes(18))]))
write("gguf", "v2-3d-4d", gguf([("general.name", 8, "v2")], [
    ("cube", [32, 2, 2], 8, b"".join(quant_block(rng, 34, [0]) for _ in range(4))),
    ("hyper", [2, 2, 1, 1], 0, struct.pack("<4f", 1, 2, 3, 4))], version=2))
write("gguf", "empty-tensors", gguf([], [("e0", [0, 4], 0, b""), ("e1", [256, 0], 12, b""), ("one", [1], 0, struct.pack("<f", 1))]))
write("gguf", "no-tensors", gguf([], []))

# tokenizer: tokenizer.json. The two fixture tokenizers (384 tokens: SmolLM2's Digits + ByteLevel with merges as
# "a b" strings; Qwen2's NFC + Split + ByteLevel), and small hand-made ones: every byte symbol with merges as pairs
# and Llama-3's Split with ignore_merges (encoding is lossless); a few tokens with unk_token and fuse_unk; added
# tokens with every flag; GPT-2's regex as a Split; a model type the reader refuses.
models = os.path.join(here, "../Tests/ModelTests/Fixtures/models")
for name in ["smollm2", "qwen2"]:
    write("tokenizer", "reference-" + name, open(os.path.join(models, "tokenizer-" + name, "tokenizer.json"), "rb").read())


def gpt2_symbols():
    printable = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    extra = [b for b in range(256) if b not in printable]
    table = {b: chr(b) for b in printable}
    table.update({b: chr(0x100 + i) for i, b in enumerate(extra)})
    return [table[b] for b in range(256)]


def byte_level(use_regex=True):
    return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": use_regex}


def split(regex):
    return {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}


def tokenizer(vocab, merges, pre, added=(), normalizer=None, **model):
    return json.dumps({"version": "1.0", "added_tokens": list(added), "normalizer": normalizer, "pre_tokenizer": pre,
                       "model": dict({"type": "BPE", "vocab": vocab, "merges": merges}, **model)},
                      ensure_ascii=False, separators=(",", ":"))


def added_token(id, content, special=True, **flags):
    return dict({"id": id, "content": content, "special": special}, **flags)


symbols = gpt2_symbols()
llama3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
gpt2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
byte_vocab = {s: i for i, s in enumerate(symbols)}
byte_vocab.update({"\u0120t": 256, "he": 257, "\u0120the": 258, "in": 259, "\u0120a": 260, "<|end|>": 261})
write("tokenizer", "every-byte-pairs", tokenizer(
    byte_vocab, [["\u0120", "t"], ["h", "e"], ["\u0120t", "he"], ["i", "n"], ["\u0120", "a"]],
    {"type": "Sequence", "pretokenizers": [split(llama3), byte_level(False)]},
    added=[added_token(261, "<|end|>")], ignore_merges=True))
write("tokenizer", "unk-fuse", tokenizer(
    {"a": 0, "b": 1, "ab": 2, "\u0120": 3, "<unk>": 4, "\u0120ab": 5}, ["a b", "\u0120 ab"], byte_level(),
    unk_token="<unk>", fuse_unk=True))
write("tokenizer", "added-flags", tokenizer(
    {"a": 0, "c": 1, "f": 2, "e": 3, "\u00c3": 4, "\u00a9": 5, "\u0120": 6, "ca": 7}, ["c a"],
    {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": False}, byte_level()]},
    added=[added_token(8, "<mask>", lstrip=True, rstrip=True, single_word=True), added_token(9, "caf\u00e9", False, normalized=True),
           added_token(10, "<|im", lstrip=True), added_token(0, "a", False, normalized=False)],
    normalizer={"type": "Sequence", "normalizers": [{"type": "NFC"}]}))
write("tokenizer", "gpt2-split", tokenizer(
    {"h": 0, "i": 1, "hi": 2, "\u0120": 3, "\u0120hi": 4, "1": 5, "2": 6, "12": 7}, [["h", "i"], ["\u0120", "hi"], ["1", "2"]],
    {"type": "Sequence", "pretokenizers": [split(gpt2), byte_level(False)]}))
write("tokenizer", "wordpiece", '{"model": {"type": "WordPiece", "vocab": {"a": 0}}, "pre_tokenizer": {"type": "ByteLevel"}}')

# hfconfig: config.json. The fixtures' (Llama with head_dim, Qwen2 untied with one KV head, Llama-3 with
# rope_parameters and with rope_scaling), and hand-made ones: Mistral with an eos list and rope_parameters, an
# architectures list instead of model_type with nulls, missing keys, a refused rope type.
for name in ["tiny-llama/config.json", "tiny-qwen2/config.json", "tiny-llama3/config.json", "tiny-llama3/config.rope_scaling.json"]:
    write("hfconfig", "reference-" + name.replace("/config", "").replace(".json", "").replace(".", "-").replace("_", "-"), open(os.path.join(models, name), "rb").read())
write("hfconfig", "mistral-eos-list", json.dumps({
    "model_type": "mistral", "vocab_size": 300, "hidden_size": 16, "intermediate_size": 20, "num_hidden_layers": 1,
    "num_attention_heads": 2, "eos_token_id": [2, 7], "rope_parameters": {
        "rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "original_max_position_embeddings": 64}}))
write("hfconfig", "architectures-nulls", json.dumps({
    "architectures": ["LlamaForCausalLM"], "vocab_size": 64, "hidden_size": 8, "intermediate_size": 12,
    "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": None, "head_dim": None, "rope_theta": None,
    "rope_scaling": None, "bos_token_id": None, "eos_token_id": None, "pad_token_id": 0, "tie_word_embeddings": None}))
write("hfconfig", "missing-keys", '{"model_type": "llama", "hidden_size": 16, "num_attention_heads": 2}')
write("hfconfig", "rope-yarn", json.dumps({
    "model_type": "qwen2", "vocab_size": 32, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 1, "rope_scaling": {"type": "yarn", "factor": 4.0}}))

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
