"""`python -m dsaii_core serve`: the app on a network address, refused without sign-in unless told otherwise.

Streamlit reads secrets from ~/.streamlit/secrets.toml and ./.streamlit/secrets.toml (later files win), or from
the files given; this command reads the same files to see whether `[auth]` is configured, then runs
`streamlit run app.py` with them, from the checkout (its .streamlit/config.toml: XSRF, theme, upload limit).
"""

from __future__ import annotations

import ipaddress
import os
import sys
import tomllib
from pathlib import Path
from typing import Optional

import typer

from dsaii_core.errors import DsaiiError
from dsaii_core.server.config import DATA_ROOT_ENV, WORKSPACE_ENV, ServerConfig

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (localhost, 127.0.0.0/8, ::1); names other than
    localhost count as network addresses, whatever they resolve to today."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def secrets_files(given: list[Path] | None = None, cwd: Path | None = None, home: Path | None = None) -> list[Path]:
    """The secrets files Streamlit will read, in its order: those given, else the user's and the working folder's."""
    if given:
        missing = [str(p) for p in given if not p.is_file()]
        if missing:
            raise DsaiiError(f"no such secrets file: {', '.join(missing)}")
        return [p.resolve() for p in given]
    candidates = [(home or Path.home()) / ".streamlit/secrets.toml", (cwd or Path.cwd()) / ".streamlit/secrets.toml"]
    return [p.resolve() for p in candidates if p.is_file()]


def read_secrets(files: list[Path]) -> dict:
    """The merged secrets of `files` (later ones win, table by table as Streamlit does)."""
    merged: dict = {}
    for path in files:
        try:
            merged.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DsaiiError(f"{path}: cannot read the secrets ({exc})") from None
    return merged


def serve_command(host: str, port: int, secrets: list[Path], config: ServerConfig,
                  trusted_network: bool = False) -> list[str]:
    """The `streamlit run` command line serving the app on host:port; a DsaiiError for a network address without
    sign-in, unless the network is trusted."""
    if not is_loopback(host) and not config.sign_in and not trusted_network:
        raise DsaiiError(f"refusing to serve on {host} without sign-in: add an [auth] section to "
                         ".streamlit/secrets.toml (README: Serve it to your lab) or pass --trusted-network")
    if config.sign_in:
        try:
            import authlib  # noqa: F401 - st.login needs it; say so now, not at the first sign-in
        except ImportError:
            raise DsaiiError("sign-in needs Authlib: pip install -r requirements.txt") from None
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", host,
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               # A traceback names server paths and code; users read the one-line messages instead.
               "--client.showErrorDetails", "none"]
    for path in secrets:
        command += ["--secrets.files", str(path)]
    return command


def describe(host: str, port: int, config: ServerConfig) -> str:
    """One line saying how the app is served."""
    who = (f"sign-in required, {len(config.admins)} admin(s)" if config.sign_in
           else "no sign-in (single user)" if is_loopback(host) else "no sign-in, trusted network")
    root = f", data root {config.data_root}" if config.data_root else ""
    return f"serving DSAII Studio on http://{host}:{port} ({who}{root})"


app = typer.Typer()  # its commands join the root command (dsaii_core.cli)



@app.command()
def serve(host: str = typer.Option("localhost", "--host", help="Address to listen on; 0.0.0.0 for every "
                                   "network interface (needs \\[auth] in the secrets, or --trusted-network)."),
          port: int = typer.Option(8501, "--port"),
          workspace: Optional[Path] = typer.Option(None, "--workspace", help="The workspace opened first "
                                                   "(default: DSAII_WORKSPACE, else workspaces/demo)."),
          data_root: Optional[Path] = typer.Option(None, "--data-root", help="Every folder typed in the app "
                                                   "must lie under it (default: the workspace's parent)."),
          secrets: Optional[list[Path]] = typer.Option(None, "--secrets", help="secrets.toml to read "
                                                       "(default: ~/.streamlit and ./.streamlit); repeatable."),
          trusted_network: bool = typer.Option(False, "--trusted-network", help="Serve on a network address "
                                               "without sign-in: everyone who can reach it may do anything.")):
    """Serve the app to a lab: sign-in through the identity provider of secrets.toml, roles, the data root."""
    environ: dict[str, str] = dict(os.environ)
    if workspace is not None:
        environ[WORKSPACE_ENV] = str(workspace.expanduser().resolve())
    if data_root is not None:
        environ[DATA_ROOT_ENV] = str(data_root.expanduser().resolve())
    files = secrets_files(secrets)
    config = ServerConfig.load(read_secrets(files), environ)
    command = serve_command(host, port, files, config, trusted_network)
    typer.echo(describe(host, port, config), err=True)
    os.chdir(REPO)  # the checkout's .streamlit/config.toml; the secrets files are absolute
    os.execve(command[0], command, environ)
