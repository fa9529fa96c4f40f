"""Load user datasets through `datasets`, with column checks that name the file and key.

Accepted sources: local .jsonl/.json/.csv/.parquet files, `save_to_disk` folders (Dataset or
DatasetDict), and hub ids (which, offline, can only be checked for form). Columns may be plain
strings or chat-message lists; `to_conversational` turns plain strings into single-turn
messages so TRL applies the model's chat template.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from robalign.errors import ConfigError
from robalign.sources import LOCAL_SUFFIXES, check_source

# Columns each kind of data needs; a tuple of alternatives means "any one of these sets".
REQUIRED_COLUMNS: dict[str, tuple[tuple[str, ...], ...]] = {
    "sft": (("prompt", "completion"), ("messages",)),
    "preference": (("prompt", "chosen", "rejected"), ("chosen", "rejected")),
    "safety": (("prompt", "target", "refusal"),),
    "utility": (("prompt", "completion"), ("messages",)),
    "benchmark": (("prompt",),),
}


def _check_utf8(path: Path, file: str | None, key: str) -> None:
    """A text data file must be UTF-8: `datasets` reads invalid bytes lazily and fails with a
    UnicodeDecodeError deep in pyarrow when the rows are first touched."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                raise ConfigError(file, key, f"UTF-8 text in {path} (byte {offset + err.start} is not UTF-8)") from None
            offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ConfigError(file, key, f"UTF-8 text in {path} (it ends inside a character)") from None


def load_dataset_spec(spec, file: str | None = None, key: str = "data.train"):
    """Load a `DatasetSpec` (see robalign.config.recipe) as a `datasets.Dataset`."""
    import datasets

    if spec.path is None:
        ds = load_mixture(spec, file, key)
        return _finish(ds, spec, file, key, spec.source)
    path = spec.path
    check_source(path, file, f"{key}.path")
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # reading a local file takes well under a second: no bar noise
    try:
        p = Path(path).expanduser()
        if p.is_dir():
            ds = datasets.load_from_disk(str(p))
            if isinstance(ds, datasets.DatasetDict):
                if spec.split not in ds:
                    raise ConfigError(file, f"{key}.split", f"one of the splits {sorted(ds)}", got=repr(spec.split))
                ds = ds[spec.split]
        elif p.suffix in LOCAL_SUFFIXES:
            if LOCAL_SUFFIXES[p.suffix] in ("json", "csv"):
                _check_utf8(p, file, f"{key}.path")
            ds = datasets.load_dataset(LOCAL_SUFFIXES[p.suffix], data_files=str(p), split="train")
        elif p.exists():
            raise ConfigError(file, f"{key}.path", f"a .jsonl/.json/.csv/.parquet file or a save_to_disk folder, got {path}")
        else:
            ds = datasets.load_dataset(path, spec.name, split=spec.split)
    except ConfigError:
        raise
    except Exception as err:  # datasets raises many types; the user needs the file and the reason
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(file, f"{key}.path", f"a readable dataset at {path} ({reason})") from None
    finally:
        if bars:
            datasets.enable_progress_bars()
    return _finish(ds, spec, file, key, path)


def load_mixture(spec, file: str | None, key: str):
    """alignment-handbook's dataset mixture: per dataset, the `columns` kept and a `weight` fraction
    of its rows (after a seeded shuffle), concatenated and shuffled again with the same seed."""
    import datasets

    from robalign.config.recipe import DatasetSpec

    parts = []
    for k, item in enumerate(spec.mixture):
        where = f"{key}.mixture[{k}]"
        ds = load_dataset_spec(DatasetSpec(path=item.path, split=item.split, name=item.name), file, where)
        if item.columns is not None:
            missing = [c for c in item.columns if c not in ds.column_names]
            if missing:
                raise ConfigError(file, f"{where}.columns", f"columns that exist in {item.path} (missing {missing}; found {ds.column_names})")
            ds = ds.select_columns(item.columns)
        if item.weight < 1:
            ds = ds.shuffle(seed=spec.seed).select(range(int(len(ds) * item.weight)))
        parts.append(ds)
    first = set(parts[0].column_names)
    for k, part in enumerate(parts[1:], start=1):
        if set(part.column_names) != first:
            raise ConfigError(file, f"{key}.mixture[{k}].columns", f"the same columns as mixture[0] ({sorted(first)}), got "
                              f"{sorted(part.column_names)}: keep the shared ones with `columns`")
    try:
        mixed = datasets.concatenate_datasets([p.select_columns(parts[0].column_names) for p in parts])
    except ValueError as err:
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ConfigError(file, f"{key}.mixture", f"datasets whose columns have the same types ({first_line[:200]})") from None
    return mixed.shuffle(seed=spec.seed)


def _finish(ds, spec, file: str | None, key: str, path: str):
    """The per-dataset options after loading: renames/drops, max_samples, the margin weight."""
    if spec.columns:
        missing = [c for c in spec.columns if c not in ds.column_names]
        if missing:
            raise ConfigError(file, f"{key}.columns", f"columns to rename or drop that exist in {path} (missing {missing}; found {ds.column_names})")
        ds = ds.remove_columns([c for c, new in spec.columns.items() if new is None])
        renames = {c: new for c, new in spec.columns.items() if new is not None and new != c}
        clash = [new for new in renames.values() if new in ds.column_names and new not in renames]
        if clash:
            raise ConfigError(file, f"{key}.columns", f"new names that are not already columns of {path} ({clash[0]!r} is one: "
                              f"drop it first with {{{clash[0]}: null}})")
        ds = ds.rename_columns(renames)
    if spec.max_samples is not None:
        ds = ds.select(range(min(spec.max_samples, len(ds))))
    if getattr(spec, "weight_from_margin", None) is not None:
        ds = add_margin_weight(ds, spec.weight_from_margin, file, f"{key}.weight_from_margin", path)
    return ds


def add_margin_weight(ds, margin, file: str | None, key: str, path: str):
    """A `weight` column sigmoid((score_chosen - score_rejected) / scale): how sure the data's own
    scores are that the chosen answer is better, the per-pair prior LCPO adds as log-odds. Sets
    such as UltraFeedback carry the scores; a tie says nothing (0.5), a reversed margin < 0.5."""
    import math

    for col in (margin.chosen, margin.rejected):
        if col not in ds.column_names:
            raise ConfigError(file, f"{key}", f"score columns that exist in {path} ({col!r} is not one; found {', '.join(ds.column_names)})")
    if "weight" in ds.column_names:
        raise ConfigError(file, key, f"a dataset without a `weight` column ({path} has one; drop it with columns: {{weight: null}})")
    weights = []
    for i, (c, r) in enumerate(zip(ds[margin.chosen], ds[margin.rejected])):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (c, r)):
            raise ConfigError(file, key, f"numeric scores in {margin.chosen!r} and {margin.rejected!r} of every row of {path}, "
                              f"row {i} has {c!r} and {r!r}")
        weights.append(1.0 / (1.0 + math.exp(-(c - r) / margin.scale)))
    return ds.add_column("weight", weights)


def check_columns(ds, kind: str, file: str | None, key: str, path: str | None = None) -> None:
    """Raise ConfigError unless `ds` has one of the column sets `kind` needs."""
    options = REQUIRED_COLUMNS[kind]
    have = set(ds.column_names)
    if any(set(cols) <= have for cols in options):
        return
    need = " or ".join("/".join(cols) for cols in options)
    where = f" in {path}" if path else ""
    raise ConfigError(file, key, f"a {kind} dataset with columns {need}{where} (found: {', '.join(sorted(have)) or 'none'})")


def text_columns(kind: str, names: list[str]) -> list[str]:
    """The text columns a `kind` of data is trained or evaluated on (the ones check_rows checks)."""
    if kind in ("sft", "utility"):
        cols = ["prompt", "completion"] if "completion" in names else ["messages"]
    else:
        cols = {"preference": ["prompt", "chosen", "rejected"], "safety": ["prompt", "target", "refusal"], "benchmark": ["prompt"]}[kind]
    return [c for c in cols if c in names]


def _text_problem(value) -> str | None:
    """Why `value` is not usable text (None when it is): a non-empty string, or a non-empty list
    of chat messages {role, content} with string contents."""
    if isinstance(value, str):
        return None if value.strip() else "an empty string"
    if isinstance(value, list) and value:
        for m in value:
            if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
                return f"a list that is not chat messages ({str(m)[:40]!r})"
        return None
    return "null" if value is None else f"{type(value).__name__} {str(value)[:40]!r}"


def check_rows(ds, kind: str, file: str | None, key: str, path: str | None = None) -> None:
    """Raise ConfigError (one line: file, key, row, column) for the first value that is not text.

    Why here and not in the trainer: a null, a number or an empty string in a text column would
    otherwise surface as a TypeError deep in tokenisation, or silently train on nothing."""
    where = path or key
    for col in text_columns(kind, ds.column_names):
        for i, value in enumerate(ds[col]):
            problem = _text_problem(value)
            if problem:
                raise ConfigError(file, key, f"text in column {col!r} of every row of {where} (a non-empty string or chat "
                                  f"messages), row {i} has {problem}")


_HH_TURN = re.compile(r"\n\n(Human|Assistant):[ \t]?")


def hh_messages(text: str, file: str | None, key: str, row: int, col: str) -> list[dict]:
    """An HH-RLHF transcript ("\n\nHuman: ...\n\nAssistant: ...") as chat messages. Consecutive
    turns of one speaker (a few HH rows have them) are joined; the last turn must be the assistant's."""
    parts = _HH_TURN.split(text)
    if parts[0].strip() or len(parts) < 3:
        raise ConfigError(file, key, f"HH-RLHF transcripts ('\\n\\nHuman: ...\\n\\nAssistant: ...') in column {col!r}, "
                          f"row {row} starts with {text[:30]!r}")
    msgs: list[dict] = []
    for who, content in zip(parts[1::2], parts[2::2]):
        role = "user" if who == "Human" else "assistant"
        if msgs and msgs[-1]["role"] == role:
            msgs[-1]["content"] += "\n\n" + content.strip()
        else:
            msgs.append({"role": role, "content": content.strip()})
    if msgs[-1]["role"] != "assistant":
        raise ConfigError(file, key, f"HH-RLHF transcripts ending with an Assistant turn in column {col!r}, row {row} ends with Human")
    return msgs


def is_hh_transcript(value) -> bool:
    return isinstance(value, str) and value.startswith("\n\nHuman:")


def extract_shared_prompt(ds, file: str | None = None, key: str = "data.train"):
    """Preference rows whose `chosen`/`rejected` carry the conversation -> prompt + final answers.

    Three shapes users have: UltraFeedback-binarized (a string `prompt` plus conversational
    `chosen`/`rejected` that already start with the user turn: without this the model would see
    the user turn twice), DPO-mix (conversational `chosen`/`rejected`, no `prompt`) and HH-RLHF
    (plain-text transcripts "\n\nHuman: ...\n\nAssistant: ...", no `prompt`). As TRL's
    `maybe_extract_prompt`, the shared leading messages become the prompt; unlike it, completions
    without a shared prefix keep their string prompt (TRL would drop it)."""
    from trl.data_utils import extract_prompt

    if not {"chosen", "rejected"} <= set(ds.column_names) or len(ds) == 0:
        return ds
    first = ds[0]
    if "prompt" not in ds.column_names:
        if is_hh_transcript(first["chosen"]):
            def split_hh(row, i):
                pair = {c: hh_messages(row[c], file, key, i, c) for c in ("chosen", "rejected")}
                return extract_prompt(pair)

            return ds.map(split_hh, with_indices=True, desc="HH-RLHF transcripts")
        if isinstance(first["chosen"], list):
            return ds.map(lambda row: extract_prompt({"chosen": row["chosen"], "rejected": row["rejected"]}), desc="extract shared prompt")
        return ds
    if not isinstance(first["prompt"], str) or not isinstance(first["chosen"], list):
        return ds

    def split(row):
        out = extract_prompt({"chosen": row["chosen"], "rejected": row["rejected"]})
        return out if out["prompt"] else {"prompt": [{"role": "user", "content": row["prompt"]}]}

    return ds.map(split, desc="extract shared prompt")


def to_conversational(ds, columns: Sequence[str] = ("prompt", "completion", "chosen", "rejected")):
    """Plain-string columns -> single-turn chat messages (prompt as user, the rest as assistant).

    Already-conversational columns are left alone, so user data in either form works.
    """
    present = [c for c in columns if c in ds.column_names and isinstance(ds[0][c], str)]
    if not present:
        return ds

    def convert(row):
        out = {}
        for c in present:
            role = "user" if c == "prompt" else "assistant"
            out[c] = [{"role": role, "content": row[c]}]
        return out

    return ds.map(convert, desc="chat format")
