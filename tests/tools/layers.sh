#!/bin/bash
# The tree's layering, checked from the sources and the objects (run by `make layers`,
# part of `make all`):
#   1. no include runs upwards or across: protocols/ includes only protocols/; sim/
#      includes sim/ and protocols/; controller/ includes controller/ and protocols/ —
#      never sim/ (the simulator is not part of the controller) nor tests/;
#   2. no include cycle between files;
#   3. no two modules whose objects call each other, directly or round a circle (one
#      file's undefined symbol defined by another is an edge). A module is a file and the
#      files of its directory named after it with a suffix (station.c, station_chain.c,
#      station_safety.c, ...): one prefix, one internal header, free to call each other.
# Usage: layers.sh [OBJ...]    (from the top of the tree; the objects to check for rule 3)
#        layers.sh --self-test (checks that each rule catches a planted violation)
set -u
LC_ALL=C
export LC_ALL

# Directories exempt from rule 1, each with its reason (none today).
EXEMPT_RE='^$'

# Prints the files of the nodes that stay after repeatedly peeling every node without an
# incoming or an outgoing edge: exactly those on a cycle or between two cycles.
# stdin: "from to" edges.
circle() {
    awk '
    $1 != $2 && !(($1 SUBSEP $2) in e) {
        e[$1, $2] = 1; out[$1]++; inn[$2]++; node[$1] = 1; node[$2] = 1
        from[++n] = $1; to[n] = $2
    }
    END {
        do {
            changed = 0
            for (v in node)
                if (!out[v] || !inn[v]) {
                    delete node[v]; changed = 1
                    for (i = 1; i <= n; i++)
                        if (alive[i] != "dead" && (from[i] == v || to[i] == v)) {
                            alive[i] = "dead"; out[from[i]]--; inn[to[i]]--
                        }
                }
        } while (changed)
        for (i = 1; i <= n; i++)
            if (alive[i] != "dead")
                print "  " from[i] " -> " to[i]
    }'
}

# "file included" for every quoted include that resolves in the tree.
includes() {
    local f inc d cand
    for f in $(find protocols sim controller -name '*.[ch]' | sort); do
        d=$(dirname "$f")
        sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
        while read -r inc; do
            for cand in "$d/$inc" "protocols/$inc" "sim/$inc" "controller/$inc" "tests/support/$inc"; do
                if [ -f "$cand" ]; then
                    echo "$f $(realpath -m --relative-to=. "$cand")"
                    break
                fi
            done
        done
    done
}

check() {
    local fail=0 edges bad cyc
    edges=$(includes)
    bad=$(echo "$edges" | awk -v ex="$EXEMPT_RE" '
        NF == 2 && $1 !~ ex {
            split($1, a, "/"); split($2, b, "/")
            ok = a[1] == b[1] || (b[1] == "protocols" && (a[1] == "sim" || a[1] == "controller"))
            if (!ok) print "  " $1 " includes " $2
        }')
    if [ -n "$bad" ]; then
        echo "layers: includes running upwards or across (see tests/tools/layers.sh):"
        echo "$bad"
        fail=1
    fi
    cyc=$(echo "$edges" | awk 'NF == 2' | circle)
    if [ -n "$cyc" ]; then
        echo "layers: include cycle between files:"
        echo "$cyc"
        fail=1
    fi
    if [ $# -gt 0 ]; then
        cyc=$(nm -A "$@" 2>/dev/null | awk '
            {   # "file:value type symbol" or "file:  U symbol"
                k = index($0, ":"); f = substr($0, 1, k - 1); sub(/^.*\/obj\//, "", f)
                sub(/\.o$/, "", f); d = f; sub(/[^\/]*$/, "", d); b = substr(f, length(d) + 1)
                sub(/_.*$/, "", b); f = d b   # the module: dir/stem
                m = split(substr($0, k + 1), w, " ")
            }
            m == 3 && w[2] ~ /^[TDBRC]$/ { def[w[3]] = f }
            m == 2 && w[1] == "U" { use[++n] = f; sym[n] = w[2] }
            END { for (i = 1; i <= n; i++) if (sym[i] in def) print use[i], def[sym[i]] }' | circle)
        if [ -n "$cyc" ]; then
            echo "layers: modules calling each other round a circle:"
            echo "$cyc"
            fail=1
        fi
    fi
    return $fail
}

self_test() {
    local here t rc=0
    here=$(realpath "$0")
    t=$(mktemp -d)
    trap 'rm -rf "$t"' RETURN
    mkdir -p "$t/protocols/p" "$t/sim/s" "$t/controller/c"
    echo '#include "p/p.h"' > "$t/sim/s/s.h"
    echo '#include "p/p.h"' > "$t/controller/c/c.h"
    : > "$t/protocols/p/p.h"
    (cd "$t" && "$here") > /dev/null || { echo "layers self-test: a clean tree fails"; rc=1; }
    echo '#include "s/s.h"' >> "$t/controller/c/c.h"
    (cd "$t" && "$here") > /dev/null && { echo "layers self-test: controller -> sim passes"; rc=1; }
    echo '#include "p/p.h"' > "$t/controller/c/c.h"
    echo '#include "c/c.h"' >> "$t/protocols/p/p.h"
    (cd "$t" && "$here") > /dev/null && { echo "layers self-test: protocols -> controller passes"; rc=1; }
    : > "$t/protocols/p/p.h"
    echo '#include "c2.h"' >> "$t/controller/c/c.h"
    echo '#include "c.h"' > "$t/controller/c/c2.h"
    (cd "$t" && "$here") > /dev/null && { echo "layers self-test: an include cycle passes"; rc=1; }
    rm "$t/controller/c/c2.h"; echo '#include "p/p.h"' > "$t/controller/c/c.h"
    mkdir -p "$t/obj"
    printf 'void b(void);\nvoid a(void) { b(); }\n' | cc -x c -c - -o "$t/obj/a.o"
    printf 'void a(void);\nvoid b(void) { a(); }\n' | cc -x c -c - -o "$t/obj/b.o"
    (cd "$t" && "$here" obj/a.o obj/b.o) > /dev/null && { echo "layers self-test: two files calling each other pass"; rc=1; }
    printf 'void b(void) { }\n' | cc -x c -c - -o "$t/obj/b.o"
    (cd "$t" && "$here" obj/a.o obj/b.o) > /dev/null || { echo "layers self-test: a one-way call fails"; rc=1; }
    printf 'void a(void);\nvoid a_x(void) { a(); }\n' | cc -x c -c - -o "$t/obj/a_x.o"
    printf 'void a_x(void);\nvoid a(void) { a_x(); }\n' | cc -x c -c - -o "$t/obj/a.o"
    (cd "$t" && "$here" obj/a.o obj/a_x.o) > /dev/null || { echo "layers self-test: one module's files fail"; rc=1; }
    return $rc
}

case "${1-}" in
--self-test) self_test ;;
*) check "$@" ;;
esac
