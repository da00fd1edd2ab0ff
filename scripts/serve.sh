#!/usr/bin/env bash
# Set up, then serve the site at http://127.0.0.1:8000 with live reload (docs/, src/, examples/, quizzes/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate
export NO_MKDOCS_2_WARNING=1
printf '\033[1m==> serving on http://127.0.0.1:8000 (Ctrl-C stops)\033[0m\n'
exec mkdocs serve --dev-addr 127.0.0.1:8000 "$@"
