"""The model card (README.md) robalign writes beside a trained adapter and an exported model.

Why robalign writes its own: TRL's card names the base only when it is a hub id, so every run
on a local base said "fine-tuned version of [None]" and its quick start loaded model "None".
This card names the base as it resolves anywhere (absolute path, or the hub id it was given),
says how to load the folder (PEFT adapter or full model), and lists the method and data of
the resolved recipe beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from robalign.atomic import atomic_write_text


def resolvable_base(base: str) -> str:
    """A local base as its absolute path (a relative one breaks once the folder is moved or
    loaded from elsewhere); a hub id unchanged."""
    p = Path(base).expanduser()
    return str(p.resolve()) if p.is_dir() else str(base)


def write_model_card(out_dir: str | Path, base: str, *, adapter: bool, recipe: Optional[dict] = None,
                     hub_model_id: Optional[str] = None) -> Path:
    """README.md in `out_dir` (atomically): YAML front matter (base_model, library, tags) and usage."""
    out = Path(out_dir)
    name = hub_model_id or out.name
    base = resolvable_base(base)
    method = (recipe or {}).get("method") or {}
    what = method.get("name", "")
    if what and what != "sft":
        what = f"{what}/{method.get('loss_type', '')}" + (f"+{method['noise_model']}" if method.get("noise_model", "none") != "none" else "")
    if (recipe or {}).get("adversarial", {}).get("enabled"):
        what += " +adversarial"
    data = [f"{k}: {v.get('path')}" for k, v in ((recipe or {}).get("data") or {}).items() if isinstance(v, dict) and v.get("path")]
    tags = ["robalign", "peft" if adapter else "transformers", *([f"base_model:adapter:{base}"] if adapter else [])]
    front = ["---", f"base_model: {base}", f"library_name: {'peft' if adapter else 'transformers'}", "pipeline_tag: text-generation",
             "tags:", *[f"- {t}" for t in tags], "---", ""]
    where = hub_model_id or str(out.resolve())
    if adapter:
        load = ["from peft import AutoPeftModelForCausalLM", "from transformers import AutoTokenizer", "",
                f'model = AutoPeftModelForCausalLM.from_pretrained("{where}")  # loads the base it names',
                f'tokenizer = AutoTokenizer.from_pretrained("{where}")']
        cli = f"robalign chat --model {base} --adapter {where}"
    else:
        load = ["from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                f'model = AutoModelForCausalLM.from_pretrained("{where}")',
                f'tokenizer = AutoTokenizer.from_pretrained("{where}")']
        cli = f"robalign chat --model {where}"
    body = [f"# {name}", "",
            f"A {'LoRA adapter' if adapter else 'merged model'} trained with robalign{f' ({what})' if what else ''} "
            f"on the base model `{base}`.", ""]
    if data:
        body += ["Data: " + "; ".join(f"`{d}`" for d in data) + ".", ""]
    body += ["## Load it", "", "```python", *load, "```", "", "```bash", cli, "```", ""]
    if recipe is not None:
        body += ["The resolved training recipe is `resolved_recipe.yaml` beside this card.", ""]
    return atomic_write_text(out / "README.md", "\n".join(front + body))
