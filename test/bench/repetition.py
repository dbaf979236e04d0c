"""Repetition of generated text, window by window: the share of word 4-grams in each window of
W words that occur only once in that window (1.0: no 4-gram repeats; a text stuck in a loop
falls towards 0). Used to compare long generations with different KV-cache policies
(BENCHMARKS.md, "20k tokens at fixed memory"):

    python3 test/bench/repetition.py [-w 1000] NAME=FILE ...
"""
import argparse
from collections import Counter

ap = argparse.ArgumentParser()
ap.add_argument("-w", type=int, default=1000, help="window in words")
ap.add_argument("files", nargs="+", help="NAME=FILE")
a = ap.parse_args()

rows = []
for spec in a.files:
    name, path = spec.split("=", 1)
    words = open(path, encoding="utf-8", errors="replace").read().split()
    vals = []
    for s in range(0, len(words) - a.w + 1, a.w):
        win = words[s:s + a.w]
        grams = Counter(tuple(win[i:i + 4]) for i in range(len(win) - 3))
        total = sum(grams.values())
        vals.append(sum(c for c in grams.values() if c == 1) / total)
    rows.append((name, len(words), vals))

n = max(len(v) for _, _, v in rows)
print("| policy | words | " + " | ".join("w%d" % (i + 1) for i in range(n)) + " |")
print("| --- | ---: |" + " ---: |" * n)
for name, nw, vals in rows:
    print("| %s | %d | %s |" % (name, nw, " | ".join("%.2f" % v for v in vals) + " |" * (n - len(vals))))
