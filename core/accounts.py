"""Users, roles, passwords, API tokens and sessions of the web app and API (`segbridge serve`).

One role per user. What each role may do is declared once, in `PERMISSIONS` (action -> roles);
the web app checks every route against it and the role-matrix test is derived from it, so the
table is the only place a permission is granted. Passwords are hashed with argon2 (pwdlib); API
tokens and session ids are random and only their SHA-256 is stored, so a copy of the store gives
no way in. `segbridge users add|set-role|disable|token` and the web app share these functions.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field, field_validator
from sqlalchemy import select
from sqlalchemy.engine import Engine

from basics import secrets as secret_refs
from basics.errors import ConfigError
from basics.yaml_loader import StrictModel
from core.model import ApiToken, AppUser, AuditEvent, WebSession, utcnow
from core.store import row_by_key


class Role(StrEnum):
    VIEWER = "viewer"
    """Reads everything."""
    PLANNER = "planner"
    """Comments, requests overrides, makes plans (what-if)."""
    STEWARD = "steward"
    """Assigns, acknowledges, resolves and waives exceptions; releases quarantined records."""
    APPROVER = "approver"
    """Approves or rejects plans, plan lines and overrides (never their own: four eyes)."""
    ADMIN = "admin"
    """Manages users and releases suspect runs; may do everything."""


_ALL = frozenset(Role)
PERMISSIONS: dict[str, frozenset[Role]] = {
    "read": _ALL,
    "comment": frozenset({Role.PLANNER, Role.STEWARD, Role.APPROVER, Role.ADMIN}),
    "request_override": frozenset({Role.PLANNER, Role.ADMIN}),
    "what_if": frozenset({Role.PLANNER, Role.ADMIN}),
    "assign": frozenset({Role.STEWARD, Role.ADMIN}),
    "transition": frozenset({Role.STEWARD, Role.ADMIN}),
    "release_quarantine": frozenset({Role.STEWARD, Role.ADMIN}),
    "review_plan": frozenset({Role.APPROVER, Role.ADMIN}),
    "apply_plan": frozenset({Role.APPROVER, Role.ADMIN}),
    "approve_override": frozenset({Role.APPROVER, Role.ADMIN}),
    "release_run": frozenset({Role.ADMIN}),
    "manage_users": frozenset({Role.ADMIN}),
}
"""Action -> the roles allowed to do it. The only permission table (web app, API, tests)."""

class OidcConfig(StrictModel):
    """`webapp.oidc` of segbridge.yaml: log in through an OpenID Connect provider (webapp.oidc)."""

    issuer: str = Field(description="The provider's issuer URL; its /.well-known/openid-configuration is read")
    client_id: str
    client_secret: str | None = Field(None, description="An ${ENV_VAR} reference (None: a public client, PKCE only)")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    name_claim: str = Field("preferred_username", description="The claim that names the user (else `sub`)")
    role_claim: str | None = Field(None, description="A claim holding a role name, used when a user first logs in")
    default_role: Role = Field(Role.VIEWER, description="The role of a user created at first login")
    redirect_url: str | None = Field(None, description="The public URL of /login/oidc/callback (behind a proxy)")

    @field_validator("issuer")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("the issuer must be an https:// URL (http only for 127.0.0.1 / localhost)")
        return value.rstrip("/")

    @field_validator("client_secret")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        if value is not None and not secret_refs.is_reference(value):
            raise ValueError("client_secret must be an ${ENV_VAR} reference, never the secret itself")
        return value

    @field_validator("default_role")
    @classmethod
    def _not_admin(cls, value: Role) -> Role:
        if value == Role.ADMIN:
            raise ValueError("default_role may not be admin: make admins with `segbridge users set-role`")
        return value

    @field_validator("scopes")
    @classmethod
    def _openid(cls, value: list[str]) -> list[str]:
        return value if "openid" in value else ["openid", *value]

    def secret(self) -> str | None:
        """The client secret from the environment (use it, never print it)."""
        return secret_refs.resolve(self.client_secret, what="webapp.oidc.client_secret")


class WebappConfig(StrictModel):
    """`webapp:` of segbridge.yaml."""

    oidc: OidcConfig | None = None


def _register() -> None:
    from core.settings import register_section

    register_section("webapp", WebappConfig)


_register()

SESSION_HOURS = 8
_U = AppUser.__table__
_T = ApiToken.__table__
_S = WebSession.__table__


def allowed(role: str, action: str) -> bool:
    """May a user of `role` do `action`? (KeyError for an undeclared action: a route must declare one.)"""
    return Role(role) in PERMISSIONS[action]


def _hasher():
    from pwdlib import PasswordHash

    return PasswordHash.recommended()  # argon2id with the library's current parameters


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise ConfigError("a password needs at least 10 characters", hint="choose a longer password")
    return _hasher().hash(password)


def digest(token: str) -> str:
    """What the store keeps of a token or session id."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _role(role: str) -> Role:
    if role not in set(Role):
        raise ConfigError(f"unknown role {role!r}", hint=f"one of: {', '.join(Role)}")
    return Role(role)


def _audit(conn, actor: str, action: str, name: str, after: str | None) -> None:
    conn.execute(AuditEvent.__table__.insert().values(at=utcnow(), actor=actor, action=action, entity="app_user",
                                                      entity_key=name, after=after))


def add_user(db: Engine, name: str, role: str, password: str | None, actor: str) -> AppUser:
    """Create a user (ConfigError if the name is taken); the password is stored hashed only."""
    name = name.strip()
    if not name or len(name) > 80:
        raise ConfigError("a user name needs 1 to 80 characters")
    role = _role(role)
    hashed = hash_password(password) if password is not None else None
    with db.begin() as conn:
        if conn.execute(select(_U.c.name).where(_U.c.name == name)).first():
            raise ConfigError(f"user {name!r} exists", hint="use `segbridge users set-role` to change it")
        conn.execute(_U.insert().values(name=name, role=role, password_hash=hashed, active=True, created_at=utcnow()))
        _audit(conn, actor, "user_added", name, role)
    return get_user(db, name)


def get_user(db: Engine, name: str) -> AppUser:
    row = row_by_key(db, _U, name, ConfigError(f"no user {name!r}", hint="see `segbridge users list`"))
    return AppUser.model_validate(dict(row._mapping))


def list_users(db: Engine) -> list[AppUser]:
    with db.connect() as conn:
        return [AppUser.model_validate(dict(r._mapping)) for r in conn.execute(select(_U).order_by(_U.c.name))]


def _set(db: Engine, name: str, actor: str, action: str, after: str, **values) -> AppUser:
    get_user(db, name)
    with db.begin() as conn:
        conn.execute(_U.update().where(_U.c.name == name).values(**values))
        if values.get("active") is False:  # a disabled user is logged out everywhere
            conn.execute(_S.delete().where(_S.c.user_name == name))
        _audit(conn, actor, action, name, after)
    return get_user(db, name)


def set_role(db: Engine, name: str, role: str, actor: str) -> AppUser:
    return _set(db, name, actor, "user_role_set", str(_role(role)), role=_role(role))


def set_active(db: Engine, name: str, active: bool, actor: str) -> AppUser:
    return _set(db, name, actor, "user_enabled" if active else "user_disabled", str(active), active=active)


def set_password(db: Engine, name: str, password: str, actor: str) -> AppUser:
    return _set(db, name, actor, "user_password_set", "***", password_hash=hash_password(password))


def authenticate(db: Engine, name: str, password: str) -> AppUser | None:
    """The active user whose password this is, else None (the same work is done for unknown names)."""
    hasher = _hasher()
    with db.connect() as conn:
        row = conn.execute(select(_U).where(_U.c.name == name)).first()
    if row is None or not row.password_hash:
        hasher.verify(password, _DUMMY.get() or _DUMMY.make(hasher))  # no timing hint that the name is unknown
        return None
    if not hasher.verify(password, row.password_hash) or not row.active:
        return None
    return AppUser.model_validate(dict(row._mapping))


class _Dummy:
    """A hash to verify against for unknown names (made once per process)."""

    value: str | None = None

    def get(self) -> str | None:
        return self.value

    def make(self, hasher) -> str:
        self.value = hasher.hash(secrets.token_hex(16))
        return self.value


_DUMMY = _Dummy()


def new_token(db: Engine, name: str, label: str | None, actor: str) -> str:
    """A new API token for `name`; returned once, only its digest is stored."""
    get_user(db, name)
    token = "sbt_" + secrets.token_urlsafe(32)
    with db.begin() as conn:
        conn.execute(_T.insert().values(token_hash=digest(token), user_name=name, label=label, created_at=utcnow(),
                                        revoked=False))
        _audit(conn, actor, "token_created", name, label)
    return token


def user_of_token(db: Engine, token: str) -> AppUser | None:
    with db.connect() as conn:
        row = conn.execute(select(_U).join(_T, _T.c.user_name == _U.c.name).where(
            _T.c.token_hash == digest(token), _T.c.revoked.is_(False), _U.c.active.is_(True))).first()
    return None if row is None else AppUser.model_validate(dict(row._mapping))


def open_session(db: Engine, name: str, hours: int = SESSION_HOURS) -> tuple[str, str]:
    """(session id for the cookie, CSRF token) for a logged-in user."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    with db.begin() as conn:
        conn.execute(_S.delete().where(_S.c.expires_at < now))
        conn.execute(_S.insert().values(id_hash=digest(sid), user_name=name, csrf=csrf, created_at=now,
                                        expires_at=now + timedelta(hours=hours)))
    return sid, csrf


def session_of(db: Engine, sid: str, now: datetime | None = None) -> tuple[AppUser, str] | None:
    """(user, CSRF token) of a live session of an active user, else None."""
    with db.connect() as conn:
        row = conn.execute(select(_U, _S.c.csrf, _S.c.expires_at).join(_S, _S.c.user_name == _U.c.name).where(
            _S.c.id_hash == digest(sid), _U.c.active.is_(True))).first()
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=(now or utcnow()).tzinfo)
    if expires < (now or utcnow()):
        return None
    data = {k: v for k, v in row._mapping.items() if k in AppUser.model_fields}
    return AppUser.model_validate(data), row.csrf


def close_session(db: Engine, sid: str) -> None:
    with db.begin() as conn:
        conn.execute(_S.delete().where(_S.c.id_hash == digest(sid)))


def demo_users(db: Engine, actor: str) -> dict[str, tuple[str, str]]:
    """A user per role for the demo (`demo-<role>`), each with a new random password: role -> (name, password).

    The passwords are returned once for the demo to print; only their hashes are stored."""
    made = {}
    for role in Role:
        name, password = f"demo-{role}", secrets.token_urlsafe(12)
        with db.connect() as conn:
            exists = conn.execute(select(_U.c.name).where(_U.c.name == name)).first()
        if exists:
            set_password(db, name, password, actor)
        else:
            add_user(db, name, role, password, actor)
        made[str(role)] = (name, password)
    return made
