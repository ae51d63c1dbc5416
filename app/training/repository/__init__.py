"""The training-job aggregate's writes: every change to the ``training_jobs`` and
``training_chunks`` collections is a named, typed function of this package, and no other module
writes them (``tests/test_structure.py`` checks it).

- ``lifecycle``: status changes of a job (claims, heartbeats, hand-offs, complete, fail, cancel).
- ``chunks``: the chunk fan-in of collection (chunk documents and the job's counts of them).
- ``checkpoints``: the job's record of its training checkpoint.
- ``sweeps``: what the watchdog reads and moves.
- ``jobs``: admission's insert, the deletes, and the counting aggregations.
- ``forecasting``: the prediction schedule and ledger of a trained job.
"""
