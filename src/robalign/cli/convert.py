"""`robalign convert CONFIG --out RECIPE`: a flat TRL / alignment-handbook config as a robalign recipe.

robalign already reads such a file as it is (config/handbook.py maps it); `convert` writes the
mapped recipe (model, data, method, training, peft blocks) so it can be edited and extended with
robalign's own blocks (lcpo, adversarial). The mapping is checked as `validate` checks a recipe
(TRL/peft field names, types, rules) before anything is written.
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("convert", help="write a flat TRL/alignment-handbook config as a robalign recipe")
    p.add_argument("config", help="flat TRL / alignment-handbook YAML (model_name_or_path, dataset_name/dataset_mixture, loss_type, ...)")
    p.add_argument("--out", metavar="YAML", help="recipe file to write (default: print it)")
    p.set_defaults(func=run)


def run(args) -> int:
    import os
    import tempfile
    from pathlib import Path

    import yaml

    from robalign.atomic import atomic_write_text
    from robalign.config import load_recipe
    from robalign.config.handbook import INERT, from_flat, looks_flat
    from robalign.config.loader import read_yaml
    from robalign.errors import UserError

    raw = read_yaml(args.config)
    if not looks_flat(raw):
        raise UserError(f"{args.config}: already a robalign recipe (it has blocks such as model:); nothing to convert")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists():
        raise UserError(f"--out {out}: file exists; expected a new file (robalign convert never overwrites)")
    dropped: list[str] = []
    recipe = from_flat(raw, args.config, drop_inert=True, dropped=dropped)
    head = f"# robalign recipe converted from {args.config} (robalign convert)\n"
    head += "".join(f"# dropped {k}: {INERT[k]}\n" for k in dropped)
    text = head + yaml.safe_dump(recipe, sort_keys=False)
    # the same checks `validate` makes (TRL/peft field names, types, rules), before anything is written
    fd, tmp = tempfile.mkstemp(suffix=".yaml", dir=out.parent if out is not None and out.parent.exists() else None)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            load_recipe(tmp, check_paths=False)
        except UserError as err:
            raise UserError(str(err).replace(tmp, f"{args.config} (converted)")) from None
    finally:
        os.unlink(tmp)
    if out is None:
        print(text, end="")
        return 0
    atomic_write_text(out, text)
    print(f"wrote {out}; check it with: robalign validate {out}")
    return 0
