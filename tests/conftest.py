pytest_plugins = ["tests.fixtures.trail", "tests.fixtures.temporal", "tests.fixtures.stack", "tests.fixtures.ledger"]
