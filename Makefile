# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
QUESTION ?= What are the warning signs of a stroke, and what should I do?
MEDQUAD  ?= ../shared/data/medquad

.PHONY: install demo test lint unit integration format clean eval-quality

$(BIN)/parallel-tiers: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/parallel-tiers

demo: install  ## answer a question on the embedded defaults (offline)
	$(BIN)/parallel-tiers ask "$(QUESTION)"

lint: install
	$(BIN)/ruff check src tests graphs evals
	$(BIN)/ruff format --check src tests graphs evals
	$(BIN)/mypy
	$(BIN)/mypy evals

test: lint  ## lint, type-check, then every test (unit and integration)
	$(BIN)/pytest -q

unit: install
	$(BIN)/pytest -q -m "not integration"

integration: install  ## server, SQLite/PostgreSQL and notebook tests, with their durations
	$(BIN)/pytest -q -m integration --durations=0

format: install
	$(BIN)/ruff check --fix src tests graphs evals
	$(BIN)/ruff format src tests graphs evals

eval-quality: install  ## quality score AUC per bad kind, on answers labelled from MedQuAD dev
	$(BIN)/python evals/quality_labels.py --data $(MEDQUAD) --limit 1000

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
