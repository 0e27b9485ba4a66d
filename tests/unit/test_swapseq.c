/* The swap step table: every command has its expected sensor edge, the chains hold the
 * mandatory on-pad order of DESIGN §7, nominal times add up to the lower bound, and
 * docs/station.md carries the tables the code has. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/station.h"

static struct plantcfg pc;

static void setup(void)
{
    plantcfg_defaults(&pc);
}

/* A plant image where every device stands where step id has commanded it. */
static void satisfied(enum swapseq_id id, const struct swapseq_ctx *ctx, struct station_plant_in *p)
{
    const struct swapseq_step *s = &swapseq_steps[id];
    memset(p, 0, sizeof *p);
    p->valid = true;
    p->center_closed = s->center == 1, p->center_open = s->center != 1;
    p->clamp_locked = s->clamp == 1, p->clamp_unlocked = s->clamp != 1;
    p->stroke_extended = s->stroke == 1, p->stroke_retracted = s->stroke != 1;
    p->wrist_b = s->wrist_b == 1, p->wrist_a = s->wrist_b != 1;
    p->grip_a_closed = s->grip_a == 1, p->grip_a_open = s->grip_a != 1;
    p->grip_b_closed = s->grip_b == 1, p->grip_b_open = s->grip_b != 1;
    p->grip_a_holding = (s->require & SWAPSEQ_REQ_HOLD_A) != 0;
    p->grip_b_holding = (s->require & SWAPSEQ_REQ_HOLD_B) != 0;
    p->x_in_pos = p->z_in_pos = p->carousel_in_pos = true;
    p->x_pos_mm = s->x != SWX_KEEP ? swapseq_x_mm(s->x, &pc) : 0;
    p->z_pos_mm = s->z != SWZ_KEEP ? swapseq_z_mm(s->z, &pc) : 0;
    p->carousel_pos = s->carousel == SWS_FRESH ? ctx->fresh_slot : s->carousel == SWS_STORE ? ctx->store_slot : 0;
    p->load_g = (s->require & SWAPSEQ_REQ_LOAD_DROP) ? 2400 : 3050;
}

START_TEST(each_step_completes_exactly_on_its_sensor_edges)
{
    enum swapseq_id id = (enum swapseq_id)_i;
    struct swapseq_ctx ctx = { .fresh_slot = 2, .store_slot = 5, .touchdown_load_g = 3050, .pack_mass_g = 650,
                               .powerup_ok = true, .drone_present = true };
    struct station_plant_in p;
    satisfied(id, &ctx, &p);
    ck_assert_msg(swapseq_check(id, &pc, &ctx, &p) == -1, "%s not complete when all its edges came", swapseq_name(id));
    /* Take away each commanded device's end sensor in turn: the step is not complete and
     * names a timeout alarm. */
    const struct swapseq_step *s = &swapseq_steps[id];
    struct { int8_t level; bool *one, *zero; } dev[] = {
        { s->center, &p.center_closed, &p.center_open }, { s->clamp, &p.clamp_locked, &p.clamp_unlocked },
        { s->stroke, &p.stroke_extended, &p.stroke_retracted }, { s->wrist_b, &p.wrist_b, &p.wrist_a },
        { s->grip_a, &p.grip_a_closed, &p.grip_a_open }, { s->grip_b, &p.grip_b_closed, &p.grip_b_open },
    };
    for (size_t d = 0; d < sizeof dev / sizeof dev[0]; d++) {
        if (dev[d].level == SWK)
            continue;
        bool *end = dev[d].level ? dev[d].one : dev[d].zero;
        *end = false;
        ck_assert_int_ge(swapseq_check(id, &pc, &ctx, &p), 0);
        *end = true;
    }
    if (s->x != SWX_KEEP) {
        p.x_pos_mm += 5;
        ck_assert_int_eq(swapseq_check(id, &pc, &ctx, &p), DIAG_X_TIMEOUT);
        p.x_pos_mm -= 5;
    }
    if (s->z != SWZ_KEEP) {
        p.z_in_pos = false;
        ck_assert_int_eq(swapseq_check(id, &pc, &ctx, &p), DIAG_Z_TIMEOUT);
        p.z_in_pos = true;
    }
    if (s->require & SWAPSEQ_REQ_POWERUP) {
        ctx.powerup_ok = false;
        ck_assert_int_eq(swapseq_check(id, &pc, &ctx, &p), DIAG_POWERUP_FAILED);
    }
}
END_TEST

START_TEST(pipelined_onpad_part_is_the_mandatory_chain)
{
    const struct swapseq_chain *c = &swapseq_chains[SWAPSEQ_PIPELINED];
    static const enum swapseq_id want[] = {
        SWAPSEQ_CENTER_CLOSE, SWAPSEQ_CLAMP, SWAPSEQ_TO_BAY, SWAPSEQ_TAKE_EXTEND, SWAPSEQ_TAKE_GRIP,
        SWAPSEQ_TAKE_RETRACT, SWAPSEQ_WRIST_TURN, SWAPSEQ_INSERT_EXTEND, SWAPSEQ_INSERT_RELEASE,
        SWAPSEQ_INSERT_RETRACT, SWAPSEQ_POWERUP_CHECK, SWAPSEQ_RELEASE_DRONE,
    };
    ck_assert_int_eq(c->steps[c->touchdown_index], SWAPSEQ_AWAIT_TOUCHDOWN);
    ck_assert_int_eq(c->steps[c->release_index], SWAPSEQ_RELEASE_DRONE);
    ck_assert_int_eq(c->release_index - c->touchdown_index, (int)(sizeof want / sizeof want[0]));
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_int_eq(c->steps[c->touchdown_index + 1 + (int)i], want[i]);
    /* the fresh pack is in gripper B before touchdown, the old one stored after release */
    bool fetched = false;
    for (int i = 0; i < c->touchdown_index; i++)
        fetched |= swapseq_steps[c->steps[i]].move == SWM_SLOT_TO_B;
    ck_assert(fetched);
    ck_assert_int_eq(c->steps[c->n_steps - 1], SWAPSEQ_STORE_RAISE);
    const struct swapseq_chain *n = &swapseq_chains[SWAPSEQ_NAIVE];
    ck_assert_int_eq(n->steps[n->touchdown_index], SWAPSEQ_AWAIT_TOUCHDOWN);
    ck_assert_int_eq(n->steps[n->release_index], SWAPSEQ_RELEASE_DRONE);
}
END_TEST

START_TEST(onpad_nominal_times_add_up_to_the_lower_bound)
{
    /* Every on-pad step's nominal time from where the previous one left the robot; the
     * power-up check overlaps the head's retreat. */
    const struct swapseq_chain *c = &swapseq_chains[SWAPSEQ_PIPELINED];
    struct swapseq_ctx ctx = { .fresh_slot = 2, .store_slot = 2, .pack_mass_g = 650 };
    struct station_plant_in p;
    memset(&p, 0, sizeof p);
    p.x_pos_mm = pc.x_standby_mm;
    p.carousel_pos = 2;
    double sum_ms = 0;
    for (int i = c->touchdown_index + 1; i <= c->release_index; i++) {
        enum swapseq_id id = c->steps[i];
        sum_ms += swapseq_nominal_ms(id, &pc, &ctx, &p);
        if (swapseq_steps[id].x != SWX_KEEP)
            p.x_pos_mm = swapseq_x_mm(swapseq_steps[id].x, &pc);
    }
    ck_assert_double_eq_tol(sum_ms / 1000.0, plantcfg_onpad_lower_bound_s(&pc), 1e-6);
}
END_TEST

START_TEST(docs_carry_the_tables_of_the_code)
{
    const char *src = getenv("SWAP_SRC");
    char path[600];
    snprintf(path, sizeof path, "%s/docs/station.md", src ? src : ".");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char doc[65536];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = 0;
    static char gen[65536];
    FILE *m = fmemopen(gen, sizeof gen, "w");
    ck_assert_ptr_nonnull(m);
    station_write_tables(m);
    fclose(m);
    ck_assert_msg(strstr(doc, gen) != NULL, "docs/station.md is out of date: paste the output of station_write_tables()");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("swapseq");
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_loop_test(tc, each_step_completes_exactly_on_its_sensor_edges, 0, SWAPSEQ_COUNT);
    tcase_add_test(tc, pipelined_onpad_part_is_the_mandatory_chain);
    tcase_add_test(tc, onpad_nominal_times_add_up_to_the_lower_bound);
    tcase_add_test(tc, docs_carry_the_tables_of_the_code);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
