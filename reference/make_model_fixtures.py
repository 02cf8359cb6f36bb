"""Make the model-loader fixtures in Tests/ModelTests/Fixtures/models/ and their golden values.

    /work/venv/bin/python reference/make_model_fixtures.py      # needs /work/models/*.gguf (REAL_MODELS.md)

Deterministic from SEED. It writes:
- tokenizer-smollm2/, tokenizer-qwen2/: tokenizer.json cut from the real tokenizers (GGUF metadata, rebuilt in
  the official tokenizer.json structure): base ids < 384, the merges whose parts and result are all < 384, then
  the added tokens renumbered from 384 (Qwen2: 151643.. -> 384..; SmolLM2's specials already are 0..16).
- tiny-llama/ (BF16, tied head), tiny-qwen2/ (F16, two shards + index, q/k/v biases, separate lm_head) and
  tiny-llama3/ (fp32, llama3 rope scaling, head_dim 32 != 64/4): Hugging Face directories with random weights.
  tiny-llama/ and tiny-qwen2/ have config.json in the style of the official hub repos (top-level rope_theta);
  tiny-llama3/config.json is what transformers 5 writes (rope_parameters), config.rope_scaling.json the old spelling.
- tiny-llama.gguf, tiny-qwen2.gguf: the same weights in the layout of llama.cpp's convert_hf_to_gguf.py (llama
  Q/K rows permuted), quantized to F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q4_K/Q5_K/Q6_K (see QTYPES).
- golden.json: per model and text, the ids of the model's HF tokenizer and transformers' fp32 per-token
  log-probs (eager attention; logprobs[i] = log p(ids[i+1] | ids[..i])), and the greedy next 8 tokens after the
  ChatML text. Checked against a float64 numpy forward (HF dirs) and against our own numpy dequantization (GGUF).
- chat_golden.json: the real SmolLM2 and Qwen2.5 chat templates rendered by transformers' apply_chat_template.
"""
import json, os, re, shutil, sys, unicodedata
import numpy as np
import torch
import gguf
from tokenizers import Tokenizer
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_to_hf import (CONTROL, USER_DEFINED, NORMAL, gguf_tokenizer, tokenizer_json, tokenizer_config, write_json,
                        permute, model_from_gguf_numpy, dequantize_blocks, BLOCK)

SEED = 20241207
KEEP = 384
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests/ModelTests/Fixtures/models")
REAL = {"smollm2": "/work/models/smollm2-135m-instruct-q4_1.gguf", "qwen2": "/work/models/qwen2.5-coder-0.5b-instruct.gguf"}

TEXTS = [
    "def mean(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total / len(xs)\n\nprint(mean([3, 4]))\n",
    "```output\nTraceback (most recent call last):\n  File \"<stdin>\", line 1, in <module>\nZeroDivisionError: division by zero\n```\n",
    "Unicode: café and cafe\u0301 (NFD), naïve, Größe; 中文：你好，世界！日本語のテキスト。",
    "Emoji 👋🏽 rocket 🚀 sparkles ✨ family 👨‍👩‍👧 flag 🇫🇷 done.",
    "line one\r\nline two\r\n\r\n    indented after CRLF\r\nend",
    "A shop sells 37 boxes of 144 pencils: 37*144 = 5328, not 5,327.99 or 1e-3 (2024-12-07).",
    "Literal specials: <|im_start|>user\nhello<|im_end|> and <|endoftext|> stay single tokens.",
]
CHAT_PROMPT = [{"role": "user", "content": "What is 12 * 7? Answer with a number."}]
GREEDY = 8

# ggml type per tensor (default F32 for norms and biases). K-quants need 256-wide rows: only ffn_down (in 256).
QTYPES = {
    "tiny-llama": {"token_embd": "Q8_0",
                   "blk.0.attn_q": "Q4_0", "blk.0.attn_k": "F16", "blk.0.attn_v": "BF16", "blk.0.attn_output": "Q5_1",
                   "blk.0.ffn_gate": "Q4_1", "blk.0.ffn_up": "Q5_0", "blk.0.ffn_down": "Q4_K",
                   "blk.1.attn_q": "Q5_1", "blk.1.attn_k": "Q8_0", "blk.1.attn_v": "Q4_1", "blk.1.attn_output": "Q4_0",
                   "blk.1.ffn_gate": "Q5_0", "blk.1.ffn_up": "Q8_0", "blk.1.ffn_down": "Q5_K"},
    "tiny-qwen2": {"token_embd": "Q5_0", "output": "Q8_0",
                   "blk.0.attn_q": "Q5_0", "blk.0.attn_k": "Q8_0", "blk.0.attn_v": "Q4_0", "blk.0.attn_output": "Q4_1",
                   "blk.0.ffn_gate": "Q5_1", "blk.0.ffn_up": "Q4_0", "blk.0.ffn_down": "Q6_K",
                   "blk.1.attn_q": "BF16", "blk.1.attn_k": "F16", "blk.1.attn_v": "F32", "blk.1.attn_output": "Q8_0",
                   "blk.1.ffn_gate": "Q4_0", "blk.1.ffn_up": "Q4_1", "blk.1.ffn_down": "Q4_K"},
}
GGUF_NAMES = {"embed_tokens": "token_embd", "norm": "output_norm", "lm_head": "output", "input_layernorm": "attn_norm",
              "post_attention_layernorm": "ffn_norm", "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v",
              "o_proj": "attn_output", "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}


def f9(x):
    """fp32 at full precision: 9 significant digits round-trip every float32."""
    return float(f"{float(x):.9g}")


# ------------------------------------------------------------------------------------------ tokenizers
def truncated_tokenizer(path):
    """The real tokenizer's metadata cut to ids < KEEP plus the added tokens, renumbered."""
    tok = gguf_tokenizer(gguf.GGUFReader(path))
    types = tok["types"]
    keep = list(range(KEEP)) + [i for i in range(KEEP, len(types)) if types[i] in (CONTROL, USER_DEFINED)]
    new_id = {old: new for new, old in enumerate(keep)}
    base = {tok["tokens"][i] for i in range(KEEP) if types[i] == NORMAL}
    merges = [m for m in tok["merges"] if (lambda a, b: a in base and b in base and a + b in base)(*m.split(" "))]
    out = dict(tok, tokens=[tok["tokens"][i] for i in keep], types=[types[i] for i in keep], merges=merges)
    for k in ("bos", "eos", "pad", "unk"):
        out[k] = None if tok[k] is None else new_id[tok[k]]
    return out


def make_tokenizers():
    toks = {}
    for family, path in REAL.items():
        tok = truncated_tokenizer(path)
        tj = tokenizer_json(tok["tokens"], tok["types"], tok["merges"], tok["pre"])
        d = os.path.join(OUT, f"tokenizer-{family}")
        os.makedirs(d, exist_ok=True)
        write_json(os.path.join(d, "tokenizer.json"), tj)
        t = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))          # loads and encodes
        for text in TEXTS:
            ids = t.encode(text).ids
            want = unicodedata.normalize("NFC", text) if family == "qwen2" else text
            assert t.decode(ids, skip_special_tokens=False) == want, (family, text)
            assert max(ids) < len(tok["tokens"])
        print(f"tokenizer-{family}: {len(tok['tokens'])} tokens, {len(tok['merges'])} merges, "
              f"bos/eos/pad {tok['bos']}/{tok['eos']}/{tok['pad']}; round-trips every text", file=sys.stderr)
        toks[family] = (tok, tj)
    return toks


# ------------------------------------------------------------------------------------------ weights
def random_weights(rng, cfg, bias, tied):
    """N(0, 0.1) matrices and biases, RMSNorm weights 1 + N(0, 0.1); HF names."""
    D, F, V, H, KV, hd = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], \
        cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    n = lambda *s: rng.normal(0.0, 0.1, s).astype(np.float32)
    w = {"model.embed_tokens.weight": n(V, D)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1 + n(D)
        for name, rows in (("q", H * hd), ("k", KV * hd), ("v", KV * hd)):
            w[p + f"self_attn.{name}_proj.weight"] = n(rows, D)
            if bias:
                w[p + f"self_attn.{name}_proj.bias"] = n(rows)
        w[p + "self_attn.o_proj.weight"] = n(D, H * hd)
        w[p + "post_attention_layernorm.weight"] = 1 + n(D)
        w[p + "mlp.gate_proj.weight"] = n(F, D)
        w[p + "mlp.up_proj.weight"] = n(F, D)
        w[p + "mlp.down_proj.weight"] = n(D, F)
    w["model.norm.weight"] = 1 + n(D)
    if not tied:
        w["lm_head.weight"] = n(V, D)
    return w


def rounded(w, dtype):
    """The values a checkpoint of `dtype` holds, as fp32."""
    return {k: torch.from_numpy(v).to(dtype).float().numpy() for k, v in w.items()}


def save_hf(name, config, weights, dtype, tok, tokenizer_json_obj, config_json=None, shard=None):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    model.to(dtype).save_pretrained(d, max_shard_size=shard or "100MB")
    if config_json is not None:                                            # the official repos' spelling
        write_json(os.path.join(d, "config.json"), config_json)
    eos = [tok["eos"], tok["bos"]] if tok["pre"] == "qwen2" else tok["eos"]
    write_json(os.path.join(d, "generation_config.json"),
               {"bos_token_id": tok["bos"], "eos_token_id": eos, "pad_token_id": tok["pad"],
                "transformers_version": transformers.__version__})
    write_json(os.path.join(d, "tokenizer.json"), tokenizer_json_obj)
    write_json(os.path.join(d, "tokenizer_config.json"),
               tokenizer_config(tokenizer_json_obj, tok["pre"], tok["bos"], tok["eos"], tok["pad"], tok["unk"],
                                tok["chat_template"], config.max_position_embeddings))
    return d


def official_config(kind, cfg, tok):
    """config.json as transformers 4 wrote it for HuggingFaceTB/SmolLM2-135M-Instruct and Qwen/Qwen2.5-Coder-*."""
    out = {k: cfg[k] for k in ("hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers",
                               "num_key_value_heads", "rms_norm_eps", "rope_theta", "tie_word_embeddings",
                               "vocab_size", "max_position_embeddings")}
    out.update(attention_dropout=0.0, bos_token_id=tok["bos"], eos_token_id=tok["eos"], hidden_act="silu",
               initializer_range=0.02, model_type=kind, rope_scaling=None, use_cache=True)
    if kind == "llama":
        out.update(architectures=["LlamaForCausalLM"], attention_bias=False, head_dim=cfg["head_dim"], mlp_bias=False,
                   pad_token_id=tok["pad"], pretraining_tp=1, torch_dtype="bfloat16", transformers_version="4.42.3")
    else:
        out.update(architectures=["Qwen2ForCausalLM"], max_window_layers=2, sliding_window=cfg["max_position_embeddings"],
                   torch_dtype="float16", transformers_version="4.44.0", use_sliding_window=False)
    return dict(sorted(out.items()))


# ------------------------------------------------------------------------------------------ GGUF
def quantize_k(w, qtype):
    """Q4_K / Q5_K / Q6_K blocks (gguf-py cannot quantize these): a simple min/max fit, not llama.cpp's search."""
    f16 = lambda a: a.astype(np.float16)
    if qtype == "Q6_K":
        x = w.reshape(-1, 16, 16)
        scale = np.abs(x).max(-1) / 31
        d = f16(scale.max(-1) / 127)
        sc = np.clip(np.round(scale / np.maximum(d.astype(np.float32), 1e-30)[:, None]), -128, 127).astype(np.int8)
        eff = d.astype(np.float32)[:, None] * sc
        q = (np.clip(np.round(x / np.where(eff == 0, 1, eff)[..., None]), -32, 31) + 32).astype(np.uint8).reshape(-1, 256)
        ql, qh = np.zeros((len(q), 128), np.uint8), np.zeros((len(q), 64), np.uint8)
        for h in range(2):
            for k in range(4):
                v = q[:, 128 * h + 32 * k:128 * h + 32 * k + 32]
                ql[:, 64 * h + 32 * (k & 1):64 * h + 32 * (k & 1) + 32] |= (v & 15) << (4 * (k >> 1))
                qh[:, 32 * h:32 * h + 32] |= (v >> 4) << (2 * k)
        return np.concatenate([ql, qh, sc.view(np.uint8), d.reshape(-1, 1).view(np.uint8)], 1)
    nmax = 15 if qtype == "Q4_K" else 31
    x = w.reshape(-1, 8, 32)
    lo, hi = np.minimum(x.min(-1), 0), np.maximum(x.max(-1), 0)
    scale, mins = (hi - lo) / nmax, -lo
    d, dmin = f16(scale.max(-1) / 63), f16(mins.max(-1) / 63)
    sc = np.clip(np.round(scale / np.maximum(d.astype(np.float32), 1e-30)[:, None]), 0, 63).astype(np.uint8)
    m = np.clip(np.round(mins / np.maximum(dmin.astype(np.float32), 1e-30)[:, None]), 0, 63).astype(np.uint8)
    eff_d, eff_m = d.astype(np.float32)[:, None] * sc, dmin.astype(np.float32)[:, None] * m
    q = np.clip(np.round((x + eff_m[..., None]) / np.where(eff_d == 0, 1, eff_d)[..., None]), 0, nmax).astype(np.uint8)
    s = np.concatenate([sc[:, :4] | ((sc[:, 4:] >> 4) << 6), m[:, :4] | ((m[:, 4:] >> 4) << 6),
                        (sc[:, 4:] & 15) | ((m[:, 4:] & 15) << 4)], 1)
    qs = np.concatenate([q[:, 2 * c] & 15 | ((q[:, 2 * c + 1] & 15) << 4) for c in range(4)], 1)
    head = [d.reshape(-1, 1).view(np.uint8), dmin.reshape(-1, 1).view(np.uint8), s]
    if qtype == "Q5_K":
        head.append(sum(((q[:, j] >> 4) << j) for j in range(8)).astype(np.uint8))
    return np.concatenate(head + [qs], 1)


def quantize(w, qtype):
    """(data, raw_dtype) for GGUFWriter.add_tensor; checks that gguf-py and our dequantizer read it back alike."""
    if qtype == "F32":
        return w.astype(np.float32), None
    if qtype == "F16":
        return w.astype(np.float16), None
    t = gguf.GGMLQuantizationType[qtype]
    data = quantize_k(w, qtype).reshape(w.shape[0], -1) if qtype.endswith("_K") else gguf.quants.quantize(w, t)
    back = gguf.quants.dequantize(data, t)
    if qtype != "BF16":
        ours = dequantize_blocks(data.reshape(-1, BLOCK[qtype][1]), qtype).reshape(w.shape)
        assert np.array_equal(ours, back), qtype
    err = np.abs(back - w).max() / np.abs(w).max()
    assert err < 0.1, (qtype, err)                     # 4-bit: ~1/30 of the range
    return data, t


def write_gguf(path, arch, cfg, weights, tok, general_name, file_type, qtypes):
    """A GGUF as convert_hf_to_gguf.py lays it out (metadata order of the real files, HF tensor order)."""
    w = gguf.GGUFWriter(path, arch)
    w.add_type("model")
    w.add_name(general_name)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_file_type(file_type)
    if arch == "llama":
        w.add_vocab_size(cfg["vocab_size"])
        w.add_rope_dimension_count(cfg["head_dim"])
        w.add_add_space_prefix(False)
        w.add_add_bos_token(False)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(tok["pre"])
    w.add_token_list(tok["tokens"])
    w.add_token_types(tok["types"])
    w.add_token_merges(tok["merges"])
    if arch == "llama":
        w.add_bos_token_id(tok["bos"]); w.add_eos_token_id(tok["eos"])
        w.add_unk_token_id(tok["unk"]); w.add_pad_token_id(tok["pad"])
    else:
        w.add_eos_token_id(tok["eos"]); w.add_pad_token_id(tok["pad"]); w.add_bos_token_id(tok["bos"])
        w.add_add_bos_token(False)
    w.add_chat_template(tok["chat_template"])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for hf in sorted(weights):
        parts = hf.split(".")
        g = f"blk.{parts[2]}.{GGUF_NAMES[parts[-2]]}" if parts[1] == "layers" else GGUF_NAMES[parts[-2]]
        x = weights[hf]
        if arch == "llama" and parts[-2] == "q_proj":
            x = permute(x, cfg["num_attention_heads"])
        elif arch == "llama" and parts[-2] == "k_proj":
            x = permute(x, cfg["num_key_value_heads"])
        data, raw = quantize(x, qtypes.get(g, "F32") if parts[-1] == "weight" else "F32")
        w.add_tensor(f"{g}.{parts[-1]}", data, raw_dtype=raw)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    return path


# ------------------------------------------------------------------------------------------ golden values
@torch.no_grad()
def logprobs(model, ids):
    logits = model(torch.tensor([ids])).logits[0].float()
    lp = torch.log_softmax(logits[:-1], -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
    return lp.numpy()


@torch.no_grad()
def greedy(model, ids, n):
    out, margins = [], []
    for _ in range(n):
        lp = torch.log_softmax(model(torch.tensor([ids + out])).logits[0, -1].float(), -1)
        top = torch.topk(lp, 2)
        out.append(int(top.indices[0])); margins.append(f9(top.values[0] - top.values[1]))
    return out, margins


def numpy_forward(w, c, ids):
    """float64 reference forward of a Llama/Qwen2 causal LM (rotate-half RoPE, GQA, SwiGLU) -> log-probs."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    H, KV, hd, T = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"], len(ids)
    inv = 1.0 / c["rope_theta"] ** (np.arange(0, hd, 2) / hd)
    if c.get("rope_scaling"):                                           # llama3 (transformers' formula)
        r = c["rope_scaling"]
        wavelen = 2 * np.pi / inv
        lo, hi = r["original_max_position_embeddings"] / r["low_freq_factor"], r["original_max_position_embeddings"] / r["high_freq_factor"]
        smooth = (r["original_max_position_embeddings"] / wavelen - r["low_freq_factor"]) / (r["high_freq_factor"] - r["low_freq_factor"])
        scaled = np.where(wavelen > lo, inv / r["factor"], inv)
        medium = (wavelen >= hi) & (wavelen <= lo)
        inv = np.where(medium, (1 - smooth) * scaled / r["factor"] + smooth * scaled, scaled)
    ang = np.arange(T)[:, None] * inv[None]
    cos, sin = np.cos(np.concatenate([ang, ang], 1)), np.sin(np.concatenate([ang, ang], 1))
    rope = lambda t: t * cos + np.concatenate([-t[..., hd // 2:], t[..., :hd // 2]], -1) * sin
    norm = lambda x, g: x / np.sqrt((x * x).mean(-1, keepdims=True) + c["rms_norm_eps"]) * g
    lin = lambda x, p: x @ w[p + ".weight"].T + (w[p + ".bias"] if p + ".bias" in w else 0)
    x = w["model.embed_tokens.weight"][ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = norm(x, w[p + "input_layernorm.weight"])
        q = rope(lin(h, p + "self_attn.q_proj").reshape(T, H, hd).transpose(1, 0, 2))
        k = rope(lin(h, p + "self_attn.k_proj").reshape(T, KV, hd).transpose(1, 0, 2)).repeat(H // KV, 0)
        v = lin(h, p + "self_attn.v_proj").reshape(T, KV, hd).transpose(1, 0, 2).repeat(H // KV, 0)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd) + mask
        a = np.exp(s - s.max(-1, keepdims=True)); a /= a.sum(-1, keepdims=True)
        x = x + lin((a @ v).transpose(1, 0, 2).reshape(T, H * hd), p + "self_attn.o_proj")
        h = norm(x, w[p + "post_attention_layernorm.weight"])
        g = lin(h, p + "mlp.gate_proj")
        x = x + lin(g / (1 + np.exp(-g)) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    logits = norm(x, w["model.norm.weight"]) @ w.get("lm_head.weight", w["model.embed_tokens.weight"]).T
    lse = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    return logits[np.arange(T - 1), ids[1:]] - lse[:-1]


def golden_cases(model, tokenizer, chat_text):
    cases = []
    for text in TEXTS + [chat_text]:
        ids = tokenizer.encode(text)
        cases.append({"text": text, "ids": ids, "logprobs": [f9(x) for x in logprobs(model, ids)]})
    ids, margins = greedy(model, cases[-1]["ids"], GREEDY)
    return cases, {"after_text": len(TEXTS), "ids": ids, "top2_margins": margins}


def load_hf(path, **kw):
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager", **kw).eval()


def dump(path, obj):
    """JSON with one line per list of numbers."""
    s = json.dumps(obj, indent=1, ensure_ascii=False)
    s = re.sub(r"\[\s+([-+0-9.e,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", s)
    with open(path, "w", encoding="utf-8") as f:
        f.write(s + "\n")


# ------------------------------------------------------------------------------------------ chat templates
DEFAULT_SYSTEM = {"smollm2": "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
                  "qwen2": "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."}
U, A, S = (lambda c: {"role": "user", "content": c}), (lambda c: {"role": "assistant", "content": c}), \
    (lambda c: {"role": "system", "content": c})
CONVERSATIONS = [
    ([U("What is the capital of France?")], True),
    ([U("What is the capital of France?")], False),
    ([S("You are a terse calculator."), U("2+2?")], True),
    ([U("Hi!"), A("Hello! How can I help?"), U("Tell me a joke.")], True),
    ([S("Answer in French."), U("Hello"), A("Bonjour !")], False),
    ([U("Compute 2**10 in Python.\n```python\nprint(2**10)\n```"),
      A("```python\nprint(2 ** 10)\n```\n```output\n1024\n```\nThe answer is \\boxed{1024}. ✅"),
      U("Merci ! Et en 中文？ 🙂")], True),
    ([S(""), U("Empty system message.")], True),
    ([S("Only a system message.")], True),
    ([A("An assistant message first.")], False),
    ([U("Say <|im_end|> literally.")], True),
    ([U("Run it."), A("```python\nprint(6 * 7)\n```"), {"role": "tool", "content": "42"}], True),
]


def make_chat_golden(tokenizers):
    cases, templates = [], {}
    for family, tokenizer in tokenizers.items():
        real = gguf_tokenizer(gguf.GGUFReader(REAL[family]))["chat_template"]
        assert tokenizer.chat_template == real, family                  # read back from tokenizer_config.json
        templates[family] = real
        for messages, gen in CONVERSATIONS:
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
            if messages[0]["role"] != "system":
                assert text.startswith(f"<|im_start|>system\n{DEFAULT_SYSTEM[family]}<|im_end|>\n"), text
            assert text.endswith("<|im_start|>assistant\n") == gen
            cases.append({"template": family, "messages": messages, "add_generation_prompt": gen, "text": text,
                          "ids": tokenizer.encode(text)})
    dump(os.path.join(OUT, "chat_golden.json"),
         {"generator": "reference/make_model_fixtures.py", "transformers": transformers.__version__,
          "note": "text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt); "
                  "ids = the truncated fixture tokenizer (tokenizer-<template>/tokenizer.json) on text",
          "templates": templates, "default_system": DEFAULT_SYSTEM, "cases": cases})
    print(f"chat_golden.json: {len(cases)} cases", file=sys.stderr)


# ------------------------------------------------------------------------------------------ main
def check_tokenizer(d, tj_path):
    """transformers' tokenizer of the directory == the raw tokenizers library on the same tokenizer.json."""
    tokenizer, raw = AutoTokenizer.from_pretrained(d), Tokenizer.from_file(tj_path)
    for text in TEXTS:
        assert tokenizer.encode(text) == raw.encode(text).ids, (d, text)
    return tokenizer


def main():
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    os.makedirs(OUT, exist_ok=True)
    toks = make_tokenizers()
    (stok, stj), (qtok, qtj) = toks["smollm2"], toks["qwen2"]
    ids = lambda tok: dict(bos_token_id=tok["bos"], eos_token_id=tok["eos"], pad_token_id=tok["pad"])
    specs = {
        "tiny-llama": dict(tok=stok, tj=stj, dtype=torch.bfloat16, bias=False, official="llama", cfg=dict(
            model_type="llama", vocab_size=len(stok["tokens"]), hidden_size=64, intermediate_size=256,
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16, rope_theta=100000.0,
            rms_norm_eps=1e-5, max_position_embeddings=8192, tie_word_embeddings=True, **ids(stok))),
        "tiny-qwen2": dict(tok=qtok, tj=qtj, dtype=torch.float16, bias=True, official="qwen2", shard="200KB", cfg=dict(
            model_type="qwen2", vocab_size=len(qtok["tokens"]), hidden_size=64, intermediate_size=256,
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, head_dim=16, rope_theta=1000000.0,
            rms_norm_eps=1e-6, max_position_embeddings=32768, tie_word_embeddings=False, **ids(qtok))),
        "tiny-llama3": dict(tok=stok, tj=json.loads(Tokenizer.from_str(json.dumps(stj)).to_str()),  # [a, b] merges
                            dtype=torch.float32, bias=False, cfg=dict(
            model_type="llama", vocab_size=len(stok["tokens"]), hidden_size=64, intermediate_size=64,
            num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2, head_dim=32, rope_theta=10000.0,
            rms_norm_eps=1e-5, max_position_embeddings=256, tie_word_embeddings=True, **ids(stok),
            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 64})),
    }
    golden, weights, tokenizers = {}, {}, {}
    for name, s in specs.items():
        cfg = s["cfg"]
        w = rounded(random_weights(rng, cfg, s["bias"], cfg["tie_word_embeddings"]), s["dtype"])
        weights[name] = w
        config = AutoConfig.for_model(**{k: v for k, v in cfg.items() if k != "head_dim" or cfg["model_type"] == "llama"})
        official = official_config(s["official"], cfg, s["tok"]) if s.get("official") else None
        d = save_hf(name, config, w, s["dtype"], s["tok"], s["tj"], official, s.get("shard"))
        tokenizer = check_tokenizer(d, os.path.join(d, "tokenizer.json"))
        model = load_hf(d)
        c = model.config
        assert (c.hidden_size // c.num_attention_heads if c.model_type == "qwen2" else c.head_dim,
                c.rope_parameters["rope_theta"], c.tie_word_embeddings) == \
            (cfg["head_dim"], cfg["rope_theta"], cfg["tie_word_embeddings"]), (name, c)
        chat_text = tokenizer.apply_chat_template(CHAT_PROMPT, tokenize=False, add_generation_prompt=True)
        cases, greedy_out = golden_cases(model, tokenizer, chat_text)
        # independent check: float64 numpy forward on the weights read back from the safetensors files
        from safetensors.torch import load_file
        disk = {k: v.float().numpy() for f in sorted(os.listdir(d)) if f.endswith(".safetensors")
                for k, v in load_file(os.path.join(d, f)).items()}
        assert disk.keys() == w.keys() and all(np.array_equal(disk[k], w[k]) for k in w), name
        np_cfg = dict(cfg, rope_scaling=cfg.get("rope_scaling"))
        diff = max(float(np.abs(numpy_forward(disk, np_cfg, cs["ids"]) - cs["logprobs"]).max()) for cs in cases)
        assert diff < 2e-5, (name, diff)
        check = {"numpy_float64_forward_max_abs_diff": f9(diff)}
        if name == "tiny-llama3":                  # the old rope_scaling spelling gives the same model
            with open(os.path.join(d, "config.json")) as f:
                new = json.load(f)
            old = {k: v for k, v in new.items() if k != "rope_parameters"}
            old["rope_theta"] = new["rope_parameters"]["rope_theta"]
            old["rope_scaling"] = {k: v for k, v in new["rope_parameters"].items() if k != "rope_theta"}
            write_json(os.path.join(d, "config.rope_scaling.json"), old)
            tmp = "/tmp/tiny-llama3-rope-scaling"
            shutil.rmtree(tmp, ignore_errors=True); shutil.copytree(d, tmp)
            shutil.move(os.path.join(tmp, "config.rope_scaling.json"), os.path.join(tmp, "config.json"))
            assert all(np.array_equal(logprobs(load_hf(tmp), cs["ids"]), np.float32(cs["logprobs"])) for cs in cases)
            shutil.rmtree(tmp)
            check["config.rope_scaling.json"] = "same log-probs"
        golden[name] = {"path": name, "format": f"hf {str(s['dtype']).split('.')[-1]}", "tokenizer": f"{name}/tokenizer.json",
                        "cases": cases, "greedy": greedy_out, "checks": check}
        tokenizers.setdefault("smollm2" if s["tok"]["pre"] == "smollm" else "qwen2", tokenizer)
        print(f"{name}: {check}; greedy {greedy_out['ids']} (min margin {min(greedy_out['top2_margins'])})", file=sys.stderr)

    for name, arch, tok, fam, gname, ftype in (("tiny-llama", "llama", stok, "smollm2", "Tiny Llama", 3),
                                              ("tiny-qwen2", "qwen2", qtok, "qwen2", "Tiny Qwen2", 15)):
        # first an all-F32 copy: transformers must read it back as exactly the HF model (names, Q/K permutation)
        args = (arch, specs[name]["cfg"], weights[name], tok, gname)
        write_gguf(f"/tmp/{name}-f32.gguf", *args, 0, {})
        hf_model = load_hf(os.path.join(OUT, name))
        f32_diff = max(float(np.abs(logprobs(load_hf("/tmp", gguf_file=f"{name}-f32.gguf"), cs["ids"]) -
                                    np.float32(cs["logprobs"])).max()) for cs in golden[name]["cases"])
        assert f32_diff < 1e-5, f32_diff
        os.remove(f"/tmp/{name}-f32.gguf")
        path = write_gguf(os.path.join(OUT, name + ".gguf"), *args, ftype, QTYPES[name])
        theirs, ours = load_hf(OUT, gguf_file=name + ".gguf"), model_from_gguf_numpy(path)
        c = theirs.config
        assert (getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads, c.tie_word_embeddings,
                c.num_key_value_heads) == \
            (specs[name]["cfg"]["head_dim"], arch == "llama", specs[name]["cfg"]["num_key_value_heads"]), c
        sd_t, sd_o = theirs.state_dict(), ours.state_dict()
        assert all(torch.equal(sd_t[k], sd_o[k]) for k in sd_o), "transformers' GGUF weights differ from ours"
        tokenizer = tokenizers[fam]
        chat_text = tokenizer.apply_chat_template(CHAT_PROMPT, tokenize=False, add_generation_prompt=True)
        cases, greedy_out = golden_cases(theirs, tokenizer, chat_text)
        ours_diff = max(float(np.abs(logprobs(ours, cs["ids"]) - np.float32(cs["logprobs"])).max()) for cs in cases)
        quant_diff = max(float(np.abs(logprobs(hf_model, cs["ids"]) - np.float32(cs["logprobs"])).max()) for cs in cases)
        gguf_tok = AutoTokenizer.from_pretrained(OUT, gguf_file=name + ".gguf")
        tok_diff = [i for i, cs in enumerate(cases) if gguf_tok.encode(cs["text"]) != cs["ids"]]
        assert ours_diff == 0.0, ours_diff
        check = {"own_numpy_dequantization_max_abs_diff": f9(ours_diff), "f32_gguf_vs_hf_max_abs_diff": f9(f32_diff),
                 "vs_unquantized_hf_max_abs_diff": f9(quant_diff),
                 "transformers_gguf_tokenizer_differs_on_cases": tok_diff}
        golden[name + ".gguf"] = {"path": name + ".gguf", "format": "gguf " + ",".join(sorted(set(QTYPES[name].values()) | {"F32"})),
                                  "tokenizer": f"tokenizer-{fam}/tokenizer.json", "cases": cases, "greedy": greedy_out,
                                  "checks": check}
        print(f"{name}.gguf: {check}; greedy {greedy_out['ids']} (min margin {min(greedy_out['top2_margins'])})", file=sys.stderr)

    dump(os.path.join(OUT, "golden.json"),
         {"generator": "reference/make_model_fixtures.py", "seed": SEED, "transformers": transformers.__version__,
          "torch": torch.__version__, "note": "ids: the model's HF tokenizer, no BOS; logprobs[i] = log p(ids[i+1] | "
          "ids[0..i]) from transformers in float32, eager attention; greedy: argmax continuation of the last case "
          "(the ChatML prompt), with the top-1 minus top-2 log-prob margin of each step", "models": golden})
    make_chat_golden(tokenizers)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(OUT) for f in fs)
    print(f"{OUT}: {total / 1024:.0f} KiB", file=sys.stderr)


if __name__ == "__main__":
    main()
