#!/usr/bin/env bash
# The station on the simulator: swapsim (plant, Modbus TCP) + a fleet of dronesim drones
# (MAVLink over a pseudo-terminal) + swapd (fresh registry in a scratch directory) +
# swapctl top. DEMO_SWAPS=N ends after N swaps with a summary; without a terminal it
# prints progress lines instead of the live view. Ctrl-C stops everything it started.
#
# Environment: DEMO_SWAPS (0 = run until Ctrl-C), DEMO_DRONES (default 3),
# DEMO_SPEED (plant and drone time per wall time, default 1), BIN (default build/bin),
# DEMO_DIR (scratch directory; default a new one under /tmp, removed at the end unless
# DEMO_KEEP=1), DEMO_HTTP_PORT (the status page's port; default any free one).
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$here/build/bin}
CONF=$here/configs
SWAPS=${DEMO_SWAPS:-0}
DRONES=${DEMO_DRONES:-3}
SPEED=${DEMO_SPEED:-1}
dir=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/swapd-demo.XXXXXX")}
mkdir -p "$dir"
pids=()

say() { printf 'demo: %s\n' "$*"; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # Stop only what this script started, newest first, by pid.
    for (( i=${#pids[@]}-1; i>=0; i-- )); do
        kill -TERM "${pids[$i]}" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    if [ "${DEMO_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
        say "logs kept in $dir"
    else
        rm -rf "$dir"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # wait_for DESCRIPTION PID COMMAND...: probe until COMMAND succeeds
    local what=$1 pid=$2; shift 2
    for _ in $(seq 1 500); do
        "$@" && return 0
        kill -0 "$pid" 2>/dev/null || { say "$what exited; see $dir"; return 1; }
        sleep 0.02
    done
    say "timed out waiting for $what"; return 1
}

for p in swapsim dronesim swapd swapctl; do
    [ -x "$BIN/$p" ] || { say "$BIN/$p is missing: run make first"; exit 1; }
done

"$BIN/swapsim" --config "$CONF/plant.ini" --port 0 --port-file "$dir/port" \
    --control "$dir/plant.sock" --seed 1 --realtime-factor "$SPEED" > "$dir/swapsim.log" 2>&1 &
pids+=($!)
wait_for swapsim "${pids[-1]}" test -s "$dir/port"
wait_for "swapsim control socket" "${pids[-1]}" test -S "$dir/plant.sock"
port=$(cat "$dir/port")
# A charged magazine, so the first drone need not wait for a charge.
n_slots=$(sed -n 's/^slots *= *//p' "$CONF/plant.ini")
for s in $(seq 1 "$n_slots"); do
    "$BIN/swapsim" --control "$dir/plant.sock" \
        --send "{\"cmd\":\"set_battery\",\"tag\":$((0x5A000000 + s)),\"soc\":1.0}" > /dev/null
done

"$BIN/dronesim" --link pty:new --link-file "$dir/pty" --swapsim-control "$dir/plant.sock" \
    --drones "$DRONES" --soc 0.35 --flight-s 10 --return-s 3 --time-scale "$SPEED" \
    --plant-config "$CONF/plant.ini" --seed 1 > "$dir/dronesim.log" 2>&1 &
pids+=($!)
wait_for dronesim "${pids[-1]}" test -s "$dir/pty"

swapd_ini=$CONF/demo/swapd.ini
if [ -n "${DEMO_HTTP_PORT:-}" ]; then
    sed "s/^port = 0$/port = $DEMO_HTTP_PORT/" "$swapd_ini" > "$dir/swapd.ini"
    swapd_ini=$dir/swapd.ini
fi
"$BIN/swapd" --config "$swapd_ini" --plant-config "$CONF/plant.ini" \
    --db "$dir/swapd.db" --control "$dir/swapd.sock" --plant "127.0.0.1:$port" \
    --link "pty:$(cat "$dir/pty")" --start > "$dir/swapd.log" 2>&1 &
pids+=($!)
swapd_pid=${pids[-1]}
wait_for swapd "$swapd_pid" test -S "$dir/swapd.sock"
export SWAPD_SOCKET=$dir/swapd.sock
say "plant on 127.0.0.1:$port, $DRONES drones on $(cat "$dir/pty"), logs in $dir"
if wait_for "the status page" "$swapd_pid" grep -q 'http: listening on' "$dir/swapd.log"; then
    url=$(sed -n 's/.*http: listening on \(http[^ ]*\).*/\1/p' "$dir/swapd.log" | head -1)
    say "status page: $url (metrics: ${url}metrics)"
else
    say "no status page (see $dir/swapd.log)"
fi

field() { # field JSON KEY: a number or string from swapctl --json output
    jq -r ".result.$2 // empty" <<< "$1"
}

onpad=()
progress() { # prints a line per new swap; returns 0 once SWAPS swaps are done
    local st swaps last
    st=$("$BIN/swapctl" --json status 2>/dev/null) || return 1
    swaps=$(field "$st" swaps)
    [ -n "$swaps" ] || return 1
    while [ "${#onpad[@]}" -lt "$swaps" ]; do
        last=$(field "$st" last_onpad_s)
        onpad+=("$last")
        say "swap ${#onpad[@]}: on pad $(printf '%.2f' "$last") s (lower bound $(printf '%.2f' "$(field "$st" onpad_lower_bound_s)") s), state $(field "$st" state)"
    done
    [ "$SWAPS" -gt 0 ] && [ "$swaps" -ge "$SWAPS" ]
}

if [ -t 1 ] && [ -t 0 ] && [ "${DEMO_PLAIN:-0}" != 1 ]; then
    if [ "$SWAPS" -gt 0 ]; then
        # Ends the live view (by the pid it wrote) once the swaps are done.
        ( until progress > /dev/null; do sleep 1; kill -0 "$swapd_pid" 2>/dev/null || break; done
          [ -s "$dir/top.pid" ] && kill -TERM "$(cat "$dir/top.pid")" 2>/dev/null ) &
        pids+=($!)
    fi
    sh -c 'echo $$ > "$1"; exec "$2" top' sh "$dir/top.pid" "$BIN/swapctl" || true
    onpad=()
    progress > /dev/null || true
else
    while ! progress; do
        kill -0 "$swapd_pid" 2>/dev/null || { say "swapd exited; see $dir/swapd.log"; exit 1; }
        sleep 1
    done
fi

if [ "$SWAPS" -gt 0 ]; then
    echo
    say "summary: ${#onpad[@]} swaps"
    printf '%s\n' "${onpad[@]}" | awk '{ s += $1; if ($1 > m) m = $1 } END {
        if (NR) printf "demo: on-pad time mean %.2f s, max %.2f s\n", s / NR, m }'
    "$BIN/swapctl" batteries
    total=$("$BIN/swapctl" --json batteries | jq '.result.batteries | length')
    unknown=$("$BIN/swapctl" --json batteries | jq '[.result.batteries[] | select(.location == "unknown")] | length')
    say "batteries: $total known, $((total - unknown)) accounted for, $unknown unaccounted"
    [ "$unknown" -eq 0 ]
fi
