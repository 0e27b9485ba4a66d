#!/bin/bash
# Runs the test programs given as arguments, JOBS (default 2) at a time, in the order
# given (the Makefile lists the longest first), each into its own log under LOGDIR.
# Prints one line per program as it ends (its Check summary, failures, wall time), then
# the failed checks of every program and the totals; exits 1 when any program failed.
# The integration tests start their own processes on free ports and private temporary
# directories, so two of them can run side by side.
set -u
jobs=${JOBS:-2}
logdir=${LOGDIR:?LOGDIR must name a directory for the logs}
rm -rf "$logdir"
mkdir -p "$logdir"
: "${CK_DEFAULT_TIMEOUT:=60}"
export CK_DEFAULT_TIMEOUT

run_one() {
    local t=$1 name log start rc
    name=$(basename "$t")
    log=$logdir/$name.log
    start=$(date +%s)
    "$t" >"$log" 2>&1
    rc=$?
    echo "$rc $(($(date +%s) - start))" >"$log.rc"
}

report() {
    local t=$1 name log rc secs summary
    name=$(basename "$t")
    log=$logdir/$name.log
    read -r rc secs <"$log.rc"
    summary=$(grep -E '^[0-9]+%: Checks:' "$log" | tail -n 1)
    printf '== %-28s %4ss  %s%s\n' "$name" "$secs" "${summary:-no Check summary}" \
        "$([ "$rc" -eq 0 ] || echo "  (exit $rc)")"
    grep -E ':[EF]:' "$log" | head -n 20
}

declare -A pid_of
pending=("$@")
running=0
failed=0
next=0
while [ $next -lt ${#pending[@]} ] || [ $running -gt 0 ]; do
    while [ $running -lt "$jobs" ] && [ $next -lt ${#pending[@]} ]; do
        t=${pending[$next]}
        run_one "$t" &
        pid_of[$!]=$t
        running=$((running + 1))
        next=$((next + 1))
    done
    wait -n -p done_pid
    t=${pid_of[$done_pid]}
    unset "pid_of[$done_pid]"
    running=$((running - 1))
    report "$t"
    read -r rc _ <"$logdir/$(basename "$t").log.rc"
    [ "$rc" -eq 0 ] || failed=1
done

cat "$logdir"/*.log >"$logdir/../check.log"
awk '/^[0-9]+%: Checks:/ { gsub(",",""); c+=$3; f+=$5; e+=$7 }
     END { printf "%d passed, %d failed\n", c-f-e, f+e }' "$logdir/../check.log"
exit $failed
