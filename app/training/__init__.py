"""Training jobs: admission, the steps the workers run, cancellation, artifacts and queries."""
