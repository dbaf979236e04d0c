#!/usr/bin/env bash
# Compile gates: the header as C99 and C++, the implementation under every build option,
# all with -Wall -Wextra -Wpedantic -Wundef -Werror. Prints "N passed, N failed" last.
set -u
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
W="-Wall -Wextra -Wpedantic -Wundef -Werror"
gate() { # name, command...
    local name="$1"; shift
    if "$@" >"$tmp/log" 2>&1; then pass=$((pass + 1)); echo "ok - $name"
    else fail=$((fail + 1)); echo "FAIL - $name"; head -20 "$tmp/log"; fi
}
printf '#include "qlm.h"\nint main(void) { return qlm_model_default_params().vocab_only; }\n' > "$tmp/api.c"
cp "$tmp/api.c" "$tmp/api.cpp"
printf '#define QLM_IMPLEMENTATION\n#include "qlm.h"\nint main(void) { return 0; }\n' > "$tmp/impl.c"
cp "$tmp/impl.c" "$tmp/impl.cpp"
gate "public header as C99"  gcc -std=c99 $W -I. -c "$tmp/api.c" -o "$tmp/a.o"
gate "public header as C++11" g++ -std=c++11 $W -I. -c "$tmp/api.cpp" -o "$tmp/b.o"
gate "implementation as C99" gcc -std=c99 $W -I. -c "$tmp/impl.c" -o "$tmp/c.o"
gate "implementation as C++11" g++ -std=c++11 $W -I. -c "$tmp/impl.cpp" -o "$tmp/d.o"
gate "implementation with clang" clang -std=c99 $W -I. -c "$tmp/impl.c" -o "$tmp/e.o"
for opt in QLM_STATIC QLM_NO_THREADS QLM_NO_MMAP; do
    gate "implementation with $opt=1" gcc -std=c99 $W -D$opt=1 -I. -c "$tmp/impl.c" -o "$tmp/f.o"
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
