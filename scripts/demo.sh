#!/bin/sh
# Installs startjobs into ./.venv and starts the offline try-out: the real bot against the
# DRS simulator and a fake Slack, with a chat in the terminal. Arguments go to `startjobs demo`.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/startjobs demo "$@"
