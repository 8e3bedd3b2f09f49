# Two commands for users (see README.md):
#   make book   build the HTML book, executing every chapter (offline profile)
#   make test   run the tests, then execute every chapter and build the book
# Both create the virtual environment with the exact tested versions first.

SHELL   := /bin/bash
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.rmd-installed
BUDGET  ?= 180

# The book is always built in the offline profile: tiny models, no Hub, 2 CPU cores.
# Its models are cached inside _build, so a build after `make clean` (or a fresh
# clone, as in CI) pays for the pretraining of chapter 1 like a first-time reader.
BOOK_ENV := RMD_CACHE=$(CURDIR)/_build/rmd-cache RMD_PROFILE=offline HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg

.PHONY: install book test pytest sync clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[book,test]"
	touch $@

book: $(STAMP)
	$(BOOK_ENV) $(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo "The book is at _build/html/index.html"

pytest: $(STAMP)
	$(PY) -m pytest

test: pytest
	$(PY) tools/sync.py --check
	$(MAKE) --no-print-directory book
	$(PY) tools/check_exec.py --budget $(BUDGET)

sync: $(STAMP)
	$(PY) tools/sync.py

clean:
	rm -rf _build
