#!/usr/bin/env python3
"""Score texts with llama.cpp (llama-cpp-python) on a GGUF file: the check that a GGUF written by `tir export`
loads in llama.cpp and gives our log-probs. Prints JSON lines {text, ids, logprobs} like score_hf.py:
ids from llama.cpp's own tokenizer (special tokens parsed, no BOS added), logprobs[i] = log p(ids[i+1] | ids[..i])
from llama.cpp's fp32 logits (compute in F32 weights: export with --type f32).

    $TIR_REF_DIR/venv/bin/python reference/score_llamacpp.py --model out.gguf --text "def f(x):" [--text ...]

llama-cpp-python comes from `scripts/compare.sh --llamacpp` (it builds it into $TIR_REF_DIR/venv)."""
import argparse, json
import numpy as np
from llama_cpp import Llama


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--text", action="append", required=True)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    # F32 KV cache (type 0): llama.cpp's default F16 cache alone moves log-probs by up to 1e-2.
    llm = Llama(model_path=a.model, n_ctx=512, logits_all=True, n_threads=a.threads, verbose=False,
                type_k=0, type_v=0)
    for text in a.text:
        ids = llm.tokenize(text.encode(), add_bos=False, special=True)
        llm.reset()
        llm.eval(ids)
        logits = np.array(llm.scores[:len(ids)], dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        print(json.dumps(dict(text=text, ids=ids, logprobs=[float(logp[i, ids[i + 1]]) for i in range(len(ids) - 1)])))


if __name__ == "__main__":
    main()
