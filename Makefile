# `make run` starts the bot, `make test` runs the checks; both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install servers lint format clean translations bench

run: install
	$(BIN)/python -m bot

test: install servers
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PROFILES_FILE=profiles.example.yaml SCENARIOS_DIR=scenarios $(BIN)/python -m bot check
	$(BIN)/python -m pytest

install: $(VENV)/.browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.browser: $(VENV)/.installed scripts/install-browser.sh
	sh scripts/install-browser.sh $(BIN)/python
	touch $@

# PostgreSQL and Redis for the tests of the distributed mode (they start their own).
servers:
	sh scripts/install-servers.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The fleet played bare, by the engine and by the whole bot; writes bench/results.json.
# Options through BENCH_ARGS, e.g. make bench BENCH_ARGS=--quick
bench: install
	$(BIN)/python -m bench.bench $(BENCH_ARGS)

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache

# After marking new texts with _(): refresh the catalogs, translate locales/ru, then run again.
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _ -k LazyText -k LazyPlural:1,2 --no-location --omit-header -o locales/messages.pot .
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d locales -D messages
