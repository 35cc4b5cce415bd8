# Bastion: the two commands of the README, and a few more.
#   make          build build/bastion
#   make run      install missing packages, build, create ./var once, serve on loopback
#   make check    install missing packages, build with sanitizers, run every test
#   make fuzz     run the SIP and SDP parser fuzzers, FUZZ_SECONDS in all (default 60)
#   make fuzz-log run the observability inputs' fuzzer (metrics HTTP, log verify,
#                 RFC 5425 framing) for FUZZ_LOG_SECONDS (default 20)
#   make bench    Bastion against Kamailio (docs/performance.md); not part of check
#   make bench-smoke  a few hundred REGISTERs against Bastion (check runs it as a test)
# Everything is built by CMake; this file only wraps it.

MAKEFLAGS   += --no-print-directory
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
FUZZ_LOG_SECONDS ?= 20
PYTHON      ?= /usr/bin/python3
STATE       ?= var

.PHONY: all run check unit system fuzz fuzz-log deps clean bench bench-smoke

all:
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS)

deps:
	@sh scripts/deps.sh

run: deps all
	@if [ ! -f $(STATE)/bastion.conf ]; then build/bastion init --state $(STATE) --demo; fi
	@echo "Bastion is starting with state in ./$(STATE) (stop it with Ctrl-C)."
	@echo "Try it from another terminal: sipsak -v -s sip:ping@127.0.0.1   (UDP)"
	@echo "                              sipsak -v -s sip:ping@127.0.0.1 -E tcp   (TCP)"
	@echo "    openssl s_client -connect 127.0.0.1:5061 -CAfile $(STATE)/ca.crt -verify_hostname localhost   (TLS)"
	@echo "TLS softphones: trust $(STATE)/ca.crt (import it as a root CA), server localhost:5061."
	@echo "Demo users and their passwords (for a softphone): $(STATE)/demo-credentials"
	@exec build/bastion --state $(STATE) serve

# The test build: sanitizers on, warnings are errors.
build-check/bastion: FORCE
	@cmake -S . -B build-check -DCMAKE_BUILD_TYPE=Debug -DBASTION_SANITIZE=ON \
		-DBASTION_WERROR=ON >/dev/null
	@cmake --build build-check -j $(JOBS)
FORCE:

export ASAN_OPTIONS  = detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS = print_stacktrace=1:halt_on_error=1

unit: build-check/bastion
	@rm -rf build-check/junit && mkdir -p build-check/junit
	@cd build-check && BASTION_JUNIT_DIR=$(CURDIR)/build-check/junit \
		ctest --output-on-failure -j $(JOBS) || true

system: build-check/bastion
	@mkdir -p build-check/junit
	@BASTION_BIN=$(CURDIR)/build-check/bastion $(PYTHON) -m pytest -q -p no:cacheprovider \
		--junitxml=build-check/junit/system.xml tests/system || true

check: deps
	@$(MAKE) --no-print-directory unit system
	@$(PYTHON) scripts/junit_summary.py build-check/junit

# Three harnesses share FUZZ_SECONDS, a third each (at least 1 s: libFuzzer reads
# -max_total_time=0 as "no limit"). The SIP corpus stays in build-fuzz/corpus.
FUZZ_PART = $(shell s=$$(( $(FUZZ_SECONDS) / 3 )); [ $$s -ge 1 ] && echo $$s || echo 1)
FUZZ_FLAGS = -max_total_time=$(FUZZ_PART) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DBASTION_FUZZ=ON -DBASTION_SANITIZE=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_sip_parse fuzz_sdp_parse fuzz_emerg_inputs
	@mkdir -p build-fuzz/corpus build-fuzz/corpus-sdp build-fuzz/corpus-emerg
	build-fuzz/fuzz/fuzz_sip_parse $(FUZZ_FLAGS) build-fuzz/corpus fuzz/corpus/sip
	build-fuzz/fuzz/fuzz_sdp_parse $(FUZZ_FLAGS) build-fuzz/corpus-sdp fuzz/corpus/sdp
	build-fuzz/fuzz/fuzz_emerg_inputs $(FUZZ_FLAGS) build-fuzz/corpus-emerg fuzz/corpus/emerg

# The parsers of what a stranger can write to the observability side: the
# metrics listener's requests, an edited log file, octet-counted frames.
fuzz-log: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DBASTION_FUZZ=ON -DBASTION_SANITIZE=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_log_inputs
	@mkdir -p build-fuzz/corpus-log
	build-fuzz/fuzz/fuzz_log_inputs -max_total_time=$(FUZZ_LOG_SECONDS) -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 build-fuzz/corpus-log fuzz/corpus/log

bench: deps all
	$(PYTHON) bench/run

bench-smoke: all
	$(PYTHON) bench/run --smoke

clean:
	rm -rf build build-check build-fuzz
