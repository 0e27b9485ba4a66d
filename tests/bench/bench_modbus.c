/* Modbus requests per second that swapsim serves on loopback, with one client and with
 * four at once. Each client runs the controller's real scan: read the DI block, read the
 * IR block, write the CO block, write the HR block (8 slots). The same fixed number of
 * requests in both runs; the figure that matters is the 4-client / 1-client ratio
 * (about 1 means the server is not the bottleneck, < 1 that clients queue behind each
 * other). Prints figures only; asserts nothing about time.
 */
#include <errno.h>
#include <modbus.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "proc.h"
#include "regmap/regmap.h"

#define TOTAL_REQUESTS 40000
#define SLOTS 8

struct client {
    int port;
    int scans;
    int failed;
};

static void *run_client(void *arg)
{
    struct client *c = arg;
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", c->port);
    if (!ctx || modbus_connect(ctx) != 0) {
        c->failed = c->scans * 4;
        if (ctx)
            modbus_free(ctx);
        return NULL;
    }
    modbus_set_response_timeout(ctx, 2, 0);
    uint8_t di[REGMAP_DI_COUNT(SLOTS)], co[REGMAP_CO_COUNT] = { 0 };
    uint16_t ir[REGMAP_IR_COUNT(SLOTS)], hr[REGMAP_HR_COUNT(SLOTS)] = { 0 };
    for (int i = 0; i < c->scans; i++) {
        hr[REGMAP_HR_HEARTBEAT] = (uint16_t)i;
        co[REGMAP_CO_LIGHT_GREEN] = (uint8_t)(i & 1);
        c->failed += modbus_read_input_bits(ctx, 0, REGMAP_DI_COUNT(SLOTS), di) != REGMAP_DI_COUNT(SLOTS);
        c->failed += modbus_read_input_registers(ctx, 0, REGMAP_IR_COUNT(SLOTS), ir) != REGMAP_IR_COUNT(SLOTS);
        c->failed += modbus_write_bits(ctx, 0, REGMAP_CO_COUNT, co) != REGMAP_CO_COUNT;
        c->failed += modbus_write_registers(ctx, 0, REGMAP_HR_COUNT(SLOTS), hr) != REGMAP_HR_COUNT(SLOTS);
    }
    modbus_close(ctx);
    modbus_free(ctx);
    return NULL;
}

/* Runs n clients sharing TOTAL_REQUESTS; returns requests per second (or -1). */
static double measure(int port, int n)
{
    pthread_t th[4];
    struct client c[4];
    long long t0 = proc_now_ms();
    for (int i = 0; i < n; i++) {
        c[i] = (struct client){ port, TOTAL_REQUESTS / 4 / n, 0 };
        if (pthread_create(&th[i], NULL, run_client, &c[i]) != 0)
            return -1;
    }
    int failed = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        failed += c[i].failed;
    }
    long long ms = proc_now_ms() - t0;
    if (failed) {
        fprintf(stderr, "bench_modbus: %d of %d requests failed\n", failed, TOTAL_REQUESTS);
        return -1;
    }
    return TOTAL_REQUESTS / ((double)(ms > 0 ? ms : 1) / 1000.0);
}

int main(void)
{
    char dir[256], bin[512], cfg[512], port_file[300], log[300];
    if (proc_mkdtemp(dir, sizeof dir, "bench-modbus") != 0)
        return 1;
    snprintf(port_file, sizeof port_file, "%s/port", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    char *argv[] = { (char *)proc_bin("swapsim", bin, sizeof bin), "--config",
                     (char *)proc_config("plant.ini", cfg, sizeof cfg), "--port", "0",
                     "--port-file", port_file, NULL };
    pid_t pid = proc_spawn(argv, log);
    long port = 0;
    if (proc_wait_number(port_file, &port, pid, 10000) != 0) {
        fprintf(stderr, "bench_modbus: swapsim did not start (see %s)\n", log);
        proc_stop(pid, 2000);
        return 1;
    }
    /* Warm-up: connections, page faults, the server's first requests. */
    measure((int)port, 1);
    double one = measure((int)port, 1);
    double four = measure((int)port, 4);
    proc_stop(pid, 5000);
    proc_rmtree(dir);
    if (one <= 0 || four <= 0)
        return 1;
    printf("modbus scan requests (DI %u + IR %u read, CO %u + HR %u write), %d per run\n",
           REGMAP_DI_COUNT(SLOTS), REGMAP_IR_COUNT(SLOTS), REGMAP_CO_COUNT, REGMAP_HR_COUNT(SLOTS),
           TOTAL_REQUESTS);
    printf("  1 client : %8.0f requests/s\n", one);
    printf("  4 clients: %8.0f requests/s\n", four);
    printf("  ratio 4/1: %8.2f\n", four / one);
    return 0;
}
