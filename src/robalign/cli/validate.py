"""`robalign validate RECIPE`: check a recipe (keys, types, files, dataset columns) without training."""

from __future__ import annotations

from robalign.config.overrides import add_recipe_args


def register(sub) -> None:
    p = sub.add_parser("validate", help="check a recipe: keys, types, files and dataset columns")
    add_recipe_args(p)
    p.add_argument("--no-data", action="store_true", help="skip opening the datasets (hub ids offline)")
    p.add_argument("--print-recipe", action="store_true", help="print the recipe as robalign reads it (every block, defaults "
                   "filled; a flat TRL/alignment-handbook config mapped onto the blocks)")
    p.set_defaults(func=run)


def run(args) -> int:
    from robalign.config import load_recipe
    from robalign.config.hardware import detect, launcher_precision, resolve_training_args
    from robalign.train import training_args
    from robalign.trainers.data import check_data_columns

    recipe = load_recipe(args.recipe, args.overrides)
    # TRL's/transformers' own argument checks, exactly as `train` builds the arguments
    training_args(recipe, resolve_training_args(recipe.training, detect(), launcher_precision()))
    sizes = {} if args.no_data else check_data_columns(recipe)
    from robalign.config.methods import describe

    what = describe(recipe)
    data = ", ".join(f"{k} {n} rows" for k, n in sizes.items()) or "data not opened"
    tuning = "LoRA r=%s" % recipe.peft.get("r", 8) if recipe.peft is not None else "full fine-tuning"
    if args.print_recipe:
        import yaml

        from robalign.config.schema import to_dict

        print(yaml.safe_dump(to_dict(recipe), sort_keys=False), end="")
    print(f"ok: {args.recipe}: {what}, {tuning}, model {recipe.model.model_name_or_path}, {data}")
    return 0
