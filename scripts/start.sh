#!/usr/bin/env bash
# Installs the app's dependencies into .venv and starts it. With no WORKBENCH_WAREHOUSE set,
# the demo warehouse (and its SendGrid sandbox account) is built on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
exec .venv/bin/streamlit run app.py "$@"
