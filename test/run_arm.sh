#!/usr/bin/env bash
# The AArch64 test: cross-compiles qlm for aarch64 and runs it under qemu-user.
#   1. compile gates for the >>kernels-arm section: C99 and C++11, -O0, several -march/-mcpu
#      bases (the dotprod target attribute must be a superset of each), clang if present;
#   2. test/test_kernels_arm.c under a CPU with dotprod (-cpu max: plain and SDOT builds)
#      and one without (-cpu cortex-a53: plain build, and auto must pick it); test/test_kvcache.c
#      (the KV-cache kernels' NEON twins, E4M3, layouts) on both CPUs;
#   3. a short greedy generation with the aarch64 CLI on both CPUs, whose stdout must equal
#      the native ./qlm's (built with `make qlm` if missing).
# Needs: aarch64-linux-gnu-gcc (+ g++), qemu-aarch64 (Debian: gcc-aarch64-linux-gnu
# g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user). Prints "N passed, N failed" last.
# Usage: test/run_arm.sh [MODEL]   (default models/SmolLM2-135M-Instruct.Q4_1.gguf)
set -u
cd "$(dirname "$0")/.."
model="${1:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
CC=aarch64-linux-gnu-gcc
CXX=aarch64-linux-gnu-g++
QEMU=qemu-aarch64
B=build-arm
W="-Wall -Wextra -Wpedantic -Wundef -Werror"
pass=0; fail=0
mkdir -p "$B"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

ok()  { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
gate() { # name, command... (output shown on failure)
    local name="$1"; shift
    if "$@" >"$tmp/log" 2>&1; then ok "$name"; else bad "$name"; head -20 "$tmp/log"; fi
}

for tool in "$CC" "$QEMU"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "FAIL - $tool not found (apt-get install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu" \
             "libc6-dev-arm64-cross qemu-user)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done

# ---- 1. compile gates --------------------------------------------------------------------
printf '#define QLM_IMPLEMENTATION\n#include "qlm.h"\nint main(void) { return 0; }\n' > "$tmp/impl.c"
cp "$tmp/impl.c" "$tmp/impl.cpp"
gate "aarch64: implementation as C99 -O0" $CC -std=c99 $W -O0 -I. -c "$tmp/impl.c" -o "$tmp/a.o"
if command -v "$CXX" >/dev/null 2>&1; then
    gate "aarch64: implementation as C++11" $CXX -std=c++11 $W -O2 -I. -c "$tmp/impl.cpp" -o "$tmp/b.o"
else
    echo "skip - $CXX not installed: no C++ gate"
fi
for m in -march=armv8-a -march=armv8.2-a+fp16 -march=armv8.4-a -mcpu=cortex-a53+crypto; do
    gate "aarch64: implementation with $m" $CC -std=c99 $W $m -O1 -I. -c "$tmp/impl.c" -o "$tmp/c.o"
done
if command -v clang >/dev/null 2>&1 && clang --target=aarch64-linux-gnu -std=c99 -I. -c "$tmp/impl.c" \
        -o "$tmp/probe.o" >/dev/null 2>&1; then
    gate "aarch64: implementation with clang" clang --target=aarch64-linux-gnu -std=c99 $W -O1 -I. \
        -c "$tmp/impl.c" -o "$tmp/d.o"
    # clang with dotprod in the base: the SDOT build is used; run its kernel test below
    gate "aarch64: kernel test with clang +dotprod" clang --target=aarch64-linux-gnu \
        -march=armv8.2-a+dotprod -std=c99 $W -O2 -static -I. test/test_kernels_arm.c -lm -lpthread \
        -o "$B/test_kernels_arm_clang"
else
    echo "skip - no clang for aarch64"
fi

# ---- 2. kernel tests ---------------------------------------------------------------------
link="-static"
if ! $CC -std=c99 $W -O2 -static -I. test/test_kernels_arm.c -lm -lpthread -o "$B/test_kernels_arm" \
        >"$tmp/log" 2>&1; then
    # no static libc: link dynamically and let qemu find the aarch64 loader and libraries
    link=""
    export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
    $CC -std=c99 $W -O2 -I. test/test_kernels_arm.c -L/usr/aarch64-linux-gnu/lib -lm -lpthread \
        -o "$B/test_kernels_arm" >"$tmp/log" 2>&1
fi
if [ -x "$B/test_kernels_arm" ]; then ok "aarch64: build test_kernels_arm"; else
    bad "aarch64: build test_kernels_arm"; head -20 "$tmp/log"; fi
rm -f "$B/test_kvcache"
if $CC -std=c99 $W -O2 $link -I. test/test_kvcache.c -L/usr/aarch64-linux-gnu/lib -lm -lpthread \
        -o "$B/test_kvcache" >"$tmp/log" 2>&1; then ok "aarch64: build test_kvcache"; else
    bad "aarch64: build test_kvcache"; head -20 "$tmp/log"; fi

kernel_test() { # name, cpu, binary
    local name="$1" cpu="$2" bin="$3" rc last p f
    [ -x "$bin" ] || return 0
    timeout 300 "$QEMU" -cpu "$cpu" "$bin" >"$tmp/out" 2>&1; rc=$?
    last="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$tmp/out" | tail -1)"
    if [ -z "$last" ]; then
        bad "$name: no result line (exit $rc)"; tail -20 "$tmp/out"; return
    fi
    p="${last%% passed*}"; f="${last#*, }"; f="${f%% failed*}"
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" != 0 ] || [ "$rc" != 0 ]; then
        echo "FAIL - $name: $last (exit $rc)"; grep -E '^FAIL' "$tmp/out" | head -30
        [ "$f" = 0 ] && fail=$((fail + 1))
    else
        echo "ok   - $name: $(head -1 "$tmp/out" | sed 's/^test_[a-z_]*: //'): $last"
    fi
}
kernel_test "kernels, -cpu max (dotprod)" max "$B/test_kernels_arm"
kernel_test "kernels, -cpu cortex-a53 (no dotprod)" cortex-a53 "$B/test_kernels_arm"
kernel_test "kernels (clang), -cpu max" max "$B/test_kernels_arm_clang"
kernel_test "KV cache, -cpu max" max "$B/test_kvcache"
kernel_test "KV cache, -cpu cortex-a53" cortex-a53 "$B/test_kvcache"

# ---- 3. generation: aarch64 CLI vs native ------------------------------------------------
if $CC -std=c99 $W -O2 $link qlm.c main.c -L/usr/aarch64-linux-gnu/lib -lm -lpthread -o "$B/qlm" \
        >"$tmp/log" 2>&1; then
    ok "aarch64: build CLI ($B/qlm)"
else
    bad "aarch64: build CLI"; head -20 "$tmp/log"
fi
if [ ! -f "$model" ]; then
    bad "generation: model $model missing (make model)"
elif [ -x "$B/qlm" ]; then
    [ -x ./qlm ] || make --no-print-directory qlm >"$tmp/log" 2>&1 || { head -20 "$tmp/log"; }
    # a prompt of more than 8 tokens, so prefill runs the GEMM tiles (QLM__GEMM_MIN_TOKENS)
    args=(-m "$model" -p "The capital of Germany is Berlin. The capital of France is" -n 8 --temp 0 -t 2 -c 64)
    if ./qlm "${args[@]}" >"$tmp/native" 2>"$tmp/native.err" && [ -s "$tmp/native" ]; then
        for cpu in max cortex-a53; do
            if timeout 240 "$QEMU" -cpu "$cpu" "$B/qlm" "${args[@]}" >"$tmp/arm" 2>"$tmp/arm.err" &&
                    cmp -s "$tmp/native" "$tmp/arm"; then
                ok "generation under -cpu $cpu equals native: $(tr '\n' ' ' <"$tmp/arm")"
            else
                bad "generation under -cpu $cpu differs from native"
                echo "  native: $(tr '\n' ' ' <"$tmp/native")"; echo "  arm:    $(tr '\n' ' ' <"$tmp/arm")"
                tail -5 "$tmp/arm.err"
            fi
        done
    else
        bad "generation: native ./qlm failed"; tail -5 "$tmp/native.err"
    fi
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
