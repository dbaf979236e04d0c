#!/usr/bin/env bash
# Quantisation-quality table (issue 6): for each file type, qlm's RTN / RTN + importance matrix /
# AWQ / GPTQ and llama.cpp's own quantiser (without and with the same importance matrix), all
# measured by the same evaluator, `qlm perplexity`, against an F16 teacher:
#
#     bash test/bench/quant_table.sh [MODEL]        # markdown table on stdout, progress on stderr
#
# MODEL (default models/SmolLM2-135M-Instruct.Q4_1.gguf) is dequantised to F16 and that file is
# the teacher: every row quantises the teacher and is compared with its logits (KL divergence
# per scored token, mean and 99th percentile; same-top-token rate; perplexity). Calibration
# (imatrix, AWQ, GPTQ: CALIB_CHUNKS x 512 tokens) is models/text/calib.txt, evaluation
# (CHUNKS x 512 tokens, second half of each scored) models/text/eval.txt: disjoint texts from
# models/fetch_text.sh (fetched if missing). llama.cpp rows use the installed llama-cpp-python
# 0.3.36 (test/bench/quantize_llamacpp.py); a llama.cpp file whose tensor data is byte-identical
# to a qlm row already evaluated is not evaluated again (the row says so; FULL=1 evaluates it).
# At the end PPL of two llama.cpp files is cross-checked with llama.cpp's own evaluator
# (test/bench/ppl_llamacpp.py, f16 KV cache).
#
# Environment: TYPES (default "Q8_0 Q5_K_M Q4_K_M Q4_0 Q3_K_M Q2_K"), METHODS (default
# "rtn imatrix awq gptq llamacpp llamacpp_imatrix"), CHUNKS (16), CALIB_CHUNKS (8), THREADS (2),
# WORK (/tmp/qt/<model name>; outputs there are reused, so an interrupted run resumes), QLM
# (./qlm, built if missing), PYTHON (python3), FULL (0).
# Time on 2 cores (SmolLM2-135M, defaults): about 30 min — per type ~75 s AWQ + ~85 s GPTQ
# calibration and ~25 s per evaluation; the teacher's base run and the imatrix ~1.5 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL="${1:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
TYPES="${TYPES:-Q8_0 Q5_K_M Q4_K_M Q4_0 Q3_K_M Q2_K}"
METHODS="${METHODS:-rtn imatrix awq gptq llamacpp llamacpp_imatrix}"
CHUNKS="${CHUNKS:-16}"
CALIB_CHUNKS="${CALIB_CHUNKS:-8}"
THREADS="${THREADS:-2}"
QLM="${QLM:-./qlm}"
PYTHON="${PYTHON:-python3}"
FULL="${FULL:-0}"
stem="$(basename "$MODEL" .gguf)"
WORK="${WORK:-/tmp/qt/$stem}"
EVAL=models/text/eval.txt
CALIB=models/text/calib.txt
mkdir -p "$WORK"
log() { echo "[$(date +%T)] $*" >&2; }

[ -x "$QLM" ] || make qlm >&2
[ -s "$EVAL" ] && [ -s "$CALIB" ] || bash models/fetch_text.sh >&2
[ -s "$MODEL" ] || { echo "error: $MODEL not found (bash models/fetch.sh)" >&2; exit 1; }

teacher="$WORK/teacher_f16.gguf"
base="$WORK/base.kld"
imat="$WORK/imatrix.gguf"
[ -s "$teacher" ] || { log "teacher: $MODEL -> F16"; "$QLM" quantize "$MODEL" "$teacher" F16 -t "$THREADS" >/dev/null 2>&1; }
if [ ! -s "$WORK/base.txt" ] || [ ! -s "$base" ]; then
    log "base run (teacher logits)"
    "$QLM" perplexity -m "$teacher" -f "$EVAL" -c 512 --chunks "$CHUNKS" \
        --kl-divergence-base "$base" -t "$THREADS" > "$WORK/base.txt" 2>&1
fi
if [ ! -s "$imat" ]; then
    log "imatrix ($CALIB_CHUNKS x 512 tokens of $CALIB)"
    "$QLM" imatrix -m "$teacher" -f "$CALIB" -o "$imat" -c 512 --chunks "$CALIB_CHUNKS" \
        -t "$THREADS" >/dev/null 2>&1
fi

# parameters (all tensor elements) and tensor-data sha256 of a GGUF
"$PYTHON" - "$teacher" > "$WORK/nparams" <<'EOF'
import sys, gguf
print(sum(int(t.n_elements) for t in gguf.GGUFReader(sys.argv[1]).tensors))
EOF
nparams="$(cat "$WORK/nparams")"
datasha() {
    "$PYTHON" - "$1" <<'EOF'
import sys, hashlib, gguf
r = gguf.GGUFReader(sys.argv[1])
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    f.seek(r.data_offset)
    for b in iter(lambda: f.read(1 << 24), b""):
        h.update(b)
print(h.hexdigest())
EOF
}

quantize() { # method type out
    local m="$1" t="$2" o="$3" calib=(--calib "$CALIB" -c 512 --chunks "$CALIB_CHUNKS")
    case "$m" in
        rtn)              "$QLM" quantize "$teacher" "$o" "$t" -t "$THREADS" ;;
        imatrix)          "$QLM" quantize "$teacher" "$o" "$t" --imatrix "$imat" -t "$THREADS" ;;
        awq)              "$QLM" quantize "$teacher" "$o" "$t" --method awq "${calib[@]}" -t "$THREADS" ;;
        gptq)             "$QLM" quantize "$teacher" "$o" "$t" --method gptq "${calib[@]}" -t "$THREADS" ;;
        llamacpp)         "$PYTHON" test/bench/quantize_llamacpp.py "$teacher" "$o" "$t" -t "$THREADS" ;;
        llamacpp_imatrix) "$PYTHON" test/bench/quantize_llamacpp.py "$teacher" "$o" "$t" --imatrix "$imat" -t "$THREADS" ;;
        *) echo "error: unknown method $m" >&2; exit 1 ;;
    esac
}
label() {
    case "$1" in
        rtn) echo "qlm RTN" ;; imatrix) echo "qlm RTN + imatrix" ;; awq) echo "qlm AWQ" ;;
        gptq) echo "qlm GPTQ" ;; llamacpp) echo "llama.cpp" ;; llamacpp_imatrix) echo "llama.cpp + imatrix" ;;
    esac
}
metric() { # file pattern -> value
    case "$2" in
        ppl)  sed -n 's/^Final estimate: PPL = \([0-9.]*\).*/\1/p' "$1" ;;
        kld)  sed -n 's/^Mean KLD *: \([0-9.]*\).*/\1/p' "$1" ;;
        p99)  sed -n 's/^99.0% KLD *: \([0-9.]*\).*/\1/p' "$1" ;;
        same) sed -n 's/^Same top p *: \([0-9.]*\).*/\1/p' "$1" ;;
    esac
}

declare -A SHA_ROW   # tensor-data sha256 -> "TYPE|method" of the first row with that data
rows=()
for t in $TYPES; do
    rtn_kld=""
    for m in $METHODS; do
        o="$WORK/${t}_$m.gguf"; r="$WORK/${t}_$m.txt"
        if [ ! -s "$o" ]; then
            log "$t $m: quantise"
            s=$(date +%s)
            quantize "$m" "$t" "$o" > "$WORK/${t}_$m.qlog" 2>&1 || {
                echo "error: quantising $t $m failed, see $WORK/${t}_$m.qlog" >&2; exit 1; }
            echo $(( $(date +%s) - s )) > "$WORK/${t}_$m.secs"
        fi
        sha="$(datasha "$o")"
        src="${SHA_ROW[$sha]:-}"
        note=""
        [ -n "$src" ] && note="same tensor data as $(label "${src#*|}")"
        if [ ! -s "$r" ]; then
            if [ -n "$src" ] && [ "$FULL" != 1 ] && [[ "$m" == llamacpp* ]]; then
                cp "$WORK/${src%|*}_${src#*|}.txt" "$r"
                note="$note (not re-evaluated)"
                echo "$note" > "$r.same"
            else
                log "$t $m: evaluate"
                "$QLM" perplexity -m "$o" -f "$EVAL" -c 512 --chunks "$CHUNKS" \
                    --kl-divergence-base "$base" --kl-divergence -t "$THREADS" > "$r" 2>&1
            fi
        fi
        [ -s "$r.same" ] && note="$(cat "$r.same")"
        [ -n "$src" ] || SHA_ROW[$sha]="$t|$m"
        bytes=$(stat -c %s "$o")
        kld=$(metric "$r" kld)
        [ "$m" = rtn ] && rtn_kld="$kld"
        vs=""
        [ -n "$rtn_kld" ] && [ "$m" != rtn ] && vs=$(awk -v a="$kld" -v b="$rtn_kld" 'BEGIN { printf "%+.0f%%", 100 * (a / b - 1) }')
        rows+=("$(printf '| %s | %s | %s | %.2f | %s | %s | %s | %s | %s | %s |' "$t" "$(label "$m")" \
            "$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')" \
            "$(awk -v b="$bytes" -v n="$nparams" 'BEGIN { print 8 * b / n }')" \
            "$(metric "$r" ppl)" "$kld" "$vs" "$(metric "$r" p99)" "$(metric "$r" same)%" "$note")")
    done
done

base_ppl=$(metric "$WORK/base.txt" ppl)
echo "### $stem: teacher = its F16 dequantisation ($(stat -c %s "$teacher") bytes, $nparams parameters)"
echo
echo "\`qlm perplexity -c 512 --chunks $CHUNKS\` on $EVAL ($(sed -n 's/.*(\([0-9]*\) tokens).*/\1/p' "$WORK/base.txt" | head -1) scored tokens), teacher PPL $base_ppl;"
echo "calibration $CALIB_CHUNKS x 512 tokens of $CALIB (imatrix, AWQ, GPTQ). \"vs RTN\": mean KLD against qlm RTN of the same type."
echo
echo "| type | method | file MiB | file bits/param | PPL | mean KLD | vs RTN | 99% KLD | same top | note |"
echo "| ---- | ------ | -------: | --------------: | --: | -------: | -----: | ------: | -------: | ---- |"
printf '%s\n' "${rows[@]}"

# cross-check of the evaluator: llama.cpp's own perplexity on two llama.cpp files
xc=()
for t in $TYPES; do case "$t" in Q4_K_M|Q3_K_M) xc+=("$t");; esac; done
if [ ${#xc[@]} -gt 0 ] && [[ " $METHODS " == *" llamacpp "* ]]; then
    echo
    echo "Evaluator cross-check (f16 KV cache; llama.cpp: test/bench/ppl_llamacpp.py, same chunks):"
    echo
    echo "| file | qlm perplexity PPL | llama.cpp PPL |"
    echo "| ---- | -----------------: | ------------: |"
    for t in "${xc[@]}"; do
        o="$WORK/${t}_llamacpp.gguf" x="$WORK/${t}_llamacpp.ppl_llamacpp.txt"
        if [ ! -s "$x" ]; then
            log "$t llamacpp: llama.cpp evaluator"
            "$PYTHON" test/bench/ppl_llamacpp.py "$o" "$EVAL" -c 512 --chunks "$CHUNKS" -t "$THREADS" \
                -k f16 > "$x" 2>/dev/null
        fi
        echo "| ${t} llama.cpp | $(metric "$WORK/${t}_llamacpp.txt" ppl) | $(sed -n 's/^| f16 | \([0-9.]*\) |.*/\1/p' "$x") |"
    done
    x="$WORK/teacher.ppl_llamacpp.txt"
    if [ ! -s "$x" ]; then
        log "teacher: llama.cpp evaluator"
        "$PYTHON" test/bench/ppl_llamacpp.py "$teacher" "$EVAL" -c 512 --chunks "$CHUNKS" -t "$THREADS" \
            -k f16 > "$x" 2>/dev/null
    fi
    echo "| teacher F16 | $base_ppl | $(sed -n 's/^| f16 | \([0-9.]*\) |.*/\1/p' "$x") |"
fi
