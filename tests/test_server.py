"""Serving to a lab: the server configuration, roles, the data root, the serve command, network file systems."""

import os
import sys
from pathlib import Path

import pytest

from dsaii_core.cli import main
from dsaii_core.errors import DsaiiError
from dsaii_core.server import ServerConfig, confine, filesystem_type, network_filesystem
from dsaii_core.server.serve import is_loopback, read_secrets, secrets_files, serve_command

AUTH = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x", "client_id": "c",
                 "client_secret": "s", "server_metadata_url": "http://localhost:9/.well-known/openid-configuration"}}


def test_without_auth_the_app_is_local_single_user_and_unconfined():
    config = ServerConfig.load({}, {})
    assert not config.sign_in and config.data_root is None
    assert config.is_admin(None) and config.role("anyone@lab.org") == "admin"
    assert confine("/", config.data_root) == Path("/")


def test_with_auth_admins_come_from_the_environment_and_the_secrets_and_ignore_case(tmp_path):
    environ = {"DSAII_ADMINS": "Ada@Lab.org, root@lab.org", "DSAII_WORKSPACE": str(tmp_path / "ws/demo")}
    config = ServerConfig.load({**AUTH, "dsaii": {"admins": ["Grace@lab.org"]}}, environ)
    assert config.sign_in
    assert config.is_admin("ada@lab.org") and config.is_admin("GRACE@LAB.ORG") and config.is_admin("root@lab.org")
    assert not config.is_admin("bob@lab.org") and not config.is_admin(None) and not config.is_admin("")
    assert config.role("bob@lab.org") == "member"
    assert config.data_root == (tmp_path / "ws").resolve()  # the folder holding the workspaces
    assert config.providers == ()  # [auth] itself names the one identity provider
    named = {"auth": {"redirect_uri": "x", "cookie_secret": "y", "google": {"client_id": "g"}, "okta": {}}}
    assert ServerConfig.load(named, {}).providers == ("google", "okta")


def test_the_data_root_comes_from_the_environment_before_the_secrets(tmp_path):
    secrets = {**AUTH, "dsaii": {"data_root": str(tmp_path / "from-secrets")}}
    assert ServerConfig.load(secrets, {}).data_root == (tmp_path / "from-secrets").resolve()
    assert ServerConfig.load(secrets, {"DSAII_DATA_ROOT": str(tmp_path / "env")}).data_root == (tmp_path / "env")
    assert ServerConfig.load({}, {"DSAII_DATA_ROOT": str(tmp_path)}).data_root == tmp_path  # local, if asked


def test_confine_keeps_paths_under_the_root_and_refuses_the_rest(tmp_path):
    root = tmp_path / "data"
    (root / "ws").mkdir(parents=True)
    (tmp_path / "data2").mkdir()
    (root / "escape").symlink_to(tmp_path / "data2")
    assert confine(root / "ws", root) == root / "ws"
    assert confine(f"{root}/new/../ws", root) == root / "ws"
    assert confine(root / "not-yet", root) == root / "not-yet"  # a new workspace may be created there
    for outside in ("/", "/etc", tmp_path / "data2", f"{root}/../data2", root / "escape", root / "escape/ws"):
        with pytest.raises(DsaiiError, match="outside the data root"):
            confine(outside, root)
    with pytest.raises(DsaiiError, match="no folder given"):
        confine("  ", root)


def test_loopback_addresses_are_told_from_network_ones():
    for host in ("localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "app.localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.5", "lab-server", "192.168.1.2"):
        assert not is_loopback(host), host


def test_serve_refuses_a_network_address_without_sign_in_unless_the_network_is_trusted(tmp_path):
    local = ServerConfig.load({}, {})
    with pytest.raises(DsaiiError, match=r"refusing to serve on 0.0.0.0 without sign-in: add an \[auth\] section"):
        serve_command("0.0.0.0", 8501, [], local)
    command = serve_command("0.0.0.0", 8501, [], local, trusted_network=True)
    assert command[:4] == [sys.executable, "-m", "streamlit", "run"] and command[4].endswith("app.py")
    assert serve_command("localhost", 8501, [], local)
    secrets = tmp_path / "secrets.toml"
    command = serve_command("0.0.0.0", 9000, [secrets], ServerConfig.load(AUTH, {}))
    text = " ".join(command)
    assert "--server.address 0.0.0.0 --server.port 9000" in text
    assert "--client.showErrorDetails none" in text and f"--secrets.files {secrets}" in text


def test_secrets_are_read_where_streamlit_reads_them(tmp_path):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    for folder, text in ((home, '[dsaii]\nadmins = ["a@lab.org"]\n'), (cwd, '[auth]\nclient_id = "c"\n')):
        (folder / ".streamlit").mkdir(parents=True)
        (folder / ".streamlit/secrets.toml").write_text(text)
    files = secrets_files(None, cwd=cwd, home=home)
    assert files == [home / ".streamlit/secrets.toml", cwd / ".streamlit/secrets.toml"]
    assert read_secrets(files) == {"dsaii": {"admins": ["a@lab.org"]}, "auth": {"client_id": "c"}}
    assert secrets_files(None, cwd=tmp_path, home=tmp_path) == []
    with pytest.raises(DsaiiError, match="no such secrets file"):
        secrets_files([tmp_path / "missing.toml"])
    (tmp_path / "bad.toml").write_text("[auth\n")
    with pytest.raises(DsaiiError, match="cannot read the secrets"):
        read_secrets([tmp_path / "bad.toml"])


def test_the_serve_command_says_why_it_refuses_on_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--host", "0.0.0.0"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.strip() == ("error: refusing to serve on 0.0.0.0 without sign-in: add an [auth] section to "
                           ".streamlit/secrets.toml (README: Serve it to your lab) or pass --trusted-network")


def test_a_folder_on_a_network_file_system_is_recognised(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/sda1 / ext4 rw 0 0\n"
                      f"server:/export {tmp_path}/lab nfs4 rw 0 0\n"
                      f"//nas/share {tmp_path}/my\\040share cifs rw 0 0\n"
                      f"tmpfs {tmp_path}/lab/scratch tmpfs rw 0 0\n")
    assert network_filesystem(tmp_path / "lab/ws", mounts) == "nfs4"
    assert network_filesystem(tmp_path / "my share/ws", mounts) == "cifs"
    assert network_filesystem(tmp_path / "lab/scratch/ws", mounts) is None  # a local mount inside the share
    assert filesystem_type(tmp_path / "elsewhere", mounts) == "ext4"
    assert network_filesystem(tmp_path, tmp_path / "no-such-file") is None  # not Linux: nothing to say
    if os.path.exists("/proc/mounts"):
        assert filesystem_type(tmp_path) is not None
