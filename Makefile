# The two set-up commands of the README: `make run` and `make test`.
# Each creates the virtual environment and installs what it needs by itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FLAVOUR ?= cpu

.PHONY: run chat test lint venv bench screenshots clean installer installer-smoke

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(FLAVOUR),dev]'
	touch $@

venv: $(VENV)/.installed

run: venv
	$(VENV)/bin/parley models install starter --if-missing
	$(VENV)/bin/parley

chat: venv
	$(VENV)/bin/parley models install starter --if-missing
	$(VENV)/bin/parley chat

lint: venv
	$(VENV)/bin/ruff check desktop tests bench
	$(VENV)/bin/ruff format --check desktop tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

bench: venv
	$(VENV)/bin/parley bench --json bench/out/results.json

# The Linux package (.deb) with the starter model inside, then its smoke test: the frozen app
# answers offline with --self-test and writes a PDF (minutes; not part of `make test`).
installer:
	installer/build_linux.sh

installer-smoke: installer
	installer/smoke_test.sh

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache
