#!/usr/bin/env bash
# test_quant.sh — qlm quantize / qlm imatrix end to end.
#
#   bash test/test_quant.sh BUILD_DIR ./qlm models/SmolLM2-135M-Instruct.Q4_1.gguf
#
# 1. build/test_quant --fixture: tensor types of every file type against llama.cpp's choice,
#    tensor data bytes against llama.cpp's files, the same bytes with 1 and 2 threads; it
#    leaves qlm's Q4_K_M and Q8_0 files in a temporary directory;
# 2. those files are the very files llama.cpp ran on for the golden fixtures (sha256 in the
#    fixture header), and test_model checks qlm's greedy tokens on them against llama.cpp's;
# 3. the command line: usage errors and bad input exit non-zero with a message and leave
#    neither OUT nor OUT.tmp; imatrix -> quantize --imatrix end to end.
# The last line is "N passed, N failed".
build=${1:-build}
QLM=${2:-./qlm}
MODEL=${3:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qlm_quant.XXXXXX") || { echo "0 passed, 1 failed"; exit 1; }
trap 'rm -rf "$tmp"' EXIT
ok()   { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; [ -n "$2" ] && printf '%s\n' "$2" | head -n 8 | sed 's/^/    # /'; }

# add the "N passed, N failed" of a sub-program to ours
sub() { # name, command...
    local name=$1; shift
    local out; out=$("$@" 2>&1)
    local rc=$?
    local last; last=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
    if [ -z "$last" ]; then fail "$name: no result line (exit $rc)" "$(printf '%s\n' "$out" | tail -8)"; return; fi
    local p=${last%% passed*} f=${last#*, }; f=${f%% failed*}
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" != 0 ] || [ $rc != 0 ]; then
        echo "FAIL - $name: $last (exit $rc)"; printf '%s\n' "$out" | grep -E 'FAIL' | head -20
        [ "$f" = 0 ] && failed=$((failed + 1))
    else
        echo "ok - $name: $last"
    fi
}

sub "llama.cpp's types and bytes" "$build/test_quant" "$MODEL" --fixture test/fixtures/quant_smollm2.txt "$tmp"

# Tolerances: Q8_0 as the SmolLM2 golden test. On the Q4_K_M file llama.cpp's own logits at
# the 3rd and 4th prompt positions of record 1 move by up to 0.89 between one llama_decode of
# the prompt and one token at a time (its batched and single-row K-quant paths round
# differently); qlm is 1.1-1.4 away there, so that file gets a top-5 tolerance of 1.5 and,
# consistently, a near-tie of 1.0 (a greedy step can flip wherever llama.cpp's top-two gap is
# below the logit difference allowed; seen at record 1 step 20 after the KV-cache attention
# changed its summation order).
for ft in Q4_K_M Q8_0; do
    lc=$(echo "$ft" | tr 'A-Z' 'a-z')
    tol="0.75 0.4"; [ "$ft" = Q4_K_M ] && tol="1.5 1.0"
    fx=test/fixtures/quant_${lc}_golden.txt
    f=$tmp/smollm2_$ft.gguf
    want=$(grep -m1 '^# model ' "$fx" | awk '{print $5}')
    got=$(sha256sum "$f" 2>/dev/null | awk '{print $1}')
    if [ -n "$want" ] && [ "$got" = "$want" ]; then ok "$ft: qlm's file is the one llama.cpp ran on"
    else fail "$ft: sha256 $got, fixture made on $want"; fi
    sub "$ft greedy vs llama.cpp" "$build/test_model" "$f" "$fx" --golden-only --tol $tol --min-records 3
done

# ---- the command line ----------------------------------------------------------------------
# expect_fail NAME STATUS REGEX OUT CMD...: exit STATUS, stderr matches, no OUT / OUT.tmp
expect_fail() {
    local name=$1 want=$2 re=$3 outf=$4; shift 4
    "$@" >"$tmp/o" 2>"$tmp/e"
    local st=$?
    if [ $st -ne "$want" ]; then fail "$name (exit $st, want $want)" "$(cat "$tmp/e")"
    elif ! grep -Eiq -- "$re" "$tmp/e"; then fail "$name (stderr does not match /$re/)" "$(cat "$tmp/e")"
    elif [ -n "$outf" ] && { [ -e "$outf" ] || [ -e "$outf.tmp" ]; }; then fail "$name (left $outf or $outf.tmp)"
    else ok "$name (exit $st)"; fi
}
out=$tmp/out.gguf
printf 'GGUF\003\000\000\000garbage' > "$tmp/corrupt.gguf"
mkdir -p "$tmp/ro" && chmod 555 "$tmp/ro"
expect_fail "quantize without arguments" 2 "needs IN.gguf OUT.gguf TYPE" "" "$QLM" quantize
expect_fail "unknown type" 2 "unknown quantisation type 'Q4_X'" "$out" "$QLM" quantize "$MODEL" "$out" Q4_X
expect_fail "missing input" 1 "cannot open" "$out" "$QLM" quantize "$tmp/none.gguf" "$out" Q8_0
expect_fail "corrupt input" 1 "truncated|malformed|GGUF" "$out" "$QLM" quantize "$tmp/corrupt.gguf" "$out" Q8_0
expect_fail "output is the input" 2 "is the input" "" "$QLM" quantize "$MODEL" "$MODEL" Q8_0
expect_fail "output directory missing" 1 "cannot create" "$tmp/no/dir/o.gguf" "$QLM" quantize "$MODEL" "$tmp/no/dir/o.gguf" Q8_0
if [ "$(id -u)" != 0 ]; then
    expect_fail "output directory read-only" 1 "cannot create" "$tmp/ro/o.gguf" "$QLM" quantize "$MODEL" "$tmp/ro/o.gguf" Q8_0
fi
expect_fail "unknown method" 2 "unknown --method" "$out" "$QLM" quantize "$MODEL" "$out" Q4_0 --method foo
expect_fail "gptq without --calib" 2 "needs --calib" "$out" "$QLM" quantize "$MODEL" "$out" Q4_0 --method gptq
expect_fail "bad --tensor-type" 2 "expected PATTERN=TYPE" "$out" "$QLM" quantize "$MODEL" "$out" Q4_0 --tensor-type attn_v
expect_fail "unknown --tensor-type type" 2 "unknown tensor type" "$out" "$QLM" quantize "$MODEL" "$out" Q4_0 --tensor-type attn_v=q9_9
expect_fail "missing imatrix file" 1 "cannot open" "$out" "$QLM" quantize "$MODEL" "$out" Q4_0 --imatrix "$tmp/none.dat"
expect_fail "calibration text too short" 2 "fewer than one chunk" "$out" "$QLM" quantize "$MODEL" "$out" Q4_0 --method awq --calib README.md -c 100000
expect_fail "imatrix without -f" 2 "needs -m MODEL, -f TEXT and -o OUT" "" "$QLM" imatrix -m "$MODEL" -o "$tmp/im.gguf"
expect_fail "imatrix of a missing model" 1 "cannot open" "$tmp/im.gguf" "$QLM" imatrix -m "$tmp/none.gguf" -f README.md -o "$tmp/im.gguf"
if "$QLM" quantize --help | grep -q "Q4_K_M" && "$QLM" imatrix --help | grep -q "in_sum2"; then ok "quantize / imatrix --help"
else fail "quantize / imatrix --help"; fi

# imatrix -> quantize --imatrix (RTN), and the file runs
if "$QLM" imatrix -m "$MODEL" -f README.md -o "$tmp/im.gguf" -c 128 --chunks 2 -t 2 2>"$tmp/e" &&
   "$QLM" quantize "$MODEL" "$tmp/iq.gguf" Q4_K_S --imatrix "$tmp/im.gguf" -t 2 2>"$tmp/e" &&
   "$QLM" info -m "$tmp/iq.gguf" 2>/dev/null | grep -q "quantize.imatrix.entries_count"; then
    ok "imatrix -> quantize --imatrix, with llama.cpp's quantize.imatrix.* keys"
    if "$QLM" -m "$tmp/iq.gguf" -p "The capital of France is" -n 8 --temp 0 -t 2 >"$tmp/o" 2>"$tmp/e" &&
       grep -q "Paris" "$tmp/o"; then ok "imatrix-quantised model answers"
    else fail "imatrix-quantised model answers" "$(cat "$tmp/o" "$tmp/e")"; fi
else
    fail "imatrix -> quantize --imatrix" "$(cat "$tmp/e")"
fi
chmod 755 "$tmp/ro"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
