"""The training-job aggregate's writes: every change to the ``training_jobs`` and
``training_chunks`` collections is a named, typed function of this package, and no other module
writes them (``tests/test_structure.py`` checks it)."""
