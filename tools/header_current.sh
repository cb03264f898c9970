#!/usr/bin/env bash
# Checks that include/runtime.h is the header the sources generate.
#
#   tools/header_current.sh save    before the build (c-tests/check.sh does)
#   tools/header_current.sh check   after it
#
# The build (build.rs, cbindgen) rewrites include/runtime.h whenever the
# sources' declarations or doc comments change, so after a build:
# - in a git checkout, the header must not differ from the committed one
#   (a change to the API must be committed with its header);
# - without one (an unpacked `make dist` tarball), it must not differ from
#   the header as shipped, which `save` copies to build/ before the build;
#   `save` also touches build.rs, so that the build generates the header
#   afresh even in a tree that was built before.
set -euo pipefail
cd "$(dirname "$0")/.."
saved=build/runtime.h.shipped

in_git() {
    local top
    top=$(git rev-parse --show-toplevel 2>/dev/null) || return 1
    [ "$(realpath "$top")" = "$(realpath .)" ] && git ls-files --error-unmatch include/runtime.h >/dev/null 2>&1
}

case ${1:-} in
    save)
        if ! in_git; then
            mkdir -p build
            cp include/runtime.h "$saved"
            touch build.rs
        fi
        ;;
    check)
        if in_git; then
            git diff --exit-code -- include/runtime.h
            echo "include/runtime.h matches the committed header"
        elif [ -f "$saved" ]; then
            diff -u "$saved" include/runtime.h
            echo "include/runtime.h matches the header as shipped (no git checkout)"
        else
            echo "not a git checkout and no $saved: run '$0 save' before building" >&2
            exit 1
        fi
        ;;
    *)
        echo "usage: $0 save|check" >&2
        exit 2
        ;;
esac
