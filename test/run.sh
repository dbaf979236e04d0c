#!/usr/bin/env bash
# The test runner: runs every test program and script, adds up their "N passed, N failed"
# lines, and prints the total last. Usage: test/run.sh BUILD_DIR QLM_BINARY MODEL
set -u
build="$1"; bin="$2"; model="$3"
export QLM_TEST_MODEL="$model"
total_pass=0; total_fail=0
run() { # name, command...
    local name="$1"; shift
    local out; out="$(mktemp)"
    "$@" >"$out" 2>&1
    local rc=$?
    local last; last="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)"
    if [ -z "$last" ]; then
        echo "FAIL - $name: no result line (exit $rc)"; tail -20 "$out"
        total_fail=$((total_fail + 1))
    else
        local p f; p="${last%% passed*}"; f="${last#*, }"; f="${f%% failed*}"
        total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
        if [ "$f" != 0 ] || [ $rc != 0 ]; then
            echo "FAIL - $name: $last (exit $rc)"; grep -E 'FAIL|ERROR|runtime error|Sanitizer' "$out" | head -30
            [ "$f" = 0 ] && total_fail=$((total_fail + 1))
        else
            echo "ok   - $name: $last"
        fi
    fi
    rm -f "$out"
}
for t in test_types test_kernels test_kvcache test_gguf test_tokenizer test_model; do
    run "$t" "$build/$t" "$model"
done
gemma="${QLM_TEST_GEMMA:-models/gemma-3-270m-Q4_K_M.gguf}"
run "gemma3 tokenizer" "$build/test_tokenizer" --fixture "$gemma" test/fixtures/gemma3_tokenize.txt
run "gemma3 golden" "$build/test_model" "$gemma" test/fixtures/gemma3_golden.txt --golden-only --tol 4 1
qwen="${QLM_TEST_QWEN:-models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf}"
run "qwen2 tokenizer" "$build/test_tokenizer" --fixture "$qwen" test/fixtures/qwen2_tokenize.txt
run "qwen2 golden" "$build/test_model" "$qwen" test/fixtures/qwen2_golden.txt --golden-only
# The golden tests again on every other --cpu path this CPU has (auto's pick ran above): each
# must give llama.cpp's logits and greedy tokens within the same limits. K-quant dots sum in
# another order per path, so near-ties may go either way; test_cli.sh wants exact equality
# across paths where the dots are bit-identical (SmolLM2). The scalar path runs SmolLM2 only:
# Gemma-3 and Qwen2 take 212 s and ~250 s each there (they passed when run by hand, 2026-12-07).
auto=$("$bin" -m "$model" -p x -n 1 --temp 0 -v 2>&1 >/dev/null | sed -n 's/^info: CPU kernels: //p')
for v in ref avx2 avx512 neon; do
    [ "$v" = "$auto" ] && continue
    # skip only a path the build or CPU lacks; any other failure still runs (and fails) the goldens
    "$bin" -m "$model" -p x -n 1 --temp 0 --cpu "$v" 2>&1 >/dev/null |
        grep -q "not supported by this CPU\|unknown CPU kernels" && continue
    run "smollm2 golden --cpu $v" env QLM_CPU="$v" "$build/test_model" "$model" test/fixtures/smollm2_golden.txt --golden-only
    [ "$v" = ref ] && continue
    run "gemma3 golden --cpu $v" env QLM_CPU="$v" "$build/test_model" "$gemma" test/fixtures/gemma3_golden.txt --golden-only --tol 4 1
    run "qwen2 golden --cpu $v" env QLM_CPU="$v" "$build/test_model" "$qwen" test/fixtures/qwen2_golden.txt --golden-only
done
run "quantize units" "$build/test_quant" "$model"
run "quantize end to end" bash test/test_quant.sh "$build" "$bin" "$model"
run "compile gates" bash test/compile_gates.sh
run "embedding example" bash test/embed/run.sh
run "cli" bash test/test_cli.sh "$bin" "$model" "$qwen"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
