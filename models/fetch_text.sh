#!/usr/bin/env bash
# Evaluation and calibration text from Debian's python3.11-doc package (English prose, the
# Python documentation sources), not committed:
#   models/text/eval.txt   the tutorial (perplexity / KL divergence)
#   models/text/calib.txt  the HOWTOs (calibration for imatrix / AWQ / GPTQ; disjoint from eval)
# Needs apt-get (no root: the package is downloaded and unpacked, not installed).
set -euo pipefail
cd "$(dirname "$0")"
out=text
# the figures in BENCHMARKS.md were measured on the texts with these hashes
EVAL_SHA=4631e642040836cf6d0cef894ab84a376bd86f45ba87cd88d87b58ada3d96c53
CALIB_SHA=4758d319723f8e2ec55298dc3a45bcd0d26a6d369fce4f2bb80613bfd170d5f3
if [ -s "$out/eval.txt" ] && [ -s "$out/calib.txt" ]; then exit 0; fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download python3.11-doc >/dev/null 2>&1) || {
    echo "error: 'apt-get download python3.11-doc' failed (is a Debian mirror reachable?)" >&2
    exit 1
}
dpkg-deb -x "$tmp"/python3.11-doc_*.deb "$tmp/x"
src="$tmp/x/usr/share/doc/python3.11/html/_sources"
mkdir -p "$out"
LC_ALL=C cat $(LC_ALL=C ls "$src"/tutorial/*.rst.txt) > "$out/eval.txt.tmp"
LC_ALL=C cat $(LC_ALL=C ls "$src"/howto/*.rst.txt) > "$out/calib.txt.tmp"
mv "$out/eval.txt.tmp" "$out/eval.txt"
mv "$out/calib.txt.tmp" "$out/calib.txt"
for f in eval calib; do
    want=EVAL_SHA; [ $f = calib ] && want=CALIB_SHA
    got="$(sha256sum "$out/$f.txt" | cut -d' ' -f1)"
    if [ "$got" != "${!want}" ]; then
        echo "note: $out/$f.txt differs from the text the recorded figures used (sha256 $got);" \
             "the package was updated: figures may move slightly" >&2
    fi
done
echo "wrote $out/eval.txt ($(wc -c < "$out/eval.txt") bytes), $out/calib.txt ($(wc -c < "$out/calib.txt") bytes)"
