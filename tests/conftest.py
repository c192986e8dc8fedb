import pytest

pytest_plugins = [
    "tests.fixtures.trail",
    "tests.fixtures.temporal",
    "tests.fixtures.stack",
    "tests.fixtures.ledger",
    "tests.fixtures.anvil",
    "tests.fixtures.engine",
    "tests.fixtures.properties",
    "tests.fixtures.gateway",
    "tests.fixtures.postgres",
]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items) -> None:
    """Send the tests of an ``xdist_group`` to one worker, as ``--dist loadgroup`` promises: xdist
    3.8 marks a test's group by a suffix to its node id, written to ``item._nodeid``, which pytest 9
    no longer reads, so each group's tests were spread over the workers and each session stack
    started on every worker. Here the suffix goes where pytest 9 keeps the id; a pytest that keeps
    it elsewhere again fails the run here rather than quietly starting stacks twice."""
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        names = {m.args[0] if m.args else m.kwargs.get("name", "default") for m in item.iter_markers("xdist_group")}
        suffix = "@" + "_".join(sorted(map(str, names)))
        if names and not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)
            if not item.nodeid.endswith(suffix):
                raise pytest.UsageError(f"cannot name the xdist group of {item.nodeid}: pytest keeps ids elsewhere")
