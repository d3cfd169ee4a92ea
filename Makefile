# magicd — build, test, run, install.
#
# Sources are picked up by directory so a new file needs no Makefile edit:
#   core/ master/ worker/ profiler/  -> build/magicd
#   tools/loadtest/                  -> build/loadtest
#   tests/unit/test_*.c              -> build/tests/test_* (linked with every
#                                       magicd object except master/main.o)
# `make check` runs the unit tests, then the integration tests (tests/run).

CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
SAN     ?=
OPT     ?= -O2

CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror \
              -fno-omit-frame-pointer -I. $(SAN)
CFLAGS  ?=
ALL_CFLAGS = $(CFLAGS_BASE) $(CFLAGS) -MMD -MP
LDFLAGS ?=
# --build-id so the profiler can name the binary in its mappings; -rdynamic
# keeps symbol names visible to libunwind for unsymbolized fallbacks.
ALL_LDFLAGS = -Wl,--build-id -rdynamic $(SAN) $(LDFLAGS)
LIBS    = -lssl -lcrypto -ljansson -lsqlite3 -lunwind -ldw -lelf -lz -lm -lpthread

SRC_MAGICD = $(sort $(wildcard core/*.c master/*.c worker/*.c profiler/*.c mailer/*.c))
OBJ_MAGICD = $(SRC_MAGICD:%.c=$(BUILD)/obj/%.o)
OBJ_LIB    = $(filter-out $(BUILD)/obj/master/main.o,$(OBJ_MAGICD))

SRC_LOADTEST = $(sort $(wildcard tools/loadtest/*.c))
OBJ_LOADTEST = $(SRC_LOADTEST:%.c=$(BUILD)/obj/%.o)

SRC_UNIT  = $(sort $(wildcard tests/unit/test_*.c))
BIN_UNIT  = $(SRC_UNIT:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps run check check-asan unit integration bench loadtest install clean format \
        container container-test fuzz

all: $(BUILD)/magicd $(if $(SRC_LOADTEST),$(BUILD)/loadtest)

deps:
	@tools/deps.sh build

# Quiet by default; `make V=1` shows the commands.
Q = $(if $(V),,@)
say = $(if $(V),,@echo "  $(1) $(2)")

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/magicd: $(OBJ_MAGICD)
	$(call say,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/loadtest: $(OBJ_LOADTEST)
	$(call say,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lm -lpthread

# A unit test may link against tools/loadtest code too (histogram, response
# parser): those objects minus loadtest's main.
OBJ_LOADTEST_LIB = $(filter-out $(BUILD)/obj/tools/loadtest/main.o,$(OBJ_LOADTEST))

$(BUILD)/tests/%: tests/unit/%.c $(OBJ_LIB) $(OBJ_LOADTEST_LIB)
	@mkdir -p $(dir $@)
	$(call say,TEST,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(OBJ_LIB) $(OBJ_LOADTEST_LIB) $(LIBS)

unit: $(BIN_UNIT)
	@tests/run unit $(BIN_UNIT)

integration: all
	@MAGICD_BIN=$${MAGICD_BIN:-$(BUILD)/magicd} LOADTEST_BIN=$${LOADTEST_BIN:-$(BUILD)/loadtest} \
	  tests/run integration

# make run: a working server in the foreground with the shipped config, a
# SQLite user store holding demo@example.com, and links in the log.
run: deps all
	@tools/run-dev.sh

check:
	@tools/deps.sh
	$(MAKE) all unit
	$(MAKE) integration
	$(MAKE) fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-10}

check-asan:
	@tools/deps.sh
	$(MAKE) BUILD=build-asan SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" OPT=-O1 all unit
	MAGICD_ASAN=1 $(MAKE) BUILD=build-asan SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" OPT=-O1 integration

bench: all
	@tools/bench.sh

loadtest: all
	@tools/experiment.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	  $(DESTDIR)/etc/magicd $(DESTDIR)$(PREFIX)/share/magicd/html/static
	install -m 0755 $(BUILD)/magicd $(DESTDIR)$(PREFIX)/sbin/magicd
	[ ! -f $(BUILD)/loadtest ] || install -m 0755 $(BUILD)/loadtest $(DESTDIR)$(PREFIX)/bin/magicd-loadtest
	install -m 0644 html/*.html $(DESTDIR)$(PREFIX)/share/magicd/html/
	install -m 0644 html/static/* $(DESTDIR)$(PREFIX)/share/magicd/html/static/
	@# The installed config uses the FHS places the systemd unit creates.
	[ -f $(DESTDIR)/etc/magicd/magicd.conf ] || \
	  sed -e 's|^html_root [^ ;]*;|html_root $(PREFIX)/share/magicd/html;|' \
	      -e 's| run/magicd.pid;| /run/magicd/magicd.pid;|' \
	      -e 's| run/error.log | /var/log/magicd/error.log |' \
	      -e 's| run/access.log | /var/log/magicd/access.log |' \
	      -e 's| run/magicd.key| /var/lib/magicd/magicd.key|' \
	      -e 's| run/users.db;| /var/lib/magicd/users.db;|' \
	      -e 's| run/spool;| /var/lib/magicd/spool;|' \
	      conf/magicd.conf > $(DESTDIR)/etc/magicd/magicd.conf
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|/usr/local/sbin/magicd|$(PREFIX)/sbin/magicd|g' conf/magicd.service \
	  > $(DESTDIR)$(PREFIX)/lib/systemd/system/magicd.service

# Coverage-guided fuzzing of the parsers (clang's libFuzzer); FUZZ_SECONDS each.
FUZZ_SECONDS ?= 30
fuzz:
	@mkdir -p $(BUILD)/fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined \
	  -o $(BUILD)/fuzz/http_parse tests/fuzz/fuzz_http_parse.c core/http_parse.c
	clang -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined \
	  -o $(BUILD)/fuzz/conf tests/fuzz/fuzz_conf.c core/conf.c core/log.c
	$(BUILD)/fuzz/http_parse -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -artifact_prefix=$(BUILD)/fuzz/
	$(BUILD)/fuzz/conf -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=$(BUILD)/fuzz/

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
