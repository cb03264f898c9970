#!/usr/bin/env bash
# Post-processes target/release/libgort.a for C users (run by `make`).
#
# The archive cargo writes holds gort's object plus every object of the Rust
# standard library and the dependencies, each one codegen unit: a C link
# pulls whole members (e.g. all of std, with its sockets and processes) and
# every libc function they name becomes a symbol the dynamic loader must
# resolve at each start-up. This script turns it into one relocatable object
# that holds only what the gort_* functions reach, exposes only gort_* as
# globals, and needs no libgcc_s:
#
# 1. Drops the embedded LLVM bitcode (.llvmbc/.llvmcmd) from every member:
#    C programs never use it, it doubles the archive's size, and binutils
#    with an older LLVM gold plugin installed cannot index it.
# 2. Gives the archive a private copy of GCC's static unwinder. Rust's
#    standard library refers to the _Unwind_* functions (backtraces, the
#    panic personality routine), so a C program linking libgort.a would
#    otherwise load libgcc_s.so.1 at every start-up, for code gort never
#    runs (it is built with panic=abort). Those references are renamed to
#    gort_unw_<name> and bound to a renamed copy of libgcc_eh.a's unwinder,
#    so a static link needs only -lpthread -ldl -lm, and nothing clashes
#    with a host program's own unwinder (C++ exceptions, pthread_cancel
#    still use libgcc's).
# 3. Pre-links everything into one object with `ld -r --gc-sections`, rooted
#    at the gort_* functions (and the library constructor in .init_array),
#    makes every other global local, and drops the undefined symbols that
#    no remaining code refers to. A static link of a one-call program then
#    imports about 60 libc functions instead of 160, and carries 420 KB of
#    code instead of 1 MB.
# Without libgcc_eh.a (a clang-only system) step 2 is skipped and the
# archive links libgcc_s as before. Idempotent.
set -euo pipefail
lib=$(realpath "${1:?usage: bundle_unwinder.sh path/to/libgort.a}")
CC=${CC:-gcc}
has_sym() { # file, regex; no `grep -q`: with pipefail, readelf's SIGPIPE would read as "no"
    [ "$(readelf -sW "$1" 2>/dev/null | grep -cE "$2" || true)" -gt 0 ]
}
if [ "$(ar t "$lib" | tr -d '\n')" = "gort.o" ]; then
    exit 0 # already processed
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/m"
cd "$work/m"
ar t "$lib" > ../members
if [ -n "$(sort ../members | uniq -d)" ]; then
    echo "bundle_unwinder: duplicate member names; leaving $lib as it is" >&2
    exit 0
fi
ar x "$lib"
while read -r m; do
    objcopy --remove-section=.llvmbc --remove-section=.llvmcmd "$m" 2>/dev/null || true
done < ../members

extra=()
eh=$($CC -print-file-name=libgcc_eh.a 2>/dev/null || true)
if [ -n "$eh" ] && [ -f "$eh" ]; then
    mkdir ../eh
    (cd ../eh && ar x "$eh" unwind-dw2.o unwind-dw2-fde-dip.o)
    readelf -sW ../eh/unwind-dw2.o ../eh/unwind-dw2-fde-dip.o \
        | awk '$5 == "GLOBAL" && $7 != "UND" && $8 != "" { print $8 " gort_unw_" $8 }' \
        | sort -u > ../map
    [ -s ../map ] || { echo "bundle_unwinder: no unwinder symbols found" >&2; exit 1; }
    while read -r m; do
        if has_sym "$m" 'UND _Unwind_'; then
            objcopy --redefine-syms=../map "$m"
        fi
    done < ../members
    for o in unwind-dw2 unwind-dw2-fde-dip; do
        objcopy --redefine-syms=../map "../eh/$o.o" "gort_unw_$o.o"
        extra+=("gort_unw_$o.o")
    done
else
    echo "bundle_unwinder: no libgcc_eh.a; libgort.a will link libgcc_s" >&2
fi
# 3. One object, gort_* globals only.
readelf -sW $(cat ../members) 2>/dev/null \
    | awk '$5 == "GLOBAL" && $7 != "UND" && $8 ~ /^gort_/ && $8 !~ /^gort_unw_/ { print $8 }' \
    | sort -u > ../exports
[ -s ../exports ] || { echo "finish_staticlib: no gort_* symbols found" >&2; exit 1; }
# shellcheck disable=SC2046
ld -r --gc-sections $(sed 's/^/-u /' ../exports) -o ../linked.o $(cat ../members) "${extra[@]}"
objcopy --keep-global-symbols=../exports ../linked.o ../local.o
readelf -rW ../local.o | awk 'NF >= 5 && $1 ~ /^[0-9a-f]+$/ { sub(/@.*/, "", $5); print $5 }' | sort -u > ../used
readelf -sW ../local.o | awk '$7 == "UND" && $8 != "" { print $8 }' | sort -u > ../und
comm -23 ../und ../used | sed 's/^/--strip-symbol=/' > ../drop
# shellcheck disable=SC2046
objcopy --strip-debug $(cat ../drop) ../local.o ../gort.o
rm -f ../libgort.a
(cd .. && ar rcs libgort.a gort.o)
mv ../libgort.a "$lib"
