# Thin wrapper over CMake and the scripts: demo, test, bench, clean.
BUILD ?= build
ASAN_BUILD ?= build-asan
RELEASE_BUILD ?= build-release
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 10
JOBS ?= 2
CTEST_FLAGS ?= --output-on-failure
# One guest-kernel cache for both build trees (tests/vm/kit.sh fetches it once).
export VM_CACHE ?= $(CURDIR)/.vm-cache

.PHONY: all deps build build-asan build-release demo test fuzz bench clean

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

# Every libFuzzer harness (clang, ASan+UBSan), each run for FUZZ_SECONDS.
fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DVP_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	@mkdir -p $(FUZZ_BUILD)/runs
	@for f in $(FUZZ_BUILD)/fuzz/fuzz_*; do \
		echo "== $$(basename $$f): $(FUZZ_SECONDS) s"; \
		log=$(FUZZ_BUILD)/runs/$$(basename $$f).log; \
		(cd $(FUZZ_BUILD)/runs && $(CURDIR)/$$f -max_total_time=$(FUZZ_SECONDS)) >$$log 2>&1 \
			|| { tail -40 $$log; exit 1; }; \
		tail -1 $$log; \
	done

demo: build
	bash demo/run.sh $(BUILD)

# Both trees are tested even when the first fails; either failing fails.
test: build build-asan build-release
	@rc=0; \
	$(MAKE) fuzz || rc=1; \
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
	rm -rf $(BUILD) $(ASAN_BUILD) $(RELEASE_BUILD) $(FUZZ_BUILD)
