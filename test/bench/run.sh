#!/usr/bin/env bash
# Side-by-side speed: qlm bench and llama.cpp (llama-cpp-python 0.3.36, see bench_llamacpp.py)
# on the same files, same token ids, same thread count, one model after the other.
#   bash test/bench/run.sh [-t 2] [-p 512] [-n 128] [-r 3] [-d 0] [MODEL ...]
# Without models: the real SmolLM2 Q4_1 plus synthetic SmolLM2-shape Q4_0 / Q8_0 / Q4_K_M files
# written by `qlm synth` into /tmp (random weights: speed only).
set -eu
cd "$(dirname "$0")/../.."
t=2; p=512; n=128; r=3; d=0
while getopts "t:p:n:r:d:" o; do case $o in t) t=$OPTARG;; p) p=$OPTARG;; n) n=$OPTARG;; r) r=$OPTARG;; d) d=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND - 1))
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
    models=(models/SmolLM2-135M-Instruct.Q4_1.gguf)
    for ty in q4_0 q8_0 q4_k_m; do
        f=/tmp/qlm_bench_smollm2_$ty.gguf
        [ -f "$f" ] || ./qlm synth -o "$f" --shape smollm2 --type $ty
        models+=("$f")
    done
fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
for m in "${models[@]}"; do
    echo "### $m"
    ./qlm bench -m "$m" -p "$p" -n "$n" -t "$t" -r "$r" -d "$d" 2>/dev/null
    python3 test/bench/bench_llamacpp.py "$m" -p "$p" -n "$n" -t "$t" -r "$r" -d "$d" 2>/dev/null
done
