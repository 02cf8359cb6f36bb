#!/usr/bin/env python3
"""Hugging Face reference for `tir bench decode`: new tokens/s of `LlamaForCausalLM.generate()` (KV cache,
temperature-1 sampling over the full vocabulary) on the same random-init policy shape, batch (small: 16,
base: 8), 32-token random prompts and 128 new tokens per sequence. The clock covers the whole call, prefill
included, as ours does."""
import time
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from common import BOS, CONFIGS, EOS, NORM_EPS, PAD, PROMPT_TOKENS, ROPE_THETA, emit, load_hf_model, parser, \
    set_torch_threads


def hf_policy(c):
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=c["vocab"], hidden_size=c["dim"], intermediate_size=c["ffn"], num_hidden_layers=c["layers"],
        num_attention_heads=c["heads"], num_key_value_heads=c["heads"], max_position_embeddings=c["ctx"],
        rms_norm_eps=NORM_EPS, rope_theta=ROPE_THETA, tie_word_embeddings=True,
        pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS)).eval()


def main():
    ap = parser(__doc__)
    ap.add_argument("--batch", type=int, help="sequences decoded together (default: 16 small, 8 base)")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                    help="with --model: the weights' and activations' dtype (ours: --weights bf16)")
    a = ap.parse_args()
    set_torch_threads(a.threads)
    c = CONFIGS[a.config]
    torch.manual_seed(0)
    if a.model:    # the real model: batch 16 unless given
        model, vocab = load_hf_model(a.model, a.dtype)
        model.eval()
        batch, pad = a.batch or 16, model.config.pad_token_id if model.config.pad_token_id is not None else 0
    else:
        model, vocab, batch, pad = hf_policy(c), c["vocab"], a.batch or c["batch"], PAD
    prompts = torch.randint(3, vocab, (batch, PROMPT_TOKENS))
    sample = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, pad_token_id=pad)
    with torch.inference_mode():
        model.generate(prompts, max_new_tokens=8, **sample)   # warm-up
        t0 = time.perf_counter()
        out = model.generate(prompts, max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens, **sample)
        seconds = time.perf_counter() - t0
    generated = (out.shape[1] - PROMPT_TOKENS) * batch
    emit(dict(reference="hf_generate_decode", config=a.model or a.config, dtype=a.dtype, batch=batch, prompt_tokens=PROMPT_TOKENS,
              new_tokens=a.new_tokens, seconds=seconds, tokens_per_s=generated / seconds),
         a.threads, ["torch", "transformers"])


if __name__ == "__main__":
    main()
