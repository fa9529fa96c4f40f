"""`python -m robalign.train RECIPE [--set k=v ...] [--resume] [--dry-run]`

What `accelerate launch -m robalign.train RECIPE` (and `robalign train`) runs in every
process. One recipe drives everything: the model, the data, the method's trainer (chosen in
`robalign.trainers.factory`), and the run directory contract (`robalign.trainers.run_dir`).

Precision and gradient checkpointing are resolved from the hardware where the recipe is
silent (`robalign.config.hardware`), and the resolved values are saved in
`resolved_recipe.yaml`. `--dry-run` builds configs, tokenizer, datasets and the model on the
meta device (no weights are read) and prints a summary; offline, hub ids whose files are not
cached are reported as such instead of failing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from robalign.errors import ConfigError, UserError


def build_parser() -> argparse.ArgumentParser:
    from robalign.config.overrides import add_recipe_args

    p = argparse.ArgumentParser(prog="python -m robalign.train", description="Train from a robalign recipe.")
    add_train_args(p)
    add_recipe_args(p)
    return p


def add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint in training.output_dir")
    p.add_argument("--dry-run", action="store_true", help="build everything except the model weights, print a summary, exit")
    p.add_argument("--overwrite", action="store_true", help="replace the earlier robalign run in training.output_dir (its checkpoints and outputs are deleted)")


def training_args(recipe, training: dict):
    """The typed config of the recipe's trainer: TRL's fields from `training`, robalign's blocks (loss,
    noise model, attack) from the recipe (`robalign.config.training`); TRL's own checks become one-line errors."""
    from robalign.config.methods import get_method
    from robalign.config.training import config_from_recipe

    cls = get_method(recipe.method.name, recipe.source).training_config_class()
    try:
        return config_from_recipe(cls, recipe, training)
    except (ValueError, TypeError) as err:
        raise ConfigError(recipe.source, "training", f"settings {cls.__name__} accepts ({err})") from None


def resolved_recipe_dict(recipe, training: dict) -> dict:
    from robalign.config.schema import to_dict

    out = to_dict(recipe)
    out.pop("source", None)
    out["training"] = dict(training)
    return _plain_yaml(out)


def _plain_yaml(obj):
    """Enums (TRL's SchedulerType...) and tuples as plain YAML values."""
    import enum

    if isinstance(obj, dict):
        return {k: _plain_yaml(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain_yaml(v) for v in obj]
    if isinstance(obj, enum.Enum):
        return obj.value
    return obj


def load_tokenizer(recipe):
    from robalign.models.loading import load_tokenizer as load

    m = recipe.model
    return load(m.tokenizer_name_or_path or m.model_name_or_path, trust_remote_code=m.trust_remote_code)


def load_model(recipe, hw, name_or_path: str | None = None):
    """The recipe's model (or, given `name_or_path`, its reference model) in the resolved dtype."""
    from robalign.config.hardware import resolve_torch_dtype
    from robalign.models.card import resolvable_base
    from robalign.models.loading import load_pretrained

    m = recipe.model
    kwargs = {"trust_remote_code": m.trust_remote_code}
    if m.attn_implementation:
        kwargs["attn_implementation"] = m.attn_implementation
    # loaded by its absolute path: PEFT records the name the model was loaded by as the adapter's
    # base_model_name_or_path, and a relative one breaks once the adapter is loaded from elsewhere
    return load_pretrained(resolvable_base(name_or_path or m.model_name_or_path), dtype=resolve_torch_dtype(m.torch_dtype, hw), **kwargs)


def peft_config(recipe):
    if recipe.peft is None:
        return None
    from peft import LoraConfig

    kwargs = dict(recipe.peft)
    kwargs.setdefault("task_type", "CAUSAL_LM")
    return LoraConfig(**kwargs)


def dry_run(recipe, training: dict, args_obj, hw) -> int:
    """Everything but the weights: print what the run would be."""
    from robalign.sources import is_local

    from robalign.config.methods import describe

    lines = [f"recipe: {recipe.source}", f"method: {describe(recipe)}"]
    lines.append(f"trainer args: {type(args_obj).__name__} (output_dir={args_obj.output_dir}, lr={args_obj.learning_rate}, "
                 f"batch/device={args_obj.per_device_train_batch_size}, grad_accum={args_obj.gradient_accumulation_steps}, "
                 f"epochs={args_obj.num_train_epochs}, max_steps={args_obj.max_steps}, bf16={args_obj.bf16}, "
                 f"gradient_checkpointing={args_obj.gradient_checkpointing})")
    lines.append(f"hardware: cuda={hw.cuda} bf16_supported={hw.bf16_supported}")
    mid = recipe.model.model_name_or_path
    try:
        from accelerate import init_empty_weights
        from transformers import AutoModelForCausalLM

        from robalign.models.loading import load_config

        config = load_config(mid, trust_remote_code=recipe.model.trust_remote_code)
        with init_empty_weights():
            model = AutoModelForCausalLM.from_config(config, trust_remote_code=recipe.model.trust_remote_code)
        n = sum(p.numel() for p in model.parameters())
        lines.append(f"model: {mid} ({config.model_type}, {n / 1e6:.1f}M parameters, built on the meta device)")
        pc = peft_config(recipe)
        if pc is not None:
            from peft import get_peft_model

            pm = get_peft_model(model, pc)
            trainable = sum(p.numel() for p in pm.parameters() if p.requires_grad)
            lines.append(f"peft: LoRA r={pc.r}, {trainable / 1e6:.2f}M trainable parameters")
        else:
            lines.append("peft: none (full fine-tuning)")
    except OSError as err:
        if is_local(mid):
            raise
        lines.append(f"model: {mid}: config not available offline (hub id, not cached): skipped ({str(err).splitlines()[0][:80]})")
    try:
        tok = load_tokenizer(recipe)
        lines.append(f"tokenizer: {type(tok).__name__}, vocab {len(tok)}, chat template {'yes' if tok.chat_template else 'NO'}")
    except OSError:
        if is_local(recipe.model.tokenizer_name_or_path or mid):
            raise
        lines.append("tokenizer: not available offline (hub id, not cached): skipped")
    from robalign.trainers.data import build_datasets

    try:  # the datasets exactly as training builds them (so a dry run refuses what train refuses)
        train_ds, eval_ds = build_datasets(recipe, args_obj.per_device_train_batch_size, args_obj.seed)
    except ConfigError as err:
        parts = (err.key or "").split(".")
        spec = getattr(recipe.data, parts[1], None) if parts[0] == "data" and len(parts) > 1 else None
        if spec is None or any(is_local(p) for p in spec.paths):
            raise
        lines.append(f"data.{parts[1]}: {spec.source}: hub dataset not available offline: skipped")
    else:
        for key, ds in (("train", train_ds), ("eval", eval_ds)):
            if ds is None:
                continue
            names = getattr(ds, "column_names", None)
            lines.append(f"data.{key}: {len(ds)} rows" + (f", columns {names}" if names else " (data.safety + data.utility in batch blocks)"))
    lines.append("dry run: no weights loaded, nothing written")
    print("\n".join(lines))
    return 0


def run(opts) -> int:
    from robalign.config import load_recipe
    from robalign.config.hardware import detect, launcher_precision, resolve_training_args
    from robalign.trainers.run_dir import claim_run_dir

    recipe = load_recipe(opts.recipe, opts.overrides, check_paths=True)
    hw = detect()
    training = resolve_training_args(recipe.training, hw, launcher_precision())
    args_obj = training_args(recipe, training)
    if opts.dry_run:
        return dry_run(recipe, training, args_obj, hw)
    resolved = resolved_recipe_dict(recipe, training)
    claim = claim_run_dir(Path(args_obj.output_dir), resolved, recipe.source, resume=opts.resume, overwrite=getattr(opts, "overwrite", False))
    if claim.resume_from is not None:
        from robalign.trainers.checkpointing import read_extra_state

        read_extra_state(claim.resume_from)  # a planted or corrupt state file is refused before anything is written
    if claim.finished:
        print(f"{args_obj.output_dir}: the run already finished at step {claim.finished}; nothing to do "
              "(raise training.max_steps to train further)")
        return 0
    return train(recipe, training, args_obj, hw, resume_from=claim.resume_from, clear=claim.clear, fresh_dir=claim.fresh_dir,
                 set_aside=claim.damaged)


def train(recipe, training: dict, args_obj, hw, resume_from=None, clear: bool = False, fresh_dir: bool = False,
          set_aside=()) -> int:
    """Run the training. Nothing is written before the data, model and trainer are built; the run
    folder is locked while this run writes it; a fresh run that fails with a user error before
    its first checkpoint leaves no folder behind."""
    import contextlib
    import shutil

    from accelerate import PartialState
    from transformers import set_seed

    from robalign.models.fingerprint import record_base
    from robalign.outputs import DirLock, clear_dir
    from robalign.trainers import build_trainer
    from robalign.trainers.callbacks import MetricsJsonlCallback
    from robalign.trainers.data import build_datasets
    from robalign.trainers.run_dir import last_complete_checkpoint, mark_finished, run_info, write_resolved_recipe, write_run_info

    state = PartialState()
    out = Path(args_obj.output_dir)
    existed = out.exists()
    # every rank has checked the folder (run()) before any rank writes to it
    state.wait_for_everyone()
    with contextlib.ExitStack() as stack:
        if state.is_main_process:
            stack.enter_context(DirLock(out, f"{recipe.source}: training.output_dir"))
            if clear:
                clear_dir(out)
            for bad in set_aside:  # damaged newer checkpoints: kept for inspection, out of the resume path
                aside = bad.with_name(bad.name + ".damaged")
                bad.rename(aside if not aside.exists() else bad.with_name(f"{aside.name}-{os.getpid()}"))
        state.wait_for_everyone()
        try:
            set_seed(args_obj.seed)  # before the model/LoRA init, which happens before Trainer seeds
            tokenizer = load_tokenizer(recipe)
            train_ds, eval_ds = build_datasets(recipe, args_obj.per_device_train_batch_size, args_obj.seed)
            model = load_model(recipe, hw)
            extra = {}
            if recipe.model.ref_model_name_or_path:  # load_recipe allows it only where a frozen reference is built from it
                extra["ref_model"] = load_model(recipe, hw, recipe.model.ref_model_name_or_path)
            trainer = build_trainer(
                recipe, model=model, tokenizer=tokenizer, args=args_obj, train_dataset=train_ds, eval_dataset=eval_ds,
                peft_config=peft_config(recipe), callbacks=[MetricsJsonlCallback(out)], **extra,
            )
            if state.is_main_process:
                if resume_from is None:
                    (out / "metrics.jsonl").unlink(missing_ok=True)
                write_resolved_recipe(out, resolved_recipe_dict(recipe, training))
                write_run_info(out, run_info(args_obj.seed, hw, state.num_processes))
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        except UserError:
            if state.is_main_process and fresh_dir and last_complete_checkpoint(out) is None:
                # leave the folder as this run found it: gone if it made it, else empty again
                if existed:
                    clear_dir(out)
                else:
                    shutil.rmtree(out, ignore_errors=True)
            raise
        trainer.save_model(str(out))
        if state.is_main_process:
            tokenizer.save_pretrained(str(out))
            from robalign.models.card import write_model_card

            def card(**_):  # robalign's card (TRL's names no local base), also the one push_to_hub uploads
                write_model_card(out, recipe.model.model_name_or_path, adapter=(out / "adapter_config.json").is_file(),
                                 recipe=resolved_recipe_dict(recipe, training), hub_model_id=getattr(args_obj, "hub_model_id", None))

            card()
            record_base(out, recipe.model.model_name_or_path)  # inference refuses the adapter on other base weights
            mark_finished(out, trainer.state.global_step)
            if args_obj.push_to_hub:  # training.push_to_hub / hub_model_id pass through to TRL; the final upload is TRL's
                trainer.create_model_card = card
                trainer.push_to_hub(commit_message="robalign: end of training")
            print(f"done: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from robalign.env import apply_defaults

    apply_defaults()
    opts = build_parser().parse_args(argv)
    try:
        return run(opts)
    except UserError as err:
        print(f"robalign train: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
