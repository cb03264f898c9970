#!/usr/bin/env bash
# Packaging checks, run by c-tests/check.sh as separate steps:
#
#   packaging.sh install   DIR   make install PREFIX=DIR/prefix (and with
#                                DESTDIR): exactly the install tree below
#   packaging.sh cmake     DIR   find_package(gort) from a moved copy of that
#                                prefix: gort::gort and gort::gort_static
#   packaging.sh man       DIR   man pages: every exported function has
#                                one (and is named in the README), each
#                                renders without a warning, and man finds
#                                the installed ones
#   packaging.sh valgrind  DIR   c-tests/lib_valgrind_suppressions.c built
#                                against that prefix (pkg-config, static
#                                and shared) and run under valgrind
#                                --leak-check=full with the installed
#                                gort.supp: no leak reported; with a leak
#                                of the program's own, that leak reported
#   packaging.sh uninstall DIR   make uninstall leaves no file behind
#   packaging.sh dist      DIR   make dist: the tarball holds the tracked
#                                files; unpacked where there is no git, it
#                                builds, its header check passes, and
#                                check.sh runs a C test there
#
# DIR is an empty scratch directory the caller removes. pkg-config builds
# against the installed tree are c-tests/lib_install_pkgconfig.c.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
unset MAKEFLAGS MFLAGS MAKELEVEL
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
CC=${CC:-gcc}

die() { echo "$*" >&2; exit 1; }

# The install tree: one line per file, "path" or "path -> link target".
expected_tree() {
    cat <<LIST
include/gort/runtime.h
lib/cmake/gort/gortConfig.cmake
lib/cmake/gort/gortConfigVersion.cmake
lib/gort/static/libgort.a -> ../../libgort.a
lib/libgort.a
lib/libgort.so -> libgort.so.0
lib/libgort.so.0 -> libgort.so.$VERSION
lib/libgort.so.$VERSION
lib/pkgconfig/gort-static.pc
lib/pkgconfig/gort.pc
share/doc/gort/LICENSE-APACHE
share/doc/gort/LICENSE-MIT
share/doc/gort/README.md
share/doc/gort/docs/trace.svg
share/gort/gort.supp
LIST
    python3 tools/man_pages.py --list | sed 's|^|share/man/|'
}

actual_tree() { # prefix
    (cd "$1" && find . ! -type d | sed 's|^\./||' | LC_ALL=C sort | while read -r f; do
        if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; else echo "$f"; fi
    done)
}

check_tree() { # prefix, what
    if ! diff -u <(expected_tree | LC_ALL=C sort) <(actual_tree "$1"); then
        die "$2: the install tree differs from the expected one (-expected +installed)"
    fi
    cmp include/runtime.h "$1/include/gort/runtime.h"
    cmp gort.supp "$1/share/gort/gort.supp"
    [ "$(stat -c %a "$1/lib/libgort.so.$VERSION")" = 755 ] || die "libgort.so.$VERSION is not mode 755"
    readelf -d "$1/lib/libgort.so.0" | grep -q 'SONAME.*\[libgort.so.0\]' || die "installed soname"
    echo "$2: $(actual_tree "$1" | wc -l) files and links, as expected"
}

do_install() {
    local dir=$1
    make -s install PREFIX="$dir/prefix" >"$dir/install.log" 2>&1 || { cat "$dir/install.log"; die "make install failed"; }
    check_tree "$dir/prefix" "make install PREFIX=$dir/prefix"
    grep -qx "prefix=$dir/prefix" "$dir/prefix/lib/pkgconfig/gort.pc" || die "gort.pc: prefix"
    grep -qx 'libdir=${prefix}/lib' "$dir/prefix/lib/pkgconfig/gort.pc" || die "gort.pc: libdir"
    ! grep -q "$ROOT" "$dir/prefix/lib/pkgconfig/"*.pc "$dir/prefix/lib/cmake/gort/"*.cmake \
        || die "an installed file names the source tree"

    # Staged, as distribution packages install.
    make -s install DESTDIR="$dir/stage" PREFIX=/usr >"$dir/install.log" 2>&1 || { cat "$dir/install.log"; die "make install DESTDIR failed"; }
    [ "$(find "$dir/stage" -mindepth 1 -maxdepth 1)" = "$dir/stage/usr" ] || die "DESTDIR: files outside DESTDIR/usr"
    check_tree "$dir/stage/usr" "make install DESTDIR=... PREFIX=/usr"
    grep -qx "prefix=/usr" "$dir/stage/usr/lib/pkgconfig/gort.pc" || die "DESTDIR: gort.pc prefix"
    make -s uninstall DESTDIR="$dir/stage" PREFIX=/usr
    [ -z "$(find "$dir/stage" ! -type d)" ] || die "make uninstall DESTDIR=... left files"
}

do_cmake() {
    local dir=$1
    command -v cmake >/dev/null || die "cmake is not installed (apt-get install cmake)"
    [ -d "$dir/prefix" ] || die "run '$0 install $dir' first"
    # A moved copy: the package finds its files relative to itself.
    rm -rf "$dir/moved"
    cp -a "$dir/prefix" "$dir/moved"
    mkdir -p "$dir/cmake"
    cat >"$dir/cmake/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.13)
project(gort_consumer C)
find_package(gort 0.1 REQUIRED)
add_executable(prog_shared prog.c)
target_link_libraries(prog_shared PRIVATE gort::gort)
add_executable(prog_static prog.c)
target_link_libraries(prog_static PRIVATE gort::gort_static)
if(NOT EXISTS "${gort_VALGRIND_SUPPRESSIONS}")
  message(FATAL_ERROR "gort_VALGRIND_SUPPRESSIONS: no file ${gort_VALGRIND_SUPPRESSIONS}")
endif()
CMAKE
    cat >"$dir/cmake/prog.c" <<'PROG'
#include <stdio.h>
#include <string.h>
#include <gort/runtime.h>
#include "runtime.h"
static gort_waitgroup wg;
static void work(void *arg) { (void)arg; gort_wg_done(&wg); }
int main(void) {
    gort_wg_add(&wg, 10);
    for (int i = 0; i < 10; i++) gort_go(work, NULL);
    gort_wg_wait(&wg);
    char line[4096]; FILE *f = fopen("/proc/self/maps", "r");
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "libgort")) { printf("mapped %s", strchr(line, '/')); break; }
    if (f) fclose(f);
    printf("ok %s\n", gort_version());
    return strcmp(gort_version(), GORT_VERSION_STRING) != 0;
}
PROG
    cmake -S "$dir/cmake" -B "$dir/cmake/build" -DCMAKE_PREFIX_PATH="$dir/moved" \
        -DCMAKE_C_STANDARD=11 -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" -DCMAKE_C_COMPILER="$CC"
    cmake --build "$dir/cmake/build" -- VERBOSE=1
    local b=$dir/cmake/build
    readelf -d "$b/prog_shared" | grep -q 'NEEDED.*\[libgort.so.0\]' || die "prog_shared: libgort.so.0 not NEEDED"
    ! readelf -d "$b/prog_static" | grep -q 'NEEDED.*libgort' || die "prog_static needs libgort.so"
    "$b/prog_shared" | tee "$dir/out"
    grep -q "mapped $dir/moved/lib/libgort.so" "$dir/out" || die "prog_shared did not map the moved libgort.so"
    "$b/prog_static" | tee "$dir/out"
    ! grep -q mapped "$dir/out" || die "prog_static mapped a libgort.so"
    grep -q -- -fstack-clash-protection "$b/CMakeFiles/prog_static.dir/flags.make" \
        || die "gort::gort_static does not add -fstack-clash-protection"

    # Versions: 0.1 and 0.1.<patch> EXACT are found, 0.2 and 1 are not.
    local v want
    for v in "0.1" "$VERSION EXACT" "0.2" "1"; do
        case $v in 0.2|1) want=0 ;; *) want=1 ;; esac
        mkdir -p "$dir/cmv"
        printf 'cmake_minimum_required(VERSION 3.13)\nproject(v NONE)\nfind_package(gort %s QUIET)\nmessage(STATUS "found=${gort_FOUND}")\n' \
            "$v" >"$dir/cmv/CMakeLists.txt"
        rm -rf "$dir/cmv/build"
        cmake -S "$dir/cmv" -B "$dir/cmv/build" -DCMAKE_PREFIX_PATH="$dir/moved" >"$dir/cmv.log" 2>&1 \
            || { cat "$dir/cmv.log"; die "cmake with find_package(gort $v) failed"; }
        if [ "$want" = 1 ]; then
            grep -q 'found=1' "$dir/cmv.log" || die "find_package(gort $v) did not find $VERSION"
        else
            ! grep -q 'found=1' "$dir/cmv.log" || die "find_package(gort $v) accepted $VERSION"
        fi
    done
    echo "CMake: gort::gort (NEEDED libgort.so.0) and gort::gort_static (no libgort.so) built and ran"
}

do_man() {
    local dir=$1
    command -v man >/dev/null || die "man is not installed (apt-get install man-db groff-base)"
    make -s man
    local f missing=() pages
    for f in $(nm -D --defined-only target/release/libgort.so | awk '$3 ~ /^gort_/ { print $3 }'); do
        [ -f "build/man/man3/$f.3" ] || missing+=("$f")
    done
    [ ${#missing[@]} = 0 ] || die "exported functions without a man page: ${missing[*]}"
    for f in $(nm -D --defined-only target/release/libgort.so | awk '$3 ~ /^gort_/ { print $3 }'); do
        grep -q "\b$f\b" README.md || missing+=("$f")
    done
    [ ${#missing[@]} = 0 ] || die "exported functions the README does not name: ${missing[*]}"
    pages=$(python3 tools/man_pages.py --list)
    diff -u <(echo "$pages") <(cd build/man && find . -type f | sed 's|^\./||' | LC_ALL=C sort) \
        || die "build/man holds other files than tools/man_pages.py --list"
    # Rendered as man shows them, with every groff warning (-ww).
    for f in $pages; do
        (cd build/man && MANWIDTH=80 man --warnings=w -E UTF-8 -l "$f" >"$dir/page.txt" 2>"$dir/page.err") \
            || die "man -l $f failed: $(cat "$dir/page.err")"
        [ ! -s "$dir/page.err" ] || die "man -l $f: $(cat "$dir/page.err")"
        # Every section a function's page has; gort(7), an overview, has
        # no RETURN VALUE.
        for h in NAME SYNOPSIS DESCRIPTION "RETURN VALUE" "ERRORS / PANICS" "THREAD SAFETY" "SEE ALSO"; do
            case $f:$h in man7/*:"RETURN VALUE") continue ;; esac
            grep -qx "$h" "$dir/page.txt" || die "$f: no $h section"
        done
        case $f in man3/*) grep -q -- "$(basename "$f" .3)" "$dir/page.txt" || die "$f does not name its function" ;; esac
    done
    if [ -d "$dir/prefix/share/man" ]; then
        MANPATH="$dir/prefix/share/man" MANWIDTH=80 man -P cat 3 gort_chan_recv >"$dir/page.txt"
        grep -q 'gort_chan_send, gort_chan_recv' "$dir/page.txt" || die "man gort_chan_recv from the install tree"
        MANPATH="$dir/prefix/share/man" MANWIDTH=80 man -P cat 7 gort >"$dir/page.txt"
        grep -q '^RULES FOR C PROGRAMS' "$dir/page.txt" || die "man 7 gort from the install tree"
    fi
    echo "man pages: $(echo "$pages" | wc -l) files ($(grep -L '^\.so ' $(printf 'build/man/%s ' $pages) | wc -l) pages, the rest .so links), each rendered without a warning; every exported function has one"
}

do_valgrind() {
    local dir=$1
    command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind)"
    [ -d "$dir/prefix" ] || die "run '$0 install $dir' first"
    export PKG_CONFIG_PATH=$dir/prefix/lib/pkgconfig
    local supp
    supp=$(pkg-config --variable=valgrind_suppressions gort)
    [ "$supp" = "$dir/prefix/share/gort/gort.supp" ] || die "gort.pc: valgrind_suppressions is '$supp'"
    [ -f "$supp" ] || die "$supp is not installed"
    local src=$ROOT/c-tests/lib_valgrind_suppressions.c
    local flags="-O2 -g -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -I$ROOT/c-tests"
    # shellcheck disable=SC2086
    $CC $flags "$src" $(pkg-config --static --cflags --libs gort) -o "$dir/vg_static"
    # shellcheck disable=SC2086
    $CC $flags "$src" $(pkg-config --cflags --libs gort) -Wl,-rpath,"$dir/prefix/lib" -o "$dir/vg_shared"
    ! readelf -d "$dir/vg_static" | grep -q 'NEEDED.*libgort' || die "vg_static needs libgort.so"
    readelf -d "$dir/vg_shared" | grep -q 'NEEDED.*\[libgort.so.0\]' || die "vg_shared: libgort.so.0 not NEEDED"
    local vg=(valgrind --leak-check=full --errors-for-leak-kinds=definite,possible --error-exitcode=9
              --fair-sched=yes --suppressions="$supp")
    local v log lost
    for v in static shared; do
        log=$dir/vg_$v.log
        "${vg[@]}" "$dir/vg_$v" >"$log" 2>&1 || { cat "$log"; die "$v: valgrind --leak-check=full with gort.supp reported errors"; }
        grep -q '^ok: ' "$log" || { cat "$log"; die "$v: the program did not finish"; }
        for lost in "definitely lost" "possibly lost"; do
            # No LEAK SUMMARY at all means no block was left.
            ! grep -E "$lost: [1-9]" "$log" || die "$v: $lost blocks reported"
        done
        echo "$v: no leaks; $(grep -oE 'suppressed: [0-9,]+ bytes in [0-9]+ blocks' "$log" || echo 'nothing suppressed')"
        # The program's own leaks are still reported.
        log=$dir/vg_${v}_leak.log
        if "${vg[@]}" "$dir/vg_$v" leak >"$log" 2>&1; then cat "$log"; die "$v: a leak of the program's went unreported"; fi
        grep -qE 'definitely lost: [0-9,]+ bytes in 2 blocks' "$log" || { cat "$log"; die "$v: expected 2 lost blocks"; }
        grep -q 'possibly lost: 0 bytes' "$log" || { cat "$log"; die "$v: possibly lost blocks with the leak"; }
        grep -q 'gort::chan::Chan::new\|lose_memory' "$log" || { cat "$log"; die "$v: the leak records do not name the program's allocations"; }
        echo "$v: the program's own leak (a block and a channel) reported: $(grep -oE 'definitely lost: [0-9,]+ bytes in [0-9]+ blocks' "$log")"
    done
    # Without the file, for the record (glibc's way of keeping a thread's
    # TLS vector decides whether there is anything to suppress).
    valgrind --leak-check=full "$dir/vg_static" >"$dir/vg_nosupp.log" 2>&1 || true
    echo "without gort.supp: $(grep -oE 'possibly lost: [0-9,]+ bytes in [0-9]+ blocks' "$dir/vg_nosupp.log" || echo 'possibly lost: none')"
}

do_uninstall() {
    local dir=$1
    [ -d "$dir/prefix" ] || die "run '$0 install $dir' first"
    make -s uninstall PREFIX="$dir/prefix"
    local left
    left=$(cd "$dir/prefix" && find . ! -type d)
    [ -z "$left" ] || die "make uninstall left: $left"
    for d in include/gort lib/gort lib/cmake/gort share/doc/gort share/gort; do
        [ ! -e "$dir/prefix/$d" ] || die "make uninstall left the directory $d"
    done
    echo "make uninstall: no file left; remaining (shared) directories: $(cd "$dir/prefix" && find . -mindepth 1 -type d | sort | tr '\n' ' ')"
}

do_dist() {
    local dir=$1 name=gort-$VERSION
    make -s dist DISTDIR="$dir/dist"
    local tarball=$dir/dist/$name.tar.gz
    [ -f "$tarball" ] || die "make dist wrote no $tarball"
    # Exactly the tracked files (those deleted in the work tree aside).
    if ! diff -u <(git ls-files | grep -vxF -f <(git ls-files --deleted; echo /) | LC_ALL=C sort) \
                 <(tar tzf "$tarball" | grep -v '/$' | sed "s|^$name/||" | LC_ALL=C sort); then
        die "the tarball's files are not the tracked files (-tracked +tarball)"
    fi
    [ -z "$(tar tzf "$tarball" | grep -v "^$name/")" ] || die "files outside $name/"

    mkdir -p "$dir/unpack"
    tar xzf "$tarball" -C "$dir/unpack"
    cd "$dir/unpack/$name"
    export GIT_CEILING_DIRECTORIES=$dir
    [ ! -e .git ] && ! git rev-parse --git-dir >/dev/null 2>&1 || die "the unpacked tree is in a git repository"
    bash tools/header_current.sh save
    make -s lib
    bash tools/header_current.sh check | tee "$dir/header.log"
    grep -q 'as shipped' "$dir/header.log" || die "the header check did not compare with the shipped header"
    ONLY=smoke_spawn_wait NO_VALGRIND=1 bash c-tests/check.sh | tee "$dir/check.log"
    [ "$(tail -n 1 "$dir/check.log")" = "3 passed, 0 failed" ] || die "check.sh in the unpacked tree"
    echo "$name.tar.gz: $(tar tzf "$tarball" | grep -vc '/$') files; built, header current and C test passed without git"
}

case ${1:-} in
    install)   do_install "${2:?scratch directory}" ;;
    cmake)     do_cmake "${2:?scratch directory}" ;;
    uninstall) do_uninstall "${2:?scratch directory}" ;;
    man)       do_man "${2:?scratch directory}" ;;
    valgrind)  do_valgrind "${2:?scratch directory}" ;;
    dist)      do_dist "${2:?scratch directory}" ;;
    *) echo "usage: $0 install|cmake|man|valgrind|uninstall|dist DIR" >&2; exit 2 ;;
esac
