# fuzz.mk - libFuzzer targets (clang), included by the Makefile.
#
# One row per target: tests/fuzz/fuzz_NAME.c and the layer it reaches.
# Each target has a seed corpus in tests/fuzz/corpus/NAME/ and may have a
# dictionary tests/fuzz/NAME.dict. A crash found once is saved in
# tests/fuzz/regress/NAME/ and replayed by every `make fuzz` before new
# inputs are tried, so it stays fixed.
#
#   make fuzz                 replay corpus + regressions, then FUZZ_SECONDS of
#                             new inputs per target (default 30)
#   make fuzz FUZZ_SECONDS=5  the short pass make check runs
# Each target's libFuzzer output goes to build/fuzz/NAME.log; the console
# gets one line per target and a summary.

FUZZ_SECONDS ?= 30
FUZZ_CC      ?= clang
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined
# The layers are built once more with coverage instrumentation into their
# own archives (build/fuzz/lib/), and each target links the archives of its
# layer and those below: no per-target source lists to keep in step with
# the code.
FUZZ_LIBDIR   = $(BUILD)/fuzz/lib

# The layer whose code a target reaches (it links that layer and below).
FUZZ_LAYER_http_parse = core
FUZZ_LAYER_conf       = core
FUZZ_LAYER_cookie     = core
FUZZ_LAYER_body       = app
FUZZ_LAYER_token      = app
FUZZ_LAYER_base64url  = core
FUZZ_LAYER_smtp_reply = mailer
FUZZ_LAYER_spool      = core
FUZZ_LAYER_prof_query = profiler
FUZZ_LAYER_return_url = core

FUZZ_TARGETS = http_parse conf cookie body token base64url smtp_reply spool prof_query return_url
FUZZ_BINS    = $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)

fuzz_libs = $(foreach l,$(call deps_of,$(FUZZ_LAYER_$(1))),$(FUZZ_LIBDIR)/lib$(l).a)

.PHONY: fuzz-libs
fuzz-libs:
	@mkdir -p $(FUZZ_LIBDIR)
	$(call say,FUZZ,$(FUZZ_LIBDIR) (the layers, instrumented; log in $(FUZZ_LIBDIR).log))
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_LIBDIR) CC=$(FUZZ_CC) OPT=-O1 \
	  SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
	  $(foreach l,$(LAYERS),$(FUZZ_LIBDIR)/lib$(l).a) > $(FUZZ_LIBDIR).log 2>&1 || \
	  { tail -40 $(FUZZ_LIBDIR).log; exit 1; }

$(BUILD)/fuzz/%: tests/fuzz/fuzz_%.c fuzz-libs
	@mkdir -p $(dir $@)
	$(call say,FUZZ,$@)
	$(Q)$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 -I. -Wall -Wextra -Werror \
	  -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(call fuzz_libs,$*) $(LIBS)

fuzz: $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=$(BUILD) tests/fuzz/run $(FUZZ_TARGETS)
