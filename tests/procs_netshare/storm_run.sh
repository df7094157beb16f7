#!/bin/sh
# The COMMAND of the netshare kill storm's `spoold work` processes (spool_layout.md §8):
# logs one line per run to $RUNLOG ("TASK_ID DEVICE WORKER_PID"; the worker is our parent),
# then holds the task a moment, so that SIGKILLs land while claims are held.
cat > /dev/null
echo "$SPOOLD_TASK_ID $SPOOLD_DEVICE $PPID" >> "$RUNLOG"
sleep 0.5
