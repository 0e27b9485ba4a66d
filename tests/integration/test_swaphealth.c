/* swaphealth end to end: a log written by the simulator's `packlog` is read back by the
 * real program (table and JSON), and malformed logs are reported as file:line. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"

static char dir[256];
static char bin[512];
static char packlog[512];

static void setup(void)
{
    ck_assert_int_eq(proc_mkdtemp(dir, sizeof dir, "swaphealth"), 0);
    proc_bin("swaphealth", bin, sizeof bin);
    proc_bin("packlog", packlog, sizeof packlog);
}

static void teardown(void)
{
    proc_rmtree(dir);
}

/* Runs prog with args, stdout to out_path and stderr to err_path; returns the exit code. */
static int run_prog(const char *prog, const char *out_path, const char *err_path, char *const args[])
{
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)prog;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(out_path, "w", stdout) || !freopen(err_path, "w", stderr))
            _exit(127);
        execv(prog, argv);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* Runs swaphealth. */
static int run(const char *out_path, const char *err_path, char *const args[])
{
    return run_prog(bin, out_path, err_path, args);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void data_path(char *out, size_t size, const char *name)
{
    const char *src = getenv("SWAP_SRC");
    snprintf(out, size, "%s/tests/data/%s", src ? src : ".", name);
}

/* The true SoH of the last "# truth" line of a simulated log (read line by line: logs are
 * larger than slurp's buffer). */
static double last_truth(const char *csv)
{
    FILE *f = fopen(csv, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    double soh = NAN;
    while (fgets(line, sizeof line, f)) {
        const char *p = strncmp(line, "# truth ", 8) == 0 ? strstr(line, "soh=") : NULL;
        if (p)
            ck_assert_int_eq(sscanf(p, "soh=%lf", &soh), 1);
    }
    fclose(f);
    ck_assert(isfinite(soh));
    return soh;
}

/* Writes a simulated log; returns the true SoH at its last cycle. */
static double simulate(const char *csv, int cycles)
{
    char err[300], n[16];
    snprintf(err, sizeof err, "%s/sim.err", dir);
    snprintf(n, sizeof n, "%d", cycles);
    char *args[] = { "--cycles", n, "--seed", "5", NULL };
    ck_assert_int_eq(run_prog(packlog, csv, err, args), 0);
    return last_truth(csv);
}

START_TEST(simulated_log_is_estimated_close_to_truth)
{
    char csv[300], out[300], err[300];
    snprintf(csv, sizeof csv, "%s/log.csv", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    double truth = simulate(csv, 30);
    char *args[] = { csv, NULL };
    ck_assert_int_eq(run(out, err, args), 0);
    const char *text = slurp(out);
    ck_assert_ptr_nonnull(strstr(text, "capacity_mAh"));
    const char *sum = strstr(text, "5A000001: SoH ");
    ck_assert_ptr_nonnull(sum);
    double soh;
    ck_assert_int_eq(sscanf(sum, "5A000001: SoH %lf", &soh), 1);
    ck_assert_msg(fabs(soh / 100.0 - truth) < 0.01, "estimated %.2f %%, true %.2f %%", soh, truth * 100);
}
END_TEST

START_TEST(json_output_is_one_object_per_line)
{
    char csv[300], out[300], err[300];
    snprintf(csv, sizeof csv, "%s/log.csv", dir);
    snprintf(out, sizeof out, "%s/out.json", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    simulate(csv, 5);
    char *args[] = { "--json", csv, NULL };
    ck_assert_int_eq(run(out, err, args), 0);
    char *text = slurp(out);
    int cycles = 0, summaries = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        ck_assert_msg(o != NULL, "bad JSON line: %s", line);
        const char *type = json_string_value(json_object_get(o, "type"));
        ck_assert_ptr_nonnull(type);
        if (strcmp(type, "cycle") == 0) {
            cycles++;
            ck_assert(json_is_number(json_object_get(o, "soh")));
            ck_assert(json_is_number(json_object_get(o, "dcir_mohm")));
            ck_assert(json_is_number(json_object_get(o, "efc")));
        } else if (strcmp(type, "summary") == 0) {
            summaries++;
        }
        json_decref(o);
    }
    ck_assert_int_eq(cycles, 5);
    ck_assert_int_eq(summaries, 1);
}
END_TEST

/* Rewrites a simulated log: drop_event removes the event column, t_shift moves every time
 * to the Unix epoch. */
static void rewrite(const char *in, const char *out, bool drop_event, double t_shift)
{
    FILE *f = fopen(in, "r"), *o = fopen(out, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(o);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') {
            fputs(line, o);
            continue;
        }
        line[strcspn(line, "\n")] = 0;
        char *fld[8];
        int n = 0;
        for (char *p = line; n < 8;) {
            fld[n++] = p;
            char *c = strchr(p, ',');
            if (!c)
                break;
            *c = 0;
            p = c + 1;
        }
        ck_assert_int_eq(n, 8);
        if (t_shift != 0 && strcmp(fld[0], "time_s") != 0)
            fprintf(o, "%.17g", atof(fld[0]) + t_shift);
        else
            fputs(fld[0], o);
        for (int i = 1; i < n; i++)
            if (!(drop_event && i == 5))
                fprintf(o, ",%s", fld[i]);
        fputc('\n', o);
    }
    fclose(f);
    fclose(o);
}

static double summary_soh(const char *text)
{
    const char *sum = strstr(text, "5A000001: SoH ");
    ck_assert_ptr_nonnull(sum);
    double soh;
    ck_assert_int_eq(sscanf(sum, "5A000001: SoH %lf", &soh), 1);
    return soh / 100.0;
}

START_TEST(event_column_gives_the_state_and_its_absence_is_inferred)
{
    char csv[300], plain[300], out[300], err[300];
    snprintf(csv, sizeof csv, "%s/log.csv", dir);
    snprintf(plain, sizeof plain, "%s/plain.csv", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    char *sim[] = { "--cycles", "30", "--seed", "9", "--sensors", "power-module", NULL };
    ck_assert_int_eq(run_prog(packlog, csv, err, sim), 0);
    double truth = last_truth(csv);
    rewrite(csv, plain, true, 0);
    /* With events: rests are known, offsets learned; within a point of the truth. */
    char *args[] = { csv, NULL };
    ck_assert_int_eq(run(out, err, args), 0);
    double with = summary_soh(slurp(out));
    ck_assert_msg(fabs(with - truth) < 0.01, "with events %.4f, truth %.4f", with, truth);
    /* Without: rests are inferred from the current (rest_current_A); still estimated. */
    char *args2[] = { plain, NULL };
    ck_assert_int_eq(run(out, err, args2), 0);
    double without = summary_soh(slurp(out));
    ck_assert_msg(fabs(without - truth) < 0.02, "without events %.4f, truth %.4f", without, truth);
}
END_TEST

START_TEST(epoch_times_print_at_full_precision)
{
    char csv[300], epoch[300], out[300], err[300];
    snprintf(csv, sizeof csv, "%s/log.csv", dir);
    snprintf(epoch, sizeof epoch, "%s/epoch.csv", dir);
    snprintf(out, sizeof out, "%s/out.json", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    simulate(csv, 6);
    rewrite(csv, epoch, false, 1764633600.0);  /* 2025-12-02 00:00 UTC */
    char *args[] = { "--json", epoch, NULL };
    ck_assert_int_eq(run(out, err, args), 0);
    char *text = slurp(out);
    double starts[16];
    int n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        ck_assert_ptr_nonnull(o);
        if (strcmp(json_string_value(json_object_get(o, "type")), "cycle") == 0 && n < 16)
            starts[n++] = json_real_value(json_object_get(o, "start_s"));
        json_decref(o);
    }
    ck_assert_int_eq(n, 6);
    for (int i = 1; i < n; i++) {
        ck_assert(starts[i] > 1764633600.0);
        /* Six significant digits would print all of them as 1.76463e+09. */
        ck_assert_msg(starts[i] - starts[i - 1] > 600, "cycle %d starts %.17g after %.17g", i, starts[i], starts[i - 1]);
    }
}
END_TEST

START_TEST(non_finite_number_is_refused_with_file_and_line)
{
    char csv[300], out[300], err[300];
    snprintf(csv, sizeof csv, "%s/inf.csv", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    static const char *const bad[] = { "inf", "-Infinity", "1e999", "NaN" };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        FILE *f = fopen(csv, "w");
        fprintf(f, "time_s,voltage_V,current_A,temp_degC,event\n0,22.6,0,21,rest\n10,22.6,0,%s,rest\n", bad[k]);
        fclose(f);
        char *args[] = { csv, NULL };
        ck_assert_int_eq(run(out, err, args), 1);
        char want[64];
        snprintf(want, sizeof want, "inf.csv:3: temp_degC '%s': not a finite number", bad[k]);
        ck_assert_msg(strstr(slurp(err), want), "stderr: %s", slurp(err));
        ck_assert_ptr_null(strstr(slurp(out), "nan"));
        ck_assert_ptr_null(strstr(slurp(out), "inf"));
    }
}
END_TEST

START_TEST(malformed_row_is_reported_with_file_and_line)
{
    char csv[600], out[300], err[300];
    data_path(csv, sizeof csv, "health_bad.csv");
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    char *args[] = { csv, NULL };
    ck_assert_int_eq(run(out, err, args), 1);
    const char *text = slurp(err);
    ck_assert_msg(strstr(text, "health_bad.csv:6: voltage_V 'abc': not a number"), "stderr: %s", text);
    /* it stops at the first one */
    ck_assert_ptr_null(strstr(text, "health_bad.csv:8:"));
}
END_TEST

START_TEST(skip_bad_counts_and_continues)
{
    char csv[600], out[300], err[300];
    data_path(csv, sizeof csv, "health_bad.csv");
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    char *args[] = { "--skip-bad", csv, NULL };
    ck_assert_int_eq(run(out, err, args), 0);
    const char *e = slurp(err);
    ck_assert_ptr_nonnull(strstr(e, "health_bad.csv:8: 5 fields, the header has 6"));
    ck_assert_ptr_nonnull(strstr(e, "health_bad.csv:9: current_A 'nan': not a finite number"));
    ck_assert_ptr_nonnull(strstr(slurp(out), "skipped 3 malformed rows"));
}
END_TEST

START_TEST(missing_column_is_reported)
{
    char csv[600], out[300], err[300];
    data_path(csv, sizeof csv, "health_noheader.csv");
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    char *args[] = { csv, NULL };
    ck_assert_int_eq(run(out, err, args), 1);
    ck_assert_ptr_nonnull(strstr(slurp(err), "health_noheader.csv:1: header lacks the column 'temp_degC'"));
}
END_TEST

START_TEST(missing_file_and_bad_config_exit_2)
{
    char out[300], err[300], ini[300];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    char *args[] = { "/nonexistent/log.csv", NULL };
    ck_assert_int_eq(run(out, err, args), 2);
    ck_assert_ptr_nonnull(strstr(slurp(err), "/nonexistent/log.csv: No such file"));
    snprintf(ini, sizeof ini, "%s/h.ini", dir);
    FILE *f = fopen(ini, "w");
    fputs("[retirement]\nsoh = 2\n", f);
    fclose(f);
    char *args2[] = { "--config", ini, "/dev/null", NULL };
    ck_assert_int_eq(run(out, err, args2), 2);
    ck_assert_ptr_nonnull(strstr(slurp(err), "h.ini:2: [retirement] soh = \"2\": out of range"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("swaphealth");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, simulated_log_is_estimated_close_to_truth);
    tcase_add_test(tc, json_output_is_one_object_per_line);
    tcase_add_test(tc, event_column_gives_the_state_and_its_absence_is_inferred);
    tcase_add_test(tc, epoch_times_print_at_full_precision);
    tcase_add_test(tc, non_finite_number_is_refused_with_file_and_line);
    tcase_add_test(tc, malformed_row_is_reported_with_file_and_line);
    tcase_add_test(tc, skip_bad_counts_and_continues);
    tcase_add_test(tc, missing_column_is_reported);
    tcase_add_test(tc, missing_file_and_bad_config_exit_2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
