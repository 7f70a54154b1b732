#!/usr/bin/env bash
# Static checks that CI runs before the tests: ruff's lint rules on everything, mypy (strict) on the package,
# and the package's layering (import-linter contracts in .importlinter).
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

make_venv lint
cd "$ROOT"
"$VENV/bin/ruff" check .
"$VENV/bin/mypy" channels_fanout
"$VENV/bin/lint-imports" --no-cache
