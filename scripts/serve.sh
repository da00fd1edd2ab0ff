#!/usr/bin/env bash
# Set up, then serve the site at http://127.0.0.1:8000 with live reload (docs/, src/, examples/, quizzes/).
#
# A preview, not the site CI checks: `mkdocs serve --dirty` renders again only the pages whose
# inputs an edit changed, and labs, figures and {{ }} numbers come from .cache/longctx-preview/
# while nothing they read has changed (scripts/hooks/preview.py says what it reused and rebuilt).
# LONGCTX_PREVIEW_CACHE=0 turns the cache off; LONGCTX_SERVE_ADDR picks another address.
# `make test` (scripts/check.sh) builds the whole site afresh, with no cache.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate
export NO_MKDOCS_2_WARNING=1
export LONGCTX_PREVIEW_CACHE="${LONGCTX_PREVIEW_CACHE:-1}"
addr="${LONGCTX_SERVE_ADDR:-127.0.0.1:8000}"
printf '\033[1m==> serving on http://%s (Ctrl-C stops)\033[0m\n' "$addr"
exec mkdocs serve --dirty --dev-addr "$addr" "$@"
