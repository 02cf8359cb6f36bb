"""Score texts with transformers in fp32: per-token log-probs, or a greedy ChatML answer, as JSON lines.

    P=/work/venv/bin/python
    $P reference/score_hf.py --model /work/models/smollm2-135m-instruct-q4_1.gguf --text "def f(x):"
    $P reference/score_hf.py --model /work/models/qwen2.5-coder-hf --texts texts.jsonl > golden.jsonl
    $P reference/score_hf.py --model /work/models/smollm2-hf --chat --greedy 32 --text "What is the capital of France?"

--model is a Hugging Face directory or a .gguf file (transformers' `gguf_file=`, which dequantizes and undoes the
llama Q/K row permutation). The tokenizer is the directory's; for a GGUF it is the official-structure tokenizer.json
rebuilt from the GGUF vocabulary (gguf_to_hf.tokenizer_json), because transformers' own GGUF conversion lacks
Qwen2's NFC normalizer and SmolLM2's Digits pre-tokenizer; stderr says when that conversion would give other ids.
--texts takes JSON lines holding {"text": ...} (or a bare JSON string).

Each output line is {"text", "ids", "logprobs"}: ids without BOS (neither model adds one), logprobs[i] =
log p(ids[i+1] | ids[0..i]) from the fp32 model with eager attention, 9 significant digits (exact for fp32).
With --chat --greedy N: {"text", "prompt", "ids", "greedy_ids", "greedy_text"}, the user message rendered with the
model's chat template (add_generation_prompt) and up to N argmax tokens, stopping at <|im_end|> or <|endoftext|>.
"""
import argparse, json, os, sys, tempfile
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_to_hf import gguf_tokenizer, tokenizer_json, tokenizer_config, write_json


def load(path):
    """(model, tokenizer, transformers' GGUF tokenizer or None)."""
    kw = dict(dtype=torch.float32, attn_implementation="eager")
    if not path.endswith(".gguf"):
        return AutoModelForCausalLM.from_pretrained(path, **kw).eval(), AutoTokenizer.from_pretrained(path), None
    import gguf
    folder, name = os.path.split(os.path.abspath(path))
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, **kw).eval()
    tok = gguf_tokenizer(gguf.GGUFReader(path))
    tj = tokenizer_json(tok["tokens"], tok["types"], tok["merges"], tok["pre"])
    tmp = tempfile.mkdtemp(prefix="score_hf_tok_")
    write_json(os.path.join(tmp, "tokenizer.json"), tj)
    write_json(os.path.join(tmp, "tokenizer_config.json"),
               tokenizer_config(tj, tok["pre"], tok["bos"], tok["eos"], tok["pad"], tok["unk"], tok["chat_template"],
                                model.config.max_position_embeddings))
    return model, AutoTokenizer.from_pretrained(tmp), AutoTokenizer.from_pretrained(folder, gguf_file=name)


@torch.no_grad()
def score(model, ids):
    logits = model(torch.tensor([ids])).logits[0].float()
    lp = torch.log_softmax(logits[:-1], -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
    return [float(f"{x:.9g}") for x in lp.tolist()]


@torch.no_grad()
def greedy(model, tokenizer, text, n):
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
    ids = tokenizer.encode(prompt)
    stop = set(tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"]))
    out = []
    past, x = None, torch.tensor([ids])
    for _ in range(n):
        r = model(x, past_key_values=past, use_cache=True)
        past, nxt = r.past_key_values, int(r.logits[0, -1].argmax())
        out.append(nxt)
        if nxt in stop:
            break
        x = torch.tensor([[nxt]])
    return {"text": text, "prompt": prompt, "ids": ids, "greedy_ids": out,
            "greedy_text": tokenizer.decode(out, skip_special_tokens=True)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--text", action="append", default=[])
    ap.add_argument("--texts", help="JSON lines with a text each")
    ap.add_argument("--chat", action="store_true", help="render each text as a user message (with --greedy)")
    ap.add_argument("--greedy", type=int, default=0, help="greedy tokens to generate (with --chat)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    texts = list(a.text)
    if a.texts:
        with open(a.texts, encoding="utf-8") as f:
            texts += [(lambda v: v if isinstance(v, str) else v["text"])(json.loads(l)) for l in f if l.strip()]
    model, tokenizer, theirs = load(a.model)
    for text in texts:
        if a.chat or a.greedy:
            if not (a.chat and a.greedy):
                ap.error("--chat and --greedy go together")
            row = greedy(model, tokenizer, text, a.greedy)
        else:
            ids = tokenizer.encode(text)
            row = {"text": text, "ids": ids, "logprobs": score(model, ids)}
        if theirs is not None and theirs.encode(row.get("prompt", text)) != row["ids"]:
            print(f"note: transformers' GGUF tokenizer gives other ids for {text[:40]!r}", file=sys.stderr)
        print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
