# Two commands do the whole set-up on a fresh machine (Python 3.10+ and the package registries):
#   make demo   # install into .venv, run `fakeseg detect` on the bundled sample
#   make test   # install into .venv (with dev extras), run the test suite
#
# torch: by default we ask for the CPU build pinned below. A GPU user passes the CUDA wheel index:
#   make demo TORCH_INDEX=https://download.pytorch.org/whl/cu126 TORCH_SPEC=torch
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: install demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Order matters: setuptools<81 (pkg_resources for face_recognition_models), torch from the chosen
# index, then the project (pulls dlib-bin, never compiles dlib), then face_recognition without its
# `dlib` requirement (which would build dlib from source).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install "setuptools<81" wheel
	$(PIP) install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),) "$(TORCH_SPEC)"
	$(PIP) install -e ".[dev]"
	$(PIP) install --no-deps "face_recognition>=1.3"
	$(BIN)/python -W ignore -c "import face_recognition, torch; print('fakeseg env ready: torch', torch.__version__)"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/fakeseg detect samples/demo.mp4 --out runs/demo --overwrite

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/python -m ruff check fakeseg tests bench

clean:
	rm -rf $(VENV) runs
