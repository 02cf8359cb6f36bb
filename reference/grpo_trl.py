#!/usr/bin/env python3
"""TRL reference for `tir bench grpo`: seconds per GRPOTrainer step (generation, log-probs, loss, backward,
AdamW) with the `small` policy (random init, byte-level vocabulary), B prompts x G samples, at most L new
tokens, one update per step and a cheap string reward, so the figure is the trainer's own cost. Prompts are
ours: "Question: What is X * Y?\\n" after a BOS token. Median of the steps after one warm-up step.
With --model, a Hugging Face chat model in fp32 instead (8 prompts x 8 samples by default), on the prompts of
the real-model bench: one user message, "What is X multiplied by Y?" and the code-block instruction, which
TRL renders with the model's chat template (its default system prompt included) and a generation prompt."""
import os, re, tempfile, time
import torch
from datasets import Dataset
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import AutoTokenizer, PreTrainedTokenizerFast, TrainerCallback
from trl import GRPOConfig, GRPOTrainer
from common import BOS, CONFIGS, byte_symbols, emit, load_hf_model, parser, set_torch_threads
from decode_hf import hf_policy

SPECIALS = ["<pad>", "<bos>", "<eos>", "<reserved>"]
INSTRUCTION = ("Write a Python code block that prints the answer; its output will be shown to you in an ```output "
               "block. Then write the final answer as \\boxed{ANSWER}.")


def byte_tokenizer():
    """Our ByteTokenizer as a Hugging Face tokenizer: 4 specials, then byte b as id 4 + b."""
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    vocab.update({sym: len(SPECIALS) + b for b, sym in enumerate(byte_symbols())})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", BOS)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>")


class StepTimer(TrainerCallback):
    def __init__(self):
        self.times = []

    def on_step_begin(self, args, state, control, **kw):
        self.t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self.times.append(time.perf_counter() - self.t0)


def last_number(text):
    """The last number written in text, digits only ("37,000" and "37000" alike), or None."""
    numbers = re.findall(r"\d+", re.sub(r"(?<=\d),(?=\d{3})", "", text))
    return numbers[-1] if numbers else None


def main():
    ap = parser(__doc__, config=False)
    ap.add_argument("--model", help="a Hugging Face chat model directory instead of the random `small` policy: "
                    "the real model in fp32, chat prompts, as the real-model `tir bench grpo`")
    ap.add_argument("--prompts", type=int, help="B (default: 16, or 8 with --model)")
    ap.add_argument("--samples", type=int, default=8, help="G")
    ap.add_argument("--max-new-tokens", type=int, default=128, help="L")
    ap.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    a = ap.parse_args()
    if a.prompts is None:
        a.prompts = 8 if a.model else 16
    set_torch_threads(a.threads)
    torch.manual_seed(0)
    n = a.prompts * (a.steps + 2)
    if a.model:    # conversational prompts: TRL applies the chat template with add_generation_prompt=True
        model, _ = load_hf_model(a.model)
        tokenizer = AutoTokenizer.from_pretrained(a.model)
        config = os.path.basename(os.path.normpath(a.model))
        data = Dataset.from_dict({
            "prompt": [[{"role": "user", "content": f"What is {1000 + i} multiplied by {37 + i}?\n" + INSTRUCTION}]
                       for i in range(n)],
            "answer": [str((1000 + i) * (37 + i)) for i in range(n)]})

        def reward(prompts, completions, answer, **kw):   # completions: [{"role": "assistant", "content": ...}]
            return [1.0 if last_number(c[-1]["content"]) == x else 0.0 for c, x in zip(completions, answer)]
    else:
        model, tokenizer, config = hf_policy(CONFIGS["small"]), byte_tokenizer(), "small"
        answers = {f"Question: What is {1000 + i} * {37 + i}?\n": str((1000 + i) * (37 + i)) for i in range(n)}
        data = Dataset.from_dict({"prompt": list(answers)})

        def reward(prompts, completions, **kw):
            return [1.0 if "\\boxed{" + answers[p] + "}" in c else 0.0 for p, c in zip(prompts, completions)]

    timer = StepTimer()
    args = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="grpo_trl_"), use_cpu=True, bf16=False, report_to=[],
        save_strategy="no", logging_steps=1, disable_tqdm=True, dataloader_num_workers=0, seed=0,
        per_device_train_batch_size=a.prompts * a.samples, num_generations=a.samples,
        gradient_accumulation_steps=1, max_completion_length=a.max_new_tokens, max_steps=a.steps + 1,
        learning_rate=1e-5, temperature=1.0, beta=0.0)
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=args, train_dataset=data,
                          processing_class=tokenizer, callbacks=[timer])
    trainer.train()
    timed = sorted(timer.times[1:]) or timer.times
    med = timed[len(timed) // 2]
    emit(dict(reference="trl_grpo_step", config=config, B=a.prompts, G=a.samples, max_new_tokens=a.max_new_tokens,
              step_s=med, steps=timer.times[1:], completions_per_s=a.prompts * a.samples / med),
         a.threads, ["torch", "transformers", "trl"])


if __name__ == "__main__":
    main()
