#!/usr/bin/env bash
# StreamingLLM at fixed memory: generate N tokens (default 20000) with -c 512 --sinks 4 and
# sample the process's resident memory every second; prints RSS after the first 1000 tokens
# and at the end, the largest sample, and the text's last 600 characters.
#   bash test/bench/sinks_rss.sh [N] [MODEL] [extra qlm options...]
set -eu
cd "$(dirname "$0")/../.."
n="${1:-20000}"; model="${2:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
[ $# -ge 2 ] && shift 2 || shift $#
out="$(mktemp)"; rss="$(mktemp)"
${QLM:-./qlm} -m "$model" -p "Once upon a time, in a small village by the sea," -n "$n" -c 512 --sinks 4 \
      -s 1 --temp 0.8 --repeat-penalty 1.1 --ignore-eos -t 2 "$@" >"$out" 2>"$out.err" &
pid=$!
while kill -0 $pid 2>/dev/null; do
    awk -v t="$(date +%s)" '/VmRSS/ {print t, $2}' /proc/$pid/status 2>/dev/null >>"$rss" || true
    sleep 1
done
wait $pid || { echo "qlm failed:"; cat "$out.err"; exit 1; }
tokens=$(grep -o 'eval time.*/ *[0-9]* runs' "$out.err" | grep -o '[0-9]* runs' | cut -d' ' -f1 || echo "?")
echo "generated: $tokens tokens after the prompt; $(wc -c <"$out") bytes of text"
echo "RSS samples: $(wc -l <"$rss"); first: $(head -1 "$rss" | cut -d' ' -f2) kB;" \
     "after 10 s: $(sed -n 10p "$rss" | cut -d' ' -f2) kB; last: $(tail -1 "$rss" | cut -d' ' -f2) kB;" \
     "max: $(cut -d' ' -f2 "$rss" | sort -n | tail -1) kB"
grep -E 'eval time|KV cache' "$out.err" || true
echo "--- last 600 characters ---"; tail -c 600 "$out"; echo
rm -f "$out" "$out.err" "$rss"
