# robalign — two commands on a fresh machine: `make demo` and `make test`.
# Everything runs offline; the venv lives in .venv (created if missing).

PYTHON_SYS ?= python3.11
VENV       := .venv
PY         := $(VENV)/bin/python
PIP        := $(VENV)/bin/pip
STAMP      := $(VENV)/.robalign-installed
# CPU-only machines keep a CPU torch wheel in /opt/wheels: pin the CPU stack there (constraints
# file), and take vLLM's CPU build. Elsewhere (GPU boxes) the ordinary wheels.
WHEELS     := $(wildcard /opt/wheels)
ifneq ($(WHEELS),)
  EXTRA      := cpu
  PIP_FLAGS  := --find-links /opt/wheels -c constraints/cpu.txt
else
  EXTRA      := gpu
  PIP_FLAGS  :=
endif

export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
export VLLM_CPU_NUM_OF_RESERVED_CPU ?= 0
export VLLM_CPU_KVCACHE_SPACE ?= 1
export MPLBACKEND := Agg
# Keep every cache inside the repo's ignored .cache/ (nothing left elsewhere).
export HF_HOME ?= $(CURDIR)/.cache/hf
export VLLM_CACHE_ROOT ?= $(CURDIR)/.cache/vllm
export TORCHINDUCTOR_CACHE_DIR ?= $(CURDIR)/.cache/inductor
export MPLCONFIGDIR ?= $(CURDIR)/.cache/mpl
export XDG_CACHE_HOME ?= $(CURDIR)/.cache/xdg

.PHONY: install demo test test-fast bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints/cpu.txt
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	DS_BUILD_OPS=0 $(PIP) install -q $(PIP_FLAGS) -e '.[$(EXTRA),test,lm-eval]'
	@# The registry's torchvision/torchaudio/torchcodec wheels break beside the CPU torch.
	$(PIP) uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
	@touch $(STAMP)

demo: install
	$(PY) scripts/demo.py

test: install
	$(PY) -m pytest -q tests

test-fast: install
	$(PY) -m pytest -q tests -m "not slow and not vllm"

bench: install
	$(PY) scripts/run_benchmarks.py

clean:
	rm -rf artifacts runs bench .pytest_cache
