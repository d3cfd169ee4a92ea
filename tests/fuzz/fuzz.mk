# fuzz.mk - libFuzzer targets (clang), included by the Makefile.
#
# One row per target: tests/fuzz/fuzz_NAME.c plus the sources it reaches.
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
FUZZ_FLAGS    = -std=c11 -D_GNU_SOURCE -g -O1 -I. -Wall -Wextra -Werror \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_LIBS     = -lssl -lcrypto -ljansson -lm -lpthread

FUZZ_SRC_http_parse  = core/http_parse.c
FUZZ_SRC_conf        = core/conf.c core/log.c core/return_url.c
FUZZ_SRC_cookie      = core/http_parse.c
FUZZ_SRC_body        = app/body.c app/email.c core/http_parse.c
FUZZ_SRC_token       = app/token.c core/keyfile.c core/base64url.c core/log.c
FUZZ_SRC_base64url   = core/base64url.c
FUZZ_SRC_smtp_reply  = mailer/smtp.c core/spool.c core/log.c core/buf.c core/bufpool.c app/mail.c app/template.c
FUZZ_SRC_spool       = core/spool.c core/log.c
FUZZ_SRC_prof_query  = profiler/prof_query.c core/http_parse.c
FUZZ_SRC_return_url  = core/return_url.c

FUZZ_TARGETS = http_parse conf cookie body token base64url smtp_reply spool prof_query return_url
FUZZ_BINS    = $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: tests/fuzz/fuzz_%.c $(wildcard core/*.[ch] app/*.[ch] mailer/*.[ch] profiler/*.[ch])
	@mkdir -p $(dir $@)
	$(call say,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_SRC_$*) $(FUZZ_LIBS)

fuzz: $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=$(BUILD) tests/fuzz/run $(FUZZ_TARGETS)
