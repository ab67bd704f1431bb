/* SPDX-License-Identifier: MIT */
/* hvdm_restrict (<hvcore/hvdm.h>), as Linux's IOCTL_PRIVCMD_RESTRICT
 * (drivers/xen/privcmd.c privcmd_ioctl_restrict): once restricted, a handle
 * names only that domid; restricting again to it succeeds, to another one is
 * -EINVAL. Like every call but hvdm_close it is thread-safe: of threads
 * racing to restrict one handle to different domids exactly one succeeds
 * (labelled concurrent: the tsan preset runs it). */
#include "abi_test.h"

#ifndef HVCORE_TEST_NO_THREADS
#include <pthread.h>
#endif

static void restricting_again_to_the_same_domid_succeeds_and_to_another_is_einval(void) {
    struct fixture f;
    hvdm_ioservid_t id = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    EXPECT_EQ(0, hvdm_restrict(f.dm, f.domid));
    EXPECT_EQ(0, hvdm_restrict(f.dm, f.domid));
    EXPECT_EQ(-EINVAL, hvdm_restrict(f.dm, (hvdm_domid_t)(f.domid + 1)));
    /* the failed restrict changed nothing: its domain is still the one */
    EXPECT_EQ(-EPERM, hvdm_create_ioreq_server(f.dm, (hvdm_domid_t)(f.domid + 1), HVDM_BUFIOREQ_OFF, &id));
    EXPECT_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    fixture_destroy(&f);
}

#ifndef HVCORE_TEST_NO_THREADS

#define RACERS 8
#define ROUNDS 300

/* Every round: the main thread opens a handle, the racers restrict it at
 * once (racer i to domid + i), the main thread checks and closes it. */
struct race {
    pthread_barrier_t start, done;
    hvdm_handle *h;
    hvdm_domid_t domid;
    int same; /* all racers restrict to domid */
    int rc[RACERS];
    int stop;
};

struct racer {
    struct race *race;
    int index;
};

static void *restrict_racer(void *arg) {
    struct racer *r = (struct racer *)arg;
    for (;;) {
        pthread_barrier_wait(&r->race->start);
        if (r->race->stop) return NULL;
        r->race->rc[r->index] =
            hvdm_restrict(r->race->h, (hvdm_domid_t)(r->race->domid + (r->race->same ? 0 : r->index)));
        pthread_barrier_wait(&r->race->done);
    }
}

static void threads_racing_to_restrict_to_different_domids_exactly_one_wins(void) {
    struct fixture f;
    struct race race;
    struct racer racers[RACERS];
    pthread_t th[RACERS];
    int round, i, started = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    memset(&race, 0, sizeof race);
    race.domid = f.domid;
    REQUIRE_EQ(0, pthread_barrier_init(&race.start, NULL, RACERS + 1));
    REQUIRE_EQ(0, pthread_barrier_init(&race.done, NULL, RACERS + 1));
    for (i = 0; i < RACERS; ++i) {
        racers[i].race = &race;
        racers[i].index = i;
        if (!EXPECT_EQ(0, pthread_create(&th[i], NULL, restrict_racer, &racers[i]))) break;
        ++started;
    }
    for (round = 0; started == RACERS && round < ROUNDS; ++round) {
        int winners = 0, winner = -1, bad = 0;
        race.h = hvdm_open(f.host);
        if (!EXPECT_TRUE(race.h != NULL)) break;
        pthread_barrier_wait(&race.start);
        pthread_barrier_wait(&race.done);
        for (i = 0; i < RACERS; ++i) {
            if (race.rc[i] == 0) {
                ++winners;
                winner = i;
            } else if (race.rc[i] != -EINVAL) {
                bad = 1;
                EXPECT_EQ(-EINVAL, race.rc[i]);
            }
        }
        if (!EXPECT_EQ(1, winners) || bad) {
            fprintf(stderr, "    in round %d\n", round);
            EXPECT_EQ(0, hvdm_close(race.h));
            break;
        }
        /* the handle is restricted to the winner's domid and no other */
        for (i = 0; i < RACERS; ++i) {
            const hvdm_domid_t d = (hvdm_domid_t)(f.domid + i);
            hvdm_ioservid_t id = 0;
            const int rc = hvdm_create_ioreq_server(race.h, d, HVDM_BUFIOREQ_OFF, &id);
            if (i != winner) {
                EXPECT_EQ(-EINVAL, hvdm_restrict(race.h, d));
                EXPECT_EQ(-EPERM, rc);
            } else {
                EXPECT_EQ(0, hvdm_restrict(race.h, d));
                EXPECT_EQ(d == f.domid ? 0 : -ESRCH, rc); /* only f.domid exists */
            }
        }
        EXPECT_EQ(0, hvdm_close(race.h));
    }
    race.stop = 1;
    if (started == RACERS) pthread_barrier_wait(&race.start);
    for (i = 0; i < started; ++i) EXPECT_EQ(0, pthread_join(th[i], NULL));
    pthread_barrier_destroy(&race.start);
    pthread_barrier_destroy(&race.done);
    fixture_destroy(&f);
}

static void threads_racing_to_restrict_to_the_same_domid_all_succeed(void) {
    struct fixture f;
    struct race race;
    struct racer racers[RACERS];
    pthread_t th[RACERS];
    int i, started = 0;
    REQUIRE_EQ(0, fixture_create(&f));
    memset(&race, 0, sizeof race);
    race.domid = f.domid;
    race.h = f.dm;
    race.same = 1;
    REQUIRE_EQ(0, pthread_barrier_init(&race.start, NULL, RACERS + 1));
    REQUIRE_EQ(0, pthread_barrier_init(&race.done, NULL, RACERS + 1));
    for (i = 0; i < RACERS; ++i) {
        racers[i].race = &race;
        racers[i].index = i;
        if (!EXPECT_EQ(0, pthread_create(&th[i], NULL, restrict_racer, &racers[i]))) break;
        ++started;
    }
    if (started == RACERS) {
        for (i = 0; i < RACERS; ++i) race.rc[i] = 1;
        pthread_barrier_wait(&race.start);
        pthread_barrier_wait(&race.done);
        for (i = 0; i < RACERS; ++i) EXPECT_EQ(0, race.rc[i]);
        race.stop = 1;
        pthread_barrier_wait(&race.start);
    }
    for (i = 0; i < started; ++i) EXPECT_EQ(0, pthread_join(th[i], NULL));
    pthread_barrier_destroy(&race.start);
    pthread_barrier_destroy(&race.done);
    fixture_destroy(&f);
}
#endif /* HVCORE_TEST_NO_THREADS */

int main(void) {
    skip_unless_vmx_backend("test_restrict");
    RUN(restricting_again_to_the_same_domid_succeeds_and_to_another_is_einval);
#ifndef HVCORE_TEST_NO_THREADS
    RUN(threads_racing_to_restrict_to_different_domids_exactly_one_wins);
    RUN(threads_racing_to_restrict_to_the_same_domid_all_succeed);
#else
    printf("skip threads_racing_to_restrict_to_* (built without threads: qemu-user)\n");
#endif
    return abi_finish("test_restrict");
}
