# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
QUESTION ?= What are the warning signs of a stroke, and what should I do?

.PHONY: install demo test lint unit integration format clean

$(BIN)/parallel-tiers: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/parallel-tiers

demo: install  ## answer a question on the embedded defaults (offline)
	$(BIN)/parallel-tiers ask "$(QUESTION)"

lint: install
	$(BIN)/ruff check src tests graphs
	$(BIN)/ruff format --check src tests graphs
	$(BIN)/mypy

test: lint  ## lint, type-check, then every test (unit and integration)
	$(BIN)/pytest -q

unit: install
	$(BIN)/pytest -q -m "not integration"

integration: install  ## server, SQLite/PostgreSQL and notebook tests, with their durations
	$(BIN)/pytest -q -m integration --durations=0

format: install
	$(BIN)/ruff check --fix src tests graphs
	$(BIN)/ruff format src tests graphs

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
