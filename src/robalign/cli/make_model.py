"""`robalign make-model`: build a tiny model + tokenizer from scratch (offline, seconds): robalign's own
Llama, or with --arch a real family's architecture and tokenizer conventions (robalign.models.families)."""

from __future__ import annotations

from robalign.models.factory import SIZES
from robalign.models.families import ARCHS


def register(sub) -> None:
    p = sub.add_parser("make-model", help="build a tiny model + tokenizer from scratch (robalign's Llama, or --arch FAMILY)")
    p.add_argument("--size", choices=sorted(SIZES), default="demo", help="test and demo ~0.9M (same geometry), small ~29M parameters")
    p.add_argument("--arch", choices=ARCHS, default=None, help="a real family's architecture, chat template and special tokens "
                   "(transformers' own config class; default: robalign's tiny Llama with its own chat format)")
    p.add_argument("--out", required=True, help="output directory (HF format)")
    p.add_argument("--seed", type=int, default=0, help="weight-initialisation seed")
    p.add_argument("--overwrite", action="store_true", help="replace what --out already holds (e.g. a trained model) with the new random init")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    from pathlib import Path

    from robalign.models.factory import make_model
    from robalign.outputs import check_output_dir, is_empty_dir, refuse_unless_overwrite

    target = check_output_dir(args.out, "make-model --out")
    if not is_empty_dir(target):
        holds = "a model" if (target / "config.json").is_file() else "files"
        refuse_unless_overwrite(target, "make-model --out", holds, args.overwrite)
    if args.seed < 0:
        from robalign.errors import UserError

        raise UserError(f"make-model --seed {args.seed}: expected an integer >= 0")
    out = make_model(args.size, args.out, seed=args.seed, arch=args.arch)
    info = json.loads((Path(out) / "robalign_model.json").read_text())
    print(f"built {args.size} {info['arch']} model: {info['parameters']:,} parameters, vocab {info['vocab_size']} -> {out}")
    return 0
