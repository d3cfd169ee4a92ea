/*
 * test_smtp_session.c - smtp_send against a scripted relay on loopback:
 * what a relay that answers out of turn makes of a transaction. The relay
 * is a thread that waits for what the client is expected to have sent and
 * then writes its answer in one piece, so an answer that runs ahead of the
 * client (a reply nobody asked for, in the same segment as the 354) is
 * already in the client's buffer when it looks.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mailer/smtp.h"
#include "tests/unit/unit.h"

typedef struct {
    const char *until; /* wait until the client sent this (after the last one) */
    const char *send;  /* then answer this, in one write */
    int hangup;        /* and then close the connection */
    int sig;           /* before answering: a signal to the client, a pause */
} step_t;

static pthread_t client; /* the thread in smtp_send */
static void on_usr1(int sig)
{
    (void)sig;
}

typedef struct {
    int lfd;
    const step_t *steps;
    char got[16384]; /* everything the client sent */
    size_t len;
} relay_t;

static void *relay_main(void *arg)
{
    relay_t *r = arg;
    int c = accept(r->lfd, NULL, NULL);
    size_t from = 0;

    if (c < 0)
        return NULL;
    for (const step_t *s = r->steps; s->send; s++) {
        char *hit;
        while (s->until &&
               !(hit = memmem(r->got + from, r->len - from, s->until, strlen(s->until)))) {
            ssize_t n = recv(c, r->got + r->len, sizeof(r->got) - 1 - r->len, 0);
            if (n <= 0)
                goto out;
            r->len += (size_t)n;
        }
        if (s->until)
            from = (size_t)(hit - r->got) + strlen(s->until);
        if (s->sig) { /* the client waits in recv by then: EINTR there, no SA_RESTART */
            usleep(50 * 1000);
            pthread_kill(client, SIGUSR1);
            usleep(100 * 1000);
        }
        if (write(c, s->send, strlen(s->send)) < 0 || s->hangup)
            goto out;
    }
    /* Whatever else comes until the client hangs up, or says QUIT. */
    while (!memmem(r->got + from, r->len - from, "QUIT\r\n", 6)) {
        ssize_t n = recv(c, r->got + r->len, sizeof(r->got) - 1 - r->len, 0);
        if (n <= 0)
            goto out;
        r->len += (size_t)n;
    }
    if (write(c, "221 bye\r\n", 9) < 0)
        goto out;
out:
    close(c);
    return NULL;
}

/* One session against steps: smtp_send's result for one message (-2: the
 * session did not open); *usable whether the session may carry another. */
static int run_session(const step_t *steps, int *usable)
{
    relay_t r = {.steps = steps};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    char port[16], err[256] = "";
    pthread_t t;
    int rc;

    r.lfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(r.lfd >= 0 && bind(r.lfd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
          listen(r.lfd, 1) == 0 && getsockname(r.lfd, (struct sockaddr *)&a, &al) == 0);
    snprintf(port, sizeof(port), "%u", ntohs(a.sin_port));
    client = pthread_self();
    pthread_create(&t, NULL, relay_main, &r);
    smtp_relay_t rl = {.host = "127.0.0.1", .port = port, .timeout_ms = 2000};
    smtp_session_t *s = smtp_open(&rl, err, sizeof(err));
    rc = -2;
    if (s) {
        rc = smtp_send(s, "from@example.com", "to@example.com", "Subject: x\n\nbody\n", 17, err,
                       sizeof(err));
        *usable = smtp_session_ok(s);
        smtp_close(s);
    }
    pthread_join(t, NULL);
    close(r.lfd);
    return rc;
}

static int run(const step_t *steps, const char *what)
{
    int usable = 0, rc = run_session(steps, &usable);

    CHECK(rc != -2, "%s: the session did not open", what);
    return rc;
}

#define S(until, send)                                                                             \
    {                                                                                              \
        until, send, 0, 0                                                                          \
    }
#define HANGUP(until, send)                                                                        \
    {                                                                                              \
        until, send, 1, 0                                                                          \
    }
#define SIGNAL(until, send)                                                                        \
    {                                                                                              \
        until, send, 0, 1                                                                          \
    }
#define END                                                                                        \
    {                                                                                              \
        NULL, NULL, 0, 0                                                                           \
    }
#define GREET S(NULL, "220 relay\r\n")
#define EHLO(caps) S("EHLO", "250-relay\r\n" caps "250 8BITMIME\r\n")

int main(void)
{
    /* The plain case, pipelined and not: accepted. */
    static const step_t ok_pipe[] = {GREET, EHLO("250-PIPELINING\r\n"),
                                     S("DATA\r\n", "250 ok\r\n250 ok\r\n354 go\r\n"),
                                     S("\r\n.\r\n", "250 queued\r\n"), END};
    CHECK(run(ok_pipe, "pipelined") == SMTP_OK);
    static const step_t ok_plain[] = {GREET,
                                      EHLO(""),
                                      S("MAIL", "250 ok\r\n"),
                                      S("RCPT", "250 ok\r\n"),
                                      S("DATA\r\n", "354 go\r\n"),
                                      S("\r\n.\r\n", "250-queued\r\n250 as 1\r\n"),
                                      END};
    CHECK(run(ok_plain, "one at a time") == SMTP_OK);

    /* A reply more than was asked for, ahead of the message: the 250 that
     * follows the 354 answers nothing the client sent. Taken as the
     * answer to the final dot, the relay's real answer (a 451 here) is
     * never seen and a message it did not take counts as delivered. */
    static const step_t extra_pipe[] = {
        GREET, EHLO("250-PIPELINING\r\n"),
        S("DATA\r\n", "250 ok\r\n250 ok\r\n354 go\r\n250 stray\r\n"),
        S("\r\n.\r\n", "451 try again later\r\n"), END};
    CHECK(run(extra_pipe, "extra reply, pipelined") == SMTP_TEMPFAIL,
          "a stray reply after 354 was taken for the end of DATA");
    static const step_t extra_plain[] = {GREET,
                                         EHLO(""),
                                         S("MAIL", "250 ok\r\n"),
                                         S("RCPT", "250 ok\r\n"),
                                         S("DATA\r\n", "354 go\r\n250 stray\r\n"),
                                         S("\r\n.\r\n", "451 try again later\r\n"),
                                         END};
    CHECK(run(extra_plain, "extra reply") == SMTP_TEMPFAIL,
          "a stray reply after 354 was taken for the end of DATA");

    /* A refused recipient, and a 354 to DATA all the same: the empty
     * message is ended, the link is refused for good. */
    static const step_t rcpt_354[] = {GREET,
                                      EHLO("250-PIPELINING\r\n"),
                                      S("DATA\r\n", "250 ok\r\n550 no such user\r\n354 go\r\n"),
                                      S(".\r\n", "554 no valid recipients\r\n"),
                                      S("RSET", "250 ok\r\n"),
                                      END};
    CHECK(run(rcpt_354, "354 after 550") == SMTP_PERMFAIL);

    /* The connection dropped in the middle of the pipelined replies. */
    static const step_t drop[] = {GREET, EHLO("250-PIPELINING\r\n"),
                                  HANGUP("DATA\r\n", "250 ok\r\n250 o"), END};
    CHECK(run(drop, "dropped") == SMTP_TEMPFAIL);

    /* With CHUNKING the message goes with its envelope, and there is no
     * 354 to stop at: four replies to three commands, and which was the
     * BDAT's cannot be told (here the last, a 451). Retried, it may reach
     * its reader twice with one Message-ID; taken for delivered, it may
     * never reach them. */
    static const step_t extra_bdat[] = {
        GREET, EHLO("250-PIPELINING\r\n250-CHUNKING\r\n"),
        S("body\r\n", "250 ok\r\n250 ok\r\n250 stray\r\n451 not taken\r\n"), END};
    CHECK(run(extra_bdat, "extra reply, BDAT") == SMTP_TEMPFAIL,
          "a stray reply in a BDAT group was taken for the message's answer");
    static const step_t ok_bdat[] = {GREET, EHLO("250-PIPELINING\r\n250-CHUNKING\r\n"),
                                     S("body\r\n", "250 ok\r\n250 ok\r\n250 queued\r\n"), END};
    CHECK(run(ok_bdat, "BDAT") == SMTP_OK);

    /* More replies than commands before the first message: the session
     * is refused at open (and the relay retried with its back-off), not
     * used and dropped at every message. After the final dot: the
     * message counts, the session carries no other. */
    static const step_t extra_ehlo[] = {
        GREET, S("EHLO", "250-relay\r\n250 PIPELINING\r\n250 stray\r\n"), END};
    int usable = 1;
    CHECK(run_session(extra_ehlo, &usable) == -2, "a session out of step at open was used");
    static const step_t extra_end[] = {GREET, EHLO("250-PIPELINING\r\n"),
                                       S("DATA\r\n", "250 ok\r\n250 ok\r\n354 go\r\n"),
                                       S("\r\n.\r\n", "250 queued\r\n250 stray\r\n"), END};
    CHECK(run_session(extra_end, &usable) == SMTP_OK && !usable,
          "a session out of step after the final dot was kept");

    /* A signal (the mailer's QUIT at a reload) while the answer to the
     * final dot is awaited: the relay has the message, so its answer is
     * waited for (a mailer that hung up left the link unrecorded, and the
     * next one sent it again). Before the message went out, a signal
     * still ends the wait at once. */
    struct sigaction sa = {.sa_handler = on_usr1};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART, as the mailer's */
    static const step_t sig_dot[] = {GREET, EHLO("250-PIPELINING\r\n"),
                                     S("DATA\r\n", "250 ok\r\n250 ok\r\n354 go\r\n"),
                                     SIGNAL("\r\n.\r\n", "250 queued\r\n"), END};
    CHECK(run(sig_dot, "signal after the dot") == SMTP_OK,
          "a signal after the final dot gave up on a message the relay had");
    static const step_t sig_bdat[] = {GREET, EHLO("250-PIPELINING\r\n250-CHUNKING\r\n"),
                                      SIGNAL("body\r\n", "250 ok\r\n250 ok\r\n250 queued\r\n"),
                                      END};
    CHECK(run(sig_bdat, "signal after BDAT LAST") == SMTP_OK,
          "a signal after BDAT LAST gave up on a message the relay had");
    static const step_t sig_354[] = {GREET, EHLO("250-PIPELINING\r\n"),
                                     SIGNAL("DATA\r\n", "250 ok\r\n250 ok\r\n354 go\r\n"),
                                     S("\r\n.\r\n", "250 queued\r\n"), END};
    CHECK(run(sig_354, "signal before the message") == SMTP_TEMPFAIL,
          "a signal before the message did not end the wait");
    return unit_done("test_smtp_session");
}
