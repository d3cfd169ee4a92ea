#!/usr/bin/env bash
# layers.sh - fail when a source file includes a header from a layer above
# its own or beside it.
#
# The layers, top to bottom (each may include only itself and what is
# below it; worker, profiler and mailer are siblings and never include one
# another):
#
#   cmd -> master -> {worker, profiler, mailer} -> app -> sampler -> core
#
# Unit tests under tests/unit/LAYER/ obey LAYER's rule (and may include
# tests/). tools/loadtest is a separate program on core's rules plus its own
# folder. Run by `make` before anything is compiled.
set -u
cd "$(dirname "$0")/.."

allowed() {
    case $1 in
    core) echo "core" ;;
    sampler) echo "sampler core" ;;
    app) echo "app sampler core" ;;
    worker) echo "worker app sampler core" ;;
    profiler) echo "profiler app sampler core" ;;
    mailer) echo "mailer app sampler core" ;;
    master) echo "master worker profiler mailer app sampler core" ;;
    cmd) echo "cmd master worker profiler mailer app sampler core" ;;
    tools) echo "tools core" ;;
    esac
}

bad=0
check() { # file layer
    local f=$1 layer=$2 ok inc dep
    ok=" $(allowed "$layer") tests "
    while IFS= read -r inc; do
        dep=${inc%%/*}
        case $ok in *" $dep "*) ;; *)
            echo "layers: $f ($layer) includes \"$inc\": $dep is not below $layer" >&2
            bad=1 ;;
        esac
    done < <(sed -n 's/^#include "\([a-z_]*\/[^"]*\)".*/\1/p' "$f")
}

for layer in core sampler app worker profiler mailer master cmd; do
    for f in "$layer"/*.[ch] tests/unit/"$layer"/*.[ch]; do
        [ -e "$f" ] && check "$f" "$layer"
    done
done
for f in tools/loadtest/*.[ch] tests/unit/tools/*.[ch]; do
    [ -e "$f" ] && check "$f" tools
done
exit $bad
