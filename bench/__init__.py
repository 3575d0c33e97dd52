"""Benchmarks: `python -m bench [NAME] [options]`. They print numbers; they are not timed tests."""
