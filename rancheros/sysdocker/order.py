"""The dependency graph of services: who starts after whom, cycles and unknown names reported.

Pure: built from {name: [names it requires]} plus `before` edges, so it serves
both starting (forward) and stopping (reverse) and is tested without Docker.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Graph:
    """deps[name] = names that must be done before `name`; problems are operator-readable lines."""

    deps: dict[str, set[str]]
    problems: list[str] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)  # in a cycle, or requiring a service that is

    def runnable(self) -> list[str]:
        return [n for n in self.deps if n not in self.blocked]

    def ready(self, done: set[str], started: set[str]) -> list[str]:
        """Names not yet started whose dependencies are all done, in stable (sorted) order."""
        return sorted(n for n in self.runnable() if n not in started and self.deps[n] <= done)

    def order(self) -> list[str]:
        """One topological order of the runnable services (dependencies first)."""
        done: set[str] = set()
        out: list[str] = []
        while True:
            batch = self.ready(done, done)
            if not batch:
                return out
            out.extend(batch)
            done.update(batch)

    def reversed(self) -> "Graph":
        """The graph for stopping: a service stops only after everything that depends on it stopped."""
        rdeps: dict[str, set[str]] = {n: set() for n in self.deps}
        for name, ds in self.deps.items():
            for d in ds:
                rdeps[d].add(name)
        return Graph(rdeps, list(self.problems), set(self.blocked))


def build_graph(requires: dict[str, list[str]], before: dict[str, list[str]] | None = None) -> Graph:
    """Graph over the names in `requires`; unknown names are dropped and reported, cycles blocked and reported."""
    names = set(requires)
    problems: list[str] = []
    deps: dict[str, set[str]] = {n: set() for n in requires}
    for name, reqs in requires.items():
        for dep in reqs:
            if dep in names:
                deps[name].add(dep)
            else:
                problems.append(f"service {name}: depends on unknown service {dep} (ignored)")
    for name, targets in (before or {}).items():
        for target in targets:
            if target in names:
                deps[target].add(name)
            elif name in names:
                problems.append(f"service {name}: 'before' names unknown service {target} (ignored)")
    cycles = find_cycles(deps)
    blocked: set[str] = set()
    for cycle in cycles:
        problems.append("dependency cycle: " + " -> ".join([*cycle, cycle[0]]) + " (not started)")
        blocked.update(cycle)
    # Whatever requires a blocked service would wait forever: block it too, and say why.
    changed = True
    while changed:
        changed = False
        for name, ds in sorted(deps.items()):
            if name not in blocked and ds & blocked:
                blocked.add(name)
                problems.append(f"service {name}: not started, it requires {', '.join(sorted(ds & blocked))} "
                                "which is in a dependency cycle")
                changed = True
    return Graph(deps, problems, blocked)


def find_cycles(deps: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with a cycle (Tarjan), each as a sorted list of names."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(root: str) -> None:
        nonlocal counter
        work = [(root, iter(sorted(deps[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(deps[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1 or node in deps[node]:
                    out.append(sorted(comp))

    for n in sorted(deps):
        if n not in index:
            visit(n)
    return out
