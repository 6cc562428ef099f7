VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup browser demo test lint bench gallery clean

$(PY):
	python3 -m venv $(VENV)

# torch first and pinned: its CPU wheel is local; an unpinned torch pulls GBs of CUDA.
# tinysoundfont without its dependencies: we only need its synthesizer, not its audio output.
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps tinysoundfont==0.3.7
	touch $(STAMP)

setup: $(STAMP)

# Headless Chromium for the end-to-end page test, where it can be installed (root + apt).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq chromium >/dev/null); } || \
	  echo "note: chromium could not be installed; the browser test will be skipped"

demo: setup
	$(VENV)/bin/tunesmith demo --out out/demo

test: setup browser
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy src

bench: setup
	$(PY) benchmarks/generate.py
	$(PY) benchmarks/render.py

# the 8 fixed prompts of docs/gallery (MIDI, piano rolls, self-similarity, metrics): rerun after a model change
gallery: setup
	$(VENV)/bin/tunesmith evaluate --gallery docs/gallery

clean:
	rm -rf out build *.egg-info
