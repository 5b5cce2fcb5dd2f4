#!/bin/sh
# fuzz/run.sh - runs the fuzz harnesses built by fuzz/build.sh for a
# bounded time each (see fuzz/README).
#
#     fuzz/run.sh OUTDIR SECONDS [TARGET...]
#
# Each target first runs every input of its committed corpus,
# fuzz/corpus/<target>/, then fuzzes for SECONDS, adding what it finds
# to a scratch copy under OUTDIR/corpus/<target> (the source tree is not
# written).  One line per target, "PASS <target>: ..." or "FAIL
# <target>: ...", the figures taken from libFuzzer's final stats; a
# failure's input is kept as OUTDIR/artifacts/<target>/crash-*.  Exits 1
# when any target failed.
set -u

secs=$2
mkdir -p "$1"
out=$(cd "$1" && pwd)   # the config harness works in a directory of its own
shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || set -- $("$src/fuzz/build.sh" --list)
status=0
for t in "$@"; do
	corpus=$out/corpus/$t
	art=$out/artifacts/$t
	log=$out/fuzz-$t.log
	mkdir -p "$corpus" "$art"
	if "$out/fuzz-$t" -max_total_time="$secs" -print_final_stats=1 \
		-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$art/" \
		"$corpus" "$src/fuzz/corpus/$t" >"$log" 2>&1; then
		res=PASS
	else
		res=FAIL
		status=1
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
	echo "$res $t: ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-cov: ?}"
	if [ $res = FAIL ]; then
		grep -E 'property failed|ERROR|SUMMARY' "$log" | head -n 5
		ls "$art" 2>/dev/null | sed 's/^/    input: /'
	fi
done
exit $status
