pytest_plugins = ["tests.fixtures.trail"]
