#!/usr/bin/env bash
# Side-by-side performance: `tir bench` against the reference programs in reference/ (PyTorch eager, HF
# generate(), TRL GRPOTrainer, optionally llama.cpp), in alternating pairs on this machine, then a ratio table.
# The reference environment lives outside the repo, in $TIR_REF_DIR (default ~/.cache/swifttir-ref).
# Usage and what each line measures: reference/README.md.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/compare.sh [--pairs N] [--only LIST] [--llamacpp] [--threads N] [--json FILE] [--no-build]
       scripts/compare.sh --model PATH [--pairs N] [--only train|decode|grpo] [--threads N] [--json FILE] [--no-build]

  --pairs N      alternating ours/reference pairs per line (default 3)
  --only LIST    comma-separated lines or groups: train (train-small), train-base, decode (decode-small,
                 decode-base), grpo, llamacpp (llamacpp-small, llamacpp-base; implies --llamacpp)
  --llamacpp     also compare with llama.cpp (builds llama-cpp-python once: ~8 min on 2 cores)
  --threads N    threads for ours and every reference (default: all cores, `tir bench`'s default)
  --json FILE    also save the raw figures and the summary as JSON
  --no-build     use the existing .build/release/tir
  --model PATH   a real model instead of the toy presets (a .gguf file or a Hugging Face directory; no spaces in
                 the path): train (8 x 256), decode (batch 16) and grpo (8 x 8, TRL) lines, ours on PATH against transformers'
                 LlamaForCausalLM / Qwen2ForCausalLM on the same weights in fp32 (a .gguf is dequantized once
                 into $TIR_REF_DIR/models/NAME-hf by reference/gguf_to_hf.py), and a decode line with bf16
                 weights on both sides (decode-model-bf16), and ours with q8 weights against HF in fp32
                 (decode-model-q8); with --llamacpp also llama.cpp on the model written
                 as an F32 GGUF by `tir export` (llamacpp-model)
Environment: TIR_REF_DIR (reference venv, models, logs), TIR_REF_PYTHON (python3 used to make the venv).
EOF
}

PAIRS=3 ONLY="" LLAMACPP=0 THREADS=$(nproc) JSON_OUT="" BUILD=1 MODEL=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) PAIRS=${2:?--pairs needs a number}; shift 2 ;;
    --only) ONLY=${2:?--only needs a list}; shift 2 ;;
    --llamacpp) LLAMACPP=1; shift ;;
    --threads) THREADS=${2:?--threads needs a number}; shift 2 ;;
    --json) JSON_OUT=$(realpath -m "${2:?--json needs a file}"); shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --model) MODEL=$(realpath "${2:?--model needs a path}"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$PAIRS" =~ ^[1-9][0-9]*$ ]] || { echo "compare: --pairs must be a positive integer, got '$PAIRS'" >&2; exit 2; }
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || { echo "compare: --threads must be a positive integer, got '$THREADS'" >&2; exit 2; }

REPO=$(cd "$(dirname "$0")/.." && pwd)
REF_DIR=${TIR_REF_DIR:-$HOME/.cache/swifttir-ref}
PY=$REF_DIR/venv/bin/python
TORCH_PIN="torch==2.13.0+cpu"                       # +cpu: never pip's default CUDA build (~3 GB)
HF_PINS=(transformers==5.24.0 trl==1.16.0 datasets==5.2.0)
MODEL_PINS=(gguf==0.19.0 accelerate==1.16.0)       # gguf_to_hf.py: transformers' GGUF loading
LLAMA_PINS=(llama-cpp-python==0.3.36 gguf==0.19.0)

# Line table: id | label | reference | ours command | reference program and args | metric | better | target
LINES=(
  "train-small|train small, tokens/s|PyTorch eager|bench train --config small|train_torch.py --config small|tokens_per_s|higher|1.25"
  "train-base|train base, tokens/s|PyTorch eager|bench train --config base|train_torch.py --config base|tokens_per_s|higher|"
  "decode-small|decode small (batch 16), new tokens/s|HF generate|bench decode --config small|decode_hf.py --config small|tokens_per_s|higher|6"
  "decode-base|decode base (batch 8), new tokens/s|HF generate|bench decode --config base|decode_hf.py --config base|tokens_per_s|higher|"
  "grpo|GRPO step (B16×G8, ≤128 new tokens), s|TRL GRPOTrainer|bench grpo|grpo_trl.py|step_s|lower|2.5"
  "llamacpp-small|decode small (batch 16), new tokens/s|llama.cpp|bench decode --config small|decode_llamacpp.py --config small|tokens_per_s|higher|"
  "llamacpp-base|decode base (batch 8), new tokens/s|llama.cpp|bench decode --config base|decode_llamacpp.py --config base|tokens_per_s|higher|1.25"
)

if [ -n "$MODEL" ]; then
  [ -e "$MODEL" ] || { echo "compare: --model: no file or directory $MODEL" >&2; exit 2; }
  HF_MODEL=$MODEL
  [ -d "$MODEL" ] || HF_MODEL=$REF_DIR/models/$(basename "$MODEL" .gguf)-hf
  F32_GGUF=$REF_DIR/models/$(basename "$MODEL" .gguf)-f32.gguf   # llama.cpp's input, written by tir export
  name=$(basename "$MODEL")
  LINES=(
    "train-model|train $name (8 x 256), tokens/s|PyTorch eager (transformers)|bench train --checkpoint $MODEL|train_torch.py --model $HF_MODEL|tokens_per_s|higher|1.5"
    "decode-model|decode $name (batch 16), new tokens/s|HF generate|bench decode --checkpoint $MODEL|decode_hf.py --model $HF_MODEL|tokens_per_s|higher|4"
    "decode-model-bf16|decode $name (batch 16), bf16 weights, new tokens/s|HF generate in bf16|bench decode --checkpoint $MODEL --weights bf16|decode_hf.py --model $HF_MODEL --dtype bfloat16|tokens_per_s|higher|"
    "decode-model-q8|decode $name (batch 16), ours with q8 weights, new tokens/s|HF generate (fp32)|bench decode --checkpoint $MODEL --weights q8|decode_hf.py --model $HF_MODEL|tokens_per_s|higher|4"
    "grpo-model|GRPO step $name (B8×G8, ≤128 new tokens), s|TRL GRPOTrainer|bench grpo --checkpoint $MODEL --steps 2|grpo_trl.py --model $HF_MODEL --steps 2|step_s|lower|3"
    "llamacpp-model|decode $name (batch 16), new tokens/s|llama.cpp (F32 GGUF)|bench decode --checkpoint $MODEL|decode_llamacpp.py --model $F32_GGUF|tokens_per_s|higher|1.3"
  )
fi

selected() {  # selected ID: is line ID chosen by --only (or by default)?
  local id=$1 group=${1%%-*}
  if [ -z "$ONLY" ]; then
    [ "$id" != train-base ] && { [ "$group" != llamacpp ] || [ "$LLAMACPP" = 1 ]; }
    return
  fi
  [[ ",$ONLY," == *",$id,"* ]] && return 0
  [ "$id" != train-base ] && [[ ",$ONLY," == *",$group,"* ]]
}

CHOSEN=()
for spec in "${LINES[@]}"; do
  id=${spec%%|*}
  if selected "$id"; then CHOSEN+=("$spec"); fi
done
for want in ${ONLY//,/ }; do
  printf '%s\n' "${LINES[@]}" | cut -d'|' -f1 | grep -qx -e "$want" -e "$want-.*" \
    || { echo "compare: --only: unknown line '$want'" >&2; usage >&2; exit 2; }
done
[ ${#CHOSEN[@]} -gt 0 ] || { echo "compare: no line selected" >&2; exit 2; }
LLAMACPP=0   # from here on: whether a chosen line needs llama.cpp
for spec in "${CHOSEN[@]}"; do if [[ "$spec" == llamacpp-* ]]; then LLAMACPP=1; fi; done

# --- build ours
cd "$REPO"
if [ "$BUILD" = 1 ]; then
  echo "compare: swift build -c release" >&2
  swift build -c release >&2
fi
TIR=$(swift build -c release --show-bin-path)/tir
[ -x "$TIR" ] || { echo "compare: $TIR not found; run without --no-build" >&2; exit 1; }

# --- reference environment
has_pins() {  # has_pins NAME==VERSION...: are exactly these versions installed in the venv?
  [ -x "$PY" ] && "$PY" - "$@" 2>/dev/null <<'EOF'
import sys
from importlib.metadata import version
sys.exit(0 if all(version(n) == v for n, v in (a.split("==") for a in sys.argv[1:])) else 1)
EOF
}
mkdir -p "$REF_DIR"
if ! has_pins "$TORCH_PIN" "${HF_PINS[@]}"; then
  t0=$SECONDS
  echo "compare: setting up $REF_DIR/venv ($TORCH_PIN ${HF_PINS[*]})" >&2
  [ -x "$PY" ] || "${TIR_REF_PYTHON:-python3}" -m venv "$REF_DIR/venv"
  "$PY" -m pip install -q --upgrade pip >&2
  # A local find-links folder may already hold the CPU wheel; otherwise PyTorch's CPU index has it.
  "$PY" -m pip install -q "$TORCH_PIN" >&2 2>/dev/null \
    || "$PY" -m pip install -q "$TORCH_PIN" --index-url https://download.pytorch.org/whl/cpu >&2
  "$PY" -m pip install -q "${HF_PINS[@]}" >&2
  has_pins "$TORCH_PIN" "${HF_PINS[@]}" || { echo "compare: the venv does not hold the pinned versions" >&2; exit 1; }
  echo "compare: reference environment ready in $((SECONDS - t0)) s" >&2
fi
if [ -n "$MODEL" ] && [ ! -f "$HF_MODEL/config.json" ]; then
  has_pins "${MODEL_PINS[@]}" || "$PY" -m pip install -q "${MODEL_PINS[@]}" >&2
  echo "compare: dequantizing $MODEL into $HF_MODEL" >&2
  mkdir -p "$(dirname "$HF_MODEL")"
  "$PY" "$REPO/reference/gguf_to_hf.py" "$MODEL" "$HF_MODEL" >&2
fi
if [ -n "$MODEL" ] && [ "$LLAMACPP" = 1 ] && [ ! -f "$F32_GGUF" ]; then
  echo "compare: writing $MODEL as an F32 GGUF for llama.cpp: $F32_GGUF" >&2
  mkdir -p "$(dirname "$F32_GGUF")"
  "$TIR" export --checkpoint "$MODEL" --out "$F32_GGUF" >&2
fi
if [ "$LLAMACPP" = 1 ] && ! has_pins "${LLAMA_PINS[@]}"; then
  t0=$SECONDS
  echo "compare: building ${LLAMA_PINS[0]} (compiles llama.cpp; several minutes)" >&2
  "$PY" -m pip install -q "${LLAMA_PINS[1]}" cmake ninja >&2
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} "$PY" -m pip install -q --no-cache-dir \
    "${LLAMA_PINS[0]}" --config-settings=build-dir="$REF_DIR/llama-build" >&2
  echo "compare: llama.cpp ready in $((SECONDS - t0)) s" >&2
fi

# --- alternating pairs, one process at a time
RUN_DIR=$REF_DIR/runs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN_DIR"
export PYTHONDONTWRITEBYTECODE=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error PYTHONWARNINGS=ignore
printf 'started\t%s\nload_start\t%s\npairs\t%s\nthreads\t%s\n' "$(date -Iseconds)" \
  "$(cut -d' ' -f1 /proc/loadavg)" "$PAIRS" "$THREADS" > "$RUN_DIR/meta.tsv"
: > "$RUN_DIR/lines.tsv"

measure() {  # measure FILE-STEM CMD...: stdout to STEM.out, stderr to STEM.log, exit code to STEM.rc
  local stem=$1; shift
  local rc=0
  "$@" > "$stem.out" 2> "$stem.log" || rc=$?
  echo "$rc" > "$stem.rc"
  [ "$rc" = 0 ] || echo "compare:   failed (exit $rc), see $stem.log" >&2
}

run_side() {  # run_side ours|reference: one measurement of the current line ($id, $ours, $refcmd) and pair ($p)
  # shellcheck disable=SC2086  # the command strings in LINES are word lists
  if [ "$1" = ours ]; then measure "$RUN_DIR/$id.$p.ours" "$TIR" $ours --threads "$THREADS" --json
  else measure "$RUN_DIR/$id.$p.reference" "$PY" "$REPO/reference/"$refcmd --threads "$THREADS"; fi
}

for spec in "${CHOSEN[@]}"; do
  IFS='|' read -r id label refname ours refcmd metric better target <<< "$spec"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$label" "$refname" "$metric" "$better" "$target" >> "$RUN_DIR/lines.tsv"
  for ((p = 1; p <= PAIRS; p++)); do
    echo "compare: $id pair $p/$PAIRS" >&2
    if ((p % 2)); then run_side ours; run_side reference; else run_side reference; run_side ours; fi   # swap order
  done
done
printf 'load_end\t%s\nfinished\t%s\n' "$(cut -d' ' -f1 /proc/loadavg)" "$(date -Iseconds)" >> "$RUN_DIR/meta.tsv"

status=0
"$PY" "$REPO/reference/report.py" "$RUN_DIR" ${JSON_OUT:+--json "$JSON_OUT"} || status=$?
echo "compare: raw outputs and logs in $RUN_DIR" >&2
exit $status
