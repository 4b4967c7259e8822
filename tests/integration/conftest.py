"""The integration tier's fixtures: the real components, one module per component in tests/fixtures/."""
from tests.fixtures.keystone import *  # noqa: F401,F403
from tests.fixtures.servers import *  # noqa: F401,F403
from tests.fixtures.swift import *  # noqa: F401,F403
from tests.fixtures.swift_replicated import *  # noqa: F401,F403
