"""`robalign serve`: an OpenAI-compatible vLLM server for a base model and its LoRA adapters.

Runs ``python -m vllm.entrypoints.openai.api_server`` (the `vllm serve` console script fails in
the CPU package) with ``--enable-lora --lora-modules name=path ...``; clients pick an adapter by
passing its name as the request's `model` (without `model`, vLLM answers with the base model).
Adapters are checked against the base first.

What robalign adds to vLLM 0.32's own server, and why:
- ``--api-key`` (or env VLLM_API_KEY) reaches the server as VLLM_API_KEY in its environment,
  not on its command line, where every local user could read it in `ps`. vLLM checks the key
  only under /v1, /v2, /inference and /cohere: POST /invocations (SageMaker) still answers chat
  completions without it, and /tokenize, /metrics, /docs, /openapi.json stay open. With a key,
  robalign therefore starts the server through this module (``python -m robalign.cli.serve``),
  which makes vLLM's own check cover every path but GET /health.
- /v1/models lists each adapter's path as `root` (and the base's as the base card's): the server
  is given symlinks under neutral names in a private temp folder instead of the real paths.
- A one-line warning when --host binds beyond loopback without a key; --port outside 1..65535
  is a one-line error (it was an OverflowError traceback inside vLLM).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
import tempfile
from pathlib import Path

from robalign.cli.generate import ENGINE_FLAGS

VLLM_SERVER = "vllm.entrypoints.openai.api_server"
SERVE_ENGINE = ENGINE_FLAGS.but(fields=("dtype", "max_model_len", "tensor_parallel_size"))
LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def register(sub) -> None:
    p = sub.add_parser("serve", help="OpenAI-compatible vLLM server for a base model + named LoRA adapters")
    p.add_argument("--model", required=True, help="base model directory or hub id")
    p.add_argument("--adapter", action="append", default=[], metavar="NAME=PATH", help="LoRA adapter served as model NAME; repeatable")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port, 1..65535 (default 8000)")
    p.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' on every path but /health "
                   "(default: env VLLM_API_KEY; none = no authentication)")
    p.add_argument("--served-model-name", default=None, help="name of the base model in requests (default: --model as given)")
    p.add_argument("--print-command", action="store_true", help="print the server command line and exit")
    SERVE_ENGINE.add_to(p, "engine (passed to vLLM's server)")
    p.add_argument("extra", nargs="*", help="further vLLM server options after --, passed through unchanged")
    p.set_defaults(func=run)


def parse_adapters(specs: list[str]) -> list[tuple[str, str]]:
    from robalign.errors import UserError

    out = []
    for s in specs:
        name, sep, path = s.partition("=")
        if not sep or not name or not path:
            raise UserError(f"--adapter {s!r}: expected NAME=PATH, e.g. --adapter dpo=runs/tiny/dpo")
        out.append((name, path))
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"--adapter: the name(s) {dup} are used twice; expected one name per adapter")
    return out


def api_key(args) -> str | None:
    """--api-key, else env VLLM_API_KEY (as vLLM reads it); '' counts as none."""
    return args.api_key or os.environ.get("VLLM_API_KEY") or None


def check_network(args) -> str | None:
    """One-line error for a port vLLM cannot bind; the warning (or None) for a host reachable
    from other machines without a key."""
    import ipaddress

    from robalign.errors import UserError

    if not 1 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: expected a port number in 1..65535")
    if "--api-key" in args.extra:
        raise UserError("--api-key after --: give the key as robalign serve --api-key KEY (or env VLLM_API_KEY), "
                        "which keeps it out of the process list and guards every path, not only /v1")
    try:
        loopback = ipaddress.ip_address(args.host.strip("[]")).is_loopback
    except ValueError:
        loopback = args.host.lower() in LOOPBACK_NAMES
    if loopback or api_key(args):
        return None
    return (f"warning: --host {args.host or '(all interfaces)'} serves beyond this machine without an API key: anyone who "
            f"reaches port {args.port} can use the model; set --api-key or VLLM_API_KEY")


def link_dir(model: str, adapters: list[tuple[str, str]]) -> Path:
    """The private folder of this server's neutral symlinks: <tmp>/robalign-serve-<uid>/<hash of
    the paths> (the same on every start, so nothing piles up; mode 0700, refused if not ours)."""
    from robalign.errors import UserError

    root = Path(tempfile.gettempdir()) / f"robalign-serve-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    st = root.lstat()
    if root.is_symlink() or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise UserError(f"{root} is not a private folder of this user (owner, mode or symlink); remove it or set TMPDIR")
    key = repr((os.path.abspath(model), [(n, os.path.abspath(p)) for n, p in adapters]))
    return root / hashlib.sha256(key.encode()).hexdigest()[:16]


def neutral_paths(model: str, adapters: list[tuple[str, str]], links: Path | None):
    """(model path, [(name, path)]) to give the server: symlinks `links/base`, `links/lora-<i>`
    when `links` is set (a hub id stays as it is), else the model as given and the adapters'
    absolute paths. Made here because the command must name them (--print-command included)."""
    def link(name: str, target: str) -> str:
        if links is None:
            return os.path.abspath(target)
        dst = links / name
        if not dst.is_symlink() or os.readlink(dst) != os.path.abspath(target):
            links.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = links / f".{name}.{os.getpid()}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(os.path.abspath(target), target_is_directory=True)
            os.replace(tmp, dst)
        return str(dst)

    base = link("base", model) if links is not None and Path(model).is_dir() else model
    return base, [(n, link(f"lora-{i}", p)) for i, (n, p) in enumerate(adapters, start=1)]


def server_command(args, links: Path | None = None) -> list[str]:
    """The server command line for `args` (adapters already checked); with `links`, the model and
    adapters are passed as the symlinks there. The API key is NOT in it (see server_env)."""
    from robalign.config.hardware import resolve_torch_dtype
    from robalign.models.adapters import adapter_rank, read_adapter_config, vllm_max_lora_rank

    adapters = parse_adapters(args.adapter)
    model, served = neutral_paths(args.model, adapters, links)
    module = __name__ if api_key(args) else VLLM_SERVER  # with a key: vLLM's check on every path (module docstring)
    cmd = [sys.executable, "-m", module, "--model", model,
           "--host", args.host, "--port", str(args.port), "--dtype", resolve_torch_dtype(args.dtype),
           "--tensor-parallel-size", str(args.tensor_parallel_size), "--generation-config", "vllm"]
    if args.served_model_name or model != args.model:  # the name clients use stays --model as given
        cmd += ["--served-model-name", args.served_model_name or args.model]
    if args.max_model_len:
        cmd += ["--max-model-len", str(args.max_model_len)]
    if adapters:
        rank = vllm_max_lora_rank([adapter_rank(read_adapter_config(p)) for _, p in adapters])
        cmd += ["--enable-lora", "--max-lora-rank", str(rank), "--max-loras", str(len(adapters)),
                "--lora-modules", *[f"{n}={p}" for n, p in served]]
    return cmd + list(args.extra)


def server_env(args) -> dict[str, str]:
    """The server's environment: robalign's CPU defaults, and the key as VLLM_API_KEY."""
    from robalign.eval.engines import EngineArgs

    EngineArgs().apply_env()  # on CPU: 1 GiB KV cache and no reserved core unless the environment says otherwise
    env = dict(os.environ)
    key = api_key(args)
    if key:
        env["VLLM_API_KEY"] = key
    return env


def run(args) -> int:
    from robalign.models.adapters import check_adapter
    from robalign.sources import check_model_source

    check_model_source(args.model)
    warning = check_network(args)
    for _, path in parse_adapters(args.adapter):
        check_adapter(path, args.model)
    if warning:
        print(f"robalign serve: {warning}", file=sys.stderr, flush=True)
    cmd = server_command(args, link_dir(args.model, parse_adapters(args.adapter)))
    shown = ("VLLM_API_KEY=<hidden> " if api_key(args) else "") + shlex.join(cmd)
    if args.print_command:
        print(shown)
        return 0
    env = server_env(args)
    print("serving: " + shown, file=sys.stderr, flush=True)
    os.execve(cmd[0], cmd, env)  # the server owns the process (signals, exit code) from here


def _serve_guarded() -> None:
    """``python -m robalign.cli.serve VLLM-ARGS``: vLLM's OpenAI server with its API-key check
    extended from /v1, /v2, /inference, /cohere to every path but GET /health (the patch is on
    vLLM 0.32's AuthenticationMiddleware; a vLLM without it stops here rather than run unguarded)."""
    import runpy

    from vllm.entrypoints.serve.middleware import authenticate

    mw = getattr(authenticate, "AuthenticationMiddleware", None)
    if mw is None or not isinstance(getattr(authenticate, "GUARDED_PREFIX", None), tuple):
        sys.exit("robalign serve: this vLLM has no AuthenticationMiddleware.GUARDED_PREFIX to extend; "
                 "refusing to serve with a key that would not guard every path")
    authenticate.GUARDED_PREFIX = ("/",)
    guarded_call = mw.__call__

    def call(self, scope, receive, send):
        path = scope.get("path", "").removeprefix(scope.get("root_path", ""))
        if scope.get("type") == "http" and path == "/health" and scope.get("method") in ("GET", "HEAD"):
            return self.app(scope, receive, send)  # liveness probes need no key
        return guarded_call(self, scope, receive, send)

    mw.__call__ = call
    sys.argv[0] = VLLM_SERVER
    runpy.run_module(VLLM_SERVER, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _serve_guarded()
