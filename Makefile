# promptq — the two commands of the quick start are `make demo` and `make test`.
# Both create .venv and install what they need on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-fast bench api worker sim flower clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)          ## the whole pipeline against the simulator (or real keys), SQLite, local Redis
	$(BIN)/promptq demo

test: $(STAMP)          ## unit + integration tests: real Redis, real workers, SQLite and PostgreSQL
	$(BIN)/pytest

test-fast: $(STAMP)     ## without PostgreSQL
	$(BIN)/pytest -m "not postgres"

bench: $(STAMP)         ## benchmarks; writes BENCHMARKS.md
	$(BIN)/python -m bench

api: $(STAMP)
	$(BIN)/promptq api
worker: $(STAMP)
	$(BIN)/promptq worker
sim: $(STAMP)
	$(BIN)/promptq sim
flower: $(STAMP)
	$(BIN)/promptq flower

clean:
	rm -rf $(VENV) .demo *.egg-info build
