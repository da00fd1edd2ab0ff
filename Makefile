# The two commands of the README. Both set everything up first (scripts/setup.sh) and are safe to rerun.
.PHONY: serve test
serve:  ## set up, then serve the site at http://127.0.0.1:8000 with live reload
	@scripts/serve.sh
test:   ## set up, then run every check (unit, docs, coverage gate, build, links, browser)
	@scripts/check.sh
