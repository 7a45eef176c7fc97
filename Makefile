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
               uidmap slirp4netns fuse-overlayfs fuse3 dnsmasq-base \
               libboost-dev docker.io docker-compose python3-docker \
               strace clang-14 libclang-rt-14-dev \
               libtomlplusplus-dev man-db groff-base dpkg-dev runc zsh criu libyaml-cpp-dev

.PHONY: all build deps install test unit integration asan e2e demo clean format faults fuzz soak rootless-cgroups-v2 \
        deb deb-test test-criu-vm test-criu-engines-vm test-crun-vm test-rootless-fuse-vm

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

# The CRIU checkpoint/restore tests where CRIU works: in the pure cgroup v2 VM (Debian's 6.1
# kernel; on this host's kernel `criu check` fails and the tests skip). docs/checkpoint.md.
test-criu-vm: build
	BUILD=$(BUILD) tests/criu/run-in-v2vm.sh

# podman's and containerd's checkpoint/restore with vessel-runtime as their runtime, in the same
# VM with podman and containerd added (a VM cache of its own).
test-criu-engines-vm: build
	BUILD=$(BUILD) tests/criu/engines-in-v2vm.sh

# crun as the configured runtime (vessel.conf containers.runtime = "crun") end to end, in the pure
# cgroup v2 VM with Debian's crun 1.8.1: crun refuses this host's hybrid cgroups. README.md.
test-crun-vm: build
	BUILD=$(BUILD) tests/runtimes/crun-in-v2vm.sh

# The rootless fuse-overlayfs tests where /etc/fuse.conf has user_allow_other (this host has not),
# in the v2vm guest with Debian's fuse-overlayfs added. docs/userns.md.
test-rootless-fuse-vm: build
	BUILD=$(BUILD) tests/rootless/fuse-in-v2vm.sh

# Fault injection (tests/faults/killpoints.py): SIGKILL of vessel-runtime at every syscall of
# create, start, exec, delete --force and run -d, each followed by delete --force; then the
# same sweep of runc for comparison; then `vessel` killed at every FAULTS_EVERY-th syscall of
# run, rm, pull, load and build (manager_kills.py) and a full store (full_disk.py). Fails if
# anything is left on the host.
FAULTS_EVERY ?= 25
faults: build
	tests/faults/killpoints.py --runtime $(BUILD)/bin/vessel-runtime
	tests/faults/killpoints.py --runc
	tests/faults/manager_kills.py --vessel $(BUILD)/bin/vessel --every $(FAULTS_EVERY) --two-at-once
	tests/faults/full_disk.py --vessel $(BUILD)/bin/vessel

# libFuzzer targets (tests/fuzz) under ASan+UBSan, FUZZ_SECONDS each (or FUZZ_SECONDS=runs=N).
FUZZ_SECONDS ?= 60
fuzz:
	cmake -S . -B $(BUILD)-fuzz -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DVESSEL_FUZZ=ON -DVESSEL_SANITIZE=ON -DVESSEL_TESTS=OFF -DVESSEL_SYSTEMD=OFF >/dev/null
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target fuzzers
	tests/fuzz/run.sh $(BUILD)-fuzz/bin $(FUZZ_SECONDS)

# 1000 lifecycles of vessel-runtime and 1000 `vessel run --rm --network none`, 50 at once,
# with long-lived containers' monitors sampled (tests/faults/soak.py); then the fault sweeps
# and 10 minutes of each fuzz target.
SOAK_N ?= 1000
SOAK_P ?= 50
soak: build
	tests/faults/soak.py --vessel $(BUILD)/bin/vessel --runtime $(BUILD)/bin/vessel-runtime \
	  -n $(SOAK_N) -p $(SOAK_P)
	$(MAKE) faults
	$(MAKE) fuzz FUZZ_SECONDS=600

# Rootless vessel with a delegated cgroup v2 subtree, in a pure-v2 VM (docs/userns.md).
rootless-cgroups-v2: build
	scripts/rootless-cgroups-v2.sh $(BUILD)

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
