/* Battery health in the running station: swapsim, dronesim and swapd as real processes,
 * chargers and drones with charger-grade current sensors (noise, offset, gain error), every
 * pack of the magazine aged to SOH_TRUE. Plant and drones run REALTIME times faster than
 * the wall clock and their batteries BATTERY_SCALE times faster still (--battery-time-scale:
 * the robot keeps its speed, the packs live 250 s per second of the test); swapd times the
 * battery telemetry in the packs' time ([simulation] time_scale), so that a minute of the
 * test is hours of the packs' life: flights of about 40 % of the pack, rests before and
 * after each charge, 2C charges. A pack gets capacity windows from a flight and from a
 * charge, and its registry row moves from the 100 % prior of a new pack to the simulator's
 * truth, which swapsim tells the test through its control socket (swapd never reads it). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "rig.h"

#define REALTIME "5"            /* plant and drone time per wall time (robot, pad, radio) */
#define BATTERY_SCALE "50"      /* battery time per plant time: in the magazine (a divisor
                                 * of 1000: one battery second every 20 ms of the plant) */
#define DRONE_BATTERY_SCALE "10" /* battery time per drone time: in the air (take-off, return,
                                  * landing and the landing queue keep a drone in the air
                                  * for seconds of drone time; at 60 that would empty it) */
#define FLIGHT_S "20"           /* drone seconds in the air: about 35 % of the pack */
#define IN_ROTATION 1           /* magazine packs in service (the others are retired): with
                                 * the drone's own pack, two packs take turns */
#define SOH_TRUE 0.85
#define N_PACKS 8
/* The registry's SoH must come within SOH_TOL of the truth (from 15 points away), and its
 * sd must cover the error at COVER_Z. Measured here: within 0.8 pp, sd 0.8 pp. */
#define SOH_TOL 0.02
#define COVER_Z 3.0
#define TIMEOUT_MS 50000

struct pack_windows {
    unsigned tag;
    int flight, charge, mixed;
};

/* Counts the capacity windows per pack from the registry's events. */
static int count_windows(sqlite3 *db, struct pack_windows w[N_PACKS])
{
    memset(w, 0, sizeof(struct pack_windows) * N_PACKS);
    for (int i = 0; i < N_PACKS; i++)
        w[i].tag = 0x5A000001u + (unsigned)i;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT text FROM events WHERE source = 'battery' AND text LIKE '%capacity window%'",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        unsigned tag;
        char kind[16];
        if (!text || sscanf(text, "pack SWP-%8X capacity window from a %15[a-z]", &tag, kind) != 2)
            continue;
        for (int i = 0; i < N_PACKS; i++) {
            if (w[i].tag != tag)
                continue;
            if (!strcmp(kind, "flight"))
                w[i].flight++;
            else if (!strcmp(kind, "charge"))
                w[i].charge++;
            else
                w[i].mixed++;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Prints the capacity windows of one pack (the events' text). */
static void print_windows(sqlite3 *db, unsigned tag)
{
    char like[64];
    snprintf(like, sizeof like, "pack SWP-%08X capacity window%%", tag);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT text FROM events WHERE source = 'battery' AND text LIKE ?", -1, &st, NULL) !=
        SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, like, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW)
        printf("health station: %s\n", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    fflush(stdout);
}

/* The registry's capacity and its sd for a pack; -1 when not there. */
static int registry_capacity(sqlite3 *db, unsigned tag, double *cap_mAh, double *sd_mAh, double *rated_mAh)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT capacity_mah, capacity_sd_mah, rated_mah FROM batteries WHERE tag = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, tag);
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *cap_mAh = sqlite3_column_double(st, 0);
        *sd_mAh = sqlite3_column_double(st, 1);
        *rated_mAh = sqlite3_column_double(st, 2);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

/* configs/plant.ini with 2C chargers (a fast-charging station) and a PLC watchdog that a
 * loaded test machine does not trip at REALTIME times the wall clock. */
static int write_plant_ini(const char *out)
{
    char src[512];
    FILE *in = fopen(proc_config("plant.ini", src, sizeof src), "r");
    FILE *o = fopen(out, "w");
    if (!in || !o) {
        if (in)
            fclose(in);
        if (o)
            fclose(o);
        return -1;
    }
    char line[512], section[64] = "";
    while (fgets(line, sizeof line, in)) {
        sscanf(line, " [%63[^]]]", section);
        if (!strcmp(section, "safety") && !strncmp(line, "watchdog_ms", 11))
            fprintf(o, "watchdog_ms = 3000\n"); /* 600 ms of wall time: a loaded machine */
        else if (!strcmp(section, "charger") && !strncmp(line, "c_rate", 6))
            fprintf(o, "c_rate = 2.0\n");
        else
            fputs(line, o);
    }
    fclose(in);
    return fclose(o);
}

/* The simulator's true SoH of a pack (swapsim's truth); NAN when not known. */
static double true_soh(struct rig *r, unsigned tag)
{
    json_t *t = rig_sim(r, "{\"cmd\":\"truth\"}");
    double soh = NAN;
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(t, "batteries"), i, b) {
        if ((unsigned)json_integer_value(json_object_get(b, "tag")) == tag)
            soh = json_number_value(json_object_get(b, "soh"));
    }
    json_decref(t);
    return soh;
}

START_TEST(registry_converges_to_the_truth_from_flights_and_charges)
{
    struct rig r = { 0 };
    r.drone_sensor = "charger";
    char pdir[256], plant[300];
    ck_assert_int_eq(proc_mkdtemp(pdir, sizeof pdir, "swap-health-plant"), 0);
    snprintf(plant, sizeof plant, "%s/plant.ini", pdir);
    ck_assert_int_eq(write_plant_ini(plant), 0);
    r.plant_config = plant;
    r.battery_scale = BATTERY_SCALE;
    r.drone_battery_scale = DRONE_BATTERY_SCALE;
    ck_assert_msg(rig_start_sim(&r, REALTIME) == 0, "%s", r.err);
    for (int i = 0; i < N_PACKS; i++) {
        char line[160];
        snprintf(line, sizeof line, "{\"cmd\":\"set_battery\",\"tag\":%u,\"soh\":%.2f}", 0x5A000001u + (unsigned)i,
                 SOH_TRUE);
        json_t *rep = rig_sim(&r, line);
        ck_assert_msg(rep && json_is_true(json_object_get(rep, "ok")), "set_battery %d", i);
        json_decref(rep);
    }
    char cfg[RIG_PATH + 16];
    snprintf(cfg, sizeof cfg, "%s/swapd.ini", r.dir);
    FILE *f = fopen(cfg, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "[plant_link]\ntimeout_ms = 500\n[simulation]\ntime_scale = %d\n[charging]\nrest_before_charge_s = 300\n"
               "[eligibility]\nmin_rest_after_charge_s = 180\n", atoi(REALTIME) * atoi(BATTERY_SCALE));
    fclose(f);
    ck_assert_msg(rig_start_drones(&r, "1", FLIGHT_S) == 0, "%s", r.err);
    ck_assert_msg(rig_start_swapd(&r, cfg, true) == 0, "%s", r.err);
    /* A small rotation, so that a pack comes back for its next flight within the test. */
    for (int i = IN_ROTATION; i < N_PACKS; i++) {
        char line[200];
        snprintf(line, sizeof line, "{\"cmd\":\"retire\",\"battery\":\"SWP-%08X\",\"reason\":\"out of the rotation\"}",
                 0x5A000001u + (unsigned)i);
        json_t *rep = rig_swapd(&r, line);
        ck_assert_msg(rep && json_is_true(json_object_get(rep, "ok")), "retire %d", i);
        json_decref(rep);
    }

    sqlite3 *db = NULL;
    long long end = proc_now_ms() + TIMEOUT_MS;
    struct pack_windows w[N_PACKS];
    int found = -1;
    bool alive = true;
    while (found < 0 && (alive = proc_alive(r.swapd)) && proc_now_ms() < end) {
        if (!db && sqlite3_open_v2(r.db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
            sqlite3_close(db);
            db = NULL;
        }
        if (db) {
            sqlite3_busy_timeout(db, 1000);
            if (count_windows(db, w) == 0)
                for (int i = 0; i < IN_ROTATION && found < 0; i++)
                    if (w[i].flight > 0 && w[i].charge > 0)
                        found = i;
        }
        if (found < 0)
            proc_nap_ms(250);
    }
    /* Everything is measured before anything is asserted: the processes are stopped
     * first (a failed check would leave them running). */
    double cap = NAN, sd = NAN, rated = NAN, truth = NAN;
    if (db && found < 0)
        count_windows(db, w);
    if (db && found >= 0 && registry_capacity(db, w[found].tag, &cap, &sd, &rated) == 0)
        truth = true_soh(&r, w[found].tag);
    if (db && found >= 0)
        print_windows(db, w[found].tag);
    sqlite3_close(db);
    double soh = cap / rated, soh_sd = sd / rated;
    r.keep = !(fabs(soh - truth) <= SOH_TOL && fabs(soh - truth) <= COVER_Z * soh_sd); /* logs */
    int stopped = rig_stop_all(&r);
    if (found >= 0)
        proc_rmtree(pdir);
    ck_assert_msg(alive, "swapd died (see %s)", r.swapd_log);
    ck_assert_msg(db != NULL, "no registry at %s", r.db);
    for (int i = 0; i < N_PACKS; i++)
        printf("health station: SWP-%08X windows: %d flight, %d charge, %d mixed\n", w[i].tag, w[i].flight,
               w[i].charge, w[i].mixed);
    fflush(stdout);
    ck_assert_msg(found >= 0, "no pack got capacity windows from both a flight and a charge in %d s (logs in %s)",
                  TIMEOUT_MS / 1000, r.dir);
    printf("health station: SWP-%08X registry SoH %.2f +- %.2f %%, truth %.2f %% (prior 100 %%)\n", w[found].tag,
           soh * 100, soh_sd * 100, truth * 100);
    fflush(stdout);
    ck_assert_msg(isfinite(truth) && isfinite(soh), "no registry row or no truth for the pack");
    ck_assert_msg(fabs(soh - truth) <= SOH_TOL, "registry SoH %.4f, truth %.4f", soh, truth);
    ck_assert_msg(fabs(soh - truth) <= COVER_Z * soh_sd, "registry SoH %.4f +- %.4f does not cover the truth %.4f",
                  soh, soh_sd, truth);
    ck_assert_msg(stopped == 0, "%s", r.err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("health_station");
    TCase *tc = tcase_create("station");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, registry_converges_to_the_truth_from_flights_and_charges);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
