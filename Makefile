# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
QUESTION ?= What are the warning signs of a stroke, and what should I do?
MEDQUAD  ?= ../shared/data/medquad
MEDQUAD_INDEX ?= /tmp/medquad-index
EVAL_ARGS ?=
BENCH_OUT ?= bench-out

.PHONY: install demo test lint unit integration format clean eval-quality eval-medquad \
	medquad-index bench bench-quick

$(BIN)/parallel-tiers: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/parallel-tiers

demo: install  ## answer a question on the embedded defaults (offline)
	$(BIN)/parallel-tiers ask "$(QUESTION)"

lint: install
	$(BIN)/ruff check src tests graphs evals benchmarks
	$(BIN)/ruff format --check src tests graphs evals benchmarks
	$(BIN)/mypy
	$(BIN)/mypy evals benchmarks

test: lint  ## lint, type-check, then every test (unit and integration)
	$(BIN)/pytest -q

unit: install
	$(BIN)/pytest -q -m "not integration"

integration: install  ## server, SQLite/PostgreSQL and notebook tests, with their durations
	$(BIN)/pytest -q -m integration --durations=0

format: install
	$(BIN)/ruff check --fix src tests graphs evals benchmarks
	$(BIN)/ruff format src tests graphs evals benchmarks

eval-quality: install  ## quality score AUC per bad kind, on answers labelled from MedQuAD dev
	$(BIN)/python -m evals.quality_labels --data $(MEDQUAD) --limit 1000

medquad-index: install  ## the MedQuAD index at $(MEDQUAD_INDEX), built once
	test -d $(MEDQUAD_INDEX) || \
		$(BIN)/parallel-tiers ingest $(MEDQUAD)/corpus.jsonl --index $(MEDQUAD_INDEX)

eval-medquad: medquad-index  ## the README's MedQuAD figures (EVAL_ARGS="--half B", "--limit N")
	for e in retrieval answers routing; do \
		$(BIN)/python -m evals.medquad $$e --index $(MEDQUAD_INDEX) \
			--queries $(MEDQUAD)/dev_queries.jsonl $(EVAL_ARGS) || exit 1; \
	done
	$(BIN)/python -m evals.medquad conversations --index $(MEDQUAD_INDEX) \
		--queries $(MEDQUAD)/dev_conversations.jsonl $(EVAL_ARGS)

bench: install  ## the benchmark (3-4 min on 2 cores): tables, $(BENCH_OUT)/bench.json, charts
	$(BIN)/python -m benchmarks --out $(BENCH_OUT)

bench-quick: install  ## the quick benchmark (about 20 s; indicative figures only)
	$(BIN)/python -m benchmarks --quick --out $(BENCH_OUT)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
