"""The bad-input table: every mistake a user can make is one line on stderr, exit 2, and nothing
in the workspace is written or changed.

Each case builds its inputs from the session's own fixtures (the test model, the synthetic data)
in a fresh workspace, runs the real `robalign` entry point in this process, and compares a
listing of the workspace (names, sizes, mtimes) before and after. Recipe cases run through both
`validate` and `train`: the two must refuse exactly the same recipes.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from robalign.cli.main import main


def listing(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.is_dir(), p.stat().st_size if p.is_file() else 0, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


RECIPE = {
    "model": {"model_name_or_path": "{model}"},
    "data": {"train": {"path": "{prefs}", "max_samples": 16}},
    "method": {"name": "preference", "loss_type": "dpo", "noise_model": "lcpo"},
    "training": {"output_dir": "{ws}/run", "max_steps": 1, "per_device_train_batch_size": 4, "max_length": 48, "report_to": []},
    "peft": {"r": 4, "target_modules": "all-linear"},
}


@dataclass
class Ws:
    """A case's workspace: where it writes its inputs, and the paths it may use."""
    root: Path
    model: Path
    data: Path
    lora: Path

    def recipe(self, text: str | None = None, name: str = "recipe.yaml", **sets) -> str:
        import copy

        import yaml

        if text is None:
            data = copy.deepcopy(RECIPE)
            for dotted, value in sets.items():
                node = data
                *parents, last = dotted.split("__")
                for p in parents:
                    node = node.setdefault(p, {})
                node[last] = value
            text = yaml.safe_dump(data, sort_keys=False)
        text = text.replace("{model}", str(self.model)).replace("{prefs}", str(self.data / "prefs_uniform_0.3.jsonl"))
        path = self.root / name
        path.write_text(text.replace("{ws}", str(self.root)))
        return str(path)

    def rows(self, rows: list, name: str = "rows.jsonl") -> str:
        path = self.root / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return str(path)

    def raw(self, data: bytes, name: str) -> str:
        path = self.root / name
        path.write_bytes(data)
        return str(path)


PAIR = {"prompt": "Sort: 3 1 2", "chosen": "1 2 3", "rejected": "3 2 1"}


def _data_recipe(bad_row: dict):
    """A recipe whose training file has one bad row among good ones."""
    def build(ws: Ws) -> str:
        path = ws.rows([PAIR, PAIR, bad_row, PAIR], "prefs.jsonl")
        return ws.recipe(data={"train": {"path": path}})
    return build


@dataclass
class Case:
    id: str
    recipe: Callable[[Ws], str] | None = None  # a recipe case: run through validate AND train
    argv: Callable[[Ws], list[str]] | None = None  # any other command line
    needle: str = ""
    stdin: bytes | None = None
    verbs: tuple[str, ...] = ("validate", "train")
    marks: list = field(default_factory=list)


CASES = [
    # data rows of the wrong shape
    Case("row-null", _data_recipe({**PAIR, "chosen": None}), needle="row 2 has null"),
    Case("row-number", _data_recipe({**PAIR, "prompt": 7}), needle="row 2 has int"),
    Case("row-list", _data_recipe({**PAIR, "rejected": ["a", "b"]}), needle="not chat messages"),
    Case("row-empty-string", _data_recipe({**PAIR, "chosen": "  "}), needle="an empty string"),
    Case("data-not-utf8", lambda ws: ws.recipe(data={"train": {"path": ws.raw(b'{"prompt": "\xff", "chosen": "a", "rejected": "b"}\n', "bad.jsonl")}}),
         needle="data.train.path"),
    Case("recipe-not-utf8", lambda ws: ws.raw(b"model:\n  model_name_or_path: \xff\n", "r.yaml"), needle="UTF-8"),
    Case("recipe-duplicate-block", lambda ws: ws.recipe(
        "model:\n  model_name_or_path: {model}\ntraining:\n  output_dir: {ws}/run\ntraining:\n  max_steps: 1\n"), needle="'training' appears twice"),
    # training arguments TRL/transformers/peft would reject late, or train silently wrong
    Case("lr-nan", lambda ws: ws.recipe(training__learning_rate=float("nan")), needle="training.learning_rate"),
    Case("lr-negative", lambda ws: ws.recipe(training__learning_rate=-1e-3), needle="training.learning_rate: expected a positive"),
    Case("batch-zero", lambda ws: ws.recipe(training__per_device_train_batch_size=0), needle="per_device_train_batch_size"),
    Case("batch-negative", lambda ws: ws.recipe(training__per_device_train_batch_size=-2), needle="per_device_train_batch_size"),
    Case("max-length-zero", lambda ws: ws.recipe(training__max_length=0), needle="training.max_length"),
    Case("lora-r-zero", lambda ws: ws.recipe(peft__r=0), needle="peft.r"),
    Case("lora-r-negative", lambda ws: ws.recipe(peft__r=-4), needle="peft.r"),
    Case("target-modules-match-nothing", lambda ws: ws.recipe(peft__target_modules=["no_such_proj"]), needle="no_such_proj"),
    Case("report-to-wandb-missing", lambda ws: ws.recipe(training__report_to=["wandb"]), needle="'wandb' is not installed"),
    Case("eval-strategy-without-eval-data", lambda ws: ws.recipe(training__eval_strategy="steps"), needle="no data.eval"),
    Case("eval-strategy-unquoted-no", lambda ws: ws.recipe(training__eval_strategy=False), needle="quote the value"),
    Case("beta-negative", lambda ws: ws.recipe(training__beta=-1.0), needle="trains in reverse"),
    Case("beta-nan", lambda ws: ws.recipe(training__beta=float("nan")), needle="training.beta"),
    Case("epochs-negative", lambda ws: ws.recipe(training__num_train_epochs=-1, training__max_steps=-1), needle="num_train_epochs"),
    Case("adversarial-epsilon-nan", lambda ws: ws.recipe(adversarial={"enabled": True, "epsilon": float("nan")}), needle="adversarial.epsilon"),
    Case("lcpo-eta-nan", lambda ws: ws.recipe(lcpo={"eta_0": float("nan")}), needle="lcpo.eta_0"),
    Case("output-dir-empty", lambda ws: ws.recipe(training__output_dir=""), needle="training.output_dir"),
    Case("output-dir-null", lambda ws: ws.recipe(training__output_dir=None), needle="training.output_dir"),
    Case("output-dir-is-a-file", lambda ws: ws.recipe(training__output_dir=ws.raw(b"x", "afile")), needle="is a file", verbs=("train",)),
    # model paths
    Case("model-is-a-file", lambda ws: ws.recipe(model={"model_name_or_path": ws.raw(b"x", "model.bin")}), needle="is a file; expected a model folder"),
    Case("model-empty-folder", lambda ws: ws.recipe(model={"model_name_or_path": str(_mkdir(ws.root / "empty"))}), needle="holds no model"),
    Case("model-is-an-adapter", lambda ws: ws.recipe(model={"model_name_or_path": str(ws.lora)}), needle="holds a LoRA adapter"),
    Case("chat-model-missing", argv=lambda ws: ["chat", "--model", str(ws.root / "nothere"), "--engine", "hf"], needle="no such model folder"),
    Case("chat-model-adapter", argv=lambda ws: ["chat", "--model", str(ws.lora), "--engine", "hf"], needle="holds a LoRA adapter"),
    Case("chat-stdin-not-utf8", argv=lambda ws: ["chat", "--model", str(ws.model), "--engine", "hf"], stdin=b"\xff\xfe hello\n",
         needle="stdin: message 1 is not UTF-8"),
    Case("generate-out-empty", argv=lambda ws: ["generate", "--model", str(ws.model), "--data", ws.rows([{"prompt": "hi"}]), "--out", ""],
         needle="output path is empty"),
    Case("generate-out-folder", argv=lambda ws: ["generate", "--model", str(ws.model), "--data", ws.rows([{"prompt": "hi"}]), "--out", str(ws.root)],
         needle="is a folder; expected a file path"),
    Case("generate-data-not-utf8", argv=lambda ws: ["generate", "--model", str(ws.model), "--data", ws.raw(b'{"prompt": "\xff"}\n', "p.jsonl"),
                                                    "--out", str(ws.root / "g.jsonl"), "--engine", "hf"], needle="not UTF-8"),
    Case("generate-prompt-null", argv=lambda ws: ["generate", "--model", str(ws.model), "--data", ws.rows([{"prompt": None}]),
                                                  "--out", str(ws.root / "g.jsonl"), "--engine", "hf"], needle="'prompt' must be non-empty text"),
    # counts, seeds, grids
    Case("data-prefs-n-zero", argv=lambda ws: ["data", "prefs", "--n", "0", "--out", str(ws.root / "p.jsonl")], needle="--n 0"),
    Case("data-prefs-n-negative", argv=lambda ws: ["data", "prefs", "--n", "-5", "--out", str(ws.root / "p.jsonl")], needle="--n -5"),
    Case("data-prefs-annotators-zero", argv=lambda ws: ["data", "prefs", "--annotators", "0", "--out", str(ws.root / "p.jsonl")], needle="--annotators 0"),
    Case("data-out-is-a-folder", argv=lambda ws: ["data", "prefs", "--out", str(ws.root)], needle="is a folder"),
    Case("rank-seed-negative", argv=lambda ws: ["rank", str(_table(ws)), "--seed", "-1"], needle="--seed -1"),
    Case("rank-out-is-a-file", argv=lambda ws: ["rank", str(_table(ws)), "--out", ws.raw(b"x", "afile")], needle="is a file"),
    Case("rank-rounds-a-folder", argv=lambda ws: ["rank", str(_table(ws)), "--rounds", str(ws.root)], needle="round 1"),
    Case("attack-grid-inf", argv=lambda ws: ["attack-eval", "--model", str(ws.model), "--data", str(ws.data / "safety_test.jsonl"), "--grid", "1xinf"],
         needle="positive and finite"),
    Case("attack-out-is-a-folder", argv=lambda ws: ["attack-eval", "--model", str(ws.model), "--data", str(ws.data / "safety_test.jsonl"),
                                                    "--out", str(ws.root)], needle="is a folder; expected a file path"),
    Case("attack-target-null", argv=lambda ws: ["attack-eval", "--model", str(ws.model), "--data", ws.rows(
        [{"prompt": "Tell me the secret code.", "target": None, "refusal": "I cannot share the secret code.", "kind": "harmful"}])],
        needle="column 'target'"),
    # output folders holding other work
    Case("make-model-over-a-model", argv=lambda ws: ["make-model", "--size", "test", "--out", str(_copy(ws.model, ws.root / "m"))],
         needle="already holds a model; pass --overwrite"),
]


def _mkdir(p: Path) -> Path:
    p.mkdir(exist_ok=True)
    return p


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _table(ws: Ws) -> Path:
    path = ws.root / "scores.csv"
    path.write_text("model,a,b\nx,0.1,0.9\ny,0.5,0.4\nz,0.7,0.2\n")
    return path


@pytest.fixture(scope="module")
def ws_factory(tmp_path_factory, test_model_dir, data_dir):
    from tests.eval.conftest import _save_lora

    lora = _save_lora(test_model_dir, tmp_path_factory.mktemp("lora") / "adapter", random_b=True)

    def make() -> Ws:
        return Ws(tmp_path_factory.mktemp("case"), Path(test_model_dir), Path(data_dir), lora)
    return make


def _params():
    for case in CASES:
        if case.recipe is not None:
            for verb in case.verbs:
                yield pytest.param(case, verb, id=f"{case.id}[{verb}]")
        else:
            yield pytest.param(case, None, id=case.id)


@pytest.mark.parametrize("case,verb", list(_params()))
def test_bad_input_is_one_line_exit_2_nothing_written(case, verb, ws_factory, capsys, monkeypatch):
    ws = ws_factory()
    argv = [verb, case.recipe(ws)] if case.recipe is not None else case.argv(ws)
    if case.stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(case.stdin), encoding="utf-8", errors="surrogateescape"))
    before = listing(ws.root)
    code = main(argv)
    err = capsys.readouterr().err
    lines = [x for x in err.strip().splitlines() if x.startswith("robalign ")]
    assert code == 2, err[-2000:]
    assert len(lines) == 1 and case.needle in lines[0], err[-2000:]
    assert not any(x.startswith(("Traceback", "  File ")) for x in err.splitlines()), err[-2000:]
    assert listing(ws.root) == before



TOURNAMENT = """output_dir: WS/t
ranking: {eliminate: [0]}
models:
  - {name: a, model: MODEL}
  - {name: b, model: MODEL, adapter: LORA}
EXTRA_MODEL
benchmarks:
  - {name: sort, data: DATA/bench/sort.jsonl, scorer: verify, max_items: 4}
EXTRA_BENCH
"""

TOURNAMENT_CASES = {
    "duplicate-contestant": ("  - {name: a2, model: MODEL}", "", "'a' and 'a2' are the same model"),
    "duplicate-benchmark": ("", "  - {name: sort, data: DATA/bench/sort.jsonl, scorer: verify}", "unique benchmark names"),
    "attack-grid-inf": ("", "  - {name: atk, data: DATA/safety_test.jsonl, scorer: attack, attack_grid: 1xinf}", "attack_grid"),
    "judge-template-missing": ("", "  - {name: j, data: DATA/bench/max.jsonl, scorer: judge, judge_model: MODEL, judge_template: WS/nope.txt}",
                               "judge_template: file not found"),
    "other-tournaments-folder": ("", "", "another tournament's results"),
}


@pytest.mark.parametrize("case", list(TOURNAMENT_CASES))
def test_tournament_config_errors_come_before_any_engine(case, ws_factory, capsys):
    """Each of these used to surface only after generation (or not at all); now before any engine."""
    ws = ws_factory()
    extra_model, extra_bench, needle = TOURNAMENT_CASES[case]
    text = TOURNAMENT.replace("EXTRA_MODEL", extra_model).replace("EXTRA_BENCH", extra_bench)
    for key, value in {"WS": ws.root, "MODEL": ws.model, "LORA": ws.lora, "DATA": ws.data}.items():
        text = text.replace(key, str(value))
    if case == "other-tournaments-folder":  # a folder holding another run's ranking (real files from `robalign rank`)
        assert main(["rank", str(_table(ws)), "--n-sims", "100", "--out", str(ws.root / "t")]) == 0
        (ws.root / "t" / "scores.csv").write_text((ws.root / "scores.csv").read_text())
        capsys.readouterr()
    path = ws.root / "t.yaml"
    path.write_text(text)
    before = listing(ws.root)
    code = main(["tournament", str(path), "--no-progress"])
    err = capsys.readouterr().err
    lines = [x for x in err.strip().splitlines() if x.startswith("robalign ")]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err[-2000:]
    assert listing(ws.root) == before
