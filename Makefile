# The two commands: `make demo` and `make test`. Both set everything up first (scripts/setup.sh).
PY := .venv/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export RAY_AUTH_MODE := disabled

.PHONY: setup demo test lint typecheck bench bench-quick clean

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/recycle demo

test: setup
	$(PY) -m pytest -q -m "not slow" --durations=25

lint: setup
	.venv/bin/ruff check src tests
	.venv/bin/ruff format --check src tests

typecheck: setup
	.venv/bin/mypy

bench: setup
	scripts/bench.sh

bench-quick: setup
	.venv/bin/recycle bench all --quick --out results-quick

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
