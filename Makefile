# Two commands on a fresh machine with Docker: `make setup`, then `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test lint unit docker-tests bench clean

setup: $(BIN)/socketlab
	$(BIN)/socketlab image build --install-tools

$(BIN)/socketlab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

test: lint
	$(BIN)/pytest tests

lint:
	$(BIN)/ruff check grader tests bench
	$(BIN)/ruff format --check grader tests bench
	$(BIN)/mypy

unit:
	$(BIN)/pytest tests -m 'not docker'

bench:
	$(BIN)/python bench/run.py

clean:
	-$(BIN)/socketlab clean --all
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
