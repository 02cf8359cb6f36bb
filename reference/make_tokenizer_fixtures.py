"""Fixtures of Tests/ModelTests/BPETokenizerTests.swift: small real tokenizers and golden ids from Hugging Face
`tokenizers`.

    /work/venv/bin/python reference/make_tokenizer_fixtures.py \
        --smollm2 /work/models/smollm2-135m-instruct-q4_1.gguf --qwen2 /work/models/qwen2.5-coder-0.5b-instruct.gguf

The tokenizers come from the GGUF files (the same vocabulary and merges as the official tokenizer.json files),
rebuilt in the official structure by gguf_to_hf.tokenizer_json: transformers' own GGUF conversion drops SmolLM2's
Digits(individual_digits) pre-tokenizer and Qwen2's NFC normalizer, which this script shows by counting the
strings on which the two disagree.

Writes to Tests/ModelTests/Fixtures/tokenizers/:
  smollm2-truncated.json, qwen2-truncated.json  the tokenizers cut to their first MERGES merges: the byte symbols
      the original has, the tokens those merges make and every added token. Vocabulary tokens keep their original
      ids (which come out dense: these vocabularies number tokens in merge order); added tokens that are not in the
      vocabulary (Qwen2's) are renumbered right after it, as HF itself numbers them whatever id the file states.
      Any prefix of a merge list is a valid BPE, so these encode like the real thing, only with more tokens.
      SmolLM2's merges are written as "a b" strings, Qwen2's as ["a", "b"] pairs: both forms of the file.
  strings.json       the test strings, a JSON array, one per line (edge cases, exhaustive short strings, seeded fuzz)
  <name>.ids         golden ids, one line per string (ids separated by spaces): smollm2 and qwen2 (truncated),
                     smollm2-full and qwen2-full (the real tokenizers, for the test that runs when the GGUF files
                     are present).
  <name>.splits      golden pre-tokenization, one line per string: where each piece ends, in Unicode scalars, for
                     the GPT-2 (ByteLevel), SmolLM2 (Digits + ByteLevel), Qwen2 and Llama-3 (Split) pre-tokenizers.
"""
import argparse, json, os, random, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf import GGUFReader
from tokenizers import Tokenizer
from common import byte_symbols
from gguf_to_hf import gguf_tokenizer, tokenizer_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests/ModelTests/Fixtures/tokenizers")
MERGES = 3000
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")


def default_gguf(env, name):
    return os.environ.get(env) or os.path.expanduser(f"~/.cache/swifttir/models/{name}")


# ------------------------------------------------------------------------------------------ tokenizers
def official(path, merges_as_pairs):
    tok = gguf_tokenizer(GGUFReader(path))
    return tokenizer_json(tok["tokens"], tok["types"], tok["merges"], tok["pre"], merges_as_pairs=merges_as_pairs)


def truncated(tj, n):
    """The tokenizer with its first n merges: the byte symbols it has, the tokens of those merges, the added tokens."""
    tj = json.loads(json.dumps(tj))
    model = tj["model"]
    vocab = model["vocab"]
    merges = model["merges"][:n]
    keep = {s for s in byte_symbols() if s in vocab}
    for m in merges:
        a, b = m.split(" ") if isinstance(m, str) else m
        assert a in keep and b in keep, f"merge {m!r} uses a token no earlier merge made"
        keep.add(a + b)
    keep |= {t["content"] for t in tj["added_tokens"] if t["content"] in vocab}
    model["vocab"] = {t: i for t, i in sorted(vocab.items(), key=lambda kv: kv[1]) if t in keep}
    model["merges"] = merges
    # HF numbers an added token that is not in the BPE vocab after the vocab (len(vocab), len(vocab) + 1, ...)
    # whatever id the file states: Qwen2's, which follow its vocab, get those numbers here.
    next_id = len(model["vocab"])
    for t in tj["added_tokens"]:
        if t["content"] not in model["vocab"]:
            t["id"], next_id = next_id, next_id + 1
    return tj


def pre_tokenizers(full):
    """The four pre-tokenizers, as HF objects."""
    bytelevel = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    llama3 = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    configs = {"gpt2": bytelevel, "smollm2": full["smollm2"]["pre_tokenizer"], "qwen2": full["qwen2"]["pre_tokenizer"],
               "llama3": llama3}
    empty = {"type": "BPE", "vocab": {}, "merges": []}
    return {name: Tokenizer.from_str(json.dumps({"version": "1.0", "pre_tokenizer": c, "model": empty})).pre_tokenizer
            for name, c in configs.items()}


# ------------------------------------------------------------------------------------------ strings
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>",
            "<jupyter_code>", "<repo_name>", "<empty_output>", "<|file_sep|>"]
PARTIAL = ["<|im_sta", "<|im_start|", "im_end|>", "<|", "|>", "<|endoftext", "<tool_call", "<|im_end|>>", "<<|im_end|>"]
EMOJI = ["😀", "🚀", "👍🏽", "❤️", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸", "🇯🇵🇫🇷", "🧑🏿‍💻", "☃", "✔️", "🔥🔥", "🤖"]
SCRIPTS = ["你好，世界！", "日本語のテキスト", "한국어 텍스트", "مرحبا بالعالم", "Россия и Україна", "नमस्ते दुनिया",
           "สวัสดีครับ", "Ελληνικά", "עברית", "Ǆemal", "ﬁnance", "Ⅻ ½ ²³", "١٢٣٤", "߀߁", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𐍈𐌰"]
COMBINING = ["e\u0301", "é", "cafe\u0301", "café", "n\u0303o", "A\u030a", "\u0301", "a\u0308\u0301", "\u1100\u1161",
             "x\u20dd", "Å", "Ω", "ﬃ", "e\u0301\u0327", "\u0958"]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u00ad", "\u180e", "\u2028", "\u2029"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", " \n", "\n ", "\u00a0", "\u3000", "\u2003", "\u0085",
          "\x0b", "\x0c", "    ", "\t\t", " \r\n\r\n ", "\n\n\n\n"]
CONTROL = ["\x00", "\x01", "\x04", "\x06", "\x13", "\x14", "\x16", "\x1b", "\x1d", "\x7f", "\x80", "\x9f"]
WORDS = ["the", "The", "THE", "hello", " world", "don't", "I'm", "we'll", "they've", "she'd", "it's", "you're",
         "IT'S", "WE'LL", "I'M", "'s", "'S", "'ll", "'LL", "'Re", "x'ſt", "print", "def", "return", "self",
         "Question:", "answer", "boxed", "__init__", "snake_case", "camelCase", "URL", "https://example.com/a?b=1",
         "foo.bar()", "naïve", "Straße", "ÀÉÎÕÜ"]
NUMBERS = ["0", "7", "42", "123", "1234", "12345", "1,234,567", "3.14159", "-0.5", "1e-10", "6.022e23", "0x1F",
           "2024-01-15", "99%", "$1,000.00", "1/3", "10^9", "4817*362-95", "1743559", " 12", " 123456789012"]
CODE = ["def f(x):\n    return x * 2\n", "for i in range(10):\n\tprint(i)\n", "if (a && b) { c(); }",
        "    x = [1, 2, 3]\n", "import numpy as np\n", "print(4817*362-95)", "s = 'it''s'\n", "a += 1  # comment",
        "```python\nprint(1)\n```", "```output\n1743559\n```", "```\n", "\\boxed{1743559}", "$\\frac{1}{2}$",
        "\\sqrt{x^2 + y^2}", "<div class=\"a\">", "SELECT * FROM t;", "x=>x+1", "#!/bin/sh\n", "::", "...", "---",
        "!!!", "???", "=>", "->", "**bold**", "[link](http://a.b)", "Traceback (most recent call last):\n"]


def edge_cases():
    cases = ["", " ", "  ", "a", "\n", "\r", "\r\n", "\t", "hello world", "Hello, World!", "  leading", "trailing  ",
             "a  b", "a   b", "a \n b", "x\n\n\ny", "x \r\n\r\n  y", "a\x06b", "\x06", "\x04\x06\x13", "!\x06!",
             "a\u00a0b", "a\u3000b", "\u00a0\u00a0x", "a\u0085b", " \u0085", "\u2028x", "x\u2029",
             "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
             "<|im_start|><|im_end|>", "<|endoftext|><|endoftext|>", " <|im_end|> ", "x<|im_end|>y",
             "<|im_start|", "<|im_sta", "<<|im_end|>>", "<|im_end|>\n\n", "<tool_call>\n{\"a\": 1}\n</tool_call>",
             "e\u0301", "\u00e9", "cafe\u0301 caf\u00e9", "\u0301abc", "'", "''", "'s", "'S", "a's", "A'S",
             "don't DON'T Don't", "we'LL", "x'ſt", "'ſ", "it''s", "1'000", "'1", "  'll", " 's"]
    cases += ["".join(str((i + j) % 10) for j in range(n)) for n in range(1, 13) for i in (1, 7)]
    cases += [" " * n + "x" for n in range(1, 9)] + ["x" + " " * n for n in range(1, 9)] + ["\n" * n for n in range(1, 7)]
    cases += ["\t" * n + "x" for n in range(1, 4)] + [" " * n + "\n" for n in range(1, 5)] + ["\n" + " " * n + "x" for n in range(1, 5)]
    for c in ["s", "t", "re", "ve", "m", "ll", "d"]:
        for form in [c, c.upper(), c.capitalize()]:
            cases += [f"it'{form}", f"x '{form} y", f"'{form}", f"a'{form}b"]
    cases += NUMBERS + CODE + EMOJI + SCRIPTS + COMBINING + ZERO_WIDTH + SPACES + CONTROL + SPECIALS + PARTIAL
    cases += [f"a{z}b" for z in ZERO_WIDTH] + [f"x{e}y" for e in EMOJI] + [f" {s} " for s in SCRIPTS]
    cases += [f"{c}{c}" for c in CONTROL] + [f" {n}" for n in NUMBERS] + [f"x{n}" for n in NUMBERS]
    return cases


def exhaustive():
    """Every string of length 1..3 over an alphabet that meets each branch of the regexes."""
    alphabet = [" ", "\t", "\n", "\r", "a", "S", "1", "!", "'", "\u00a0", "\u00e9", "<"]
    out = []
    for a in alphabet:
        out.append(a)
        for b in alphabet:
            out.append(a + b)
            for c in alphabet:
                out.append(a + b + c)
    return out


def fuzz(n, seed=20251207):
    rng = random.Random(seed)
    pools = [WORDS, NUMBERS, CODE, EMOJI, SCRIPTS, COMBINING, ZERO_WIDTH, SPACES, CONTROL, SPECIALS, PARTIAL]
    blocks = [(0x20, 0x7e), (0xa0, 0x2ff), (0x300, 0x36f), (0x370, 0x52f), (0x590, 0x6ff), (0x900, 0x97f),
              (0xe00, 0xe7f), (0x2000, 0x206f), (0x3000, 0x30ff), (0x4e00, 0x4fff), (0xac00, 0xad00),
              (0xff00, 0xffef), (0x1f300, 0x1f64f), (0x1d400, 0x1d4ff)]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 6)):
            r = rng.random()
            if r < 0.75:
                parts.append(rng.choice(rng.choice(pools)))
            elif r < 0.9:
                lo, hi = rng.choice(blocks)
                parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 4))))
            else:
                parts.append(rng.choice(" \t\n\r") * rng.randint(1, 5))
        out.append("".join(parts))
    return out


def strings():
    seen, out = set(), []
    for s in edge_cases() + exhaustive() + fuzz(600):
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


# ------------------------------------------------------------------------------------------ output
def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))


def write_ids(name, ids, ext="ids"):
    with open(os.path.join(OUT, f"{name}.{ext}"), "w") as f:
        for row in ids:
            f.write(" ".join(map(str, row)) + "\n")


def encode_all(tj, texts):
    tok = Tokenizer.from_str(json.dumps(tj))
    return [tok.encode(s, add_special_tokens=False).ids for s in texts]


def compare_with_transformers(path, name, texts, ids):
    """How often transformers' own GGUF conversion disagrees with the official structure (it drops parts)."""
    from transformers import AutoTokenizer
    t = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    theirs = [t.encode(s, add_special_tokens=False) for s in texts]
    bad = [s for s, a, b in zip(texts, ids, theirs) if a != b]
    print(f"{name}: transformers' GGUF conversion differs on {len(bad)} of {len(texts)} strings, e.g. "
          f"{bad[:4]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smollm2", default=default_gguf("TIR_SMOLLM2_GGUF", "smollm2-135m-instruct-q4_1.gguf"))
    ap.add_argument("--qwen2", default=default_gguf("TIR_QWEN_GGUF", "qwen2.5-coder-0.5b-instruct.gguf"))
    ap.add_argument("--merges", type=int, default=MERGES)
    ap.add_argument("--check-transformers", action="store_true", help="also count disagreements with transformers")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    texts = strings()
    with open(os.path.join(OUT, "strings.json"), "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(s, ensure_ascii=False) for s in texts) + "\n]\n")
    print(f"{len(texts)} strings")

    full = {"smollm2": official(args.smollm2, merges_as_pairs=False), "qwen2": official(args.qwen2, merges_as_pairs=True)}
    for name, tj in full.items():
        small = truncated(tj, args.merges)
        write_json(os.path.join(OUT, f"{name}-truncated.json"), small)
        write_ids(name, encode_all(small, texts))
        t0 = time.time()
        ids = encode_all(tj, texts)
        write_ids(f"{name}-full", ids)
        print(f"{name}: vocab {len(small['model']['vocab'])} of {len(tj['model']['vocab'])}, "
              f"{len(small['model']['merges'])} merges; the full one built and run in {time.time() - t0:.2f} s")
        if args.check_transformers:
            compare_with_transformers(args.smollm2 if name == "smollm2" else args.qwen2, name, texts, ids)
    for name, pre in pre_tokenizers(full).items():
        write_ids(name, [[end for _, (_, end) in pre.pre_tokenize_str(s)] for s in texts], ext="splits")
    for f in sorted(os.listdir(OUT)):
        print(f"  {f}: {os.path.getsize(os.path.join(OUT, f)) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
