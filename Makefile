# Vessel's front door. `make demo` and `make test` are the two commands in the README.
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc)

DEB_PACKAGES = build-essential cmake pkg-config nlohmann-json3-dev libcli11-dev libfmt-dev \
               libseccomp-dev libcap-dev libarchive-dev libsqlite3-dev libssl-dev \
               libcurl4-openssl-dev libsystemd-dev docker-registry skopeo \
               libgtest-dev ccache busybox-static iproute2 python3 \
               containernetworking-plugins iptables curl debootstrap podman containerd \
               uidmap slirp4netns dnsmasq-base \
               libboost-dev docker.io docker-compose python3-docker \
               strace clang-14 libclang-rt-14-dev \
               libtomlplusplus-dev man-db groff-base dpkg-dev

.PHONY: all build deps install test unit integration asan e2e demo clean format faults fuzz soak \
        deb deb-test

all: build

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Installs only what is missing, so it is cheap to run again.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Installs stripped programs; their debug info goes to $(PREFIX)/lib/debug/.build-id/ (gdb:
# `set debug-file-directory $(PREFIX)/lib/debug`), see scripts/split-debug.sh.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

unit: build
	$(BUILD)/bin/vessel-unit-tests

integration: build
	$(BUILD)/bin/vessel-integration-tests

# Unit tests again under AddressSanitizer and UBSan.
asan:
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DVESSEL_SANITIZE=ON >/dev/null
	cmake --build $(BUILD)-asan -j $(JOBS) --target vessel-unit-tests
	$(BUILD)-asan/bin/vessel-unit-tests

# podman and containerd (Debian's) driving vessel-runtime as their runtime.
e2e: deps build
	VESSEL_E2E_REQUIRE=1 tests/engines/run.sh $(BUILD)/bin/vessel-runtime

test: deps build
	$(BUILD)/bin/vessel-unit-tests
	$(MAKE) asan
	$(BUILD)/bin/vessel-integration-tests
	VESSEL_E2E_REQUIRE=1 tests/engines/run.sh $(BUILD)/bin/vessel-runtime
	$(MAKE) fuzz FUZZ_SECONDS=10

# Fault injection (tests/faults/killpoints.py): SIGKILL of vessel-runtime at every syscall of
# create, start, exec, delete --force and run -d, each followed by delete --force; then the
# same sweep of runc for comparison. Fails if anything is left on the host.
faults: build
	tests/faults/killpoints.py --runtime $(BUILD)/bin/vessel-runtime
	tests/faults/killpoints.py --runc

# libFuzzer targets (tests/fuzz) under ASan+UBSan, FUZZ_SECONDS each (or FUZZ_SECONDS=runs=N).
FUZZ_SECONDS ?= 60
fuzz:
	cmake -S . -B $(BUILD)-fuzz -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DVESSEL_FUZZ=ON -DVESSEL_SANITIZE=ON -DVESSEL_TESTS=OFF -DVESSEL_SYSTEMD=OFF >/dev/null
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target fuzzers
	tests/fuzz/run.sh $(BUILD)-fuzz/bin $(FUZZ_SECONDS)

soak: faults
	$(MAKE) fuzz FUZZ_SECONDS=600

# vessel_<version>_<arch>.deb and its -dbgsym package (docs/packaging.md); deb-test installs
# it in a fresh debootstrapped Debian 12 root, runs a container and removes it (a few minutes).
deb: build
	scripts/make-deb.sh $(BUILD) .

deb-test: deb
	scripts/test-deb.sh vessel_$$(sed -n 's/^project(vessel VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)_$$(dpkg --print-architecture).deb

demo: deps install
	./scripts/demo.sh

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz
