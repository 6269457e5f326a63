# Every target sets up its own .venv (Python 3.11) on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat setup.py | cksum | cut -d' ' -f1)

.PHONY: demo test bench clean

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools<81" wheel
	$(BIN)/python -m pip install -q -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py --out examples/out

# Two workers (pytest-xdist), each test module on one worker (its module fixtures built once):
# most of a test's time is single-threaded tracing and compiling, so two workers use both cores.
TEST_WORKERS ?= 2

test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope tests

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[bench]"
	mkdir -p benchmarks/out
	$(BIN)/python benchmarks/run.py --json benchmarks/out/run.json
	$(BIN)/python benchmarks/first_call.py --json benchmarks/out/first_call.json
	$(BIN)/python benchmarks/overhead.py --json benchmarks/out/overhead.json
	$(BIN)/python benchmarks/architectures.py --json benchmarks/out/architectures.json
	$(BIN)/python benchmarks/pipeline.py --memory 2000,100000 --estimate --json benchmarks/out/pipeline.json

clean:
	rm -rf $(VENV) examples/out benchmarks/out
