"""robalign serve: the command line (key kept out of it, neutral adapter paths), port and host
checks (fast), and one real server start with a key (slow): 401 without it, 200 with it."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from robalign.errors import UserError

REPO = Path(__file__).resolve().parents[2]


def _serve(capsys, monkeypatch, *args, env_key: str | None = None):
    from robalign.cli.main import main

    if env_key is None:
        monkeypatch.delenv("VLLM_API_KEY", raising=False)
    else:
        monkeypatch.setenv("VLLM_API_KEY", env_key)
    code = main(["serve", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out.strip(), [x for x in out.err.splitlines() if x.strip()]


def test_key_is_kept_out_of_the_command_and_guards_every_path(test_model_dir, lora_dir, capsys, monkeypatch):
    code, out, err = _serve(capsys, monkeypatch, "--model", test_model_dir, "--adapter", f"mine={lora_dir}", "--api-key", "s3cret", "--print-command")
    assert code == 0 and err == [] and "s3cret" not in out
    assert out.startswith("VLLM_API_KEY=<hidden> ")
    cmd = out.split()[1:]
    assert cmd[1:3] == ["-m", "robalign.cli.serve"]  # the guarded launcher: the key covers /invocations, /metrics...
    # env VLLM_API_KEY counts as the key, as in vLLM; without any key, vLLM's own module
    code, out, _ = _serve(capsys, monkeypatch, "--model", test_model_dir, "--print-command", env_key="from-env")
    assert code == 0 and out.startswith("VLLM_API_KEY=<hidden> ") and "from-env" not in out
    code, out, _ = _serve(capsys, monkeypatch, "--model", test_model_dir, "--print-command")
    assert out.split()[1:3] == ["-m", "vllm.entrypoints.openai.api_server"] and "VLLM_API_KEY" not in out


def test_server_sees_neutral_paths_and_keeps_the_model_name(test_model_dir, lora_dir, capsys, monkeypatch):
    code, out, _ = _serve(capsys, monkeypatch, "--model", test_model_dir, "--adapter", f"mine={lora_dir}", "--print-command")
    assert code == 0
    cmd = out.split()
    model = Path(cmd[cmd.index("--model") + 1])
    name, _, served = cmd[cmd.index("--lora-modules") + 1].partition("=")
    assert name == "mine" and Path(served).name == "lora-1" and str(lora_dir) not in out.replace(f"--served-model-name {test_model_dir}", "")
    assert Path(served).resolve() == lora_dir.resolve() and model.name == "base" and model.resolve() == test_model_dir.resolve()
    assert cmd[cmd.index("--served-model-name") + 1] == str(test_model_dir)  # clients still name the base as before
    assert (model.parent.stat().st_mode & 0o777) == 0o700 and (model.parent.parent.stat().st_mode & 0o777) == 0o700
    _, again, _ = _serve(capsys, monkeypatch, "--model", test_model_dir, "--adapter", f"mine={lora_dir}", "--print-command")
    assert again == out  # the same folder on every start: nothing piles up in the temp dir


@pytest.mark.parametrize("port", ["0", "70000", "-1"])
def test_port_outside_the_range_is_one_line(port, test_model_dir, capsys, monkeypatch):
    code, out, err = _serve(capsys, monkeypatch, "--model", test_model_dir, "--port", port, "--print-command")
    assert code == 2 and out == "" and err == [f"robalign serve: error: --port {port}: expected a port number in 1..65535"]


def test_key_after_double_dash_is_refused(test_model_dir, capsys, monkeypatch):
    code, _, err = _serve(capsys, monkeypatch, "--model", test_model_dir, "--print-command", "--", "--api-key", "x")
    assert code == 2 and len(err) == 1 and "robalign serve --api-key KEY" in err[0]


def test_host_beyond_loopback_without_key_warns_once(test_model_dir, capsys, monkeypatch):
    code, out, err = _serve(capsys, monkeypatch, "--model", test_model_dir, "--host", "0.0.0.0", "--print-command")
    assert code == 0 and out and len(err) == 1
    assert err[0].startswith("robalign serve: warning: --host 0.0.0.0 serves beyond this machine without an API key")
    code, _, err = _serve(capsys, monkeypatch, "--model", test_model_dir, "--host", "0.0.0.0", "--api-key", "k", "--print-command")
    assert code == 0 and err == []


def test_loopback_hosts():
    from robalign.cli.serve import check_network

    def ns(host, key=None):
        return argparse.Namespace(host=host, port=8000, api_key=key, extra=[])

    os.environ.pop("VLLM_API_KEY", None)
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        assert check_network(ns(host)) is None, host
    for host in ("0.0.0.0", "::", "", "192.168.1.5", "myhost"):
        assert "without an API key" in check_network(ns(host)), host
    assert check_network(ns("0.0.0.0", key="k")) is None
    with pytest.raises(UserError, match="--port 65536"):
        check_network(argparse.Namespace(host="127.0.0.1", port=65536, api_key=None, extra=[]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, key: str | None = None, body: dict | None = None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body else None, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.mark.slow
def test_real_server_requires_the_key(test_model_dir, lora_dir, tmp_path):
    """One server start (~40-60 s on CPU): every path but /health needs the key, including the
    SageMaker /invocations vLLM leaves open, and /v1/models shows no real path."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "VLLM_API_KEY": "", "VLLM_LOGGING_LEVEL": "WARNING"}
    with open(tmp_path / "server.log", "w") as log:
        _check_server(test_model_dir, lora_dir, tmp_path, port, env, log)


def _check_server(test_model_dir, lora_dir, tmp_path, port, env, log) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "robalign", "serve", "--model", str(test_model_dir), "--adapter", f"mine={lora_dir}",
                             "--port", str(port), "--api-key", "k3y", "--dtype", "float32", "--", "--enforce-eager"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240
        while not (_up(port) and _get(f"{base}/health")[0] == 200):  # /health: no key needed
            assert proc.poll() is None and time.time() < deadline, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(2)
        chat = {"model": "mine", "messages": [{"role": "user", "content": "Max: 3 9 2"}], "max_tokens": 4, "temperature": 0}
        for path, body in (("/v1/models", None), ("/invocations", chat), ("/v1/chat/completions", chat), ("/metrics", None), ("/openapi.json", None)):
            assert _get(base + path, body=body)[0] == 401, path
            assert _get(base + path, "wrong", body=body)[0] == 401, path
            assert _get(base + path, "k3y", body=body)[0] == 200, path
        models = json.loads(_get(f"{base}/v1/models", "k3y")[1])["data"]
        assert [m["id"] for m in models] == [str(test_model_dir), "mine"]
        assert not any(str(lora_dir) in json.dumps(m) for m in models)
        status, reply = _get(f"{base}/v1/chat/completions", "k3y", {k: v for k, v in chat.items() if k != "model"})
        assert status == 200 and json.loads(reply)["model"] == str(test_model_dir)  # no `model`: the base answers
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _up(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
