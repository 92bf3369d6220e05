#!/bin/sh
# Installs the project with its dev extra into ./.venv and runs every check CI runs: lint,
# format, types, the import contracts, the Dockerfile linter, then the test suite. Extra
# arguments go to pytest.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
echo "== ruff"
.venv/bin/ruff check bot tests bench scripts
.venv/bin/ruff format --check bot tests bench scripts
echo "== mypy"
.venv/bin/mypy
echo "== import contracts"
.venv/bin/lint-imports --no-cache --no-logo
echo "== hadolint"
.venv/bin/hadolint Dockerfile
echo "== pytest"
.venv/bin/python -m pytest "$@"
