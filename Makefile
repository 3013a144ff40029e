# sl — floating-license server toolkit.
# `make run` and `make test` install missing Debian packages first (scripts/deps.sh).

PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc/sl
DESTDIR    ?=

PKGS := libconfuse libcurl libmicrohttpd jansson libsodium

ifeq ($(SANITIZE),1)
BUILD ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# Reports of background servers go to files that test/sanitize.sh checks.
TEST_WRAP := sh test/sanitize.sh
else ifeq ($(TSAN),1)
BUILD ?= build/tsan
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
# The same wrapper with ThreadSanitizer's reports (it cannot be combined
# with ASan): any report from any of our programs fails the run.
TEST_WRAP := SL_SANLOGS=$(CURDIR)/build/tsan/logs sh test/sanitize.sh
else
BUILD ?= build/rel
SANFLAGS :=
endif
BINDIR := $(BUILD)/bin

CC      ?= cc
OPT     ?= -O2 -g
CFLAGS  += -std=gnu11 $(OPT) -Wall -Wextra -Werror -Wshadow -Wformat=2 \
           -D_GNU_SOURCE -Icommon $(SANFLAGS) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS += $(SANFLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

COMMON_SRC := $(sort $(wildcard common/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
PROGS      := slserve slctl slcheck
BINS       := $(PROGS:%=$(BINDIR)/%)

all: $(BINS) bin

# bin/ always points at the last build, so the README's commands work as written.
bin: $(BINS)
	@ln -sfn $(BINDIR) bin

$(BUILD)/libsl.a: $(COMMON_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

# One link rule per program: every cmd/PROG/*.c plus the common library.
define prog_rule
$(BINDIR)/$(1): $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard cmd/$(1)/*.c))) $(BUILD)/libsl.a
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rule,$(p))))

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

deps:
	@sh scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/run.sh

# C tests of slserve's parts on their own, without a server or a network:
# what a request cannot reach, and the lease store, the journal and the
# mirror log with their files (test/unit/NAME.c, run by the bats suite from
# $(BUILD)/test/unit-NAME; test/12-server-units.bats runs most).
UNITS := image license leases checkout journal mirror options
UNIT_SLSERVE := store checkout record snapshot pool journal journal_load journal_compact usage rules mirrorlog
$(BUILD)/test/unit/%.o: CFLAGS += -Icmd/slserve
$(BUILD)/test/unit-%: $(BUILD)/test/unit/%.o $(UNIT_SLSERVE:%=$(BUILD)/cmd/slserve/%.o) \
    $(BUILD)/libsl.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
units: $(UNITS:%=$(BUILD)/test/unit-%)

TESTS ?= test
test: deps
	@$(MAKE) --no-print-directory all fuzz-replay units
	@command -v mandoc >/dev/null && mandoc -Tlint -Wwarning man/*.[0-9]
	SL_BINDIR=$(CURDIR)/$(BINDIR) $(TEST_WRAP) bats --timing $(TESTS)

clean:
	rm -rf build bin

.PHONY: all bin deps run test clean units

# make install [PREFIX=/usr/local] [SYSCONFDIR=/etc/sl] [DESTDIR=]: binaries,
# man pages, the systemd unit, bash completions, the sample configs and the
# logrotate snippet, which never replace files already installed (an admin
# edits them). make uninstall keeps those.
INSTALL        ?= install
INSTALL_BINDIR ?= $(PREFIX)/bin
MANDIR         ?= $(PREFIX)/share/man
UNITDIR        ?= $(PREFIX)/lib/systemd/system
COMPLETIONDIR  ?= $(PREFIX)/share/bash-completion/completions
LOGROTATEDIR   ?= /etc/logrotate.d
STATEDIR       ?= /var/lib/sl
SAMPLE_CONFS   := slserve.conf licenses.conf slclient.conf
COMPLETIONS    := slctl slcheck

install: all
	$(INSTALL) -d $(DESTDIR)$(INSTALL_BINDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(COMPLETIONDIR) $(DESTDIR)$(SYSCONFDIR)
	$(INSTALL) -m 755 $(BINS) $(DESTDIR)$(INSTALL_BINDIR)
	@for m in man/*.[0-9]; do s=$${m##*.}; \
	    echo "$(INSTALL) -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s"; \
	    $(INSTALL) -d $(DESTDIR)$(MANDIR)/man$$s && \
	    $(INSTALL) -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s || exit 1; done
	sed -e 's|/usr/local/bin/|$(INSTALL_BINDIR)/|g' -e 's|/etc/sl/|$(SYSCONFDIR)/|g' \
	    etc/slserve.service >$(DESTDIR)$(UNITDIR)/slserve.service
	chmod 644 $(DESTDIR)$(UNITDIR)/slserve.service
	$(INSTALL) -m 644 $(COMPLETIONS:%=etc/bash_completion.d/%) $(DESTDIR)$(COMPLETIONDIR)
	@for f in $(SAMPLE_CONFS); do t=$(DESTDIR)$(SYSCONFDIR)/$$f; \
	    if [ -e $$t ]; then echo "keeping $$t (the sample is etc/$$f)"; continue; fi; \
	    echo "installing the sample $$t"; \
	    sed 's|^state_dir *=.*|state_dir = "$(STATEDIR)"|' etc/$$f >$$t.tmp && \
	    chmod 644 $$t.tmp && mv $$t.tmp $$t || exit 1; done
	@$(INSTALL) -d $(DESTDIR)$(LOGROTATEDIR) && t=$(DESTDIR)$(LOGROTATEDIR)/slserve; \
	    if [ -e $$t ]; then echo "keeping $$t (the sample is etc/logrotate.d/slserve)"; \
	    else echo "installing $$t"; \
	    sed 's|^/var/lib/sl/usage.log |$(STATEDIR)/usage.log |' etc/logrotate.d/slserve \
	    >$$t.tmp && chmod 644 $$t.tmp && mv $$t.tmp $$t; fi

uninstall:
	rm -f $(PROGS:%=$(DESTDIR)$(INSTALL_BINDIR)/%) \
	    $(DESTDIR)$(UNITDIR)/slserve.service $(COMPLETIONS:%=$(DESTDIR)$(COMPLETIONDIR)/%)
	@for m in man/*.[0-9]; do f=$(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; \
	    echo "rm -f $$f"; rm -f $$f; done
	@echo "kept the configuration in $(DESTDIR)$(SYSCONFDIR) and $(DESTDIR)$(LOGROTATEDIR)/slserve, and the state in $(STATEDIR)"

.PHONY: install uninstall

# `make bench`: loadgen (bench/*.c) drives a server it starts itself (see
# BENCHMARKS.md); the table goes to stdout, the figures to results.json.
# loadgen runs bench/failover-times.sh itself and puts its times in both.
# bench/compaction-probe.sh then times requests during compactions.
BENCH_BIN := $(BUILD)/bench/loadgen

$(BENCH_BIN): $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard bench/*.c))) $(BUILD)/libsl.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench: all $(BENCH_BIN)
	@mkdir -p build/bench
	$(BENCH_BIN) -b $(BINDIR) -F bench/failover-times.sh -o build/bench/results.json
	@sh bench/compaction-probe.sh -b $(BINDIR)

.PHONY: bench

# Fuzzing (test/fuzz/). `make fuzz` builds each harness with clang's
# libFuzzer (and ASan, UBSan) and runs it FUZZ_TIME seconds from its corpus
# test/fuzz/corpus-NAME/; new inputs go to build/fuzz/corpus-NAME/, crashes
# to build/fuzz/NAME-crash-*. `make test` replays the corpora through
# $(BUILD)/fuzz/replay-NAME, built with the normal compiler.
FUZZERS      := license request journal failcfg
FUZZ_TIME    ?= 60
FUZZ_CC      ?= clang
FUZZ_DIR     := build/fuzz
# The parts of slserve a harness needs, by harness.
FUZZ_SLSERVE_journal := store checkout record snapshot pool journal journal_load journal_compact usage rules
FUZZ_SLSERVE_request := api_fields
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -Wall -Wextra -D_GNU_SOURCE -Icommon -Icmd/slserve \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                $(shell pkg-config --cflags $(PKGS) 2>/dev/null)

$(BUILD)/test/fuzz/%.o: CFLAGS += -Icmd/slserve

# replay-NAME: the harness, its helpers, and the parts of slserve it needs.
fuzz_objs = $(BUILD)/test/fuzz/fuzz_$(1).o $(BUILD)/test/fuzz/fuzz_util.o \
            $(FUZZ_SLSERVE_$(1):%=$(BUILD)/cmd/slserve/%.o)
define fuzz_rules
$(BUILD)/fuzz/replay-$(1): $(BUILD)/test/fuzz/replay.o $(call fuzz_objs,$(1)) $(BUILD)/libsl.a
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
$(FUZZ_DIR)/fuzz-$(1): test/fuzz/fuzz_$(1).c test/fuzz/fuzz_util.c $(COMMON_SRC) \
    $(FUZZ_SLSERVE_$(1):%=cmd/slserve/%.c)
	@mkdir -p $$(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $$@ $$(filter %.c,$$^) $(LDLIBS)
endef
$(foreach f,$(FUZZERS),$(eval $(call fuzz_rules,$(f))))

fuzz-replay: $(FUZZERS:%=$(BUILD)/fuzz/replay-%)

fuzz:
	@sh scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory $(FUZZERS:%=$(FUZZ_DIR)/fuzz-%)
	@sh test/fuzz/run.sh $(FUZZ_TIME) $(FUZZERS)

.PHONY: fuzz fuzz-replay
