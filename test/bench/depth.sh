#!/usr/bin/env bash
# Decode at depth, qlm against llama.cpp (llama-cpp-python, see bench_llamacpp.py) with the same
# KV cache type, alternating engine by engine so both see the same machine load.
#   bash test/bench/depth.sh [-d 4096] [-n 64] [-r 2] [-t 2] [-P passes] MODEL [KV types...]
# KV types default to q8_0 q4_0 f16; qlm's own q4 (no llama.cpp twin) runs after each pass.
set -eu
cd "$(dirname "$0")/../.."
d=4096; n=64; r=2; t=2; P=1
while getopts "d:n:r:t:P:" o; do case $o in d) d=$OPTARG;; n) n=$OPTARG;; r) r=$OPTARG;; t) t=$OPTARG;; P) P=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: depth.sh [opts] MODEL [KV types]" >&2; exit 2; }
m=$1; shift
types=("$@"); [ ${#types[@]} -gt 0 ] || types=(q8_0 q4_0 f16)
for pass in $(seq 1 "$P"); do
    for k in "${types[@]}"; do
        echo "== pass $pass $k, $(uptime | sed 's/.*load/load/')"
        ./qlm bench -m "$m" -p 0 -n "$n" -d "$d" -r "$r" -t "$t" -ctk "$k" -ctv "$k" | tail -1
        python3 test/bench/bench_llamacpp.py "$m" -p 0 -n "$n" -d "$d" -r "$r" -t "$t" -k "$k" 2>/dev/null | tail -1
    done
    echo "== pass $pass q4 (qlm only)"
    ./qlm bench -m "$m" -p 0 -n "$n" -d "$d" -r "$r" -t "$t" -ctk q4 -ctv q4 | tail -1
done
