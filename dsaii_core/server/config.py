"""Who may do what on a served app, and where the paths its users type may lead.

Local single-user mode (no `[auth]` section in the secrets) is the app as it always was: the one user
manages every setting and paths are only confined when DSAII_DATA_ROOT is set. With `[auth]`, every
user signs in, the admins listed in DSAII_ADMINS or `[dsaii] admins` manage the server-side settings,
and every typed path must lie under the data root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from dsaii_core.errors import DsaiiError

ADMINS_ENV = "DSAII_ADMINS"
DATA_ROOT_ENV = "DSAII_DATA_ROOT"
WORKSPACE_ENV = "DSAII_WORKSPACE"
DEFAULT_WORKSPACE = Path("workspaces/demo")
SECTION = "dsaii"  # our own table in secrets.toml, beside Streamlit's [auth]


def default_data_root(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder holding the workspaces: the default workspace's (DSAII_WORKSPACE, else workspaces/demo) parent."""
    return Path(environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE).expanduser().resolve().parent


def _emails(value: str | Iterable[str] | None) -> frozenset[str]:
    """Addresses from a comma / space separated string or a list, compared casefolded (mail hosts ignore case)."""
    if not value:
        return frozenset()
    parts = value.replace(",", " ").split() if isinstance(value, str) else [str(v).strip() for v in value]
    return frozenset(p.casefold() for p in parts if p)


@dataclass(frozen=True)
class ServerConfig:
    """How the app is served: with sign-in or not, who the admins are, the data root (None: unconfined)."""
    sign_in: bool = False
    admins: frozenset[str] = frozenset()
    data_root: Path | None = None
    providers: tuple[str, ...] = ()  # named identity providers ([auth.NAME] tables); none: [auth] itself is one

    @classmethod
    def load(cls, secrets: Mapping, environ: Mapping[str, str] = os.environ) -> ServerConfig:
        """The configuration from Streamlit's secrets (`[auth]`, `[dsaii] admins / data_root`) and the environment
        (DSAII_ADMINS adds admins, DSAII_DATA_ROOT wins over the secrets)."""
        section = secrets.get(SECTION) or {}
        auth = secrets.get("auth") or {}
        sign_in = bool(auth)
        providers = tuple(name for name, value in auth.items() if isinstance(value, Mapping))
        admins = _emails(environ.get(ADMINS_ENV)) | _emails(section.get("admins"))
        root = environ.get(DATA_ROOT_ENV) or section.get("data_root")
        if root:
            data_root = Path(str(root)).expanduser().resolve()
        else:
            data_root = default_data_root(environ) if sign_in else None
        return cls(sign_in, admins, data_root, providers)

    def is_admin(self, email: str | None) -> bool:
        """Whether this user manages server-side settings: the one local user does; signed in, the listed admins."""
        if not self.sign_in:
            return True
        return bool(email) and email.casefold() in self.admins

    def role(self, email: str | None) -> str:
        """'admin' or 'member', as the sidebar names it."""
        return "admin" if self.is_admin(email) else "member"

    def confine(self, path: str | Path) -> Path:
        """`path` resolved, refused unless it lies under this server's data root (when it has one)."""
        return confine(path, self.data_root)


def confine(path: str | Path, root: Path | None) -> Path:
    """`path` with ~ expanded and symlinks resolved; a DsaiiError unless it lies under `root` (None: anywhere).

    Resolving first means neither `..` nor a symlink inside the root can lead a path out of it.
    """
    text = str(path).strip()
    if not text:
        raise DsaiiError("no folder given")
    resolved = Path(text).expanduser().resolve()
    if root is not None and not resolved.is_relative_to(Path(root).resolve()):
        raise DsaiiError(f"{text}: outside the data root {root}; choose a folder under it")
    return resolved
