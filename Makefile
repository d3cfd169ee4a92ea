# magicd — build, test, run, install.
#
# The code is in layers, each a folder and an archive, top to bottom:
#
#   cmd -> master -> {worker, profiler, mailer} -> app -> sampler -> core
#
# A layer may use only itself and the layers below it; tools/layers.sh
# checks every #include before anything is compiled, and each unit test
# links only its own layer's archive and those below (a test under
# tests/unit/app/ gets libapp.a, libsampler.a and libcore.a), so an upward
# call fails to link there too. Sources are picked up by directory, so a new
# file needs no Makefile edit:
#   LAYER/*.c                      -> build/libLAYER.a
#   cmd/main.c + every archive     -> build/magicd
#   tools/loadtest/                -> build/loadtest
#   tests/unit/LAYER/test_*.c      -> build/tests/LAYER/test_*
# `make check` runs the unit tests, then the integration tests (tests/run).

CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
SAN     ?=
OPT     ?= -O2

CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror \
              -fno-omit-frame-pointer -I. -I/usr/include/postgresql $(SAN)
CFLAGS  ?=
ALL_CFLAGS = $(CFLAGS_BASE) $(CFLAGS) -MMD -MP
LDFLAGS ?=
# --build-id so the profiler can name the binary in its mappings; -rdynamic
# keeps symbol names visible to libunwind for unsymbolized fallbacks.
ALL_LDFLAGS = -Wl,--build-id -rdynamic $(SAN) $(LDFLAGS)
LIBS    = -lssl -lcrypto -ljansson -lsqlite3 -lpq -lhiredis -lunwind -ldw -lelf -lz -lm -lpthread

# Top to bottom; a layer's archive may reference only those after it.
LAYERS  = cmd master worker profiler mailer app sampler core
below_master   = worker profiler mailer app sampler core
below_worker   = app sampler core
below_profiler = app sampler core
below_mailer   = app sampler core
below_app      = sampler core
below_sampler  = core
below_core     =
below_cmd      = master $(below_master)
# The layers a layer may link: itself and those below it.
deps_of = $(1) $(below_$(1))
lib     = $(BUILD)/lib$(1).a
libs_of = $(foreach l,$(call deps_of,$(1)),$(call lib,$(l)))
# The sampler interposes malloc and dlopen: nothing calls those symbols by
# name, so its archive is linked whole or the interposers would be dropped.
WHOLE   = -Wl,--whole-archive
NOWHOLE = -Wl,--no-whole-archive
link_libs = $(foreach l,$(1),$(if $(filter sampler,$(l)),$(WHOLE) $(call lib,$(l)) $(NOWHOLE),$(call lib,$(l))))

src_of = $(sort $(filter-out cmd/main.c,$(wildcard $(1)/*.c)))
obj_of = $(patsubst %.c,$(BUILD)/obj/%.o,$(call src_of,$(1)))
OBJ_MAGICD = $(foreach l,$(LAYERS),$(call obj_of,$(l))) $(BUILD)/obj/cmd/main.o

SRC_LOADTEST = $(sort $(wildcard tools/loadtest/*.c))
OBJ_LOADTEST = $(SRC_LOADTEST:%.c=$(BUILD)/obj/%.o)

SRC_UNIT  = $(sort $(wildcard tests/unit/*/test_*.c))
BIN_UNIT  = $(SRC_UNIT:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps run check check-asan unit integration bench bench-docs loadtest install clean format \
        container container-test fuzz

all: $(BUILD)/magicd $(if $(SRC_LOADTEST),$(BUILD)/loadtest)

deps:
	@tools/deps.sh build

# Quiet by default; `make V=1` shows the commands.
Q = $(if $(V),,@)
say = $(if $(V),,@echo "  $(1) $(2)")

$(BUILD)/obj/%.o: %.c $(BUILD)/layers.ok
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# The include rule, checked before any object is built.
$(BUILD)/layers.ok: tools/layers.sh $(wildcard $(foreach l,$(LAYERS),$(l)/*.[ch]) tests/unit/*/*.[ch] tools/loadtest/*.[ch])
	@mkdir -p $(BUILD)
	$(Q)tools/layers.sh
	@touch $@

define layer_rule
$(call lib,$(1)): $(call obj_of,$(1))
	$$(call say,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach l,$(LAYERS),$(eval $(call layer_rule,$(l))))

$(BUILD)/magicd: $(BUILD)/obj/cmd/main.o $(foreach l,$(LAYERS),$(call lib,$(l)))
	$(call say,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(call link_libs,$(LAYERS)) $(LIBS)

$(BUILD)/loadtest: $(OBJ_LOADTEST)
	$(call say,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lm -lpthread

# A unit test links its layer and the layers below it, nothing else:
# tests/unit/LAYER/test_x.c -> build/tests/LAYER/test_x. Tests of the load
# generator (tests/unit/tools/) link its objects minus its main.
OBJ_LOADTEST_LIB = $(filter-out $(BUILD)/obj/tools/loadtest/main.o,$(OBJ_LOADTEST))

define unit_rule
$(BUILD)/tests/$(1)/%: tests/unit/$(1)/%.c $(call libs_of,$(1)) $(BUILD)/layers.ok
	@mkdir -p $$(dir $$@)
	$$(call say,TEST,$$@)
	$$(Q)$$(CC) $$(ALL_CFLAGS) $$(ALL_LDFLAGS) -o $$@ $$< $$(call link_libs,$(call deps_of,$(1))) $$(LIBS)
endef
$(foreach l,$(LAYERS),$(eval $(call unit_rule,$(l))))

$(BUILD)/tests/tools/%: tests/unit/tools/%.c $(OBJ_LOADTEST_LIB) $(call lib,core)
	@mkdir -p $(dir $@)
	$(call say,TEST,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(OBJ_LOADTEST_LIB) $(call lib,core) -lm -lpthread

unit: $(BIN_UNIT)
	@tests/run unit $(BIN_UNIT)

integration: all
	@MAGICD_BIN=$${MAGICD_BIN:-$(BUILD)/magicd} LOADTEST_BIN=$${LOADTEST_BIN:-$(BUILD)/loadtest} \
	  tests/run integration

# make run: a working server in the foreground with the shipped config, a
# SQLite user store holding demo@example.com, and links in the log.
run: deps all
	@tools/run-dev.sh

# Every step runs even when an earlier one failed, and the last line is the
# total, so a failure is never scrolled away by a later step's output.
check:
	@tools/deps.sh
	$(MAKE) all
	@rm -f $(BUILD)/results; rc=0; \
	  RESULTS=$(CURDIR)/$(BUILD)/results $(MAKE) --no-print-directory unit || rc=1; \
	  RESULTS=$(CURDIR)/$(BUILD)/results $(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-5} || rc=1; \
	  RESULTS=$(CURDIR)/$(BUILD)/results $(MAKE) --no-print-directory integration || rc=1; \
	  tests/run summary $(BUILD)/results; exit $$rc

check-asan:
	@tools/deps.sh
	$(MAKE) BUILD=build-asan SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" OPT=-O1 all unit
	MAGICD_ASAN=1 $(MAKE) BUILD=build-asan SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" OPT=-O1 integration

bench: all
	@tools/bench.sh

# The same, then the results table in docs/results.md is this run's.
bench-docs: all
	@BENCH_DOCS=1 tools/bench.sh

loadtest: all
	@tools/experiment.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	  $(DESTDIR)/etc/magicd $(DESTDIR)$(PREFIX)/share/magicd/html/static
	install -m 0755 $(BUILD)/magicd $(DESTDIR)$(PREFIX)/sbin/magicd
	[ ! -f $(BUILD)/loadtest ] || install -m 0755 $(BUILD)/loadtest $(DESTDIR)$(PREFIX)/bin/magicd-loadtest
	install -m 0644 html/*.html $(DESTDIR)$(PREFIX)/share/magicd/html/
	install -m 0644 html/static/* $(DESTDIR)$(PREFIX)/share/magicd/html/static/
	@# The mail templates, one folder a language: every worker loads them.
	for d in html/mail/*/; do \
	  install -d $(DESTDIR)$(PREFIX)/share/magicd/$$d && \
	  install -m 0644 $$d* $(DESTDIR)$(PREFIX)/share/magicd/$$d || exit 1; \
	done
	@# The installed config uses the FHS places the systemd unit creates.
	[ -f $(DESTDIR)/etc/magicd/magicd.conf ] || { \
	  printf '%s\n' \
	    '# magicd.conf - installed by `make install` from the shipped conf/magicd.conf.' \
	    '# Every directive is shown with its default, except the paths, which are the' \
	    "# service's (state in /var/lib/magicd, logs in /var/log/magicd, the pid file" \
	    '# in /run/magicd: the directories the systemd unit creates), and public_url' \
	    '# and the delivery, which are yours to set (docs/deployment.md).' \
	    "# Syntax is nginx's: \`directive args;\`, \`#\` comments, \`include FILE;\`."; \
	  sed -e '1,6d' \
	      -e 's|^html_root [^ ;]*;|html_root $(PREFIX)/share/magicd/html;|' \
	      -e 's| run/magicd.pid;| /run/magicd/magicd.pid;|' \
	      -e 's| run/error.log | /var/log/magicd/error.log |' \
	      -e 's| run/access.log | /var/log/magicd/access.log |' \
	      -e 's| run/magicd.key| /var/lib/magicd/magicd.key|' \
	      -e 's| run/users.db;| /var/lib/magicd/users.db;|' \
	      -e 's|^#smtp_spool run/spool;|smtp_spool /var/lib/magicd/spool;|' \
	      -e 's|^public_url http://127.0.0.1:8080;|#public_url https://login.example.com;|' \
	      conf/magicd.conf; } > $(DESTDIR)/etc/magicd/magicd.conf
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|/usr/local/sbin/magicd|$(PREFIX)/sbin/magicd|g' conf/magicd.service \
	  > $(DESTDIR)$(PREFIX)/lib/systemd/system/magicd.service

# Coverage-guided fuzzing of every parser an attacker reaches (clang's
# libFuzzer): the targets, their sources and corpora are in tests/fuzz/fuzz.mk.
include tests/fuzz/fuzz.mk

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan

-include $(OBJ_MAGICD:.o=.d) $(OBJ_LOADTEST:.o=.d)

# The container image (Containerfile) and its test under the article's
# limits: 64 MB, no swap, half a CPU. See tools/container-test.sh.
container:
	@tools/container-test.sh build

container-test: all
	@LOADTEST_BIN=$${LOADTEST_BIN:-$(BUILD)/loadtest} tools/container-test.sh
