# ParaChain — thin wrapper over meson. The README's two commands:
#   make demo   build, then run the main job (a local cluster under load)
#   make test   build, then run every test suite
BUILD      ?= build
MESON_ARGS ?=
# Debian 12 packages the build, the tests and the demo need.
PACKAGES   := gcc meson ninja-build pkg-config python3 libdpdk-dev dpdk-dev liburcu-dev \
              libsodium-dev libhwloc-dev libcriterion-dev prometheus gnuplot-nox curl iproute2

.PHONY: all deps build test demo bench bench-check fuzz clean help

all: build

help:
	@echo "make demo    build, then run a local 4-replica cluster under load (the main job)"
	@echo "make test    build, then run every test suite (prints 'N passed, N failed')"
	@echo "make bench   build, then run the benchmark suite (out/bench/: tables, CSV, plots)"
	@echo "make bench-check  build, then the timing-free benchmark check CI runs"
	@echo "make clean   remove the build directory"

deps:
	@tools/scripts/ensure-packages.sh $(PACKAGES)

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_ARGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

test: build
	tools/scripts/run-tests.sh $(BUILD)

demo: build
	tools/scripts/demo.sh $(BUILD)

bench: build
	tools/scripts/bench.sh $(BUILD)

bench-check: build
	tools/scripts/bench-check.sh $(BUILD)

clean:
	rm -rf $(BUILD)
