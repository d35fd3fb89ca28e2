"""The dependency graph: order, before-edges, unknown names, cycles, reverse order."""

from hypothesis import given, settings
from hypothesis import strategies as st

from rancheros.sysdocker.order import build_graph, find_cycles


def test_after_before_and_unknown():
    g = build_graph({"udev": [], "syslog": ["udev"], "network": ["udev", "syslog", "ghost"], "vols": []},
                    {"vols": ["udev"]})
    assert g.order() == ["vols", "udev", "syslog", "network"]
    assert g.problems == ["service network: depends on unknown service ghost (ignored)"]
    assert g.ready(set(), set()) == ["vols"]
    assert g.ready({"vols"}, {"vols"}) == ["udev"]
    assert g.reversed().order() == ["network", "syslog", "udev", "vols"]


def test_cycle_blocks_its_members_and_dependants_only():
    g = build_graph({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": [], "f": ["e"], "self": ["self"]})
    assert g.blocked == {"a", "b", "c", "d", "self"}
    assert "dependency cycle: a -> b -> c -> a (not started)" in g.problems
    assert any("service d: not started, it requires a" in p for p in g.problems)
    assert "dependency cycle: self -> self (not started)" in g.problems
    assert g.order() == ["e", "f"]


def test_two_cycles():
    assert find_cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}, "e": set()}) == [["a", "b"], ["c", "d"]]


names = st.sampled_from([f"s{i}" for i in range(8)])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(names, st.lists(names, max_size=3), max_size=8))
def test_order_respects_every_edge_and_covers_all_runnable(requires):
    g = build_graph(requires)
    order = g.order()
    assert sorted(order) == sorted(g.runnable())
    pos = {n: i for i, n in enumerate(order)}
    for n in order:
        for d in g.deps[n]:
            assert pos[d] < pos[n]
    # blocked exactly when a cycle is reachable through dependencies
    cyc = {n for c in find_cycles(g.deps) for n in c}

    def reaches_cycle(n, seen=()):
        return n in cyc or any(reaches_cycle(d, (*seen, n)) for d in g.deps[n] if d not in seen)
    assert g.blocked == {n for n in g.deps if reaches_cycle(n)}
