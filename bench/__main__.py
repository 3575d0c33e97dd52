"""`python -m bench [NAME [options]]` — run one benchmark, or every one at its small (CI) size.

A benchmark is a module `bench.<NAME>` with `main(argv: list[str]) -> int`; a module that is not there is
skipped. `python -m bench` alone (or `python -m bench --small`) runs each with `--small`, as CI does: it
prints their numbers and fails only when one crashes or gets a wrong result (a message lost or sent twice),
not when one misses a time or rate target (exit status bench.BELOW_TARGET), which it reports. With
QMSBOT_BENCH_POSTGRES_URL set, the benchmarks that take `--database-url` run on that PostgreSQL database too.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from collections.abc import Sequence

from bench import BELOW_TARGET
from bench.database import small_run_urls

BENCHMARKS = ("planner", "sender", "digest", "broadcast", "process", "campaign")


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
    if not args or args == ["--small"]:
        return _all_small()
    name, rest = args[0], args[1:]
    module = _load(name) if name in BENCHMARKS else None
    if module is None:
        print(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    return int(module.main(rest))  # type: ignore[attr-defined]


def _all_small() -> int:
    failed: list[str] = []
    below: list[str] = []
    started = time.perf_counter()
    runs: list[tuple[str, object, list[str]]] = []
    for name in BENCHMARKS:
        module = _load(name)
        if module is None:
            continue
        for url in small_run_urls() if getattr(module, "TAKES_DATABASE_URL", False) else [None]:
            label = f"{name} --small" + (" on PostgreSQL" if url else "")
            runs.append((label, module, ["--small"] + (["--database-url", url] if url else [])))
    for label, module, args in runs:
        print(f"== {label}", flush=True)
        begun = time.perf_counter()
        try:
            code = int(module.main(args))  # type: ignore[attr-defined]
        except Exception:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        print(f"== {label}: exit status {code}, {time.perf_counter() - begun:.1f} s", flush=True)
        if code == BELOW_TARGET:
            below.append(label)
        elif code != 0:
            failed.append(label)
    print(f"== all benchmarks (small) in {time.perf_counter() - started:.1f} s", end="")
    print(f"; below a target at this size (not a failure): {', '.join(below)}" if below else "", end="")
    print(f"; FAILED: {', '.join(failed)}" if failed else "")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
