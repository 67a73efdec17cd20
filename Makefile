# The two commands (see README): `make demo` and `make test`. Both install the
# pinned stack into .venv first (tools/setup_env.sh; a no-op once done).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: env demo test test-fast clean-demo

env:
	@VENV=$(VENV) bash tools/setup_env.sh

demo: env
	$(PY) tools/demo.py

test: env
	$(PY) -m pytest tests

# Skips the tests marked slow; for iterating, not for CI.
test-fast: env
	$(PY) -m pytest -m "not slow" tests

clean-demo:
	rm -rf data/synthetic_coco work_dirs/demo
