/* SPDX-License-Identifier: MIT */
/* hv_host_set_log: the library's messages go to the host's callback with a
 * level (here: a domain stopped by a device model's protocol violation, an
 * error; ioreq servers created and destroyed, debug), max_level filters
 * them, a NULL callback drops them, a new call replaces the sink, and bad
 * arguments are -EINVAL and change nothing. The library writes nothing to
 * stderr itself: this program checks that too, with stderr redirected to a
 * file. */
#include "abi_test.h"

#define MAX_MESSAGES 32

struct sink {
    int n;
    int level[MAX_MESSAGES];
    char text[MAX_MESSAGES][256];
    const void *opaque_seen;
};

static void collect(void *opaque, int level, const char *message) {
    struct sink *s = (struct sink *)opaque;
    if (s->n < MAX_MESSAGES) {
        s->level[s->n] = level;
        snprintf(s->text[s->n], sizeof s->text[s->n], "%s", message);
    }
    s->opaque_seen = opaque;
    ++s->n;
}

/* Index of the first message containing `part`, or -1. */
static int find(const struct sink *s, const char *part) {
    int i;
    for (i = 0; i < s->n && i < MAX_MESSAGES; ++i)
        if (strstr(s->text[i], part) != NULL) return i;
    return -1;
}

/* The device model writes an unknown state into vCPU 0's slot and
 * notifies: the domain stops (XSA-262), and the library says so. */
static int stop_domain(struct fixture *f) {
    struct server srv;
    int rc = server_create(f, f->dm, HVDM_BUFIOREQ_OFF, 1, &srv);
    if (rc != 0) return rc;
    srv.page->vcpu_ioreq[0].state = 7;
    return hvdm_ioreq_notify(f->dm, f->domid, srv.id, 0);
}

static void a_domain_stop_reaches_the_callback_as_an_error(void) {
    struct fixture f;
    struct sink s;
    char reason[256], expect[64];
    int i;
    memset(&s, 0, sizeof s);
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hv_host_set_log(f.host, collect, &s, HV_LOG_INFO));
    EXPECT_EQ(-EPROTO, stop_domain(&f));
    REQUIRE_EQ(1, s.n); /* the server's creation is debug: filtered */
    EXPECT_EQ(HV_LOG_ERROR, s.level[0]);
    EXPECT_TRUE(s.opaque_seen == &s);
    snprintf(expect, sizeof expect, "domain %u stopped: ", (unsigned)f.domid);
    EXPECT_TRUE(strncmp(s.text[0], expect, strlen(expect)) == 0);
    /* the message carries the reason hv_domain_stop_reason gives */
    REQUIRE_EQ(1, hv_domain_stop_reason(f.dom, reason, sizeof reason));
    EXPECT_TRUE(strstr(s.text[0], reason) != NULL);
    /* one line, no newline */
    for (i = 0; s.text[0][i] != '\0'; ++i)
        if (s.text[0][i] == '\n') break;
    EXPECT_EQ('\0', s.text[0][i]);
    fixture_destroy(&f);
}

static void max_level_filters_and_debug_is_delivered_when_asked(void) {
    struct fixture f;
    struct sink s;
    hvdm_ioservid_t id = 0;
    memset(&s, 0, sizeof s);
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hv_host_set_log(f.host, collect, &s, HV_LOG_WARNING));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    EXPECT_EQ(0, s.n);
    REQUIRE_EQ(0, hv_host_set_log(f.host, collect, &s, HV_LOG_DEBUG));
    REQUIRE_EQ(0, hvdm_destroy_ioreq_server(f.dm, f.domid, id));
    REQUIRE_EQ(1, s.n);
    EXPECT_EQ(HV_LOG_DEBUG, s.level[0]);
    EXPECT_TRUE(find(&s, "ioreq server") >= 0 && find(&s, "destroyed") >= 0);
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_LEGACY, &id));
    REQUIRE_EQ(2, s.n);
    EXPECT_EQ(HV_LOG_DEBUG, s.level[1]);
    EXPECT_TRUE(strstr(s.text[1], "created") != NULL);
    /* HV_LOG_ERROR: errors only */
    REQUIRE_EQ(0, hv_host_set_log(f.host, collect, &s, HV_LOG_ERROR));
    REQUIRE_EQ(0, hvdm_destroy_ioreq_server(f.dm, f.domid, id));
    EXPECT_EQ(2, s.n);
    EXPECT_EQ(-EPROTO, stop_domain(&f));
    EXPECT_EQ(3, s.n);
    EXPECT_EQ(HV_LOG_ERROR, s.level[2]);
    fixture_destroy(&f);
}

/* A callback that calls back into the library for the same domain while
 * it handles a message the core made under that domain's lock: the first
 * "created" message makes it replace itself with `collect` on a second
 * sink, create a second server (whose message reaches that new sink) and
 * read the domain's ioreq entry count. Before messages were deferred to
 * the end of the C call, this deadlocked on the domain's lock. */
struct reentrant {
    struct fixture *f;
    struct sink after; /* what the replacement sink receives */
    int calls;
    int create_rc, count_rc, set_rc;
    hvdm_ioservid_t second;
};

static void reenter(void *opaque, int level, const char *message) {
    struct reentrant *r = (struct reentrant *)opaque;
    uint64_t count = 0;
    (void)level;
    if (++r->calls != 1 || strstr(message, "created") == NULL) return;
    r->set_rc = hv_host_set_log(r->f->host, collect, &r->after, HV_LOG_DEBUG);
    r->create_rc = hvdm_create_ioreq_server(r->f->dm, r->f->domid, HVDM_BUFIOREQ_OFF, &r->second);
    r->count_rc = hv_p2m_ioreq_entry_count(r->f->dom, &count);
}

static void the_callback_may_call_back_into_the_library(void) {
    struct fixture f;
    struct reentrant r;
    hvdm_ioservid_t first;
    memset(&r, 0, sizeof r);
    REQUIRE_EQ(0, fixture_create(&f));
    r.f = &f;
    r.create_rc = r.count_rc = r.set_rc = 1;
    REQUIRE_EQ(0, hv_host_set_log(f.host, reenter, &r, HV_LOG_DEBUG));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &first));
    EXPECT_EQ(1, r.calls); /* the first server's message, to the old sink */
    EXPECT_EQ(0, r.create_rc);
    EXPECT_EQ(0, r.count_rc);
    EXPECT_EQ(0, r.set_rc);
    EXPECT_TRUE(r.second != first);
    /* the second server's message, made inside the callback, reached the
     * sink the callback installed */
    REQUIRE_EQ(1, r.after.n);
    EXPECT_EQ(HV_LOG_DEBUG, r.after.level[0]);
    EXPECT_TRUE(strstr(r.after.text[0], "created") != NULL);
    fixture_destroy(&f);
}

static void a_null_callback_drops_messages(void) {
    struct fixture f;
    struct sink s;
    memset(&s, 0, sizeof s);
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hv_host_set_log(f.host, collect, &s, HV_LOG_DEBUG));
    REQUIRE_EQ(0, hv_host_set_log(f.host, NULL, NULL, HV_LOG_DEBUG));
    EXPECT_EQ(-EPROTO, stop_domain(&f));
    EXPECT_EQ(0, s.n);
    fixture_destroy(&f);
}

static void a_new_sink_replaces_the_old_one(void) {
    struct fixture f;
    struct sink a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hv_host_set_log(f.host, collect, &a, HV_LOG_ERROR));
    REQUIRE_EQ(0, hv_host_set_log(f.host, collect, &b, HV_LOG_ERROR));
    EXPECT_EQ(-EPROTO, stop_domain(&f));
    EXPECT_EQ(0, a.n);
    EXPECT_EQ(1, b.n);
    EXPECT_TRUE(b.opaque_seen == &b);
    fixture_destroy(&f);
}

static void each_host_has_its_own_sink(void) {
    struct fixture f, g;
    struct sink a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, fixture_create(&g));
    REQUIRE_EQ(0, hv_host_set_log(f.host, collect, &a, HV_LOG_ERROR));
    REQUIRE_EQ(0, hv_host_set_log(g.host, collect, &b, HV_LOG_ERROR));
    EXPECT_EQ(-EPROTO, stop_domain(&g));
    EXPECT_EQ(0, a.n);
    EXPECT_EQ(1, b.n);
    fixture_destroy(&g);
    fixture_destroy(&f);
}

static void bad_arguments_are_einval_and_change_nothing(void) {
    struct fixture f;
    struct sink a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(-EINVAL, hv_host_set_log(NULL, collect, &a, HV_LOG_ERROR));
    REQUIRE_EQ(0, hv_host_set_log(f.host, collect, &a, HV_LOG_ERROR));
    EXPECT_EQ(-EINVAL, hv_host_set_log(f.host, collect, &b, -1));
    EXPECT_EQ(-EINVAL, hv_host_set_log(f.host, collect, &b, HV_LOG_DEBUG + 1));
    EXPECT_EQ(-EINVAL, hv_host_set_log(f.host, NULL, NULL, 99));
    EXPECT_EQ(-EPROTO, stop_domain(&f));
    EXPECT_EQ(1, a.n); /* still the first sink */
    EXPECT_EQ(0, b.n);
    fixture_destroy(&f);
}

/* Without a callback nothing is printed: run a stop with stderr sent to a
 * temporary file and check that it stays empty. */
static void without_a_callback_the_library_prints_nothing(void) {
    struct fixture f;
    FILE *tmp = tmpfile();
    int saved;
    long size;
    REQUIRE_TRUE(tmp != NULL);
    fflush(stderr);
    saved = dup(2);
    REQUIRE_TRUE(saved >= 0);
    REQUIRE_TRUE(dup2(fileno(tmp), 2) == 2);
    if (fixture_create(&f) == 0) {
        (void)stop_domain(&f);
        fixture_destroy(&f);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fseek(tmp, 0, SEEK_END);
    size = ftell(tmp);
    fclose(tmp);
    EXPECT_EQ(0, size);
}

int main(void) {
    skip_unless_vmx_backend("test_log");
    RUN(a_domain_stop_reaches_the_callback_as_an_error);
    RUN(max_level_filters_and_debug_is_delivered_when_asked);
    RUN(the_callback_may_call_back_into_the_library);
    RUN(a_null_callback_drops_messages);
    RUN(a_new_sink_replaces_the_old_one);
    RUN(each_host_has_its_own_sink);
    RUN(bad_arguments_are_einval_and_change_nothing);
    RUN(without_a_callback_the_library_prints_nothing);
    return abi_finish("test_log");
}
