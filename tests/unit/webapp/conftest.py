"""Fixtures of the web app's tests: a seeded store per test, and clients logged in per role."""

from __future__ import annotations

import pytest

from tests.unit.webapp import site


@pytest.fixture(scope="session")
def template_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("webapp") / "template.db"
    site.build(path)
    return path


@pytest.fixture
def db(template_store, tmp_path):
    engine = site.copy_of(template_store, tmp_path / "store.db")
    yield engine
    engine.dispose()


@pytest.fixture
def tokens(db):
    """An API token per role (Bearer: no CSRF needed)."""
    from core.accounts import new_token

    return {role: new_token(db, user, "test", "test") for role, user in site.ROLE_USER.items()}


@pytest.fixture
def api(db):
    """A client; call `.as_(role)` to get the Authorization header of that role's token."""
    return site.client_for(db)
