# Everything a fresh machine needs is installed by these targets: `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin

.PHONY: demo test lint check-template unit e2e clean bench browser

$(BIN)/fanout: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The SAM CLI has its own pins; a separate environment keeps them out of the project's.
$(SAM_VENV)/bin/sam: tools/sam-requirements.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet -r tools/sam-requirements.txt
	touch $@

demo: $(BIN)/fanout
	$(BIN)/fanout demo

# Two pytest workers (pytest-xdist): the suite spends most of its time waiting on state (measured:
# 0.86 of one core serially), so two overlap the waits; CI's budget is 15 minutes on 2 cores.
test: lint check-template browser
	$(BIN)/pytest -q -n 2

# Headless Chromium opens the local dashboard page in the tests (Debian's package; CI runs as root).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

lint: $(BIN)/fanout
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check-template: $(BIN)/fanout $(SAM_VENV)/bin/sam
	$(BIN)/cfn-lint --include-checks I -- template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(SAM_VENV)/bin/sam validate --lint --template-file template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(SAM_VENV)/bin/sam build --template-file template.yaml \
		--build-dir .aws-sam/build --build-in-source
	$(BIN)/python tools/lambda_artifact.py check .aws-sam/build

bench: $(BIN)/fanout
	$(BIN)/python -m bench

# Called by `sam build` (BuildMethod: makefile): fanout/, splitter/, worker/ and pyproject.toml's
# runtime dependencies as wheels for the functions' platform; no CLI, emulator, bench or tests.
build-SplitterFunction build-WorkerFunction:
	$(PYTHON) tools/lambda_artifact.py build "$(ARTIFACTS_DIR)"

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam build *.egg-info .mypy_cache .pytest_cache .ruff_cache
