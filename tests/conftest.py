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
