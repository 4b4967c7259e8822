"""Test configuration shared by every tier: nothing but what all of them need.

The real services' fixtures (Swift, Keystone, our servers) belong to the integration tier and are
loaded by tests/integration/conftest.py only, so a unit test can never start a real Swift by
asking for a fixture it forgot to fake (fakes are named ``fake_*``).  ``tests`` is a package, so
pytest puts the repository root on the path and the tests import ``tools.saio``, ``tools.ports``...
"""
