"""Runnable measurements and checks: benchmarks, the GPU check, reports, soak.

Not imported by the library or the node."""
