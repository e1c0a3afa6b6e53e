# minix-emu: `make run` boots the stock image, `make test` runs the suite.
# Both create .venv and install the project on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
IMAGE := build/minix.img
GUEST_SOURCES := $(shell find guest -name '*.asm' -o -name '*.inc' -o -name '*.toml' 2>/dev/null) \
                 $(wildcard guest/files/*)

.PHONY: run test image bench abi clean venv pictures

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py emu/_cpuhooks.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

abi: $(STAMP)
	$(BIN)/python -m tools.genabi

guest/include/abi.inc: kernel/abi.py tools/genabi.py | $(STAMP)
	$(BIN)/python -m tools.genabi

image: $(IMAGE)

$(IMAGE): $(STAMP) $(GUEST_SOURCES) guest/include/abi.inc
	$(BIN)/emu build --system guest/system.toml -o $(IMAGE)

run: $(IMAGE)
	$(BIN)/emu boot $(IMAGE)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(IMAGE)
	$(BIN)/emu bench

# The built-in debugger on the stock image (`help` lists its commands; docs/DEBUGGING.md)
.PHONY: debug gdb
debug: $(IMAGE)
	$(BIN)/emu debug $(IMAGE)

# The stock image under gdb: the stub waits on GDB_PORT, gdb connects with the script of
# `emu gdbinit`; the guest's console goes to build/gdb-console.out
GDB_PORT ?= 1234
gdb: $(IMAGE)
	$(BIN)/emu gdbinit $(IMAGE) --port $(GDB_PORT) -o build/gdbinit
	rm -f build/gdb-boot.log
	$(BIN)/emu boot $(IMAGE) --gdb $(GDB_PORT) --wait --input /dev/null \
	    > build/gdb-console.out 2> build/gdb-boot.log & pid=$$!; \
	while kill -0 $$pid 2>/dev/null && ! grep -q listening build/gdb-boot.log; do sleep 0.1; done; \
	gdb -q -x build/gdbinit; status=$$?; wait $$pid; cat build/gdb-boot.log; exit $$status

# The README's pictures, drawn from real runs (tools/trace/pictures.py lists them)
pictures: $(STAMP) guest/include/abi.inc
	$(BIN)/python -m tools.trace.pictures

clean:
	rm -rf build .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
