"""`recycle serve` and `recycle keys`: loopback by default, keys hashed in the zoo database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from recycle.cli import main
from recycle.errors import ConfigError
from recycle.service.config import Settings, is_loopback, resolve_host
from service_helpers import free_port

RUN_CLI = "import sys; from recycle.cli import main; sys.exit(main(sys.argv[1:]))"


def listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses (hex, as in /proc/net/tcp*) listening on ``port``."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                out.add(addr)
    return out


@pytest.mark.parametrize(
    ("cli", "env", "expected"),
    [(None, "127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1", "0.0.0.0"),
     ("::1", "127.0.0.1", "::1"), (None, "localhost", "localhost")],
)  # fmt: skip
def test_resolve_host(cli: str | None, env: str, expected: str) -> None:
    assert resolve_host(cli, Settings(host=env)) == expected


def test_public_host_from_environment_alone_is_refused() -> None:
    with pytest.raises(ConfigError, match="--host"):
        resolve_host(None, Settings(host="0.0.0.0"))
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and is_loopback("::1")


def test_settings_read_recycle_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECYCLE_MAX_BATCH", "7")
    monkeypatch.setenv("RECYCLE_READS_NEED_KEY", "false")
    s = Settings()
    assert s.max_batch == 7 and s.reads_need_key is False


def test_keys_cli_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zoo = str(tmp_path / "zoo")
    assert main(["keys", "create", "--role", "user", "--owner", "bob", "--zoo", zoo, "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["key"].startswith("rk_" + created["id"])
    assert main(["keys", "list", "--zoo", zoo, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["id"] for k in listed] == [created["id"]] and listed[0]["revoked"] is None
    assert created["key"].split("_", 2)[2] not in json.dumps(listed)
    assert (tmp_path / "zoo" / "catalog.db").read_bytes().find(created["key"].encode()) == -1
    assert main(["keys", "revoke", created["id"], "--zoo", zoo]) == 0
    capsys.readouterr()
    assert main(["keys", "list", "--zoo", zoo, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["revoked"]
    assert main(["keys", "revoke", created["id"], "--zoo", zoo]) == 2  # already revoked
    assert main(["keys", "create", "--role", "root", "--owner", "x", "--zoo", zoo]) == 2
    assert "role" in capsys.readouterr().err


def test_serve_binds_loopback_by_default_and_logs_json(tmp_path: Path) -> None:
    port = free_port()
    zoo = str(tmp_path / "zoo")
    env = {**os.environ, "RECYCLE_HOST": "127.0.0.1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_CLI, "serve", "--port", str(port), "--zoo", zoo],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only
        assert httpx.get(f"http://127.0.0.1:{port}/models").status_code == 401
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    requests = [r for r in lines if r.get("event") == "request"]
    assert any(r["path"] == "/models" and r["status"] == 401 for r in requests)


def test_serve_refuses_public_host_from_env_alone(tmp_path: Path) -> None:
    env = {**os.environ, "RECYCLE_HOST": "0.0.0.0"}
    proc = subprocess.run(
        [sys.executable, "-c", RUN_CLI, "serve", "--port", str(free_port()), "--zoo",
         str(tmp_path / "zoo")],
        capture_output=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and b"--host" in proc.stderr
