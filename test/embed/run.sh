#!/usr/bin/env bash
# Embed qlm the way another project would: copy qlm.h into a fresh directory with the example,
# build it as C99 and as C++, run both and check they print the same text.
set -u
root="$(cd "$(dirname "$0")/../.." && pwd)"
model="${QLM_TEST_MODEL:-$root/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
case "$model" in /*) ;; *) model="$root/$model" ;; esac
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
check() { if [ "$1" = 0 ]; then pass=$((pass + 1)); echo "ok - $2"; else fail=$((fail + 1)); echo "FAIL - $2"; fi; }
cp "$root/qlm.h" "$tmp/"
cp "$root/test/embed/example.c" "$tmp/example.c"
cp "$root/test/embed/example.c" "$tmp/example.cpp"
(cd "$tmp" && gcc -std=c99 -O2 -Wall -Wextra -Werror example.c -o ex_c -lm -lpthread) 2>&1 | head -20
check "${PIPESTATUS[0]}" "builds as C99"
(cd "$tmp" && g++ -std=c++11 -O2 -Wall -Wextra -Werror example.cpp -o ex_cpp -lm -lpthread) 2>&1 | head -20
check "${PIPESTATUS[0]}" "builds as C++11"
out_c="$("$tmp/ex_c" "$model" 2>&1)"; rc=$?
check $rc "C99 program runs"
[ -n "$out_c" ]; check $? "C99 program generates text: $(echo "$out_c" | head -c 80)"
if [ -x "$tmp/ex_cpp" ]; then
    out_cpp="$("$tmp/ex_cpp" "$model" 2>&1)"; check $? "C++ program runs"
    [ "$out_c" = "$out_cpp" ]; check $? "C and C++ builds print the same text"
else
    check 1 "C++ program runs"
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
