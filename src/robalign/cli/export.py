"""`robalign export`: a trained LoRA adapter as a standalone folder, merged into its base or not.

    robalign export --model runs/tiny/sft --adapter runs/tiny/dpo --out exported/dpo --merge

--merge folds the LoRA weights into the base (PEFT's merge_and_unload) and saves an ordinary
HF model: safetensors weights, config, generation config, tokenizer (the adapter's own when the
run saved one; it must render as the base's does, robalign.models.loading), README.md model card, and the run's resolved_recipe.yaml beside it, so
transformers, vLLM and `robalign serve` load it directly. Without --merge the adapter is copied
with its base named by an absolute path (or the hub id it was given), so it loads from anywhere.
The adapter is checked against the base first (shapes and recorded weight fingerprint).
"""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("export", help="write a trained adapter as a standalone model folder (--merge) or a portable adapter")
    p.add_argument("--model", required=True, help="base model folder or hub id the adapter was trained on")
    p.add_argument("--adapter", required=True, help="LoRA adapter folder (a training run's output_dir)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--merge", action="store_true", help="merge the adapter into the base and save a full model")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                   help="dtype of the merged weights (auto: the base's own)")
    p.add_argument("--push-to-hub", action="store_true", help="upload the folder to the hub as --hub-model-id after writing it")
    p.add_argument("--hub-model-id", default=None, help="hub repository (user/name) for --push-to-hub; named in the model card")
    p.add_argument("--overwrite", action="store_true", help="replace what --out already holds")
    p.set_defaults(func=run)


def run(args) -> int:
    import os
    import shutil
    from pathlib import Path

    from robalign.errors import UserError
    from robalign.models.adapters import check_adapter
    from robalign.models.card import resolvable_base, write_model_card
    from robalign.models.loading import check_adapter_tokenizer, load_tokenizer
    from robalign.sources import check_model_source
    from robalign.outputs import check_output_dir, is_empty_dir, refuse_unless_overwrite

    if args.push_to_hub and not args.hub_model_id:
        raise UserError("--push-to-hub needs --hub-model-id USER/NAME (the repository to upload to)")
    if args.push_to_hub and os.environ.get("HF_HUB_OFFLINE") == "1":
        raise UserError("--push-to-hub: HF_HUB_OFFLINE=1 forbids uploading; unset it to push, or export without --push-to-hub")
    check_model_source(args.model)
    check_adapter(args.adapter, args.model)
    tokenizer = load_tokenizer(args.model)  # the base's, as every engine uses (robalign.models.loading)
    check_adapter_tokenizer(args.adapter, tokenizer)
    out = check_output_dir(args.out, "export --out")
    if Path(out).resolve() in (Path(args.adapter).resolve(), Path(args.model).resolve()):
        raise UserError(f"export --out {args.out} is the adapter or base folder itself; expected a new folder")
    if not is_empty_dir(out):
        refuse_unless_overwrite(out, "export --out", "files", args.overwrite)
    recipe = _recipe(Path(args.adapter))
    tmp = out.with_name(f".{out.name}.export-{os.getpid()}")  # written aside, renamed into place when complete
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        if args.merge:
            _merge(args, tmp, tokenizer)
        else:
            _copy_adapter(args, tmp)
        if (Path(args.adapter) / "resolved_recipe.yaml").is_file():
            shutil.copy2(Path(args.adapter) / "resolved_recipe.yaml", tmp / "resolved_recipe.yaml")
        write_model_card(tmp, args.model, adapter=not args.merge, recipe=recipe, hub_model_id=args.hub_model_id)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    what = "merged model" if args.merge else f"adapter (base {resolvable_base(args.model)})"
    print(f"exported {what} -> {out}")
    if args.push_to_hub:
        from huggingface_hub import HfApi

        api = HfApi()
        api.create_repo(args.hub_model_id, exist_ok=True)
        api.upload_folder(repo_id=args.hub_model_id, folder_path=str(out), commit_message="robalign export")
        print(f"pushed {out} -> https://huggingface.co/{args.hub_model_id}", file=sys.stderr)
    return 0


def _recipe(adapter):
    import yaml

    p = adapter / "resolved_recipe.yaml"
    if not p.is_file():
        return None
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError:
        return None  # the card then names no method; the file is still copied as it is
    return data if isinstance(data, dict) else None


def _merge(args, tmp, tokenizer) -> None:
    from robalign.models.card import resolvable_base
    from pathlib import Path

    from robalign.models.loading import TOKENIZER_CONFIG, load_causal_lm, load_generation_config, load_tokenizer

    merged = load_causal_lm(resolvable_base(args.model), args.adapter, dtype=args.dtype, device="cpu", merge=True)
    generation_config = load_generation_config(args.model)
    if generation_config is not None:  # a base without generation_config.json: transformers' derived one is saved
        merged.generation_config = generation_config
    merged.save_pretrained(tmp, safe_serialization=True)
    # the run's own copy when it saved one (checked equal to the base's in all that is rendered;
    # it may name a pad token TRL set), else the base's
    own = (Path(args.adapter) / TOKENIZER_CONFIG).is_file()
    (load_tokenizer(args.adapter) if own else tokenizer).save_pretrained(tmp)


def _copy_adapter(args, tmp) -> None:
    import json
    import shutil
    from pathlib import Path

    from robalign.models.card import resolvable_base

    src = Path(args.adapter)
    tmp.mkdir(parents=True)
    keep = ("adapter_config.json", "adapter_model", "tokenizer", "special_tokens_map.json", "chat_template", "robalign_adapter.json")
    for f in src.iterdir():
        if f.is_file() and f.name.startswith(keep):
            shutil.copy2(f, tmp / f.name)
    cfg = json.loads((tmp / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = resolvable_base(args.model)
    (tmp / "adapter_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
