"""Shared code of bpfex's black-box tests (tests/e2e, tests/deploy) and of deploy/measure.sh.

harness: checks and their report, processes (bpfex, Prometheus), HTTP, metrics, waits.
load: the load generator, one per bpfex module (LOADS), steady or as a storm.

A test puts tests/ first on sys.path and imports `lib.harness` and `lib.load`.
"""
