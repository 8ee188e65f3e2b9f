# The two commands of the README: `make demo` (install, then run on the built-in defaults) and
# `make test` (install with test extras, then run the tests). Everything else is for developers.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
DEMO ?= demo-output

.PHONY: install install-dev demo test completions benchmark models clean

install:
	$(PIP) install -q -e .

install-dev:
	$(PIP) install -q -e '.[dev]'

demo: install
	bat localize examples/audio/*.wav
	bat ask examples/audio/two-sources.wav "what is to my left?"
	bat ask examples/audio/two-sources.wav "which sound is closest?"
	bat ask examples/audio/two-sources.wav "how many sounds are there?"
	bat ask --questions examples/questions.jsonl

test: install-dev
	$(PYTHON) -m pytest

completions:
	$(PYTHON) -m batcli.completions --write completions

benchmark: install
	$(PYTHON) benchmarks/simulate.py
	$(PYTHON) benchmarks/localize.py
	$(PYTHON) benchmarks/ask.py

# Rebuild the shipped models from scratch (about an hour on 2 CPU cores): simulate, train the tiny
# encoder, simulate fresh clips for the language model, train it on the frozen encoder, and copy
# both into batcli/data as float16.
MODELS ?= build/models
models: install
	bat simulate tiny -n 8000 --seed 1 -o $(MODELS)/encoder-data
	bat train-encoder tiny --data $(MODELS)/encoder-data -o $(MODELS)/encoder
	bat simulate tiny -n 6000 --seed 3 --set questions.per_clip=8 -o $(MODELS)/llm-data
	bat train-llm tiny --data $(MODELS)/llm-data --encoder $(MODELS)/encoder -o $(MODELS)/llm
	$(PYTHON) -m batcli.ship $(MODELS)/encoder $(MODELS)/llm batcli/data

clean:
	rm -rf $(DEMO) build *.egg-info .pytest_cache
