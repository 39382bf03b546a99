PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# llama.cpp must be built portable: the native build crashes on some CPUs.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
# pytest workers: many tests wait on terminals, servers and children, so two share two cores well;
# the tests on the bundled model run one after another on one worker (xdist_group "bundled-model")
TEST_WORKERS ?= 2

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/memgpt-tui $(ARGS)

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -rs -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy  # the files pyproject.toml names: the whole package and bench/

bench: $(VENV)/.installed
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV)
