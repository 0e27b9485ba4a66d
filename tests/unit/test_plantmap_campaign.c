/* The campaign with the plant behind the foreign map (in-process backend): the same
 * safety rules hold, with faults, restarts and image lies, and the swaps complete. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "campaign.h"
#include "core/swapseq.h"
#include "plantmap/plantmap.h"

START_TEST(foreign_map_campaign_has_no_violation)
{
    const char *src = getenv("SWAP_SRC");
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/configs/plantmap/foreign.ini", src && *src ? src : ".");
    struct plantmap m;
    ck_assert_msg(plantmap_load(path, &m, err, sizeof err) == 0, "%s", err);
    struct campaign_result total = { 0 };
    for (unsigned w = 0; w < 2; w++) {
        struct campaign_opts o = { .seed = 1500 + w, .swaps = 10, .sequence = SWAPSEQ_PIPELINED, .faults = true,
                                   .report = stderr, .plant_map = &m };
        struct campaign_result r;
        ck_assert_int_ge(campaign_run(&o, &r), 0);
        ck_assert_msg(!r.violations && !r.stalled, "seed %u: %s", 1500 + w, r.first_violation);
        campaign_result_add(&total, &r);
    }
    ck_assert_uint_ge(total.swaps_completed, 10);
    plantmap_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plantmap_campaign");
    TCase *tc = tcase_create("plantmap_campaign");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, foreign_map_campaign_has_no_violation);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
