#!/usr/bin/env python3
"""llama.cpp reference for `tir bench decode`: new tokens/s of batched decoding through llama-cpp-python's
low-level API, the way llama.cpp's examples/batched does it: all prompts prefilled in one llama_decode, then
one llama_decode per step carrying one token per sequence, each sequence with its own temperature-1 sampler.
The model is a random-weight f32 GGUF of our policy config (written once into --workdir); the shapes are
ours: batch 16 small / 8 base, 32-token random prompts, 128 new tokens, and the clock covers prefill and
decode as ours does. KV cache type and flash attention are llama.cpp's defaults (f16 KV, FA auto).
With --model FILE.gguf it decodes that model instead (batch 16 unless given), e.g. the F32 GGUF `tir export`
writes of SmolLM2, or the original Q4_1 file."""
import ctypes, os, sys, time
import numpy as np
from common import BOS, BYTE_OFFSET, CONFIGS, EOS, NORM_EPS, PAD, PROMPT_TOKENS, ROPE_THETA, byte_symbols, emit, \
    parser

SPECIALS = ["<pad>", "<bos>", "<eos>", "<reserved>"]


def write_gguf(path, c, seed=0, std=0.02):
    """A Llama GGUF of config c: N(0, std) f32 matrices, unit norms, tied embeddings, our byte vocabulary."""
    import gguf
    rng = np.random.default_rng(seed)
    d, f, v = c["dim"], c["ffn"], c["vocab"]
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("swifttir-random-" + os.path.basename(path))
    w.add_context_length(c["ctx"])
    w.add_embedding_length(d)
    w.add_block_count(c["layers"])
    w.add_feed_forward_length(f)
    w.add_head_count(c["heads"])
    w.add_head_count_kv(c["heads"])
    w.add_layer_norm_rms_eps(NORM_EPS)
    w.add_rope_dimension_count(d // c["heads"])
    w.add_rope_freq_base(ROPE_THETA)
    w.add_vocab_size(v)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(SPECIALS + byte_symbols())
    w.add_token_types([gguf.TokenType.CONTROL] * BYTE_OFFSET + [gguf.TokenType.NORMAL] * 256)
    # llama.cpp refuses a "gpt2" vocabulary without merges, and gguf drops empty arrays: one merge whose
    # product is not in the vocabulary keeps every token a single byte.
    w.add_token_merges([byte_symbols()[ord("a")] + " " + byte_symbols()[ord("b")]])
    w.add_bos_token_id(BOS)
    w.add_eos_token_id(EOS)
    w.add_pad_token_id(PAD)
    w.add_add_bos_token(False)

    def matrix(rows, cols):   # numpy [out, in] is ggml's [in, out]; random weights need no q/k row permutation
        return rng.standard_normal((rows, cols), dtype=np.float32) * std

    w.add_tensor("token_embd.weight", matrix(v, d))   # no output.weight: llama.cpp ties the head
    for i in range(c["layers"]):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(d, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(p + name + ".weight", matrix(d, d))
        w.add_tensor(p + "ffn_norm.weight", np.ones(d, dtype=np.float32))
        w.add_tensor(p + "ffn_gate.weight", matrix(f, d))
        w.add_tensor(p + "ffn_up.weight", matrix(f, d))
        w.add_tensor(p + "ffn_down.weight", matrix(d, f))
    w.add_tensor("output_norm.weight", np.ones(d, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def new_context(lc, model, batch, cells_per_seq, threads, flash_attn):
    p = lc.llama_context_default_params()
    p.n_ctx = batch * cells_per_seq
    p.n_batch = p.n_ubatch = batch * PROMPT_TOKENS   # the whole prefill in one ubatch
    p.n_seq_max = batch
    p.kv_unified = False                             # each sequence owns cells_per_seq cells
    p.n_threads = p.n_threads_batch = threads
    p.flash_attn_type = {"auto": -1, "off": 0, "on": 1}[flash_attn]
    p.no_perf = True
    ctx = lc.llama_init_from_model(model, p)
    if not ctx:
        raise SystemExit("llama_init_from_model failed")
    return ctx


def run(lc, ctx, prompts, new_tokens, seed):
    """Prefill + new_tokens decode steps; returns (seconds in total, seconds after prefill)."""
    batch, plen = prompts.shape
    lc.llama_memory_clear(lc.llama_get_memory(ctx), True)
    samplers = []
    for s in range(batch):
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(1.0))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(seed * 1000 + s))
        samplers.append(chain)
    b = lc.llama_batch_init(batch * plen, 0, 1)

    def put(i, token, pos, seq, logits):
        b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, 1, logits
        b.seq_id[i][0] = seq

    try:
        t0 = time.perf_counter()
        for s in range(batch):
            for p in range(plen):
                put(s * plen + p, int(prompts[s, p]), p, s, p == plen - 1)
        b.n_tokens = batch * plen
        if lc.llama_decode(ctx, b) != 0:
            raise SystemExit("llama_decode failed on the prefill")
        last = [s * plen + plen - 1 for s in range(batch)]   # batch row holding each sequence's logits
        t1 = time.perf_counter()
        for step in range(new_tokens):
            for s in range(batch):
                put(s, lc.llama_sampler_sample(samplers[s], ctx, last[s]), plen + step, s, True)
            last = list(range(batch))
            b.n_tokens = batch
            if lc.llama_decode(ctx, b) != 0:
                raise SystemExit(f"llama_decode failed at step {step}")
        lc.llama_synchronize(ctx)
        t2 = time.perf_counter()
    finally:
        lc.llama_batch_free(b)
        for chain in samplers:
            lc.llama_sampler_free(chain)
    return t2 - t0, t2 - t1


def main():
    ap = parser(__doc__)
    ap.add_argument("--batch", type=int, help="sequences decoded together (default: 16 small, 8 base)")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--flash-attn", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--workdir", default=os.path.join(os.environ.get("TIR_REF_DIR", os.path.expanduser(
        "~/.cache/swifttir-ref")), "models"), help="where the GGUF is written (default: %(default)s)")
    a = ap.parse_args()
    c = CONFIGS[a.config]
    batch = a.batch or (16 if a.model else c["batch"])
    os.makedirs(a.workdir, exist_ok=True)
    path = a.model or os.path.join(a.workdir, f"swifttir-{a.config}-f32.gguf")
    if not a.model and not os.path.exists(path):
        write_gguf(path + ".part", c)
        os.replace(path + ".part", path)

    import llama_cpp as lc
    quiet = lc.llama_log_callback(lambda level, text, data: None)
    lc.llama_log_set(quiet, ctypes.c_void_p(0))
    lc.llama_backend_init()
    mp = lc.llama_model_default_params()
    mp.n_gpu_layers = 0
    model = lc.llama_model_load_from_file(path.encode(), mp)
    if not model:
        raise SystemExit(f"llama.cpp could not load {path}; delete it to have it written again")
    cells = -(-(PROMPT_TOKENS + a.new_tokens) // 256) * 256
    ctx = new_context(lc, model, batch, cells, a.threads, a.flash_attn)
    rng = np.random.default_rng(1)
    vocab = lc.llama_vocab_n_tokens(lc.llama_model_get_vocab(model)) if a.model else c["vocab"]
    prompts = rng.integers(3, vocab, size=(batch, PROMPT_TOKENS))
    run(lc, ctx, prompts, 8, seed=0)   # warm-up
    total, after_prefill = run(lc, ctx, prompts, a.new_tokens, seed=2)
    lc.llama_free(ctx)
    lc.llama_model_free(model)
    n = batch * a.new_tokens
    emit(dict(reference="llamacpp_batched_decode", config=a.model or a.config, batch=batch, prompt_tokens=PROMPT_TOKENS,
              new_tokens=a.new_tokens, weights="as in --model" if a.model else "f32", kv_cache="f16", flash_attn=a.flash_attn, seconds=total,
              tokens_per_s=n / total, after_prefill_tokens_per_s=n / after_prefill),
         a.threads, ["llama_cpp_python", "gguf", "numpy"])


if __name__ == "__main__":
    sys.exit(main())
