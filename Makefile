# Thin wrapper over CMake and the scripts: demo, test, bench, clean.
BUILD ?= build
ASAN_BUILD ?= build-asan
RELEASE_BUILD ?= build-release
JOBS ?= 2
CTEST_FLAGS ?= --output-on-failure
# One guest-kernel cache for both build trees (tests/vm/kit.sh fetches it once).
export VM_CACHE ?= $(CURDIR)/.vm-cache

.PHONY: all deps build build-asan build-release demo test bench clean

all: build

deps:
	.ci/install-deps

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DVP_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j$(JOBS)

# Built by `make test` too: -O2 finds warnings (-Werror) that -O0 does not.
build-release: deps
	cmake -S . -B $(RELEASE_BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(RELEASE_BUILD) -j$(JOBS)

demo: build
	bash demo/run.sh $(BUILD)

# Both trees are tested even when the first fails; either failing fails.
test: build build-asan build-release
	@rc=0; \
	echo "== ctest: $(BUILD) (Debug)"; \
	ctest --test-dir $(BUILD) $(CTEST_FLAGS) || rc=1; \
	echo "== ctest: $(ASAN_BUILD) (ASan+UBSan)"; \
	ctest --test-dir $(ASAN_BUILD) $(CTEST_FLAGS) || rc=1; \
	exit $$rc

# Benchmarks run on the Release tree; each prints its ratios against peers.
bench: build-release
	bash bench/cni_latency.sh $(RELEASE_BUILD)
	BENCH_DIR=/dev/shm bash bench/ipam_scale.sh $(RELEASE_BUILD)
	bash bench/vblk_nbd.sh $(RELEASE_BUILD)
	bash bench/vhost_blk.sh $(RELEASE_BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(RELEASE_BUILD)
