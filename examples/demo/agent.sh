#!/bin/sh
# A stand-in coding agent for the demo.  afk runs it in the run directory,
# once per turn, with the prompt on stdin and these variables set:
# AFK_REPO, AFK_ISSUE, AFK_THREAD_ID, AFK_RUN_DIR and AFK_TURN (1 for the
# dispatch, 2 for the first corrective turn, ...).  A real agent would
# read the issue, write a failing test, fix the code and push a branch,
# printing an AFK-PHASE line at each step, as the prompt asks it to.
# afk check-config --online shows what the command's --version says.
if [ "${1:-}" = --version ]; then
	echo "demo-agent 1.0"
	exit 0
fi
lines=$(wc -l | tr -d ' ')
echo "agent: turn $AFK_TURN on $AFK_REPO#$AFK_ISSUE in thread $AFK_THREAD_ID"
echo "agent: read $lines lines of prompt from stdin"

echo "AFK-PHASE: tests-red"
if [ "$AFK_REPO#$AFK_ISSUE" = "acme/ops#501" ]; then
	# This one is beyond the agent: it gives up, and afk hands the
	# issue to a human.
	echo "agent: the failing test needs credentials I do not have" >&2
	exit 1
fi
echo "AFK-PHASE: green"
# "git push": the pushed head, one commit id per turn.
printf '%s-%s' "$AFK_THREAD_ID" "$AFK_TURN" | cksum |
	awk '{ printf "%08x\n", $1 }' >head
echo "agent: pushed $(cat head)"
echo "AFK-PHASE: pushed"
