# SoundBite: every target creates the virtualenv and installs what it needs first.
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup dev rehearse test lint verify verify-long bench clean lock image

$(STAMP): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	$(BIN)/python -m infra.local.ministack
	touch $(STAMP)

setup: $(STAMP)

dev: setup
	$(BIN)/soundbite dev

rehearse: setup
	$(BIN)/soundbite rehearse --report rehearsal-report

test: setup
	$(BIN)/pytest -n 2 --dist loadgroup --durations=15

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

verify: setup
	$(BIN)/pytest -m verify

verify-long: setup
	$(BIN)/pytest -m "soak or slow" -o addopts=""

bench: setup
	$(BIN)/python -m bench.run_all --json

# Re-pin requirements.lock from a fresh resolve of pyproject.toml's ranges.
lock:
	rm -rf .lock-venv && python3 -m venv .lock-venv
	.lock-venv/bin/pip install -q -e '.[dev]'
	{ sed -n '1,3p' requirements.lock; .lock-venv/bin/pip freeze --exclude-editable | grep -v '^soundbite'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv

# The runtime image (API and worker), as CI builds it.
image:
	docker build --network host -t soundbite:dev .

clean:
	rm -rf $(VENV) rehearsal-report .pytest_cache
