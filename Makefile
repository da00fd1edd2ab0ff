# The README's commands. Each sets everything up first (scripts/setup.sh) and is safe to rerun.
.PHONY: serve test quick
serve:  ## set up, then serve the site at http://127.0.0.1:8000 with live reload
	@scripts/serve.sh
test:   ## set up, then run every check (audit, lint, unit, coverage gate, docs, build, links, browser)
	@scripts/check.sh
quick:  ## the inner loop: lint, package tests and docs policy on every core; no site build
	@scripts/check.sh --quick
