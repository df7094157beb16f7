#!/bin/sh
# The COMMAND of the netshare drain test's `spoold work` processes (spool_layout.md §8).
# Logs one line per run to $RUNLOG ("TASK_ID DEVICE WORKER_PID"; the worker is our parent),
# then lets an `ingest` task publish two `detect` children with deterministic ids.
cat > /dev/null
echo "$SPOOLD_TASK_ID $SPOOLD_DEVICE $PPID" >> "$RUNLOG"
case "$SPOOLD_TASK_ID" in
    *-ingest-*)
        printf '%s' '{"children": [{"task_type": "detect", "device_class": "cpu", "suffix": "a"},
 {"task_type": "detect", "device_class": "cpu", "suffix": "b"}], "result": {"ok": true}}' \
            > "$SPOOLD_RESULT_FILE" ;;
esac
