# learnstream — the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint contract format infra-up infra-down infra-status clean bench

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(BIN)/learnstream: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test,dev]"
	@touch $@

install: $(BIN)/learnstream ## Create the venv and install learnstream with test and dev extras

run: install ## Start the embedded stack (Kafka, Postgres, Redis) and run the main job
	$(BIN)/learnstream run

test: install lint contract ## Lint, contract checks, then every test against real Kafka, Postgres and Redis
	$(BIN)/pytest $(PYTEST_ARGS)

contract: install ## Schema compatibility gate, topology check, topic docs up to date
	$(BIN)/learnstream schemas check
	$(BIN)/learnstream topology check
	$(BIN)/learnstream topology docs --check

lint: install ## ruff (lint + format check), mypy, and the one-way layers (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## The side-by-side benchmark (results in bench/results/); needs ~15 minutes
	$(BIN)/learnstream infra up
	$(BIN)/learnstream bench pipeline

infra-up: install ## Start the embedded stack only
	$(BIN)/learnstream infra up

infra-down: install ## Stop what the launcher started
	$(BIN)/learnstream infra down

infra-status: install ## Show the stack's status and versions
	$(BIN)/learnstream infra status

clean: infra-down ## Stop the stack and delete its state (data, logs, jar cache)
	rm -rf .learnstream
