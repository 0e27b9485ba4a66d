/* The invariant campaign inside `make check`: at least 600 seeded random swaps with
 * plant faults, drone misbehaviour, comm losses, controller restarts at four points of a
 * scan, a full or failing store, PLC power cycles and operator actions, with swapd's own
 * shell (inventory, persistence worker, registry on a real SQLite file) in the loop, every fault kind included, every safety rule of DESIGN §5 checked after every
 * scan against the plant's ground truth (docs/campaign.md), and no world may stall; a
 * seed replays exactly; a clean campaign completes every swap. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campaign.h"
#include "core/swapseq.h"
#include "dronelink/dronelink.h"

#define SWAPS_WANTED 600
#define SWAPS_PER_WORLD 25

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(hundreds_of_swaps_with_faults_break_no_rule)
{
    struct campaign_result total;
    memset(&total, 0, sizeof total);
    unsigned worlds = 0, stalled = 0;
    double t0 = now_s();
    for (uint64_t seed = 1; total.swaps_completed + total.swaps_aborted < SWAPS_WANTED; seed++) {
        struct campaign_opts o = {
            .seed = seed, .swaps = SWAPS_PER_WORLD, .sequence = SWAPSEQ_PIPELINED, .faults = true,
            .report = stdout,
        };
        struct campaign_result r;
        int rc = campaign_run(&o, &r);
        ck_assert_int_ge(rc, 0);
        worlds++;
        stalled += r.stalled;
        campaign_result_add(&total, &r);
        ck_assert_msg(r.violations == 0, "%s (replay: campaign --seed %" PRIu64 " --count %d)", r.first_violation,
                      seed, SWAPS_PER_WORLD);
        ck_assert_msg(!r.stalled, "seed %" PRIu64 " stalled %s(replay: campaign --seed %" PRIu64 " --count %d)", seed,
                      r.first_stall, seed, SWAPS_PER_WORLD);
        ck_assert_msg(seed < 400, "too few swaps end: %u after %u worlds", total.swaps_completed + total.swaps_aborted,
                      worlds);
    }
    double wall = now_s() - t0;
    unsigned ended = total.swaps_completed + total.swaps_aborted;
    printf("campaign: %u swaps in %u worlds (seeds 1..%u): %u completed, %u aborted by faults; "
           "%.0f swaps/s (%.1f s, %.1f h of station time)\n",
           ended, worlds, worlds, total.swaps_completed, total.swaps_aborted, ended / wall, wall,
           (double)total.virtual_ms / 3.6e6);
    printf("campaign: %u faults, %u misbehaviours, %u comm losses, %u restarts, %u operator commands; "
           "0 violations; %u worlds stalled\n",
           total.faults_injected, total.misbehaviours, total.comm_losses, total.restarts, total.operator_cmds, stalled);
    ck_assert_uint_ge(ended, SWAPS_WANTED);
    ck_assert_uint_eq(total.violations, 0);
    /* the campaign must have exercised what it claims to */
    ck_assert_uint_gt(total.faults_injected, 100);
    ck_assert_uint_gt(total.misbehaviours, 100);
    ck_assert_uint_gt(total.comm_losses, 20);
    ck_assert_uint_gt(total.restarts, 10);
    /* the shell's store and the plant's PLC fail too */
    printf("campaign: %u disk faults, %u plant restarts, the registry file compared %u times\n", total.disk_faults,
           total.plant_restarts, total.durable_checks);
    ck_assert_uint_gt(total.durable_checks, 100);
    ck_assert_uint_gt(total.disk_faults, 10);
    ck_assert_uint_gt(total.plant_restarts, 5);
    printf("campaign: %u contradictory end sensor pairs, %u frozen images, %u registers out of range, "
           "%u operator Suspends with a drone on the pad\n",
           total.sensor_conflicts, total.frozen_images, total.invalid_images, total.suspends_on_pad);
    ck_assert_uint_gt(total.sensor_conflicts, 3);
    ck_assert_uint_gt(total.frozen_images, 5);
    ck_assert_uint_gt(total.invalid_images, 5);
    ck_assert_uint_gt(total.suspends_on_pad, 2);
    ck_assert_uint_gt(total.swaps_completed, total.swaps_aborted);
}
END_TEST

START_TEST(a_seed_replays_exactly)
{
    struct campaign_opts o = { .seed = 4242, .swaps = 10, .sequence = SWAPSEQ_PIPELINED, .faults = true,
                               .report = stdout };
    struct campaign_result a, b;
    ck_assert_int_ge(campaign_run(&o, &a), 0);
    ck_assert_int_ge(campaign_run(&o, &b), 0);
    ck_assert_uint_eq(a.trace_hash, b.trace_hash);
    ck_assert_uint_eq(a.scans, b.scans);
    ck_assert_uint_eq(a.swaps_completed, b.swaps_completed);
    ck_assert_uint_eq(a.faults_injected, b.faults_injected);
    ck_assert_uint_gt(a.faults_injected + a.misbehaviours, 0);
    /* and another seed is another run */
    o.seed = 4243;
    struct campaign_result c;
    ck_assert_int_ge(campaign_run(&o, &c), 0);
    ck_assert_uint_ne(a.trace_hash, c.trace_hash);
    printf("replay: seed 4242 twice, trace hash %016" PRIx64 " both times (%" PRIu64 " scans)\n", a.trace_hash,
           a.scans);
}
END_TEST

/* Seed 63: drone 11 diverts, comes back with a pack the registry has never seen, while
 * the registry still books it an older station pack; the controller restarts while it
 * serves that drone (step to_bay). The resumed swap takes the pack the drone reports (and
 * the progress record names), not the stale booking, as swapd does (docs/station.md). */
START_TEST(a_restart_mid_swap_takes_the_drones_own_pack)
{
    struct campaign_opts o = { .seed = 63, .swaps = SWAPS_PER_WORLD, .sequence = SWAPSEQ_PIPELINED, .faults = true,
                               .report = stdout };
    struct campaign_result r;
    ck_assert_int_ge(campaign_run(&o, &r), 0);
    ck_assert_uint_ge(r.restarts, 2);
    ck_assert_msg(r.violations == 0, "%s (replay: campaign --seed 63 --count %d)", r.first_violation,
                  SWAPS_PER_WORLD);
    ck_assert(!r.stalled);
}
END_TEST

/* Seed 7843 (of SEED=7771): the controller restarts while the plant link is down, mid
 * clamp with the drone on the pad; the coils are read back once the link answers and
 * nothing is written before, as swapd does, so the clamp is not released under it. */
START_TEST(a_restart_during_a_comm_loss_reads_back_before_writing)
{
    struct campaign_opts o = { .seed = 7843, .swaps = SWAPS_PER_WORLD, .sequence = SWAPSEQ_PIPELINED, .faults = true,
                               .report = stdout };
    struct campaign_result r;
    ck_assert_int_ge(campaign_run(&o, &r), 0);
    ck_assert_uint_ge(r.restarts, 1);
    ck_assert_uint_ge(r.comm_losses, 1);
    ck_assert_msg(r.violations == 0, "%s (replay: campaign --seed 7843 --count %d)", r.first_violation,
                  SWAPS_PER_WORLD);
    ck_assert(!r.stalled);
}
END_TEST

/* Seed 17: drone 11 diverts and comes back with a spare pack the registry never saw,
 * while the registry still books it the station pack it left with. Taking the spare out
 * of the drone must unbook the other pack (its place is unknown): else the registry
 * refuses the fresh pack into drone 11 for good ("drone 11 already holds a battery"),
 * every Unhold ends in commit_timeout and the world stalls. */
START_TEST(a_drone_back_with_another_pack_is_served)
{
    struct campaign_opts o = { .seed = 17, .swaps = SWAPS_PER_WORLD, .sequence = SWAPSEQ_PIPELINED, .faults = true,
                               .report = stdout };
    struct campaign_result r;
    ck_assert_int_ge(campaign_run(&o, &r), 0);
    ck_assert_msg(r.violations == 0, "%s (replay: campaign --seed 17 --count %d)", r.first_violation,
                  SWAPS_PER_WORLD);
    ck_assert_msg(!r.stalled, "%s (replay: campaign --seed 17 --count %d)", r.first_stall, SWAPS_PER_WORLD);
    ck_assert_uint_ge(r.swaps_completed, 20);
}
END_TEST

/* Seed 7786 (of SEED=7771): the operator adopts the sensors' view while the load cell
 * lies, so the core no longer names the pack in drone 11 and takes it out as a pack of
 * unknown serial. The shell records the move of the pack it has in that drone (as it
 * names the pad pack), not an event that leaves the registry booking it to the drone
 * while it sits in gripper A (rule b). */
START_TEST(an_unnamed_pack_taken_from_a_drone_is_the_one_booked_there)
{
    struct campaign_opts o = { .seed = 7786, .swaps = SWAPS_PER_WORLD, .sequence = SWAPSEQ_PIPELINED, .faults = true,
                               .report = stdout };
    struct campaign_result r;
    ck_assert_int_ge(campaign_run(&o, &r), 0);
    ck_assert_msg(r.violations == 0, "%s (replay: campaign --seed 7786 --count %d)", r.first_violation,
                  SWAPS_PER_WORLD);
    ck_assert(!r.stalled);
}
END_TEST

/* Seed 1: a plant link lost for 1.1 s while drone 11 lands reconnects; the new
 * connection is a plant restart for the core, so nothing moves on it before the core
 * reconciled again (rule f: "motion written to a new plant connection"). */
START_TEST(a_new_plant_connection_moves_nothing_before_reconciling)
{
    struct campaign_opts o = { .seed = 1, .swaps = SWAPS_PER_WORLD, .sequence = SWAPSEQ_PIPELINED, .faults = true,
                               .report = stdout };
    struct campaign_result r;
    ck_assert_int_ge(campaign_run(&o, &r), 0);
    ck_assert_uint_ge(r.comm_losses, 1);
    ck_assert_msg(r.violations == 0, "%s (replay: campaign --seed 1 --count %d)", r.first_violation,
                  SWAPS_PER_WORLD);
}
END_TEST

START_TEST(a_clean_campaign_completes_every_swap)
{
    struct campaign_result total;
    memset(&total, 0, sizeof total);
    for (uint64_t seed = 1; seed <= 4; seed++) {
        struct campaign_opts o = { .seed = seed, .swaps = 25, .sequence = SWAPSEQ_PIPELINED, .faults = false,
                                   .report = stdout };
        struct campaign_result r;
        ck_assert_int_eq(campaign_run(&o, &r), 0);
        campaign_result_add(&total, &r);
    }
    ck_assert_uint_eq(total.swaps_completed, 100);
    ck_assert_uint_eq(total.swaps_aborted, 0);
    ck_assert_uint_eq(total.violations, 0);
    ck_assert(!total.stalled);
    printf("clean: 100 swaps, on-pad mean %.3f s, max %.3f s\n", total.onpad_sum_s / total.onpad_n, total.onpad_max_s);
}
END_TEST

/* docs/drone-protocol.md §9: thirty drones on one link, three of which divert while
 * queued: every request is served first come first served, none waits longer than its
 * position times the documented bound per position, the diverted drop out (the per-drone
 * stall detector fails the world if a silent drone keeps its place past 5 s). */
START_TEST(thirty_drones_are_served_in_order)
{
    static struct campaign_wait waits[256];
    struct campaign_opts o = { .seed = 7, .swaps = 40, .sequence = SWAPSEQ_PIPELINED, .faults = false,
                               .n_drones = 30, .fleet = true, .fleet_divert = 3, .waits = waits,
                               .max_waits = 256, .report = stdout };
    struct campaign_result r;
    ck_assert_int_eq(campaign_run(&o, &r), 0);
    char why[256];
    if (getenv("FLEET_VERBOSE"))
        for (unsigned i = 0; i < r.n_waits; i++)
            printf("  drone %u asked %.3f pos %u cleared %.3f%s\n", waits[i].sysid, waits[i].asked_ms / 1000.0,
                   waits[i].position, waits[i].cleared_ms / 1000.0, waits[i].diverted ? " diverted" : "");
    ck_assert_msg(campaign_fleet_check(waits, r.n_waits, DRONELINK_WAIT_PER_POSITION_MS, r.virtual_ms, why, sizeof why) == 0,
                  "%s", why);
    unsigned cleared = 0, diverted = 0, first_round = 0;
    double worst = 0;
    bool seen[256] = { false };
    for (unsigned i = 0; i < r.n_waits; i++) {
        cleared += waits[i].cleared_ms != 0;
        diverted += waits[i].diverted;
        if (!seen[waits[i].sysid] && (waits[i].cleared_ms || waits[i].diverted))
            first_round++;
        seen[waits[i].sysid] = true;
        if (waits[i].cleared_ms && waits[i].position) {
            double per = (double)(waits[i].cleared_ms - waits[i].asked_ms) / waits[i].position / 1000.0;
            if (per > worst)
                worst = per;
        }
    }
    ck_assert_uint_eq(first_round, 30);   /* every drone's first request was served (or it diverted) */
    ck_assert_uint_eq(diverted, 3);
    printf("fleet: 30 drones, %u requests, %u cleared in order, %u diverted; worst wait per position %.1f s "
           "(bound %.0f s)\n", r.n_waits, cleared, diverted, worst, DRONELINK_WAIT_PER_POSITION_MS / 1000.0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("campaign");
    TCase *tc = tcase_create("campaign");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, hundreds_of_swaps_with_faults_break_no_rule);
    tcase_add_test(tc, a_seed_replays_exactly);
    tcase_add_test(tc, a_restart_mid_swap_takes_the_drones_own_pack);
    tcase_add_test(tc, a_restart_during_a_comm_loss_reads_back_before_writing);
    tcase_add_test(tc, a_drone_back_with_another_pack_is_served);
    tcase_add_test(tc, an_unnamed_pack_taken_from_a_drone_is_the_one_booked_there);
    tcase_add_test(tc, a_new_plant_connection_moves_nothing_before_reconciling);
    tcase_add_test(tc, a_clean_campaign_completes_every_swap);
    tcase_add_test(tc, thirty_drones_are_served_in_order);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
