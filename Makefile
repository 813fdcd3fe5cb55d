# SoundBite: every target creates the virtualenv and installs what it needs first.
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup dev rehearse test lint verify verify-long bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m infra.local.ministack
	touch $(STAMP)

setup: $(STAMP)

dev: setup
	$(BIN)/soundbite dev

rehearse: setup
	$(BIN)/soundbite rehearse --report rehearsal-report

test: setup
	$(BIN)/pytest -n 2 --dist loadgroup

lint: setup
	$(BIN)/ruff check .
	$(BIN)/hadolint Dockerfile

verify: setup
	$(BIN)/pytest -m verify

verify-long: setup
	$(BIN)/pytest -m "soak or slow" -o addopts=""

bench: setup
	$(BIN)/python -m bench.run_all --json

clean:
	rm -rf $(VENV) rehearsal-report .pytest_cache
