/* End to end with real processes (swapsim + dronesim + swapd): a plant image that lies.
 * A register out of its physical range and a frozen image (swapsim's image_frozen fault)
 * each hold the running station with their own alarm within their bound, the alarm
 * names the register and value, status keeps saying the link is up, and Unhold resumes
 * once the plant is sane again. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proc.h"
#include "rig.h"

#define RTF "3"
#define CONFIG "tests/data/swapd-e2e.ini"

static void nap_ms(int ms)
{
    struct timespec ts = { 0, ms * 1000000L };
    nanosleep(&ts, NULL);
}

static const char *status_field(struct rig *r, const char *key, char *buf, size_t size)
{
    json_t *s = rig_status(r);
    snprintf(buf, size, "%s", s && json_string_value(json_object_get(s, key)) ? json_string_value(json_object_get(s, key)) : "?");
    json_decref(s);
    return buf;
}

/* The text of active alarm code into text (empty if it is not active). */
static bool alarm_text(struct rig *r, const char *code, char *text, size_t size)
{
    json_t *rep = rig_swapd(r, "{\"cmd\":\"alarms\"}");
    bool found = false;
    size_t i;
    json_t *a;
    text[0] = 0;
    json_array_foreach(json_object_get(json_object_get(rep, "result"), "alarms"), i, a) {
        if (strcmp(json_string_value(json_object_get(a, "code")), code))
            continue;
        found = true;
        snprintf(text, size, "%s", json_string_value(json_object_get(a, "text")));
    }
    json_decref(rep);
    return found;
}

static void sim_ok(struct rig *r, const char *line)
{
    json_t *rep = rig_sim(r, line);
    ck_assert_msg(rep && json_is_true(json_object_get(rep, "ok")), "swapsim refused %s", line);
    json_decref(rep);
}

static void start_station(struct rig *r)
{
    ck_assert_msg(rig_start_sim(r, RTF) == 0, "%s", r->err);
    ck_assert_msg(rig_start_drones(r, "1", "3") == 0, "%s", r->err);
    ck_assert_msg(rig_start_swapd(r, CONFIG, true) == 0, "%s", r->err);
    long long end = proc_now_ms() + 30000;
    char st[32];
    while (proc_now_ms() < end && strcmp(status_field(r, "state", st, sizeof st), "Execute") && strcmp(st, "Suspended"))
        nap_ms(20);
    ck_assert_msg(!strcmp(st, "Execute") || !strcmp(st, "Suspended"), "station did not start: %s", st);
}

/* Polls until swapd is Held with alarm code; the wall ms it took, or -1. */
static long long wait_held(struct rig *r, const char *code, long long since, int timeout_ms)
{
    char st[32], text[512];
    while (proc_now_ms() - since < timeout_ms) {
        if (alarm_text(r, code, text, sizeof text) && !strcmp(status_field(r, "state", st, sizeof st), "Held"))
            return proc_now_ms() - since;
        nap_ms(5);
    }
    return -1;
}

static void unhold_resumes(struct rig *r)
{
    char st[32];
    long long end = proc_now_ms() + 10000;
    while (proc_now_ms() < end) {
        json_decref(rig_swapd(r, "{\"cmd\":\"unhold\"}"));
        nap_ms(300);
        if (strcmp(status_field(r, "state", st, sizeof st), "Held") && strcmp(st, "Unholding"))
            break;
    }
    ck_assert_msg(!strcmp(st, "Execute") || !strcmp(st, "Suspended"), "Unhold did not resume: %s", st);
}

/* Bounds: comm_loss_ms (100) / plant_echo_timeout_ms (300) of the configuration, one
 * exchange period and one response timeout, plus slack for a loaded test machine. */
#define INVALID_BOUND_MS (100 + 20 + 50 + 1000)
#define FROZEN_BOUND_MS (300 + 20 + 50 + 1000)

START_TEST(register_out_of_range_holds_with_plant_data_invalid)
{
    struct rig r = { 0 };
    start_station(&r);
    long long t0 = proc_now_ms();
    sim_ok(&r, "{\"cmd\":\"inject\",\"fault\":\"sensor_stuck\",\"a\":\"ir\",\"b\":2,\"value\":32768}");
    long long took = wait_held(&r, "plant_data_invalid", t0, 10000);
    ck_assert_msg(took >= 0, "no plant_data_invalid hold within 10 s");
    printf("X velocity -32768: Held with plant_data_invalid after %lld ms (bound %d ms)\n", took, INVALID_BOUND_MS);
    ck_assert_int_le(took, INVALID_BOUND_MS);
    char text[512], link[16];
    ck_assert(alarm_text(&r, "plant_data_invalid", text, sizeof text));
    ck_assert_msg(strstr(text, "IR 2 = -32768"), "alarm text \"%s\"", text);
    ck_assert(!alarm_text(&r, "comm_loss", text, sizeof text));
    ck_assert_str_eq(status_field(&r, "plant_link", link, sizeof link), "up");
    sim_ok(&r, "{\"cmd\":\"clear\",\"fault\":\"sensor_stuck\"}");
    unhold_resumes(&r);
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
}
END_TEST

START_TEST(frozen_image_holds_with_plant_frozen)
{
    struct rig r = { 0 };
    start_station(&r);
    long long t0 = proc_now_ms();
    sim_ok(&r, "{\"cmd\":\"inject\",\"fault\":\"image_frozen\"}");
    long long took = wait_held(&r, "plant_frozen", t0, 10000);
    ck_assert_msg(took >= 0, "no plant_frozen hold within 10 s");
    printf("frozen image: Held with plant_frozen after %lld ms (bound %d ms)\n", took, FROZEN_BOUND_MS);
    ck_assert_int_le(took, FROZEN_BOUND_MS);
    char text[512], link[16];
    ck_assert(!alarm_text(&r, "comm_loss", text, sizeof text));
    ck_assert_str_eq(status_field(&r, "plant_link", link, sizeof link), "up");
    sim_ok(&r, "{\"cmd\":\"clear\",\"fault\":\"image_frozen\"}");
    unhold_resumes(&r);
    ck_assert_msg(rig_stop_all(&r) == 0, "%s", r.err);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("e2e_image");
    TCase *tc = tcase_create("image");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, register_out_of_range_holds_with_plant_data_invalid);
    tcase_add_test(tc, frozen_image_holds_with_plant_frozen);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
