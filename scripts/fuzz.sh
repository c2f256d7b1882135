#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for the given number of seconds each (default 60), starting
# from its committed seed corpus (fuzz/corpus/<target>/), and reports crashes.
#
# Usage: scripts/fuzz.sh [seconds] [target ...]
# Needs cargo-fuzz (`cargo install cargo-fuzz`); the nightly features it uses are enabled with
# RUSTC_BOOTSTRAP=1 on the stable toolchain. New inputs found are kept in a scratch copy of the
# corpus (not in the repository); crash inputs are written to fuzz/artifacts/<target>/.
# Exit status: 0 no crash, 1 a target crashed (or failed to build), 2 usage error.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-60}
case "$SECS" in
    ''|*[!0-9]*) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
shift $(( $# > 0 ? 1 : 0 ))
cd "$ROOT/fuzz"
export RUSTC_BOOTSTRAP=1
if [ $# -gt 0 ]; then
    TARGETS=("$@")
else
    mapfile -t TARGETS < <(cargo fuzz list)
fi
command -v cargo-fuzz >/dev/null || { echo "fuzz.sh: cargo-fuzz is not installed" >&2; exit 2; }

SCRATCH=$(mktemp -d /tmp/vlcp-fuzz-XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
declare -A RESULT
FAILED=0
for t in "${TARGETS[@]}"; do
    echo "fuzz.sh: $t for ${SECS}s" >&2
    mkdir -p "$SCRATCH/$t" "artifacts/$t"
    [ -d "corpus/$t" ] && cp -r "corpus/$t/." "$SCRATCH/$t/"
    before=$(ls "artifacts/$t" | wc -l)
    log="$SCRATCH/$t.log"
    cargo fuzz run "$t" "$SCRATCH/$t" -- -max_total_time="$SECS" -rss_limit_mb=4096 >"$log" 2>&1
    rc=$?
    after=$(ls "artifacts/$t" | wc -l)
    runs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1)
    if [ $rc -ne 0 ] || [ "$after" -gt "$before" ]; then
        FAILED=1
        RESULT[$t]="CRASH (exit $rc): $(grep -m1 -E 'panicked|ERROR: AddressSanitizer|ERROR: libFuzzer|error(\[E[0-9]+\])?:' "$log")"
        echo "--- $t: last lines of the log ---" >&2
        tail -30 "$log" >&2
    else
        RESULT[$t]="ok: ${runs:-0} runs, ${cov:-cov: ?}, corpus $(ls "$SCRATCH/$t" | wc -l) inputs"
    fi
done
echo
echo "| target | ${SECS} s |"
echo "|---|---|"
for t in "${TARGETS[@]}"; do
    echo "| $t | ${RESULT[$t]} |"
done
exit $FAILED
