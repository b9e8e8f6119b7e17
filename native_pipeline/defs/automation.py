"""How the corpus-wide stages follow their inputs, and how GPU steps retry."""

import dagster as dg

# Runs when an input was updated and every input is there, never past a failed blocking check:
# a dump's aligned corpus after its segments or a new worker, the scores after a new checkpoint,
# a report after what it reports on. Dagster's all_deps_blocking_checks_passed() lets a report
# over every dump run once any one dump has passed; the second clause holds it while any dump
# of an input has a failed blocking check.
NO_INPUT_FAILED = (
    ~dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.any_checks_match(
            dg.AutomationCondition.check_failed(), blocking_only=True
        )
    )
).with_label("no input partition failed a blocking check")
FOLLOWS_INPUTS = (
    dg.AutomationCondition.eager()
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
    & NO_INPUT_FAILED
)

# A GPU step that fails (a preempted node, a flaky driver) is tried again, later each time; the
# chunked and checkpointed steps resume where they stopped.
GPU_RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)

# What evaluates the conditions, on from the start: the sensor Dagster creates by itself is
# stopped until someone switches it on in the UI, and a dump dropped under `make dev` would wait.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs what the automation conditions ask for: a dump's aligned corpus after its "
    "segments or a new worker, the scores after a new checkpoint, the reports after their inputs.",
)
