#!/usr/bin/env python3
"""PyTorch eager reference for `tir bench train`: tokens/s of one optimizer step (forward, cross-entropy,
backward, AdamW) of the same Llama-style policy on the same batch shape (small: 16 x 256, base: 8 x 512).
The model is written the way one writes it in plain PyTorch, with the same matrices as ours: fused q/k/v and
gate/up projections, RMSNorm, rotate-half RoPE, causal scaled_dot_product_attention, SwiGLU, tied head."""
import time
import torch
import torch.nn as nn
import torch.nn.functional as F
from common import CONFIGS, NORM_EPS, ROPE_THETA, emit, load_hf_model, parser, set_torch_threads


def rotate_half_rope(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, f = c["dim"], c["ffn"]
        self.heads, self.ffn = c["heads"], f
        self.attn_norm, self.mlp_norm = nn.RMSNorm(d, eps=NORM_EPS), nn.RMSNorm(d, eps=NORM_EPS)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.gate_up = nn.Linear(d, 2 * f, bias=False)
        self.down = nn.Linear(f, d, bias=False)

    def forward(self, x, cos, sin):
        b, t, d = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(rotate_half_rope(q, cos, sin), rotate_half_rope(k, cos, sin), v,
                                           is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, t, d))
        gate, up = self.gate_up(self.mlp_norm(x)).split(self.ffn, dim=-1)
        return x + self.down(F.silu(gate) * up)


class Policy(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed = nn.Embedding(c["vocab"], c["dim"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["layers"]))
        self.norm = nn.RMSNorm(c["dim"], eps=NORM_EPS)
        hd = c["dim"] // c["heads"]
        inv_freq = ROPE_THETA ** (-torch.arange(0, hd, 2).float() / hd)
        angles = torch.outer(torch.arange(c["ctx"]).float(), inv_freq).repeat(1, 2)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, tokens):
        t = tokens.shape[1]
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, self.cos[:t], self.sin[:t])
        return self.norm(x) @ self.embed.weight.t()


def main():
    ap = parser(__doc__)
    ap.add_argument("--steps", type=int, default=5, help="timed steps after 2 warm-up steps (median reported)")
    ap.add_argument("--batch", type=int, default=8, help="sequences per step with --model")
    ap.add_argument("--ctx", type=int, default=256, help="tokens per sequence with --model")
    a = ap.parse_args()
    set_torch_threads(a.threads)
    c = dict(CONFIGS[a.config])
    torch.manual_seed(0)
    if a.model:    # transformers' LlamaForCausalLM / Qwen2ForCausalLM on the real weights
        hf, _ = load_hf_model(a.model)
        hf.train()
        c.update(vocab=hf.config.vocab_size, batch=a.batch, ctx=a.ctx)
        model = lambda tokens: hf(input_ids=tokens).logits
        model.parameters = hf.parameters
    else:
        model = Policy(c)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    seq = torch.randint(0, c["vocab"], (c["batch"], c["ctx"] + 1))
    inputs, targets = seq[:, :-1], seq[:, 1:].reshape(-1)

    def step():
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(inputs).reshape(-1, c["vocab"]), targets)
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    for _ in range(2):
        step()
    times = sorted(step() for _ in range(max(1, a.steps)))
    med = times[len(times) // 2]
    emit(dict(reference="pytorch_eager_train", config=a.model or a.config, batch=c["batch"], ctx=c["ctx"],
              params=sum(p.numel() for p in model.parameters()), step_s=med,
              tokens_per_s=c["batch"] * c["ctx"] / med),
         a.threads, ["torch"])


if __name__ == "__main__":
    main()
