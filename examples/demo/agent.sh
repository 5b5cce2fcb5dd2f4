#!/bin/sh
# A stand-in coding agent for the demo.  afk runs it once per dispatch in
# the run directory, with the prompt on stdin and these variables set:
# AFK_REPO, AFK_ISSUE, AFK_THREAD_ID, AFK_RUN_DIR.  A real agent would
# read the issue from the tracker, write a test, fix it and open a PR.
lines=$(wc -l | tr -d ' ')
echo "agent: working on $AFK_REPO#$AFK_ISSUE in thread $AFK_THREAD_ID"
echo "agent: read $lines lines of prompt from stdin"
