"""Runs an action over a dependency Graph: each name once all its dependencies are done, in parallel.

The graph may be replaced while running (a `reloadconfig` service re-reads the
config), which is why scheduling happens here, in one thread, step by step.
"""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Iterable, TypeVar

from rancheros.sysdocker.order import Graph

log = logging.getLogger(__name__)
R = TypeVar("R")


def run_graph(graph: Graph, action: Callable[[str], R], scope: Iterable[str] | None = None,
              workers: int = 4,
              on_done: Callable[[str, R | BaseException], Graph | None] | None = None,
              skip: Iterable[str] = ()) -> dict[str, R | BaseException]:
    """Run `action(name)` for every runnable name in `scope` (default: all), dependencies first.

    Names outside the scope, and those in `skip`, count as done from the start. A failed action is recorded (as its exception) and
    does not hold back its dependants: ordering, not hard requirement, so one broken service
    never stops the boot. `on_done` may return a new Graph, used from then on.
    """
    in_scope = set(graph.deps) if scope is None else set(scope)
    done: set[str] = (set(graph.deps) - in_scope) | set(skip)
    started: set[str] = set(done)
    results: dict[str, R | BaseException] = {}
    futures: dict[Future, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="svc") as pool:
        while True:
            for name in graph.ready(done, started):
                if name in in_scope:
                    started.add(name)
                    futures[pool.submit(action, name)] = name
            if not futures:
                return results
            finished, _ = wait(futures, return_when=FIRST_COMPLETED)
            for fut in finished:
                name = futures.pop(fut)
                exc = fut.exception()
                results[name] = exc if exc is not None else fut.result()
                done.add(name)
                if on_done is not None:
                    new = on_done(name, results[name])
                    if new is not None:
                        added = set(new.deps) - set(graph.deps)
                        if scope is None:
                            in_scope |= added
                        graph = new
                        outside = set(graph.deps) - in_scope - started
                        done |= outside
                        started |= outside
