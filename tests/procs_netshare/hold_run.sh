#!/bin/sh
# The COMMAND of the partition / NAS-restart tests' `spoold work` processes (spool_layout.md §8).
# Logs one line per run to $RUNLOG ("TASK_ID DEVICE WORKER_PID"; the worker is our parent),
# holds the task for $HOLD_S seconds (so the test can cut the device off while it holds the
# claim), then reports which device ran it.
cat > /dev/null
echo "$SPOOLD_TASK_ID $SPOOLD_DEVICE $PPID" >> "$RUNLOG"
sleep "${HOLD_S:-0}"
printf '{"result": {"by": "%s"}}' "$SPOOLD_DEVICE" > "$SPOOLD_RESULT_FILE"
