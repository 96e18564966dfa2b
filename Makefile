# The two commands of the README. Each sets up what it needs on first use.
.PHONY: lab test setup bench
lab:
	@scripts/dev.sh lab
test:
	@scripts/dev.sh test
setup:
	@scripts/dev.sh setup
bench:
	@.venv/bin/python bench/decode.py && .venv/bin/python bench/tap.py && .venv/bin/python bench/chat.py --direct && .venv/bin/python bench/diagrams.py && .venv/bin/python bench/hostile.py && .venv/bin/python bench/network.py
