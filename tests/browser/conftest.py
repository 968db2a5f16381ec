"""The browser test uses the API tests' demo users."""

from tests.api.conftest import demo_users

__all__ = ["demo_users"]
