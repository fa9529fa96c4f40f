"""`robalign train RECIPE [--set k=v] [--resume] [--dry-run]`: one command for any launch.

With `launch.num_processes: 1` and no `launch.config_file`, the run happens in this process.
Otherwise the recipe's `launch:` block becomes the launcher's command line:

- GPUs: `accelerate launch [--config_file F] --num_processes N -m robalign.train RECIPE ...`
- CPU only: `torchrun --nproc_per_node N -m robalign.train RECIPE ...` with ACCELERATE_USE_CPU=1,
  because `accelerate launch --cpu --num_processes N` starts a single process on CPU.

The literal `accelerate launch recipes/x.yaml` would run the YAML file as Python; recipes
carry a `#!/usr/bin/env -S python -m robalign.train` first line so that
`accelerate launch --no_python recipes/x.yaml` works (docs/training.md, "Training").
"""

from __future__ import annotations

import os
import subprocess
import sys

from robalign.config.overrides import add_recipe_args


def register(sub) -> None:
    from robalign.train import add_train_args

    p = sub.add_parser("train", help="train from a recipe (launches accelerate from the recipe's launch: block)")
    add_recipe_args(p)
    add_train_args(p)
    p.add_argument("--print-command", action="store_true", help="print the launcher command instead of running it")
    p.set_defaults(func=run)


def launch_command(recipe, recipe_path: str, passthrough: list[str]) -> tuple[list[str], dict] | None:
    """The launcher command and extra env for a multi-process run, or None to run in-process."""
    import torch

    launch = recipe.launch
    if launch.num_processes == 1 and not launch.config_file:
        return None
    tail = ["-m", "robalign.train", recipe_path, *passthrough]
    if torch.cuda.is_available() or launch.config_file:
        cmd = [sys.executable, "-m", "accelerate.commands.launch"]
        if launch.config_file:
            cmd += ["--config_file", launch.config_file]
        cmd += ["--num_processes", str(launch.num_processes)]
        if launch.main_process_port:
            cmd += ["--main_process_port", str(launch.main_process_port)]
        return cmd + tail, {}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(launch.num_processes)]
    if launch.main_process_port:
        cmd += ["--master_port", str(launch.main_process_port)]
    else:
        cmd += ["--standalone"]
    return cmd + tail, {"ACCELERATE_USE_CPU": "1"}


def _precheck_output_dir(recipe, args) -> None:
    """The output-folder rules, checked once here so a refusal is one line from this process
    rather than one error per rank wrapped in the launcher's traceback (each rank checks again)."""
    from pathlib import Path

    from robalign.trainers.run_dir import claim_run_dir

    out = recipe.training.get("output_dir")
    if out:  # the resume-mismatch part needs the resolved recipe: the ranks check it
        claim_run_dir(Path(out), {}, recipe.source, resume=args.resume, overwrite=args.overwrite, check_recipe=False)


def run(args) -> int:
    from robalign.config import load_recipe
    from robalign.train import run as train_run

    recipe = load_recipe(args.recipe, args.overrides)
    passthrough = [x for o in args.overrides for x in ("--set", o)]
    passthrough += ["--resume"] if args.resume else []
    passthrough += ["--dry-run"] if args.dry_run else []
    passthrough += ["--overwrite"] if args.overwrite else []
    launch = None if args.dry_run else launch_command(recipe, args.recipe, passthrough)
    if launch is None:
        if args.print_command:
            print(" ".join([sys.executable, "-m", "robalign.train", args.recipe, *passthrough]))
            return 0
        return train_run(args)
    cmd, env = launch
    if args.print_command:
        print(" ".join([*(f"{k}={v}" for k, v in env.items()), *cmd]))
        return 0
    _precheck_output_dir(recipe, args)
    return subprocess.call(cmd, env={**os.environ, **env})
