#!/bin/sh
# bench/detach.sh [SECONDS] - what the detached command agent buys: a poll
# that dispatches three agents which each work for SECONDS (default 20),
# timed, beside what the synchronous runner it replaces (libafk 1.0, which
# waited for each turn) must take: at least three times SECONDS.  Then a
# watch over the runs while they work, and how many agents still ran when
# the poll had returned.  Prints its figures; judges nothing.
#
# Run by make bench, or by hand from a build directory:
#     top_srcdir=/path/to/libafk sh bench/detach.sh 20
set -u

secs=${1:-20}
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/.." && pwd)}"
: "${top_builddir:=$(pwd)}"
afk=$top_builddir/examples/afk/afk
if [ ! -x "$afk" ]; then
	echo "bench/detach.sh: no $afk: build first" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/afk-bench-detach.XXXXXX") || exit 2
cleanup() {
	# the agents are detached: stop their process groups ("pid" holds
	# "<pgid> <starttime>")
	for p in "$work"/demo/runs/*/pid; do
		[ -f "$p" ] || continue
		read -r pgid _ <"$p" && kill -TERM "-$pgid" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

cp -R "$top_srcdir/examples/demo" "$work/demo" && chmod -R u+w "$work/demo" ||
	exit 2
cat >"$work/demo/slow.sh" <<EOF
#!/bin/sh
cat >/dev/null
echo "AFK-PHASE: tests-red"
sleep $secs
echo "AFK-PHASE: green"
EOF
chmod 755 "$work/demo/slow.sh"
sed 's|"command": \["./agent.sh"\]|"command": ["./slow.sh"]|' \
	"$top_srcdir/examples/demo/afk.json" >"$work/demo/afk.json"

ms() { echo $(($(date +%s%N) / 1000000)); }

t0=$(ms)
"$afk" poll --config "$work/demo/afk.json" --state-dir "$work/state" -q \
	>"$work/poll.out" 2>&1 || { cat "$work/poll.out"; exit 1; }
t1=$(ms)
dispatched=$(grep -c '^dispatched' "$work/poll.out")
running=0
for d in "$work"/demo/runs/*/; do
	[ -f "$d/supervisor" ] && [ ! -f "$d/exit_status" ] &&
		running=$((running + 1))
done
"$afk" watch --config "$work/demo/afk.json" --state-dir "$work/state" \
	--now 1767225600 -q >"$work/watch.out" 2>&1 ||
	{ cat "$work/watch.out"; exit 1; }
t2=$(ms)
watched=$(grep -c '^watch ' "$work/watch.out")

printf 'detached command agent, %d agents that each work %d s:\n' \
	"$dispatched" "$secs"
printf '  poll returned in      %6d ms   (synchronous runner: >= %d ms)\n' \
	$((t1 - t0)) $((dispatched * secs * 1000))
printf '  agents at work after  %6d\n' "$running"
printf '  watch over %d runs in  %6d ms   (all of them still working)\n' \
	"$watched" $((t2 - t1))
