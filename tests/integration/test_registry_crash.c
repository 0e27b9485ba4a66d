/* Crash safety of the registry: a writer process moves batteries and reports every move
 * after its commit returned; it is SIGKILLed at random points (seeded) 200 times. After
 * every kill the database must open, pass PRAGMA integrity_check, and hold every
 * acknowledged move. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "registry/registry.h"
#include "rng/rng.h"

#define N_PACKS 8
#define N_SLOTS 16
#define KILLS 200

struct ack {
    long seq;
    uint32_t tag;
    int slot;
};

/* The writer: moves pack (seq % 8) + 1 to a free slot, one committed move per seq, and
 * acknowledges each with "seq tag slot\n" on fd. Never returns. */
static void writer(const char *path, long seq, int fd)
{
    struct registry_error err;
    struct registry *reg = registry_open(path, 0, &err);
    if (!reg) {
        dprintf(2, "writer: %s\n", err.msg);
        _exit(2);
    }
    for (;; seq++) {
        uint32_t tag = (uint32_t)(seq % N_PACKS) + 1;
        int slot = 0;
        for (int k = 0; k < N_SLOTS && !slot; k++) {
            int s = (int)((seq * 7 + k) % N_SLOTS) + 1;
            uint32_t there;
            if (registry_find_at(reg, (struct registry_location){ REGISTRY_PLACE_SLOT, s }, &there) ==
                REGISTRY_ENOTFOUND)
                slot = s;
        }
        char step[32];
        snprintf(step, sizeof step, "move-%ld", seq);
        int rc = registry_move_battery(reg, tag, (struct registry_location){ REGISTRY_PLACE_SLOT, slot },
                                       step, 0, 0, seq);
        if (rc != 0) {
            dprintf(2, "writer: move %ld: %s\n", seq, registry_last_error(reg));
            _exit(3);
        }
        char line[64];
        int n = snprintf(line, sizeof line, "%ld %u %d\n", seq, tag, slot);
        if (write(fd, line, (size_t)n) != n)
            _exit(4);
    }
}

static struct ack *acks;
static int n_acks;

/* Reads every acknowledgement the writer got out before it died. */
static void read_acks(FILE *f)
{
    struct ack a;
    while (fscanf(f, "%ld %u %d", &a.seq, &a.tag, &a.slot) == 3)
        acks[n_acks++] = a;
}

static long *maybe;       /* per writer: the move that may have committed unacknowledged */
static int n_maybe;

static bool is_maybe(long seq)
{
    for (int i = 0; i < n_maybe; i++)
        if (maybe[i] == seq)
            return true;
    return false;
}

static int last_step(struct registry_location loc, int64_t t, const char *step, int64_t swap, void *ctx)
{
    (void)loc;
    (void)t;
    (void)swap;
    long seq;
    if (sscanf(step, "move-%ld", &seq) == 1)
        *(long *)ctx = seq;
    return 0;
}

struct history_find {
    char step[32];
    int slot;
    bool found;
};

static int find_step(struct registry_location loc, int64_t t, const char *step, int64_t swap, void *ctx)
{
    (void)t;
    (void)swap;
    struct history_find *h = ctx;
    if (strcmp(step, h->step) == 0 && loc.place == REGISTRY_PLACE_SLOT && loc.index == h->slot) {
        h->found = true;
        return 1;
    }
    return 0;
}

START_TEST(every_acknowledged_move_survives_sigkill)
{
    char dir[256], path[300];
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "regcrash"), 0);
    snprintf(path, sizeof path, "%s/station.db", dir);
    struct registry_error err;
    struct registry *reg = registry_open(path, REGISTRY_OPEN_CREATE, &err);
    ck_assert_msg(reg != NULL, "%s", err.msg);
    for (uint32_t t = 1; t <= N_PACKS; t++) {
        struct registry_battery b;
        memset(&b, 0, sizeof b);
        b.tag = t;
        snprintf(b.serial, sizeof b.serial, "SWP-%08X", t);
        b.rated_mah = 5000;
        b.cells = 6;
        b.capacity_mah = 5000;
        b.loc = (struct registry_location){ REGISTRY_PLACE_SLOT, (int)t };
        ck_assert_int_eq(registry_add_battery(reg, &b, 0), 0);
    }
    registry_close(reg);

    acks = calloc(1000000, sizeof *acks);
    n_acks = 0;
    maybe = calloc(KILLS, sizeof *maybe);
    n_maybe = 0;
    struct sim_rng rng;
    sim_rng_seed(&rng, 20261126);
    long next_seq = 1;
    long long t0 = proc_now_ms();
    for (int kill_no = 0; kill_no < KILLS; kill_no++) {
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            writer(path, next_seq, fds[1]);
        }
        close(fds[1]);
        FILE *f = fdopen(fds[0], "r");
        /* Random kill point: after 0..4 acknowledgements, then 0..3 ms more. */
        uint32_t wait_acks = sim_rng_below(&rng, 5);
        int before = n_acks;
        struct ack a;
        while ((uint32_t)(n_acks - before) < wait_acks && fscanf(f, "%ld %u %d", &a.seq, &a.tag, &a.slot) == 3)
            acks[n_acks++] = a;
        struct timespec ts = { 0, (long)sim_rng_below(&rng, 3000) * 1000L };
        nanosleep(&ts, NULL);
        int status = proc_kill_wait(pid, SIGKILL);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "writer exited by itself (status %d) at kill %d", status, kill_no);
        read_acks(f);
        fclose(f);
        /* The move after this writer's last acknowledged one may have committed. */
        long unacked = n_acks > before ? acks[n_acks - 1].seq + 1 : next_seq;
        maybe[n_maybe++] = unacked;
        next_seq = unacked + 1;

        reg = registry_open(path, 0, &err);
        ck_assert_msg(reg != NULL, "reopen after kill %d: %s", kill_no, err.msg);
        ck_assert_msg(registry_check_integrity(reg) == 0, "%s", registry_last_error(reg));
        /* Each pack's last recorded move is its last acknowledged one, or a later move
         * that committed just before a kill. */
        for (uint32_t tag = 1; tag <= N_PACKS; tag++) {
            long acked = 0, last = 0;
            for (int k = n_acks - 1; k >= 0; k--)
                if (acks[k].tag == tag) {
                    acked = acks[k].seq;
                    break;
                }
            registry_list_history(reg, tag, last_step, &last);
            ck_assert_msg(last == acked || (last > acked && is_maybe(last)),
                          "pack %u: last move %ld, last acknowledged %ld (kill %d)", tag, last, acked, kill_no);
        }
        registry_close(reg);
    }
    /* Every acknowledged move is in the history, in full. */
    reg = registry_open(path, 0, &err);
    ck_assert_ptr_nonnull(reg);
    for (int k = 0; k < n_acks; k++) {
        struct history_find h = { .slot = acks[k].slot };
        snprintf(h.step, sizeof h.step, "move-%ld", acks[k].seq);
        registry_list_history(reg, acks[k].tag, find_step, &h);
        ck_assert_msg(h.found, "acknowledged move %ld of pack %u missing", acks[k].seq, acks[k].tag);
    }
    ck_assert_int_eq(registry_check_integrity(reg), 0);
    registry_close(reg);
    printf("registry crash: %d kills, %d acknowledged moves, all present, integrity ok (%lld ms)\n",
           KILLS, n_acks, proc_now_ms() - t0);
    fflush(stdout);
    free(acks);
    free(maybe);
    proc_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("registry_crash");
    TCase *tc = tcase_create("sigkill");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_acknowledged_move_survives_sigkill);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
