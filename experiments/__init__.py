"""The workflow's scripts and benchmarks (a package, so they import one another and
the tests import their helpers without path edits)."""
