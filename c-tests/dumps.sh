#!/usr/bin/env bash
# Goroutine dumps in the programs a plain C test cannot be (API.md 8.1),
# run by c-tests/check.sh as separate steps:
#
#   dumps.sh static    DIR   c-tests/trace_parked_frames.c linked with
#                            `cc -static` against libgort.a: every parked
#                            goroutine's frames, with file:line, as in a
#                            dynamic program
#   dumps.sh stripped  DIR   the same program stripped: its dump names no
#                            function, but every frame's location is
#                            `object+0xOFFSET`, and `addr2line -f -e` on
#                            the unstripped copy turns the offsets of each
#                            parked goroutine into its three C functions
#
# DIR is an empty scratch directory the caller removes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CC=${CC:-gcc}
CFLAGS="-O2 -g -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -I$ROOT/include -I$ROOT/c-tests"
LIB=$ROOT/target/release/libgort.a
SRC=$ROOT/c-tests/trace_parked_frames.c
die() { echo "$*" >&2; exit 1; }

case "${1:?mode}" in
static)
    dir=${2:?dir}
    # glibc warns that a static program's getaddrinfo needs its shared
    # libraries at run time: not used here.
    $CC $CFLAGS -static "$SRC" "$LIB" -lpthread -ldl -lm -o "$dir/prog" 2> "$dir/ld.log" ||
        { cat "$dir/ld.log" >&2; die "static link failed"; }
    readelf -lW "$dir/prog" | grep -q INTERP && die "not a static program"
    GORT_MAXPROCS=2 timeout 120 "$dir/prog" > "$dir/out" 2>&1 || { cat "$dir/out" >&2; die "the static program failed"; }
    grep -q '^ok$' "$dir/out" || die "no ok"
    ;;
stripped)
    dir=${2:?dir}
    $CC $CFLAGS "$SRC" "$LIB" -lpthread -ldl -lm -o "$dir/prog"
    strip -o "$dir/prog.stripped" "$dir/prog"
    GORT_MAXPROCS=2 GORT_TEST_PRINT_DUMP=1 timeout 120 "$dir/prog.stripped" > "$dir/dump" 2>&1 ||
        { cat "$dir/dump" >&2; die "the stripped program failed"; }
    grep -q '_ZN' "$dir/dump" && die "a mangled name in: $(cat "$dir/dump")"
    # Every location line is object+offset of the stripped file (or
    # libgort's), never a bare address.
    if grep -P '^\t' "$dir/dump" | grep -v 'goroutine running on other thread' |
        grep -vqE "^	[^ ]+\+0x[0-9a-f]+$"; then
        die "a location that is not object+offset: $(cat "$dir/dump")"
    fi
    offsets=$(grep -oE "prog\.stripped\+0x[0-9a-f]+" "$dir/dump" | sed 's/.*+//')
    [ -n "$offsets" ] || die "no offsets in: $(cat "$dir/dump")"
    # shellcheck disable=SC2086
    addr2line -f -e "$dir/prog" $offsets > "$dir/resolved"
    for k in recv send select sleep waitgroup cond; do
        for level in inner middle outer; do
            grep -qx "${level}_$k" "$dir/resolved" ||
                die "addr2line did not give ${level}_$k; dump: $(cat "$dir/dump"); resolved: $(cat "$dir/resolved")"
        done
    done
    grep -q 'trace_parked_frames.c:[0-9]' "$dir/resolved" || die "no file:line from addr2line"
    ;;
*)
    die "usage: dumps.sh static|stripped DIR"
    ;;
esac
