#!/usr/bin/env bash
# Builds the libFuzzer harnesses in Fuzz/ and runs each for SECONDS (default 30) from its committed seed corpus
# (Fuzz/corpus/<harness>/, copied to a temp dir so a run never changes the repo). Prints the executions per
# harness; fails if any harness crashes, hangs or breaks an invariant, printing where its input and log are kept
# ($FUZZ_OUT if set, else a temp dir that a clean run removes).
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]
#   (harnesses: safetensors gguf tokenizer hfconfig config jsonl turns answers)
set -euo pipefail
cd "$(dirname "$0")/../Fuzz"
seconds=${1:-30}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(safetensors gguf tokenizer hfconfig config jsonl turns answers)

# SwiftPM's --sanitize=fuzzer leaves libFuzzer's main in place of the executable's; the -Xswiftc flag then
# instruments for coverage and ASan together (two separate --sanitize flags would keep only the last).
flags=(-c debug --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address)
echo "fuzz: building ${harnesses[*]} (Fuzz/.build, debug, libFuzzer + ASan)" >&2
for h in "${harnesses[@]}"; do
  if ! build_log=$(swift build "${flags[@]}" --product "fuzz-$h" 2>&1); then
    echo "$build_log" | grep -v "ld.gold: warning: Cannot export local symbol" >&2
    echo "fuzz: building fuzz-$h failed" >&2
    exit 1
  fi
done

keep_out=${FUZZ_OUT:+yes}
out=${FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/swifttir-fuzz.XXXXXX")}
mkdir -p "$out"
# The Swift backtracer would hang inside a crashing ASan process; LeakSanitizer is off because Foundation's
# Data(contentsOf:) leaks a 4 KiB buffer on every empty file (not our code).
export SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
failed=()
printf '%-12s %12s %10s %8s\n' harness executions exec/s corpus
for h in "${harnesses[@]}"; do
  corpus="$out/corpus-$h"
  rm -rf "$corpus" && cp -r "corpus/$h" "$corpus"
  log="$out/$h.log"
  # Texts no longer than a long policy turn; files and configs up to a few KiB; tokenizer.json up to 16 KiB (the
  # 384-token fixture tokenizers are 12-14 KB, which a smaller cap would cut into invalid JSON).
  case $h in turns|answers) max_len=1024 ;; tokenizer) max_len=16384 ;; *) max_len=4096 ;; esac
  if ".build/debug/fuzz-$h" "$corpus" -dict="dict/$h.dict" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
       -max_len=$max_len -print_final_stats=1 -artifact_prefix="$out/$h-" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED; failed+=("$h")
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  printf '%-12s %12s %10s %8s %s\n' "$h" "${execs:-?}" "${rate:-?}" "$(ls "$corpus" | wc -l)" "$status"
done
if [ ${#failed[@]} -gt 0 ]; then
  for h in "${failed[@]}"; do
    echo "--- fuzz-$h failed; log $out/$h.log, input(s): $(ls "$out" | grep "^$h-" | sed "s|^|$out/|" | tr '\n' ' ')" >&2
    grep -v -E '^#[0-9]+' "$out/$h.log" | tail -40 >&2
  done
  exit 1
fi
[ -n "$keep_out" ] || rm -rf "$out"
