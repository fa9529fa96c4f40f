"""`robalign serve`: an OpenAI-compatible vLLM server for a base model and its LoRA adapters.

Runs ``python -m vllm.entrypoints.openai.api_server`` (the `vllm serve` console script fails in
the CPU package) with ``--enable-lora --lora-modules name=path ...``; clients pick an adapter by
passing its name as the request's `model`. Adapters are checked against the base first.
"""

from __future__ import annotations

import os
import shlex
import sys


def register(sub) -> None:
    p = sub.add_parser("serve", help="OpenAI-compatible vLLM server for a base model + named LoRA adapters")
    p.add_argument("--model", required=True, help="base model directory or hub id")
    p.add_argument("--adapter", action="append", default=[], metavar="NAME=PATH", help="LoRA adapter served as model NAME; repeatable")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--served-model-name", default=None, help="name of the base model in requests (default: the path)")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"], help="auto: from the hardware")
    p.add_argument("--max-model-len", type=int, default=None)
    p.add_argument("--tensor-parallel-size", type=int, default=1)
    p.add_argument("--print-command", action="store_true", help="print the server command line and exit")
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


def server_command(args) -> list[str]:
    """The vLLM server command line for `args` (adapters already checked)."""
    from robalign.config.hardware import resolve_torch_dtype
    from robalign.eval.adapters import adapter_rank, read_adapter_config, vllm_max_lora_rank

    adapters = parse_adapters(args.adapter)
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", args.model,
           "--host", args.host, "--port", str(args.port), "--dtype", resolve_torch_dtype(args.dtype),
           "--tensor-parallel-size", str(args.tensor_parallel_size), "--generation-config", "vllm"]
    if args.served_model_name:
        cmd += ["--served-model-name", args.served_model_name]
    if args.max_model_len:
        cmd += ["--max-model-len", str(args.max_model_len)]
    if adapters:
        rank = vllm_max_lora_rank([adapter_rank(read_adapter_config(p)) for _, p in adapters])
        cmd += ["--enable-lora", "--max-lora-rank", str(rank), "--max-loras", str(len(adapters)),
                "--lora-modules", *[f"{n}={os.path.abspath(p)}" for n, p in adapters]]
    return cmd + list(args.extra)


def run(args) -> int:
    from robalign.eval.adapters import check_adapter

    for _, path in parse_adapters(args.adapter):
        check_adapter(path, args.model)
    cmd = server_command(args)
    if args.print_command:
        print(shlex.join(cmd))
        return 0
    from robalign.eval.engines import EngineArgs

    EngineArgs().apply_env()  # on CPU: 1 GiB KV cache and no reserved core unless the environment says otherwise
    print("serving: " + shlex.join(cmd), file=sys.stderr, flush=True)
    os.execv(cmd[0], cmd)  # the server owns the process (signals, exit code) from here
