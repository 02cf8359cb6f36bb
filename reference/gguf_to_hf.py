"""Dequantize a llama or qwen2 GGUF into a Hugging Face directory, the way docs/REAL_MODELS.md describes.

    /work/venv/bin/python reference/gguf_to_hf.py /work/models/smollm2-135m-instruct-q4_1.gguf /work/models/smollm2-hf
    /work/venv/bin/python reference/gguf_to_hf.py /work/models/qwen2.5-coder-0.5b-instruct.gguf /work/models/qwen2.5-coder-hf

Writes config.json (no quantization_config), model.safetensors (fp32), tokenizer.json, tokenizer_config.json (with
the GGUF's chat_template) and generation_config.json. The weights are transformers' dequantization
(`from_pretrained(dir, gguf_file=...)`, which also undoes llama's Q/K row permutation), copied into a fresh model;
they are checked tensor by tensor against this file's own numpy dequantization (`gguf_state_dict`).

transformers' own GGUF tokenizer conversion drops two things the official tokenizer.json files have (SmolLM2's
`Digits(individual_digits)` pre-tokenizer, Qwen2's NFC normalizer), so `tokenizer_json` rebuilds the official
structure from the GGUF vocabulary instead. make_model_fixtures.py and score_hf.py import the helpers here.
"""
import json, os, sys
import numpy as np

# ------------------------------------------------------------------------------------------ tokenizer
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5


def gguf_tokenizer(reader):
    """The tokenizer metadata of a GGUF (gguf.GGUFReader) as plain Python values."""
    f = reader.fields
    get = lambda k, d=None: f[k].contents() if k in f else d
    return dict(tokens=get("tokenizer.ggml.tokens"), types=get("tokenizer.ggml.token_type"),
                merges=get("tokenizer.ggml.merges"), pre=get("tokenizer.ggml.pre"),
                bos=get("tokenizer.ggml.bos_token_id"), eos=get("tokenizer.ggml.eos_token_id"),
                pad=get("tokenizer.ggml.padding_token_id"), unk=get("tokenizer.ggml.unknown_token_id"),
                chat_template=get("tokenizer.chat_template"))


def is_special(pre, content):
    # Qwen2.5's tokenizer.json marks <tool_call>, </tool_call> and the FIM/repo/file tokens special=false
    # (the GGUF has them as USER_DEFINED or CONTROL); every other added token is special.
    return not (pre == "qwen2" and content.startswith(("<tool_call>", "</tool_call>", "<|fim_", "<|repo_", "<|file_")))


def tokenizer_json(tokens, types, merges, pre, merges_as_pairs=False):
    """tokenizer.json in the structure of the official SmolLM2 ("smollm") or Qwen2.5 ("qwen2") files. Added
    tokens are the non-normal tokens; those after the last normal token live only in `added_tokens` (Qwen2),
    earlier ones also in the BPE vocab (SmolLM2's ids 0..16). UNUSED padding tokens ([PAD151665]...) are dropped."""
    last_normal = max(i for i, t in enumerate(types) if t == NORMAL)
    vocab = {tok: i for i, (tok, t) in enumerate(zip(tokens, types)) if i < last_normal or t == NORMAL}
    added = [dict(id=i, content=tok, single_word=False, lstrip=False, rstrip=False, normalized=False,
                  special=is_special(pre, tok))
             for i, (tok, t) in enumerate(zip(tokens, types)) if t in (CONTROL, USER_DEFINED)]
    merges = [m.split(" ") for m in merges] if merges_as_pairs else list(merges)
    if pre == "smollm":
        normalizer = None
        pre_tok = {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
        post = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
        decoder = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
        affix = None
    elif pre == "qwen2":
        normalizer = {"type": "NFC"}
        pre_tok = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
        post = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
        decoder = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
        affix = ""
    else:
        raise ValueError(f"unsupported tokenizer.ggml.pre {pre!r}")
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": normalizer, "pre_tokenizer": pre_tok, "post_processor": post, "decoder": decoder,
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": affix,
                      "end_of_word_suffix": affix, "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": False, "vocab": vocab, "merges": merges}}


def tokenizer_config(tok_json, pre, bos, eos, pad, unk, chat_template, model_max_length):
    """tokenizer_config.json in the style of the official repos (chat_template inside, as transformers 4 wrote it)."""
    name = lambda i: None if i is None else next(a["content"] for a in tok_json["added_tokens"] if a["id"] == i)
    decoder = {str(a["id"]): {k: a[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
               for a in tok_json["added_tokens"]}
    extra = ["<|im_start|>", "<|im_end|>"] if pre == "smollm" else \
        [a["content"] for a in tok_json["added_tokens"] if a["special"] and a["content"] != "<|endoftext|>"]
    cfg = {"add_prefix_space": False, "added_tokens_decoder": decoder, "additional_special_tokens": extra,
           "bos_token": name(bos) if pre == "smollm" else None, "chat_template": chat_template,
           "clean_up_tokenization_spaces": False, "eos_token": name(eos), "model_max_length": model_max_length,
           "pad_token": name(pad), "tokenizer_class": "GPT2Tokenizer" if pre == "smollm" else "Qwen2Tokenizer",
           "unk_token": name(unk)}
    if pre == "qwen2":
        cfg.update(errors="replace", split_special_tokens=False)
    return cfg


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


# ------------------------------------------------------------------------------------------ weights
def _f16(b):
    return np.ascontiguousarray(b).view(np.float16).astype(np.float32)


def _k_scales(s):
    """Q4_K/Q5_K: 8 six-bit scales and mins from the 12 packed bytes (get_scale_min_k4)."""
    s = s.astype(np.uint8)
    sc = np.concatenate([s[:, 0:4] & 63, (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)], 1).astype(np.float32)
    mn = np.concatenate([s[:, 4:8] & 63, (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)], 1).astype(np.float32)
    return sc, mn


def dequantize_blocks(b, qtype):
    """Own numpy dequantization, independent of gguf-py: b is uint8 [blocks, bytes per block]; returns fp32
    [blocks, values per block]. Formulas: ggml-quants.c (see REAL_MODELS.md)."""
    bits = lambda word, n: ((word[:, None] >> np.arange(n, dtype=np.uint32)) & 1).astype(np.uint8)
    if qtype == "Q8_0":
        return b[:, 2:].view(np.int8).astype(np.float32) * _f16(b[:, :2])
    if qtype in ("Q4_0", "Q4_1"):
        o = 2 if qtype == "Q4_0" else 4
        q = np.concatenate([b[:, o:o + 16] & 15, b[:, o:o + 16] >> 4], 1).astype(np.float32)
        return (q - 8) * _f16(b[:, :2]) if qtype == "Q4_0" else q * _f16(b[:, :2]) + _f16(b[:, 2:4])
    if qtype in ("Q5_0", "Q5_1"):
        o = 2 if qtype == "Q5_0" else 4
        qh = bits(np.ascontiguousarray(b[:, o:o + 4]).view(np.uint32)[:, 0], 32)
        qs = b[:, o + 4:o + 20]
        q = np.concatenate([(qs & 15) | (qh[:, :16] << 4), (qs >> 4) | (qh[:, 16:] << 4)], 1).astype(np.float32)
        return (q - 16) * _f16(b[:, :2]) if qtype == "Q5_0" else q * _f16(b[:, :2]) + _f16(b[:, 2:4])
    if qtype in ("Q4_K", "Q5_K"):
        d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
        sc, mn = _k_scales(b[:, 4:16])
        qs = b[:, 48:176] if qtype == "Q5_K" else b[:, 16:144]
        y = np.empty((len(b), 256), np.float32)
        for j in range(8):                      # sub-block j: nibble j % 2 of qs[32 (j // 2) ...]
            q = (qs[:, 32 * (j // 2):32 * (j // 2) + 32] >> (4 * (j % 2))) & 15
            if qtype == "Q5_K":
                q = q | (((b[:, 16:48] >> j) & 1) << 4)
            y[:, 32 * j:32 * j + 32] = (d * sc[:, j:j + 1]) * q.astype(np.float32) - dmin * mn[:, j:j + 1]
        return y
    if qtype == "Q6_K":
        ql, qh, sc, d = b[:, :128], b[:, 128:192], b[:, 192:208].view(np.int8).astype(np.float32), _f16(b[:, 208:210])
        y = np.empty((len(b), 256), np.float32)
        for h in range(2):
            for k in range(4):
                lo = (ql[:, 64 * h + 32 * (k & 1):64 * h + 32 * (k & 1) + 32] >> (4 * (k >> 1))) & 15
                q = (lo | (((qh[:, 32 * h:32 * h + 32] >> (2 * k)) & 3) << 4)).astype(np.float32) - 32
                for half in range(2):           # 16 values per scale
                    n = 128 * h + 32 * k + 16 * half
                    y[:, n:n + 16] = (d * sc[:, 8 * h + half + 2 * k:8 * h + half + 2 * k + 1]) * q[:, 16 * half:16 * half + 16]
        return y
    raise ValueError(f"no dequantizer for {qtype}")


BLOCK = {"Q8_0": (32, 34), "Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22), "Q5_1": (32, 24),
         "Q4_K": (256, 144), "Q5_K": (256, 176), "Q6_K": (256, 210)}


def dequantize_tensor(t):
    """A GGUFReader tensor as fp32 in HF orientation [rows, cols] (GGUF dims are [cols, rows])."""
    qtype, shape = t.tensor_type.name, [int(x) for x in t.shape][::-1]
    raw = np.ascontiguousarray(t.data).reshape(-1).view(np.uint8)
    if qtype == "F32":
        y = raw.view(np.float32)
    elif qtype == "F16":
        y = raw.view(np.float16).astype(np.float32)
    elif qtype == "BF16":
        y = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    else:
        n, size = BLOCK[qtype]
        y = dequantize_blocks(raw.reshape(-1, size), qtype)
    return y.reshape(shape)


def permute(w, n_head):
    """convert_hf_to_gguf.py LlamaModel.permute: within a head, GGUF row 2i + s = HF row s * hd/2 + i."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


HF_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head",
            "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
            "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
            "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
            "ffn_down": "mlp.down_proj"}


def hf_name(gguf_name):
    parts = gguf_name.split(".")
    if parts[0] == "blk":
        return f"model.layers.{parts[1]}.{HF_NAMES[parts[2]]}.{parts[3]}"
    return f"{HF_NAMES[parts[0]]}.{parts[1]}"


def gguf_meta(reader):
    f = reader.fields
    arch = f["general.architecture"].contents()
    return arch, {k[len(arch) + 1:]: f[k].contents() for k in f if k.startswith(arch + ".")}


def gguf_state_dict(reader):
    """(HF name, fp32 array) for every tensor, by this file's own dequantization; llama Q/K rows un-permuted."""
    arch, m = gguf_meta(reader)
    for t in reader.tensors:
        w, name = dequantize_tensor(t), hf_name(t.name)
        if arch == "llama" and ".attn_q." in t.name:
            w = unpermute(w, m["attention.head_count"])
        elif arch == "llama" and ".attn_k." in t.name:
            w = unpermute(w, m["attention.head_count_kv"])
        yield name, w


def f32(x):
    """The shortest decimal of a GGUF float32 (9.999999747378752e-06 -> 1e-05): the same fp32 value."""
    return float(str(np.float32(x)))


def hf_config_dict(reader):
    """The transformers config of a GGUF, built from its metadata (used to load our own dequantization)."""
    arch, m = gguf_meta(reader)
    tok = gguf_tokenizer(reader)
    heads = m["attention.head_count"]
    cfg = dict(model_type=arch, vocab_size=int(m.get("vocab_size", len(tok["tokens"]))),
               hidden_size=m["embedding_length"], intermediate_size=m["feed_forward_length"],
               num_hidden_layers=m["block_count"], num_attention_heads=heads,
               num_key_value_heads=m["attention.head_count_kv"], rope_theta=float(m["rope.freq_base"]),
               rms_norm_eps=float(m["attention.layer_norm_rms_epsilon"]), max_position_embeddings=m["context_length"],
               tie_word_embeddings=all(t.name != "output.weight" for t in reader.tensors),
               bos_token_id=tok["bos"], eos_token_id=tok["eos"], pad_token_id=tok["pad"])
    if arch == "llama":
        cfg["head_dim"] = m.get("rope.dimension_count", m["embedding_length"] // heads)
    return cfg


def model_from_gguf_numpy(path):
    """An fp32 transformers model holding this file's own dequantization of the GGUF at `path`."""
    import gguf, torch
    from transformers import AutoConfig, AutoModelForCausalLM
    reader = gguf.GGUFReader(path)
    cfg = hf_config_dict(reader)
    config = AutoConfig.for_model(**cfg)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager")
    sd = {k: torch.from_numpy(np.array(v)) for k, v in gguf_state_dict(reader)}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    model.tie_weights()
    return model.eval()


# ------------------------------------------------------------------------------------------ main
def main(gguf_path, out):
    import gguf, torch
    from transformers import AutoModelForCausalLM, GenerationConfig
    torch.set_num_threads(1)
    reader = gguf.GGUFReader(gguf_path)
    tok = gguf_tokenizer(reader)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(gguf_path), gguf_file=os.path.basename(gguf_path),
                                                 dtype=torch.float32)
    config = model.config
    config.__dict__.pop("quantization_config", None)
    config.rms_norm_eps = f32(config.rms_norm_eps)
    theirs = model.state_dict()
    for name, w in gguf_state_dict(reader):            # check transformers against our own dequantization
        diff = float(np.abs(theirs[name].numpy() - w).max())
        assert diff == 0.0, f"{name}: transformers and our dequantization differ by {diff}"
    print(f"{len(reader.tensors)} tensors: transformers' dequantization equals ours exactly", file=sys.stderr)
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(theirs, strict=False)
    fresh.tie_weights()
    del model, theirs
    os.makedirs(out, exist_ok=True)
    fresh.save_pretrained(out, max_shard_size="100GB")
    with open(os.path.join(out, "config.json")) as f:
        assert "quantization_config" not in json.load(f)
    eos = [tok["eos"], tok["bos"]] if tok["pre"] == "qwen2" else tok["eos"]   # Qwen stops on im_end and endoftext
    GenerationConfig(bos_token_id=tok["bos"], eos_token_id=eos, pad_token_id=tok["pad"]).save_pretrained(out)
    tj = tokenizer_json(tok["tokens"], tok["types"], tok["merges"], tok["pre"])
    write_json(os.path.join(out, "tokenizer.json"), tj)
    write_json(os.path.join(out, "tokenizer_config.json"),
               tokenizer_config(tj, tok["pre"], tok["bos"], tok["eos"], tok["pad"], tok["unk"], tok["chat_template"],
                                config.max_position_embeddings))
    print(f"wrote {out}: {sorted(os.listdir(out))}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
