#!/usr/bin/env bash
# Long generation under three KV policies with the same seed and sampler, to tell the model's
# own degeneration from the cache's: a full cache (-c 8192, the control), StreamingLLM
# (-c 512 --sinks 4) and a plain 512-token window without sinks (--swa 512). For each text:
# the share of non-repeating word 4-grams per window (test/bench/repetition.py; loops -> 0)
# and the perplexity the model itself gives the text in 512-token chunks (gibberish -> high).
#   bash test/bench/sinks_quality.sh [N=8000] [MODEL]      (about 15 min for N=8000, 2 cores)
set -eu
cd "$(dirname "$0")/../.."
n="${1:-8000}"; model="${2:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
dir="$(mktemp -d)"
opts=(-m "$model" -p "Once upon a time, in a small village by the sea," -n "$n" -s 1 --temp 0.8
      --repeat-penalty 1.1 --ignore-eos -t 1)
./qlm "${opts[@]}" -c 8192 >"$dir/full.txt" 2>/dev/null &
./qlm "${opts[@]}" -c 512 --sinks 4 >"$dir/sinks.txt" 2>/dev/null
./qlm "${opts[@]}" -c 512 --swa 512 >"$dir/window.txt" 2>/dev/null
wait
python3 test/bench/repetition.py -w 800 full="$dir/full.txt" sinks="$dir/sinks.txt" window="$dir/window.txt"
for p in full sinks window; do
    printf '%s: ' "$p"
    ./qlm perplexity -m "$model" -f "$dir/$p.txt" -c 512 2>&1 | grep 'Final estimate' || echo "(perplexity failed)"
    printf '    ...%s\n' "$(tail -c 300 "$dir/$p.txt" | tr '\n' ' ')"
done
rm -rf "$dir"
