"""The execution pipeline: publish to the broker (web side) and run under a context (worker side).

Flow: row `pending` -> on commit, publish -> `queued` -> worker marks `running` -> the function runs
with a TaskContext -> `completed`, or `retrying` (Celery retry with exponential backoff) until retries
are spent, then `failed`. Delivery is at-least-once (acks late, reject on worker lost): a message for a
task that is already `running` means the worker that had it died, so the run is recorded as
interrupted and starts again; a message for a finished task is dropped.

- `context`: what a task function receives (TaskContext) and cooperative cancellation.
- `publishing`: sending messages (one, in batches, the outbox sweep of tasks left pending).
- `worker`: the Celery task class and the worker side of one delivery.
- `recovery`: what nothing finished: lost runs, lost messages, a worker restarted with tasks running.
"""
