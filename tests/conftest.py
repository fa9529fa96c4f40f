"""Shared fixtures: one tiny model and one synthetic data folder per test session.

Everything is built from scratch (no hub) and every cache is kept inside the repo's ignored
`.cache/` folder, so the suite runs offline and leaves nothing behind elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache"
from robalign.env import CACHE_VARS  # noqa: E402  (light: os and pathlib only)

for var, sub in CACHE_VARS.items():
    os.environ.setdefault(var, str(CACHE / sub))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


def pytest_configure(config):
    """Temp dirs inside the repo's ignored .cache/, one per pytest process (concurrent runs
    must not wipe each other's files); dirs of finished runs are removed. The shared generation
    cache (robalign.env.robalign_cache_dir) lives there too: a test never reuses another
    session's generations."""
    if config.option.basetemp:
        os.environ.setdefault("ROBALIGN_CACHE_DIR", str(Path(config.option.basetemp).resolve() / "robalign-cache"))
        return
    import shutil

    root = CACHE / "pytest"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("run-*"):
        try:
            os.kill(int(old.name[4:]), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(old, ignore_errors=True)
        except PermissionError:
            pass
    config.option.basetemp = str(root / f"run-{os.getpid()}")
    os.environ.setdefault("ROBALIGN_CACHE_DIR", str(root / f"run-{os.getpid()}" / "robalign-cache"))


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="session")
def test_model_dir(artifacts_dir) -> Path:
    """The `test` size model (~0.9M parameters), untrained, built once per session."""
    from robalign.models.factory import make_model

    return make_model("test", artifacts_dir / "model-test", seed=0)


@pytest.fixture(scope="session")
def data_dir(artifacts_dir) -> Path:
    """Every synthetic file (small sizes), built once per session."""
    from robalign.data.synthetic import build_all

    out = artifacts_dir / "data"
    build_all(out, seed=0, n_sft=2_000, n_prefs=400)
    return out


@pytest.fixture(scope="session")
def vllm_engine(test_model_dir):
    """ONE vLLM engine per session on the `test` model, LoRA enabled (max rank 16).

    Starting vLLM costs ~40-80 s on CPU, so every vLLM test shares this engine. It serves the
    base model and any LoRA adapter of the test model (rank <= 16): pass the adapter path to
    ``vllm_engine.generate(prompt_ids, sampling, adapter=path)`` (see robalign.eval.engines.vllm;
    ``vllm_engine.tokenizer`` and ``robalign.models.chat.render_chat`` build the prompt ids).
    Mark tests using it ``@pytest.mark.vllm``. Closed at the end of the session.
    """
    from robalign.eval.engines import EngineArgs
    from robalign.eval.engines.vllm import VLLMEngine

    engine = VLLMEngine(str(test_model_dir), EngineArgs(backend="vllm", dtype="float32", max_lora_rank=16))
    yield engine
    engine.close()
