"""What every reference program shares: the policy shapes of `tir bench`, thread setup and the JSON line."""
import argparse, json, os, platform

# The presets of Sources/Model/PolicyConfig.swift and the batch shapes of `tir bench train|decode`.
# vocab 260 = 4 specials (pad 0, bos 1, eos 2, reserved 3) + 256 bytes (byte b is id 4 + b).
CONFIGS = {
    "small": dict(vocab=260, dim=256, layers=4, heads=4, ffn=688, ctx=256, batch=16),
    "base": dict(vocab=260, dim=512, layers=8, heads=8, ffn=1376, ctx=512, batch=8),
}
PAD, BOS, EOS, BYTE_OFFSET = 0, 1, 2, 4
ROPE_THETA, NORM_EPS = 10000.0, 1e-5
PROMPT_TOKENS = 32   # `tir bench decode` prompts: 32 random non-special tokens


def byte_symbols():
    """GPT-2's printable stand-in for each byte value: how byte-level BPE vocabularies (tokenizers' ByteLevel,
    llama.cpp's "gpt2" model) spell the 256 byte tokens."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    symbol = {b: chr(b) for b in printable}
    symbol.update({b: chr(256 + i) for i, b in enumerate(others)})
    return [symbol[b] for b in range(256)]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def parser(doc, config=True):
    ap = argparse.ArgumentParser(description=doc)
    if config:
        ap.add_argument("--config", default="small", choices=sorted(CONFIGS))
        ap.add_argument("--model", help="a Hugging Face directory (e.g. from gguf_to_hf.py) instead of --config: "
                        "the real model in fp32, as `tir bench ... --checkpoint`")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="intra-op threads (default: all cores, as `tir bench`)")
    return ap


def set_torch_threads(n):
    import torch
    torch.set_num_threads(n)
    torch.set_num_interop_threads(1)


def library_versions(*names):
    from importlib.metadata import version, PackageNotFoundError
    out = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = None
    return out


def emit(figures, threads, libraries):
    """Prints the one JSON line a reference program reports."""
    print(json.dumps(dict(figures, cpu=cpu_model(), threads=threads, versions=library_versions(*libraries))),
          flush=True)


def load_hf_model(path, dtype="float32"):
    """A Hugging Face causal LM directory in fp32 (or `dtype`; transformers' own class for its model_type), and
    the number of ordinary tokens (prompts avoid the added and padding ids)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    import torch
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    return model, AutoTokenizer.from_pretrained(path).vocab_size
