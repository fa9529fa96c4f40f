"""`robalign rank`: the shipped published table ranks sanely; bad tables exit 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robalign.cli.main import main
from robalign.ranking import ROW_KEYS

REPO = Path(__file__).resolve().parents[2]
LLAMA2 = REPO / "eval" / "tables" / "llama2_table3.csv"
FAST = ["--n-sims", "20000", "--n-bootstrap", "100"]


def test_rank_published_table_writes_a_sane_leaderboard(tmp_path, capsys):
    out = tmp_path / "lb"
    assert main(["rank", str(LLAMA2), *FAST, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| # | model |" in printed and "Llama-2-70B" in printed

    doc = json.loads((out / "leaderboard.json").read_text())
    rows = doc["rows"]
    assert len(rows) == 12 and set(rows[0]) == set(ROW_KEYS)
    assert [r["rank"] for r in rows] == list(range(1, 13))
    es = [r["expected_score"] for r in rows]
    assert es == sorted(es, reverse=True)
    # Llama 2 70B is best on all 8 columns of the table: first by every method.
    top = rows[0]
    assert top["model"] == "Llama-2-70B"
    assert top["mean_rank"] == 1.0
    assert top["bt_rating"] == max(r["bt_rating"] for r in rows)
    assert top["elo"] == max(r["elo"] for r in rows)
    # Falcon-7B is last on 6 of the 8 columns: it cannot come out on top anywhere.
    falcon7 = next(r for r in rows if r["model"] == "Falcon-7B")
    assert falcon7["rank"] >= 11 and falcon7["mean_score"] == min(r["mean_score"] for r in rows)
    for r in rows:
        assert r["bt_ci_low"] <= r["bt_rating"] <= r["bt_ci_high"]
        assert r["failure_sensitivity"] == pytest.approx(r["expected_score"] - r["expected_score_elim"])
    assert doc["rounds"] == [[b] for b in LLAMA2.read_text().splitlines()[2].split(",")[1:]]
    assert doc["active_per_round_elim"] == [12, 10, 8, 6, 4, 2, 2, 2]
    tau = doc["agreement"]["kendall_tau"]
    assert all(t is None or -1 <= t <= 1 for row in tau for t in row)

    md = (out / "leaderboard.md").read_text()
    assert md.count("\n| ") >= 12 + 6  # leaderboard rows + agreement rows
    assert not list(out.glob(".*tmp"))  # atomic writes left no temp files behind


def test_rank_swiss_pairing_gives_the_dominant_model_every_round(tmp_path, capsys):
    rounds = tmp_path / "rounds.yaml"
    rounds.write_text("rounds:\n  - [code, math]\n  - commonsense_reasoning\n  - [world_knowledge, reading_comprehension]\n  - [mmlu, bbh, agi_eval]\n")
    out = tmp_path / "lb"
    assert main(["rank", str(LLAMA2), *FAST, "--pairing", "swiss", "--rounds-file", str(rounds), "--out", str(out)]) == 0
    rows = json.loads((out / "leaderboard.json").read_text())["rows"]
    assert rows[0]["model"] == "Llama-2-70B" and rows[0]["expected_score"] == 4.0
    assert rows[0]["expected_score_se"] == 0.0
    # same grouping from --rounds gives the same numbers (same seed)
    capsys.readouterr()
    spec = "code,math;commonsense_reasoning;world_knowledge,reading_comprehension;mmlu,bbh,agi_eval"
    assert main(["rank", str(LLAMA2), *FAST, "--pairing", "swiss", "--rounds", spec]) == 0
    assert "| 1 | Llama-2-70B | 4.000 ± 0.000 |" in capsys.readouterr().out


def test_reference_exact_is_recorded_and_changes_the_eliminated_tournament(tmp_path, capsys):
    """--reference-exact: the published loop's cut (lowest row first on ties, the field may shrink
    to one); E[S] at T=0 is unchanged (same rules, same stream) and the output names the rules."""
    default, exact = tmp_path / "default", tmp_path / "exact"
    assert main(["rank", str(LLAMA2), *FAST, "--eliminate", "3", "--pairing", "reference", "--out", str(default)]) == 0
    assert "robalign's rules at the elimination cut" in capsys.readouterr().out
    assert main(["rank", str(LLAMA2), *FAST, "--eliminate", "3", "--reference-exact", "--out", str(exact)]) == 0
    assert "the published loop's rules" in capsys.readouterr().out
    a, b = (json.loads((d / "leaderboard.json").read_text()) for d in (default, exact))
    assert b["settings"]["reference_exact"] is True and a["settings"]["reference_exact"] is False
    assert b["active_per_round_elim"] == [12, 9, 6, 3, 0, 0, 0, 0]  # the default keeps 2: 12, 9, 6, 3, 2, ...
    assert a["active_per_round_elim"] == [12, 9, 6, 3, 2, 2, 2, 2]
    ra, rb = ({r["model"]: r for r in d["rows"]} for d in (a, b))
    assert all(ra[m]["expected_score"] == rb[m]["expected_score"] for m in ra)
    diff = max(abs(ra[m]["expected_score_elim"] - rb[m]["expected_score_elim"]) for m in ra)
    se = max(r["expected_score_elim_se"] for r in a["rows"] + b["rows"])
    assert diff > 10 * se, (diff, se)
    assert "published loop" in (exact / "leaderboard.md").read_text()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scores.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "csv_text,extra,needle",
    [
        ("model,a,b\nm1,0.5,nan\nm2,0.4,0.3\n", [], "model 'm1', benchmark 'b' is nan"),
        ("model,a,b\nm1,0.5,\nm2,0.4,0.3\n", [], "benchmark 'b' is empty"),
        ("model,a,b\nm1,0.5,x\nm2,0.4,0.3\n", [], "is not a number"),
        ("model,a,b\nm1,0.5\nm2,0.4,0.3\n", [], "expected 3 (model name + 2 benchmarks)"),
        ("model,a,b\nm1,0.5,0.1\nm2,0.4,0.3\n", ["--rounds", "a;gsm8k"], "benchmark 'gsm8k', which is not a column"),
        ("model,a,b\nm1,0.5,0.1\nm2,0.4,0.3\n", ["--rounds", "a;;b"], "round 2"),
        ("model,a,b\nm1,0.5,0.1\nm1,0.4,0.3\n", [], "model 'm1' appears twice"),
        ("model,a,b\nm1,0.5,0.1\n", [], "at least 2 models"),
        ("model,a,b\nm1,0.5,0.1\nm2,0.4,0.3\nm3,0.1,0.2\n", ["--eliminate", "2"], "--eliminate 2 does not fit 3 models; expected 0..1"),
        ("model,a,a\nm1,0.5,0.1\nm2,0.4,0.3\n", [], "benchmark 'a' appears twice"),
        ("# only a comment\n", [], "no header row"),
        ("model,a,b\nm1,0.5,0.1\nm2,0.4,0.3\n", ["--reference-exact", "--pairing", "swiss"], "pairs as 'reference'"),
        ("model,a,b\nm1,0.5,0.1\nm2,0.4,0.3\nm3,0.1,0.2\n", ["--reference-exact", "--eliminate", "3"], "expected 0..2"),
    ],
)
def test_bad_table_exits_2_with_one_line(tmp_path, capsys, csv_text, extra, needle):
    path = _write(tmp_path, csv_text)
    assert main(["rank", str(path), "--n-sims", "100", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("robalign rank: error: ")
    assert needle in err


def test_missing_files_exit_2(tmp_path, capsys):
    assert main(["rank", str(tmp_path / "nope.csv")]) == 2
    assert "file not found" in capsys.readouterr().err
    path = _write(tmp_path, "model,a,b\nm1,0.5,0.1\nm2,0.4,0.3\n")
    assert main(["rank", str(path), "--rounds-file", str(tmp_path / "r.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("rounds: {a: 1}\n")
    assert main(["rank", str(path), "--rounds-file", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "non-empty list of rounds" in err


def test_small_tables_default_to_a_fitting_elimination(tmp_path, capsys):
    path = _write(tmp_path, "model,a,b\nm1,0.5,0.1\nm2,0.4,0.3\nm3,0.1,0.2\n")
    out = tmp_path / "lb"
    assert main(["rank", str(path), *FAST, "--out", str(out)]) == 0
    doc = json.loads((out / "leaderboard.json").read_text())
    assert doc["settings"]["eliminate"] == 1  # 2 would leave fewer than 2 models to play
    assert doc["active_per_round_elim"] == [3, 2]


def test_build_leaderboard_seed_streams_are_reproducible():
    """The documented seeding contract of build_leaderboard (the tournament report relies on it)."""
    import numpy as np

    from robalign.ranking import DEFAULT_PAIRING, build_leaderboard, swiss_tournament

    rng = np.random.default_rng(0)
    scores = rng.random((6, 4))
    rows = build_leaderboard(scores, list("abcdef"), list("wxyz"), n_sims=2_000, n_bootstrap=100, seed=7)
    s0, s2, _, _ = np.random.default_rng(7).spawn(4)
    rules = dict(n_sims=2_000, pairing=DEFAULT_PAIRING)
    base = swiss_tournament(scores, [[0], [1], [2], [3]], eliminate=0, seed=s0, **rules)
    elim = swiss_tournament(scores, [[0], [1], [2], [3]], eliminate=2, seed=s2, **rules)
    for row in rows:
        i = "abcdef".index(row["model"])
        assert row["expected_score"] == base.expected_score[i]
        assert row["expected_score_elim"] == elim.expected_score[i]


@pytest.mark.parametrize("eliminate", [0, 2])
def test_build_leaderboard_hands_back_the_tournaments_behind_its_rows(eliminate):
    """swiss_out returns the simulations the rows were computed from (the report uses them instead
    of simulating again); with eliminate=0, level 0 is the rows' T=0 tournament, not the elim one."""
    import numpy as np

    from robalign.ranking import build_leaderboard

    scores = np.random.default_rng(1).random((5, 3))
    out = {}
    rows = build_leaderboard(scores, list("abcde"), list("xyz"), n_sims=2_000, eliminate=eliminate, n_bootstrap=100, seed=3, swiss_out=out)
    assert sorted(out) == sorted({0, eliminate})
    for row in rows:
        i = "abcde".index(row["model"])
        assert row["expected_score"] == out[0].expected_score[i]
        if eliminate:
            assert row["expected_score_elim"] == out[eliminate].expected_score[i]


def _llama_stderr(n_items: int = 1000) -> tuple[str, str]:
    """The Llama-2 table with binomial standard errors (n items per cell): as extra columns, and as a second CSV."""
    import math

    lines = [ln for ln in LLAMA2.read_text().splitlines() if not ln.startswith("#")]
    header = lines[0].split(",")
    inline, separate = [",".join(header + [f"{b}_stderr" for b in header[1:]])], [",".join(header)]
    for ln in lines[1:]:
        cells = ln.split(",")
        se = [f"{100 * math.sqrt(float(x) / 100 * (1 - float(x) / 100) / n_items):.3f}" for x in cells[1:]]
        inline.append(",".join(cells + se))
        separate.append(",".join([cells[0], *se]))
    return "\n".join(inline) + "\n", "\n".join(separate) + "\n"


def test_rank_with_stderr_columns_gives_every_column_an_interval(tmp_path, capsys):
    inline, separate = _llama_stderr()
    table = tmp_path / "llama_se.csv"
    table.write_text(inline)
    out = tmp_path / "lb"
    assert main(["rank", str(table), *FAST, "--n-resamples", "40", "--resample-sims", "500", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Intervals: 95% percentile intervals over 40 tables made by resampling every score from its standard error" in printed
    assert "Only Monte Carlo error" not in printed and "E[S] T=0 [95% CI]" in printed
    doc = json.loads((out / "leaderboard.json").read_text())
    rows = doc["rows"]
    assert set(rows[0]) == set(ROW_KEYS) and len(rows) == 12
    assert doc["uncertainty"]["source"] == "stderr" and doc["uncertainty"]["held_fixed"] == []
    for r in rows:
        assert set(r["expected_score_ci"]) == {"0", "2"}
        lo, hi = r["expected_score_ci"]["0"]
        assert lo <= hi and r["rank_range"][0] <= r["rank"] <= r["rank_range"][1]
        assert r["mean_score_ci"][0] < r["mean_score"] < r["mean_score_ci"][1]
    # Llama-2-70B is best on every column by 1-5 points: separated at the top with 1000 items per cell
    assert rows[0]["model"] == "Llama-2-70B" and rows[0]["rank_range"] == [1, 1]
    assert any(r["rank_range"][0] != r["rank_range"][1] for r in rows)  # ... but not every order is resolved
    md = (out / "leaderboard.md").read_text()
    assert "Leader by Swiss expected score: Llama-2-70B" in md and "[95% CI]" in md

    # the same errors from a second CSV (--stderr) give the same leaderboard
    se_file = tmp_path / "se.csv"
    se_file.write_text(separate)
    out2 = tmp_path / "lb2"
    assert main(["rank", str(LLAMA2), *FAST, "--n-resamples", "40", "--resample-sims", "500", "--stderr", str(se_file), "--out", str(out2)]) == 0
    assert json.loads((out2 / "leaderboard.json").read_text())["rows"] == rows


def test_rank_without_stderr_says_only_monte_carlo_error_is_shown(tmp_path, capsys):
    out = tmp_path / "lb"
    assert main(["rank", str(LLAMA2), *FAST, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Only Monte Carlo error is shown" in printed and "± MC s.e." in printed
    assert "Leader by" not in printed and "Highest Swiss expected score: Llama-2-70B" in printed  # no interval, no claim
    doc = json.loads((out / "leaderboard.json").read_text())
    assert doc["uncertainty"]["source"] == "none" and all(r["expected_score_ci"] is None for r in doc["rows"])
    assert "Only Monte Carlo error is shown" in (out / "leaderboard.md").read_text()


@pytest.mark.parametrize(
    "csv_text,se_text,extra,needle",
    [
        ("model,a,b,a_stderr\nm1,0.5,0.1,-1\nm2,0.4,0.3,0.1\n", None, [], "column 'a_stderr' is -1; expected a finite standard error >= 0"),
        ("model,a,b,c_stderr\nm1,0.5,0.1,0.1\nm2,0.4,0.3,0.1\n", None, [], "column 'c_stderr' names no benchmark 'c'"),
        ("model,a,b,a_stderr\nm1,0.5,0.1,0.1\nm2,0.4,0.3,0.1\n", "model,a\nm1,0.1\nm2,0.1\n", [], "one source of standard errors"),
        ("model,a,b\nm1,0.5,0.1\nm2,0.4,0.3\n", "model,a\nm1,0.1\nm3,0.1\n", [], "model 'm3' is not in the score table"),
        ("model,a,b\nm1,0.5,0.1\nm2,0.4,0.3\n", "model,a\nm1,0.1\n", [], "no row for model 'm2'"),
        ("model,a,b\nm1,0.5,0.1\nm2,0.4,0.3\n", "model,c\nm1,0.1\nm2,0.1\n", [], "column 'c' is not a benchmark of the score table"),
        ("model,a,b\nm1,0.5,0.1\nm2,0.4,0.3\n", "model,a\nm1,x\nm2,0.1\n", [], "column 'a' is not a number ('x')"),
        ("model,a,b,a_stderr\nm1,0.5,0.1,0.1\nm2,0.4,0.3,0.1\n", None, ["--n-resamples", "5"], "--n-resamples 5: expected 0"),
    ],
)
def test_bad_stderr_exits_2_with_one_line(tmp_path, capsys, csv_text, se_text, extra, needle):
    path = _write(tmp_path, csv_text)
    if se_text is not None:
        se = tmp_path / "se.csv"
        se.write_text(se_text)
        extra = [*extra, "--stderr", str(se)]
    assert main(["rank", str(path), "--n-sims", "100", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("robalign rank: error: ")
    assert needle in err


def test_defaults_written_out_in_the_cli_and_config_agree_with_the_ranking_package():
    """rank.py and the tournament config spell out robalign.ranking's defaults (importing it at CLI start
    would load scipy for every command); they must not drift apart. rank's --n-resamples and
    --resample-sims take RankingArgs' defaults (rank.RANKING_FLAGS)."""
    from robalign.cli import rank
    from robalign.eval.config import RankingArgs
    from robalign.ranking import DEFAULT_PAIRING
    from robalign.ranking.uncertainty import DEFAULT_RESAMPLE_SIMS, DEFAULT_RESAMPLES

    assert rank.DEFAULT_PAIRING == DEFAULT_PAIRING
    assert {"n_resamples", "resample_sims"} <= set(rank.RANKING_FLAGS.fields) and not rank.RANKING_FLAGS.defaults
    r = RankingArgs()
    assert (r.pairing, r.n_resamples, r.resample_sims) == (DEFAULT_PAIRING, DEFAULT_RESAMPLES, DEFAULT_RESAMPLE_SIMS)


def test_default_pairing_gives_the_dominant_model_every_point_and_reference_restores_the_paper(tmp_path):
    """Llama-2-70B is best on all 8 columns: 8 of 8 with the default pairing, 5 of 8 with the paper's sit-out rule."""
    out, ref = tmp_path / "default", tmp_path / "reference"
    assert main(["rank", str(LLAMA2), *FAST, "--out", str(out)]) == 0
    assert main(["rank", str(LLAMA2), *FAST, "--pairing", "reference", "--out", str(ref)]) == 0
    a, b = (json.loads((d / "leaderboard.json").read_text()) for d in (out, ref))
    assert a["settings"]["pairing"] == "swiss" and b["settings"]["pairing"] == "reference"
    assert a["rows"][0]["model"] == b["rows"][0]["model"] == "Llama-2-70B"
    assert a["rows"][0]["expected_score"] == 8.0 and b["rows"][0]["expected_score"] == pytest.approx(5.0, abs=0.01)
