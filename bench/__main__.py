"""`python -m bench [NAME [options]]` — run one benchmark, or every one at its small (CI) size.

A benchmark is a module `bench.<NAME>` with `main(argv: list[str]) -> int`; a module that is not there is
skipped. `python -m bench` alone runs each with `--small`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

BENCHMARKS = ("planner", "sender", "digest")


def _load(name: str) -> object | None:
    try:
        return importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"bench.{name}":
            return None
        raise


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__.strip())
        print("benchmarks:", ", ".join(name for name in BENCHMARKS if _load(name) is not None))
        return 0
    if not args:
        status = 0
        for name in BENCHMARKS:
            module = _load(name)
            if module is not None:
                print(f"== {name} --small")
                status = max(status, module.main(["--small"]))  # type: ignore[attr-defined]
        return status
    name, rest = args[0], args[1:]
    module = _load(name) if name in BENCHMARKS else None
    if module is None:
        print(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    return int(module.main(rest))  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
