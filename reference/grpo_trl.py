#!/usr/bin/env python3
"""TRL reference for `tir bench grpo`: seconds per GRPOTrainer step (generation, log-probs, loss, backward,
AdamW) with the `small` policy (random init, byte-level vocabulary), B prompts x G samples, at most L new
tokens, one update per step and a cheap string reward, so the figure is the trainer's own cost. Prompts are
ours: "Question: What is X * Y?\\n" after a BOS token. Median of the steps after one warm-up step."""
import tempfile, time
import torch
from datasets import Dataset
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast, TrainerCallback
from trl import GRPOConfig, GRPOTrainer
from common import BOS, CONFIGS, byte_symbols, emit, parser, set_torch_threads
from decode_hf import hf_policy

SPECIALS = ["<pad>", "<bos>", "<eos>", "<reserved>"]


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


def main():
    ap = parser(__doc__, config=False)
    ap.add_argument("--prompts", type=int, default=16, help="B")
    ap.add_argument("--samples", type=int, default=8, help="G")
    ap.add_argument("--max-new-tokens", type=int, default=128, help="L")
    ap.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    a = ap.parse_args()
    set_torch_threads(a.threads)
    torch.manual_seed(0)
    n = a.prompts * (a.steps + 2)
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
    trainer = GRPOTrainer(model=hf_policy(CONFIGS["small"]), reward_funcs=reward, args=args, train_dataset=data,
                          processing_class=byte_tokenizer(), callbacks=[timer])
    trainer.train()
    timed = sorted(timer.times[1:]) or timer.times
    med = timed[len(timed) // 2]
    emit(dict(reference="trl_grpo_step", config="small", B=a.prompts, G=a.samples, max_new_tokens=a.max_new_tokens,
              step_s=med, steps=timer.times[1:], completions_per_s=a.prompts * a.samples / med),
         a.threads, ["torch", "transformers", "trl"])


if __name__ == "__main__":
    main()
