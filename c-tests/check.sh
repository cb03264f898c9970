#!/usr/bin/env bash
# make check: every test gort has, ending with "N passed, N failed".
#
# Steps: rustfmt, clippy, cargo test, the loom models (the handle slots'
# generation check and the park/ready status handshake, built with
# --cfg loom in target/loom so the main build is left alone; see
# src/sync_shim.rs), the release build, the committed
# header is current and compiles as C11 and C++, the shared library's
# exports and soname, the packaging (make install's tree, CMake, man
# pages, a valgrind leak check with the installed gort.supp, make
# uninstall, make dist unpacked and built without git; see
# c-tests/packaging.sh), goroutine dumps in a `cc -static` and in a
# stripped program (c-tests/dumps.sh), then every C program (c-tests/*.c, built with
# $CC) and C++ program (c-tests/*.cc, built with $CXX) in c-tests/ linked
# with libgort.a, linked with libgort.so, through dlopen where it asks for
# it, once under valgrind, and once built with -fsanitize=address against
# a libgort.a built with the `sanitizer` feature (AddressSanitizer told
# about every goroutine stack switch) and the debug assertions on (the
# scheduler's checks at every switch: Cargo profile `asan`). Each line is
# counted, "[k/total]".
#
# Per-test markers, in a comment anywhere in the .c or .cc file:
#   gort-test: env K=V ...     extra environment for every run
#   gort-test: no-valgrind     skip the valgrind run (say why in the test)
#   gort-test: no-asan         skip the AddressSanitizer run (say why)
#   gort-test: dlopen          also build with -DGORT_TEST_DLOPEN, without
#                              linking libgort (the test dlopens it)
# Environment:
#   ONLY="<name> ..."   only the release build and those C tests
#   NO_VALGRIND=1       no valgrind runs
#   NO_ASAN=1           no AddressSanitizer runs (with ONLY=, they run
#                       only when ASAN=1)
#   TEST_TIMEOUT=180    seconds for each C test run
#   VALGRIND_TIMEOUT=600  seconds for each valgrind run
#   CC, CXX             the C and C++ compilers (gcc, g++)
# Without valgrind, cmake or man (man-db), their steps are skipped and
# listed before the last line; .ci/run installs them.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/ctests
mkdir -p "$OUT"
REL=$ROOT/target/release
CC=${CC:-gcc}
CXX=${CXX:-g++}
CFLAGS="-O2 -g -std=c11 -fstack-clash-protection -Wall -Wextra -pedantic -Werror -D_GNU_SOURCE -I$ROOT/include -I$ROOT/c-tests"
CXXFLAGS="-O2 -g -std=c++17 -fstack-clash-protection -Wall -Wextra -pedantic -Werror -D_GNU_SOURCE -I$ROOT/include -I$ROOT/c-tests"
TEST_TIMEOUT=${TEST_TIMEOUT:-180}
VALGRIND_TIMEOUT=${VALGRIND_TIMEOUT:-600}
pass=0
fail=0
failed=()
skipped=()
done_n=0
total=0

have_valgrind=0
if [ -z "${NO_VALGRIND:-}" ] && command -v valgrind >/dev/null 2>&1; then have_valgrind=1; fi
have_asan=0
if [ -z "${NO_ASAN:-}" ] && { [ -z "${ONLY:-}" ] || [ -n "${ASAN:-}" ]; }; then have_asan=1; fi
ASAN_LIB=$ROOT/target/asan/asan/libgort.a
# gort's own SIGSEGV handling (stack overflow reports, the host's handler
# chained) and its alternate signal stacks are what the tests check, so
# ASan leaves those signals and stacks alone; the runtime's threads and
# records live for the whole process, so leak detection is off.
ASAN_ENV="ASAN_OPTIONS=detect_leaks=0:allow_user_segv_handler=1:handle_segv=0:handle_sigbus=0:use_sigaltstack=0"

markers() { grep -oE 'gort-test: .*' "$1" | sed 's/gort-test: //; s/ *\*\/.*$//'; }
selected() { # the C and C++ test programs ONLY selects
    local src name
    for src in c-tests/*.c c-tests/*.cc; do
        [ -f "$src" ] || continue
        name=$(basename "${src%.*}")
        [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]] && continue
        echo "$src"
    done
}

# The count for "[k/total]": every `step` line of this file (only the
# release build with ONLY=), and each C test's runs.
if [ -z "${ONLY:-}" ]; then total=$(grep -c '^ *step "' "$ROOT/c-tests/check.sh"); else total=1; fi
for src in $(selected); do
    total=$((total + 2 + $(markers "$src" | grep -c '^dlopen' || true)))
    if [ "$have_valgrind" = 1 ] && [ "$(markers "$src" | grep -c '^no-valgrind' || true)" = 0 ]; then
        total=$((total + 1))
    fi
    if [ "$have_asan" = 1 ] && [ "$(markers "$src" | grep -c '^no-asan' || true)" = 0 ]; then
        total=$((total + 1))
    fi
done
# The AddressSanitizer build step: counted by the grep above unless ONLY=.
if [ -n "${ONLY:-}" ] && [ "$have_asan" = 1 ]; then total=$((total + 1)); fi
if [ -z "${ONLY:-}" ] && [ "$have_asan" = 0 ]; then total=$((total - 1)); fi
count() { done_n=$((done_n + 1)); printf '[%*d/%d] ' "${#total}" "$done_n" "$total"; }

ok()   { pass=$((pass + 1)); count; printf 'PASS  %s\n' "$1"; }
bad()  { fail=$((fail + 1)); failed+=("$1"); count; printf 'FAIL  %s\n' "$1"; [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 30 "$2" | sed 's/^/      | /'; }
skip() { skipped+=("$1 ($2)"); count; printf 'SKIP  %s (%s)\n' "$1" "$2"; }

step() { # name, command...
    local name=$1; shift
    local log="$OUT/step-${name// /_}.log"
    if "$@" >"$log" 2>&1; then ok "$name"; else bad "$name" "$log"; fi
}

if [ -z "${ONLY:-}" ]; then
    step "cargo fmt --check" cargo fmt --check
    step "cargo clippy" cargo clippy --all-targets --quiet -- -D warnings
    step "cargo test" cargo test --quiet
    loom_models() { # the loom_* tests under --cfg loom; fails if none ran
        local out rc
        # Without LTO: the models need optimized code, not a whole-program
        # link (half the cold build time).
        out=$(RUSTFLAGS="--cfg loom" CARGO_PROFILE_RELEASE_LTO=off cargo test --release --lib --target-dir target/loom loom_ 2>&1)
        rc=$?
        echo "$out"
        [ "$rc" -eq 0 ] && grep -q 'test result: ok\. [1-9]' <<<"$out"
    }
    step "loom models (handle slots, park and ready)" loom_models
fi
[ -n "${ONLY:-}" ] || bash tools/header_current.sh save
step "release build" make -s lib
if [ ! -f "$REL/libgort.a" ]; then
    echo "no library; stopping"
    echo "$pass passed, $((fail + 1)) failed"
    exit 1
fi

asan_build() {
    # The sanitizer feature makes the stack switches call ASan's
    # __sanitizer_start/finish_switch_fiber: check the library really
    # references them.
    cargo build --profile asan --quiet --features sanitizer --target-dir "$ROOT/target/asan" || return 1
    bash tools/finish_staticlib.sh "$ASAN_LIB" || return 1
    nm "$ASAN_LIB" 2>/dev/null | grep -q ' U __sanitizer_start_switch_fiber' || {
        echo "libgort.a built with the sanitizer feature does not call __sanitizer_start_switch_fiber"
        return 1
    }
}
if [ "$have_asan" = 1 ]; then
    step "AddressSanitizer build (the sanitizer feature)" asan_build
fi

if [ -z "${ONLY:-}" ]; then
    step "header is current (matches git, or the tarball's)" bash tools/header_current.sh check
    step "header names are prefixed" python3 tools/header_names.py include/runtime.h
    step "header compiles as C11" bash -c "echo '#include \"runtime.h\"' | $CC -std=c11 -Wall -Wextra -pedantic -Werror -I$ROOT/include -x c -c - -o /dev/null"
    step "header compiles as C++" bash -c "echo '#include \"runtime.h\"' | $CXX -std=c++11 -Wall -Wextra -pedantic -Werror -I$ROOT/include -x c++ -c - -o /dev/null"
    exports_only_gort() {
        local extra
        extra=$(nm -D --defined-only "$REL/libgort.so" | awk '{print $3}' | grep -v '^gort_' || true)
        [ -z "$extra" ] || { echo "non-gort exports:"; echo "$extra"; return 1; }
        nm -D --defined-only "$REL/libgort.so" | grep -q ' gort_go$'
    }
    step "libgort.so exports only gort_*" exports_only_gort
    archive_only_gort() {
        local extra
        extra=$(readelf -sW "$REL/libgort.a" | awk '$5 == "GLOBAL" && $7 != "UND" && $8 != "" { print $8 }' | grep -v '^gort_' || true)
        [ -z "$extra" ] || { echo "non-gort globals in libgort.a:"; echo "$extra"; return 1; }
    }
    step "libgort.a defines only gort_* globals" archive_only_gort
    static_needs_no_libgcc_s() {
        printf '#include "runtime.h"\nint main(void){return gort_num_goroutine();}\n' > "$OUT/one_call.c"
        $CC -O2 -I"$ROOT/include" "$OUT/one_call.c" "$REL/libgort.a" -lpthread -ldl -lm -o "$OUT/one_call" || return 1
        "$OUT/one_call" || return 1
        ! readelf -d "$OUT/one_call" | grep -q 'libgcc_s'
    }
    step "static link needs only -lpthread -ldl -lm (no libgcc_s)" static_needs_no_libgcc_s
    errno_binds_in_static_links() {
        # runtime.h declares gort_errno_location weak: with libgort.a, one
        # gort call binds it; a program with no gort call links none of gort.
        printf '#include "runtime.h"\nint main(void){errno=3;return gort_num_goroutine()+(gort_errno_location?0:9)+errno-3;}\n' > "$OUT/errno_one_call.c"
        $CC -O2 -I"$ROOT/include" "$OUT/errno_one_call.c" "$REL/libgort.a" -lpthread -ldl -lm -o "$OUT/errno_one_call" || return 1
        "$OUT/errno_one_call" || return 1
        printf '#include "runtime.h"\nint main(void){errno=3;return (gort_errno_location?9:0)+errno-3;}\n' > "$OUT/errno_no_call.c"
        $CC -O2 -I"$ROOT/include" "$OUT/errno_no_call.c" "$REL/libgort.a" -lpthread -ldl -lm -o "$OUT/errno_no_call" || return 1
        "$OUT/errno_no_call"
    }
    step "errno macro: bound by one gort call with libgort.a, libc's with none" errno_binds_in_static_links
    step "libgort.so soname and nodelete" bash -c "readelf -d $REL/libgort.so | grep -q 'SONAME.*libgort.so.0' && readelf -d $REL/libgort.so | grep -q 'NODELETE'"
fi

if [ -z "${ONLY:-}" ]; then
    PKG=$(mktemp -d /tmp/gort-packaging-XXXXXX)
    step "make install: the install tree (PREFIX and DESTDIR)" bash c-tests/packaging.sh install "$PKG"
    if command -v cmake >/dev/null 2>&1; then
        step "CMake: find_package(gort), gort::gort and gort::gort_static" bash c-tests/packaging.sh cmake "$PKG"
    else
        skip "CMake: find_package(gort), gort::gort and gort::gort_static" "no cmake"
    fi
    if command -v man >/dev/null 2>&1; then
        step "man pages: one per exported function, each renders without a warning" bash c-tests/packaging.sh man "$PKG"
    else
        skip "man pages: one per exported function, each renders without a warning" "no man (man-db)"
    fi
    if [ "$have_valgrind" = 1 ]; then
        step "valgrind --leak-check=full with gort.supp: no leaks (and the program's own reported)" bash c-tests/packaging.sh valgrind "$PKG"
    else
        skip "valgrind --leak-check=full with gort.supp: no leaks (and the program's own reported)" "${NO_VALGRIND:+NO_VALGRIND=1}$([ -n "${NO_VALGRIND:-}" ] || echo 'no valgrind')"
    fi
    step "make uninstall leaves no file behind" bash c-tests/packaging.sh uninstall "$PKG"
    if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
        step "make dist: the tarball builds and checks without git" bash c-tests/packaging.sh dist "$PKG"
    else
        skip "make dist: the tarball builds and checks without git" "not a git checkout"
    fi
    rm -rf "$PKG"
    DUMPS=$(mktemp -d /tmp/gort-dumps-XXXXXX)
    step "dumps in a cc -static program: every parked goroutine's frames" bash c-tests/dumps.sh static "$DUMPS"
    step "dumps in a stripped program: object+offset, resolved by addr2line" bash c-tests/dumps.sh stripped "$DUMPS"
    rm -rf "$DUMPS"
fi

for src in $(selected); do
    case $src in
        *.cc) name=$(basename "$src" .cc); cc=$CXX; flags=$CXXFLAGS ;;
        *)    name=$(basename "$src" .c);  cc=$CC;  flags=$CFLAGS ;;
    esac
    env_extra=$(markers "$src" | sed -n 's/^env //p' | tr '\n' ' ')
    novg=$(markers "$src" | grep -c '^no-valgrind' || true)
    dl=$(markers "$src" | grep -c '^dlopen' || true)
    variants=(static shared)
    [ "$dl" -gt 0 ] && variants+=(dlopen)
    for v in "${variants[@]}"; do
        exe="$OUT/$name.$v"
        log="$OUT/$name.$v.log"
        case $v in
            static) cmd=($cc $flags "$src" "$REL/libgort.a" -lpthread -ldl -lm -o "$exe") ;;
            shared) cmd=($cc $flags "$src" -L"$REL" -Wl,-rpath,"$REL" -lgort -lpthread -o "$exe") ;;
            dlopen) cmd=($cc $flags -DGORT_TEST_DLOPEN -DGORT_SO_PATH="\"$REL/libgort.so\"" "$src" -ldl -lpthread -o "$exe") ;;
        esac
        if ! "${cmd[@]}" >"$log" 2>&1; then bad "$name [$v] (build)" "$log"; continue; fi
        if env $env_extra timeout -k 5 "$TEST_TIMEOUT" "$exe" >>"$log" 2>&1; then
            ok "$name [$v]"
        else
            bad "$name [$v] (status $?)" "$log"
        fi
    done
    if [ "$have_valgrind" = 1 ] && [ "$novg" = 0 ]; then
        log="$OUT/$name.valgrind.log"
        if env $env_extra GORT_TEST_QUICK=1 timeout -k 5 "$VALGRIND_TIMEOUT" \
            valgrind -q --error-exitcode=99 --trace-children=no --fair-sched=yes \
            "$OUT/$name.static" >"$log" 2>&1; then
            ok "$name [valgrind]"
        else
            bad "$name [valgrind] (status $?)" "$log"
        fi
    fi
    if [ "$have_asan" = 1 ] && [ "$(markers "$src" | grep -c '^no-asan' || true)" = 0 ]; then
        exe="$OUT/$name.asan"
        log="$OUT/$name.asan.log"
        if ! $cc $flags -fsanitize=address -fno-omit-frame-pointer "$src" "$ASAN_LIB" \
            -lpthread -ldl -lm -o "$exe" >"$log" 2>&1; then
            bad "$name [asan] (build)" "$log"
        elif ! nm "$exe" | grep -q ' __asan_init'; then
            echo "not linked with the ASan runtime" >>"$log"
            bad "$name [asan] (no ASan runtime)" "$log"
        elif env $env_extra $ASAN_ENV GORT_TEST_QUICK=1 timeout -k 5 "$TEST_TIMEOUT" "$exe" >>"$log" 2>&1; then
            ok "$name [asan]"
        else
            bad "$name [asan] (status $?)" "$log"
        fi
    fi
done

echo
if [ ${#skipped[@]} -gt 0 ]; then
    echo "skipped:"
    printf '  %s\n' "${skipped[@]}"
fi
if [ "$fail" -gt 0 ]; then
    echo "failed:"
    printf '  %s\n' "${failed[@]}"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
