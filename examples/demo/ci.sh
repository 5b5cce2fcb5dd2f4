#!/bin/sh
# A stand-in CI for the demo.  afk runs it in this directory with AFK_REPO
# and AFK_ISSUE set, and reads one JSON object from its output: the state
# of the issue's pull request, of CI on its head and of the deploy (see
# afk.json(5)).  A real one would ask the forge.  This one looks at the
# agent's run directory: the head it pushed, and how often CI was asked
# about that head (a build takes one tick).
run=$(ls -d "runs/$(echo "$AFK_REPO" | tr / -)-$AFK_ISSUE-"* 2>/dev/null |
	tail -n 1)
if [ -z "$run" ] || [ ! -f "$run/head" ]; then
	echo '{"pr": "none", "ci": "none"}'   # nothing pushed yet
	exit 0
fi
head=$(cat "$run/head")
turn=$(cat "$run/turns" 2>/dev/null || echo 1)
seen=$(cat "$run/ci-seen-$head" 2>/dev/null || echo 0)
seen=$((seen + 1))
echo "$seen" >"$run/ci-seen-$head"

if [ "$AFK_REPO#$AFK_ISSUE" = "acme/web#202" ] && [ "$turn" = 1 ]; then
	# The first push of acme/web#202 breaks the build.
	printf '{"pr": "open", "head": "%s", "ci": "failure", "failing": ' "$head"
	printf '[{"name": "build", "url": "https://ci.example/acme/web/7"}]}\n'
elif [ "$seen" = 1 ]; then
	printf '{"pr": "open", "head": "%s", "ci": "pending"}\n' "$head"
else
	printf '{"pr": "merged", "head": "%s", "ci": "success"}\n' "$head"
fi
