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

test: lint check-template browser
	$(BIN)/pytest -q

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

bench: $(BIN)/fanout
	$(BIN)/python -m bench

# Called by `sam build` (BuildMethod: makefile): the project and its runtime dependencies,
# as wheels for the functions' platform (arm64, Python 3.11, as template.yaml's Globals say).
LAMBDA_PLATFORM := --platform manylinux2014_aarch64 --implementation cp --python-version 3.11 --only-binary=:all:
build-SplitterFunction build-WorkerFunction:
	rm -rf "$(ARTIFACTS_DIR)/.wheel" && mkdir -p "$(ARTIFACTS_DIR)/.wheel"
	$(PYTHON) -m pip wheel --quiet --no-deps --wheel-dir "$(ARTIFACTS_DIR)/.wheel" .
	$(PYTHON) -m pip install --quiet --no-compile $(LAMBDA_PLATFORM) --target "$(ARTIFACTS_DIR)" \
		"$(ARTIFACTS_DIR)"/.wheel/*.whl
	rm -rf "$(ARTIFACTS_DIR)/.wheel"

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam build *.egg-info .mypy_cache .pytest_cache .ruff_cache
