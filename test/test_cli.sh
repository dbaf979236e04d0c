#!/usr/bin/env bash
# test_cli.sh — end-to-end checks of the qlm command-line program.
#
#   bash test/test_cli.sh ./qlm models/SmolLM2-135M-Instruct.Q4_1.gguf [QWEN2_MODEL]
#
# With a third argument (test/run.sh passes the Qwen2.5 model), `qlm -p` and `qlm chat` must
# also print what llama.cpp generates (test/fixtures/qwen2_cli.txt).
#
# Prints "ok - ..." or "FAIL - ..." per check and, as the last line, "N passed, N failed".
# Exits nonzero if any check failed. A missing binary or model counts as failures, not skips.

QLM=${1:-./qlm}
MODEL=${2:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
QWEN=${3:-}
TIMEOUT=${QLM_TEST_TIMEOUT:-300}

passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qlm_cli.XXXXXX") || { echo "FAIL - mktemp"; echo "0 passed, 1 failed"; exit 1; }
trap 'rm -rf "$tmp"' EXIT

ok()   { passed=$((passed + 1)); echo "ok - $1"; }
fail() {
    failed=$((failed + 1)); echo "FAIL - $1"
    if [ -n "$2" ]; then printf '%s\n' "$2" | head -n 8 | sed 's/^/    # /'; fi
}

# run [--stdin FILE] CMD...: runs CMD with a time limit; sets $status, $out and $err (files).
out=$tmp/stdout
err=$tmp/stderr
run() {
    local input=/dev/null
    if [ "$1" = "--stdin" ]; then input=$2; shift 2; fi
    if command -v timeout >/dev/null 2>&1; then
        timeout "$TIMEOUT" "$@" <"$input" >"$out" 2>"$err"
    else
        "$@" <"$input" >"$out" 2>"$err"
    fi
    status=$?
}

# expect_fail NAME REGEX CMD...: nonzero exit, not killed by a signal, stderr matches REGEX.
expect_fail() {
    local name=$1 re=$2
    shift 2
    run "$@"
    if [ "$status" -eq 0 ]; then
        fail "$name (exit 0, expected an error)" "$(cat "$err")"
    elif [ "$status" -ge 124 ]; then
        fail "$name (status $status: crashed, killed or timed out)" "$(cat "$err")"
    elif ! grep -Eiq -- "$re" "$err"; then
        fail "$name (stderr does not match /$re/)" "$(cat "$err")"
    else
        ok "$name (exit $status)"
    fi
}

# expect_ok NAME CMD...: exit 0.
expect_ok() {
    local name=$1
    shift
    run "$@"
    if [ "$status" -ne 0 ]; then
        fail "$name (exit $status)" "$(cat "$err")"
        return 1
    fi
    return 0
}

# check NAME CONDITION-COMMAND...: ok when the command succeeds.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else fail "$name" "$(head -c 600 "$out"; echo; head -c 600 "$err")"; fi
}

if [ -x "$QLM" ]; then ok "binary $QLM exists"; else fail "binary $QLM exists"; fi
if [ -f "$MODEL" ]; then ok "model $MODEL exists"; else fail "model $MODEL exists"; fi

# ---- usage --------------------------------------------------------------------------------
if expect_ok "--help exits 0" "$QLM" --help; then
    check "--help prints usage" grep -qi "usage" "$out"
fi
if expect_ok "--version exits 0" "$QLM" --version; then
    check "--version prints a version" grep -Eq "[0-9]+\.[0-9]+" "$out"
fi
expect_fail "no arguments" "usage" "$QLM"
expect_fail "missing -m" "-m" "$QLM" -p "hello"
expect_fail "-m without its value" "-m.*value|value.*-m" "$QLM" -m
expect_fail "-n without its value" "-n.*value|value.*-n" "$QLM" -m "$MODEL" -n
expect_fail "non-numeric -n" "-n.*(integer|number)" "$QLM" -m "$MODEL" -p hi -n abc
expect_fail "non-numeric --temp" "--temp.*number" "$QLM" -m "$MODEL" -p hi --temp warm
expect_fail "-c with trailing junk" "-c" "$QLM" -m "$MODEL" -p hi -c 12x
expect_fail "unknown flag" "unknown.*--frobnicate" "$QLM" -m "$MODEL" -p hi --frobnicate
[ "$status" -eq 2 ] && ok "unknown flag gives status 2" || fail "unknown flag gives status 2 (got $status)"
expect_fail "bad --cpu value" "--cpu fastest: .*unknown CPU kernels" "$QLM" -m "$MODEL" -p hi --cpu fastest
[ "$status" -eq 2 ] && ok "bad --cpu value gives status 2" || fail "bad --cpu value gives status 2 (got $status)"

# ---- bad files ----------------------------------------------------------------------------
expect_fail "missing model file" "no such|not found|cannot open|does not exist|i/o" \
    "$QLM" -m "$tmp/no-such-model.gguf" -p hi
[ "$status" -eq 1 ] && ok "missing model gives status 1" || fail "missing model gives status 1 (got $status)"
grep -q "no-such-model.gguf" "$err" && ok "missing model: message names the file" \
    || fail "missing model: message names the file" "$(cat "$err")"

printf 'this is not a gguf file at all, just text\n' >"$tmp/wrong_magic.gguf"
expect_fail "wrong magic" "magic|not a gguf" "$QLM" -m "$tmp/wrong_magic.gguf" -p hi

: >"$tmp/empty.gguf"
expect_fail "empty file" "empty|truncat|short|magic|end of file|eof|malformed" \
    "$QLM" -m "$tmp/empty.gguf" -p hi

# "GGUF", version 99, then zero counts
printf 'GGUF\x63\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' \
    >"$tmp/version99.gguf"
expect_fail "GGUF version 99" "version" "$QLM" -m "$tmp/version99.gguf" -p hi

if [ -f "$MODEL" ]; then
    head -c 100 "$MODEL" >"$tmp/trunc_header.gguf"
    head -c 4000000 "$MODEL" >"$tmp/trunc_data.gguf"
fi
expect_fail "truncated inside the header" "truncat|short|end of file|eof|past the end|malformed" \
    "$QLM" -m "$tmp/trunc_header.gguf" -p hi
expect_fail "truncated inside the tensor data" "truncat|short|end of file|eof|past the end|malformed" \
    "$QLM" -m "$tmp/trunc_data.gguf" -p hi
expect_fail "info on a truncated file" "truncat|short|end of file|eof|past the end|malformed" \
    "$QLM" info -m "$tmp/trunc_data.gguf"
expect_fail "missing -f prompt file" "no-such-prompt.txt" \
    "$QLM" -m "$MODEL" -f "$tmp/no-such-prompt.txt"

long_prompt=$(for i in $(seq 1 60); do printf 'the quick brown fox jumps over the lazy dog '; done)
expect_fail "prompt longer than -c 16" "prompt.*tokens.*context" \
    "$QLM" -m "$MODEL" -c 16 -n 4 --temp 0 -p "$long_prompt"
grep -q -- "-c" "$err" && ok "long prompt: message suggests -c" \
    || fail "long prompt: message suggests -c" "$(cat "$err")"

# ---- tokenize -----------------------------------------------------------------------------
if expect_ok "tokenize --ids" "$QLM" tokenize -m "$MODEL" -p "Hello world" --ids --no-bos; then
    check "tokenize 'Hello world' gives [19556, 905]" grep -qx "\[19556, 905\]" "$out"
fi
if expect_ok "tokenize (table)" "$QLM" tokenize -m "$MODEL" -p "Hello world"; then
    check "tokenize table shows 19556 -> 'Hello'" grep -Eq "^ *19556 -> 'Hello'$" "$out"
    check "tokenize table shows 905 -> ' world'" grep -Eq "^ *905 -> ' world'$" "$out"
fi

# ---- info ---------------------------------------------------------------------------------
if expect_ok "info" "$QLM" info -m "$MODEL"; then
    check "info shows the architecture llama" grep -q "llama" "$out"
    check "info shows a tensor name" grep -q "blk\.0\.attn_q\.weight" "$out"
    check "info shows metadata" grep -q "general.architecture = llama" "$out"
fi

# ---- generate -----------------------------------------------------------------------------
if expect_ok "generate -n 8 --temp 0 -s 1" \
    "$QLM" -m "$MODEL" -p "The capital of France is" -n 8 --temp 0 -s 1; then
    check "generate prints the prompt" grep -q "The capital of France is" "$out"
    gen=$(sed 's/The capital of France is//' "$out" | tr -d '[:space:]')
    check "generate prints generated text" test -n "$gen"
    check "generate prints timings" grep -q "tokens per second" "$err"
fi
first=$(cat "$out")
if expect_ok "generate again with the same seed" \
    "$QLM" -m "$MODEL" -p "The capital of France is" -n 8 --temp 0 -s 1; then
    check "greedy generation is deterministic" test "$first" = "$(cat "$out")"
fi
if expect_ok "generate with -b 2 -t 1" \
    "$QLM" -m "$MODEL" -p "The capital of France is" -n 8 --temp 0 -s 1 -b 2 -t 1; then
    check "prompt in batches of 2 gives the same greedy text" test "$first" = "$(cat "$out")"
fi
# the default thread count is the number of physical cores: online CPUs that are the first of
# their hyperthread siblings (where sysfs has no topology, all online CPUs)
cores=0 online=$(getconf _NPROCESSORS_ONLN)
for i in $(seq 0 $((online - 1))); do
    f=/sys/devices/system/cpu/cpu$i/topology/thread_siblings_list
    [ -r "$f" ] || { cores=0; break; }
    [ "$(sed 's/[^0-9].*//' "$f")" = "$i" ] && cores=$((cores + 1))
done
[ "$cores" -gt 0 ] || cores=$online
if expect_ok "generate with the default thread count" \
    "$QLM" -m "$MODEL" -p "The capital of France is" -n 2 --temp 0 -s 1 -v; then
    check "default -t is the $cores physical cores" grep -q "compute arena .*, $cores threads" "$err"
fi
# Every --cpu path this CPU has gives the same greedy text. SmolLM2's matmuls are 32-block types,
# whose SIMD dots give the reference's bits, so the 40 tokens must match exactly (the K-quant
# paths sum in another order: test/run.sh holds them to llama.cpp's tokens instead).
prompt="The three most useful things to pack for a week of hiking are"
if expect_ok "generate --cpu ref -v" "$QLM" -m "$MODEL" -p "$prompt" -n 40 --temp 0 -s 1 --cpu ref -v; then
    check "--cpu ref: -v names the kernels" grep -q "CPU kernels: ref" "$err"
    check "--cpu ref generates text after the prompt" sh -c "grep -q '$prompt' '$out' && [ \$(wc -c <'$out') -gt 120 ]"
    cp "$out" "$tmp/greedy_ref.txt"
    for v in avx2 avx512 neon; do
        run "$QLM" -m "$MODEL" -p "$prompt" -n 40 --temp 0 -s 1 --cpu "$v" -v
        if [ "$status" -ne 0 ]; then
            if grep -q "not supported by this CPU\|unknown CPU kernels" "$err"; then
                echo "# --cpu $v: not on this CPU or build"
            else
                fail "generate --cpu $v (exit $status)" "$(cat "$err")"
            fi
            continue
        fi
        check "--cpu $v: -v names the kernels" grep -q "CPU kernels: $v" "$err"
        check "--cpu $v: the same 40 greedy tokens as --cpu ref" cmp -s "$out" "$tmp/greedy_ref.txt"
    done
fi
if expect_ok "generate --no-display-prompt -e" \
    "$QLM" -m "$MODEL" -p 'One,\ntwo,' -e --no-display-prompt -n 4 --temp 0.7 -s 3; then
    check "--no-display-prompt hides the prompt" sh -c "! grep -q 'One,' '$out'"
fi
printf 'Once upon a time' >"$tmp/prompt.txt"
if expect_ok "generate -f FILE" "$QLM" -m "$MODEL" -f "$tmp/prompt.txt" -n 4 --temp 0 -s 1; then
    check "-f prompt is printed" grep -q "Once upon a time" "$out"
fi
if expect_ok "generate until the context is full (-n -1 -c 32)" \
    "$QLM" -m "$MODEL" -p "Count: 1, 2, 3," -n -1 -c 32 --temp 0 -s 1; then
    ok "full context ends cleanly"
fi

# ---- chat ---------------------------------------------------------------------------------
printf 'Hi\n/exit\n' >"$tmp/chat_in.txt"
run --stdin "$tmp/chat_in.txt" "$QLM" chat -m "$MODEL" --temp 0 -s 1 -n 48
if [ "$status" -eq 0 ]; then ok "chat exits 0 on /exit"; else fail "chat exits 0 on /exit (exit $status)" "$(cat "$err")"; fi
reply=$(tr -d '[:space:]' <"$out")
check "chat prints a non-empty answer" test -n "$reply"
check "chat prints no '> ' prompt when stdin is not a terminal" sh -c "! grep -q '^> ' '$out'"

printf 'Hi\nWhat is 2+2?\n/reset\nHello\n' >"$tmp/chat_in2.txt"
run --stdin "$tmp/chat_in2.txt" "$QLM" chat -m "$MODEL" --temp 0 -s 1 -n 24 -sys "You are brief."
if [ "$status" -eq 0 ]; then ok "chat: two turns, /reset, a third turn, then EOF"; else
    fail "chat: two turns, /reset, a third turn, then EOF (exit $status)" "$(cat "$err")"; fi
check "chat: /reset acknowledged" grep -qi "clear" "$err"

printf 'Tell me a long story about a dragon.\nAnd another one.\n' >"$tmp/chat_in3.txt"
run --stdin "$tmp/chat_in3.txt" "$QLM" chat -m "$MODEL" -c 64 --temp 0 -s 1
if [ "$status" -eq 0 ]; then ok "chat: full context is reported, not a crash"; else
    fail "chat: full context is reported, not a crash (exit $status)" "$(cat "$err")"; fi
check "chat: full context message mentions /reset" grep -q "/reset" "$err"

# ---- KV cache: plan, options, perplexity and KL divergence ---------------------------------
if expect_ok "plan -c 2048 -ctk q8_0 -ctv q8_0 --mem 1G" \
    "$QLM" plan -m "$MODEL" -c 2048 -ctk q8_0 -ctv q8_0 --mem 1G; then
    # SmolLM2 q8_0: 30 layers x 3 kv heads x 64 x (1.0625 + 1.0625) = 12240 bytes
    check "plan prints the per-token bytes (12240 for q8_0)" \
        grep -Eq "^per token .*30 layers x 3 kv heads x 64 head_dim x \(1\.0625 \+ 1\.0625\).*= 12240 bytes" "$out"
    check "plan prints the table header" grep -Eq "^\| K / V \| bytes/token \|.*largest n_ctx in --mem" "$out"
    check "plan table: f16 23040 and q8_0 12240 bytes per token" \
        sh -c "grep -Eq '^\| f16 \| 23040 \|' '$out' && grep -Eq '^\| q8_0 \| 12240 \|' '$out'"
    check "plan table: 5 cache types" test "$(grep -Ec '^\| (f16|q8_0|fp8|q4|q4_0) \|' "$out")" = 5
fi
if expect_ok "plan --swa 64" "$QLM" plan -m "$MODEL" -c 256 --swa 64; then
    check "plan --swa: unbounded generation" grep -q "unbounded" "$out"
fi
expect_fail "bad -ctk value" "-ctk.*q5_1|q5_1.*(unknown|type)" "$QLM" plan -m "$MODEL" -ctk q5_1
expect_fail "bad -ctv value in generate" "-ctv.*bogus|bogus.*(unknown|type)" "$QLM" -m "$MODEL" -p hi -ctv bogus
expect_fail "--kv-budget without --kv-evict" "kv-budget.*kv-evict" "$QLM" -m "$MODEL" -p hi -n 2 --kv-budget 64
expect_fail "--kv-evict with an unknown policy" "kv-evict" "$QLM" -m "$MODEL" -p hi -n 2 --kv-evict lru
if expect_ok "generate with a q4 cache and sinks" \
    "$QLM" -m "$MODEL" -p "The capital of France is" -n 8 --temp 0 -s 1 -ctk q4 -ctv q4 --sinks 4 -c 128; then
    gen=$(sed 's/The capital of France is//' "$out" | tr -d '[:space:]')
    check "q4 cache with sinks generates text" test -n "$gen"
fi

# a text of ~1100 tokens: 2 chunks of -c 128 need 256
for i in $(seq 1 40); do
    echo "Line $i: the quick brown fox jumps over the lazy dog, and the number $i is written here in words."
done >"$tmp/ppl.txt"
if expect_ok "perplexity -c 128 --chunks 2" "$QLM" perplexity -m "$MODEL" -f "$tmp/ppl.txt" -c 128 --chunks 2; then
    check "perplexity prints the final estimate" grep -Eq "^Final estimate: PPL = [0-9]+\.[0-9]+" "$out"
fi
if expect_ok "perplexity writes --kl-divergence-base" \
    "$QLM" perplexity -m "$MODEL" -f "$tmp/ppl.txt" -c 128 --chunks 2 --kl-divergence-base "$tmp/base.logp"; then
    check "the log-probability file exists" test -s "$tmp/base.logp"
fi
if expect_ok "perplexity --kl-divergence against its own base" \
    "$QLM" perplexity -m "$MODEL" -f "$tmp/ppl.txt" -c 128 --chunks 2 --kl-divergence-base "$tmp/base.logp" \
    --kl-divergence; then
    kld=$(awk '/^Mean KLD/ {print $4}' "$out")
    same=$(awk '/^Same top p/ {print $5}' "$out")
    check "same settings: Mean KLD < 1e-3 (got '$kld')" awk -v k="$kld" 'BEGIN { exit !(k != "" && k + 0 < 1e-3) }'
    check "same settings: Same top p 100% (got '$same')" awk -v s="$same" 'BEGIN { exit !(s != "" && s + 0 == 100) }'
fi
# measured: Mean KLD 0.0012 for a q8_0 cache against f16 on this text
if expect_ok "perplexity --kl-divergence with a q8_0 cache against the f16 base" \
    "$QLM" perplexity -m "$MODEL" -f "$tmp/ppl.txt" -c 128 --chunks 2 --kl-divergence-base "$tmp/base.logp" \
    --kl-divergence -ctk q8_0 -ctv q8_0; then
    kld=$(awk '/^Mean KLD/ {print $4}' "$out")
    check "q8_0 cache: 0 < Mean KLD < 0.02 (got '$kld')" awk -v k="$kld" 'BEGIN { exit !(k != "" && k + 0 > 0 && k + 0 < 0.02) }'
fi
expect_fail "--kl-divergence with a missing base file" "no-such-base.logp" \
    "$QLM" perplexity -m "$MODEL" -f "$tmp/ppl.txt" -c 128 --chunks 2 --kl-divergence-base "$tmp/no-such-base.logp" \
    --kl-divergence
printf 'QLMLOGP0 this is not a base file\n' >"$tmp/bad.logp"
expect_fail "--kl-divergence with a file that is not a base" "not a log-probability file" \
    "$QLM" perplexity -m "$MODEL" -f "$tmp/ppl.txt" -c 128 --chunks 2 --kl-divergence-base "$tmp/bad.logp" \
    --kl-divergence
expect_fail "--kl-divergence with a base made with another -c" "other settings" \
    "$QLM" perplexity -m "$MODEL" -f "$tmp/ppl.txt" -c 64 --chunks 2 --kl-divergence-base "$tmp/base.logp" \
    --kl-divergence
expect_fail "--kl-divergence without a base" "kl-divergence-base" \
    "$QLM" perplexity -m "$MODEL" -f "$tmp/ppl.txt" -c 128 --kl-divergence
expect_fail "perplexity on a text shorter than one chunk" "chunk" \
    "$QLM" perplexity -m "$MODEL" -f "$tmp/prompt.txt" -c 128

# ---- llama.cpp's text through the CLI (Qwen2.5, qwen2, ChatML) ----------------------------
# Each case of the fixture: the exact stdout of `qlm -f PROMPT -n N --temp 0` or of
# `qlm chat --temp 0 -n N` given one user line, where N stops before llama.cpp's first
# near-tie. The chat case also checks the template (Qwen's default system message).
unhex() { [ "$1" = - ] || printf '%b' "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }
if [ -n "$QWEN" ]; then
    fixture=test/fixtures/qwen2_cli.txt
    if [ -f "$QWEN" ]; then ok "model $QWEN exists"; else fail "model $QWEN exists"; fi
    if [ -f "$fixture" ]; then ok "$fixture exists"; else fail "$fixture exists"; fi
    ncase=0
    while read -r key val; do
        case "$key" in
        mode) mode=$val ;;
        input) unhex "$val" >"$tmp/cli_in.txt" ;;
        n) n=$val ;;
        stdout) unhex "$val" >"$tmp/cli_want.txt" ;;
        end)
            ncase=$((ncase + 1))
            if [ "$mode" = chat ]; then
                printf '\n' >>"$tmp/cli_in.txt"
                run --stdin "$tmp/cli_in.txt" "$QLM" chat -m "$QWEN" --temp 0 -n "$n"
            else
                run "$QLM" -m "$QWEN" -f "$tmp/cli_in.txt" --temp 0 -n "$n"
            fi
            if [ "$status" -ne 0 ]; then
                fail "qwen2 $mode: exit $status" "$(cat "$err")"
            elif cmp -s "$tmp/cli_want.txt" "$out"; then
                ok "qwen2 $mode: stdout is llama.cpp's $n greedy tokens"
            else
                fail "qwen2 $mode: stdout differs from llama.cpp's $n greedy tokens" \
                    "$(printf 'want: '; cat "$tmp/cli_want.txt"; printf '\ngot:  '; cat "$out")"
            fi
            ;;
        esac
    done < <(grep -v '^#' "$fixture" 2>/dev/null)
    check "qwen2: 3 CLI cases in $fixture" test "$ncase" -eq 3
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
