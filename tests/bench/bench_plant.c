/* Plant model speed: simulated plant-seconds per wall-second for the default 8-slot
 * plant (1 ms internal resolution), every charger charging, against a target of
 * 100,000 and against a baseline measured in the same run: the 8 chargers and packs
 * alone, without the plant around them. Prints figures, never asserts on time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plant/plant.h"

#define TARGET 100000.0

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct sim_plant *charging_plant(const struct plantcfg *cfg)
{
    struct sim_plant *p = sim_plant_new(cfg, 1);
    if (!p) {
        fprintf(stderr, "bench_plant: out of memory\n");
        exit(1);
    }
    for (int s = 0; s < cfg->n_slots; s++) {
        uint16_t m = CHARGER_MODE_CHARGE;
        sim_plant_write_regs(p, REGMAP_HR_SLOT_ADDR(s, 0), 1, &m);
    }
    return p;
}

/* Steps plant_s seconds in calls of step_ms. With scan_ms > 0, a controller scan (the 4
 * block transfers of a real scan, with a fresh heartbeat) runs every scan_ms; with move,
 * axis X shuttles between magazine and bay all the time. Returns plant-s per wall-s. */
static double run_plant(const struct plantcfg *cfg, double plant_s, uint32_t step_ms,
                        uint32_t scan_ms, bool move)
{
    struct sim_plant *p = charging_plant(cfg);
    uint8_t di[64], co[16] = { 0 };
    uint16_t ir[256], hr[64];
    uint16_t hb = 0;
    uint64_t end = (uint64_t)(plant_s * 1000);
    if (move) {
        co[REGMAP_CO_X_HOME] = co[REGMAP_CO_Z_HOME] = 1;
        sim_plant_write_coils(p, 0, 16, co);
        sim_plant_step(p, 2100);
        co[REGMAP_CO_X_HOME] = co[REGMAP_CO_Z_HOME] = 0;
        co[REGMAP_CO_X_ENABLE] = 1;
    }
    double t0 = wall_s();
    uint64_t start = sim_plant_now_ms(p), next_scan = start;
    while (sim_plant_now_ms(p) - start < end) {
        if (scan_ms && sim_plant_now_ms(p) >= next_scan) {
            next_scan += scan_ms;
            sim_plant_read_bits(p, SIM_DI, 0, REGMAP_DI_COUNT(cfg->n_slots), di);
            sim_plant_read_regs(p, SIM_IR, 0, REGMAP_IR_COUNT(cfg->n_slots), ir);
            sim_plant_read_regs(p, SIM_HR, 0, REGMAP_HR_COUNT(cfg->n_slots), hr);
            hr[REGMAP_HR_HEARTBEAT] = ++hb;
            if (move && di[REGMAP_DI_X_IN_POS])
                hr[REGMAP_HR_X_TARGET] = hr[REGMAP_HR_X_TARGET] ? 0 : 6000;
            sim_plant_write_coils(p, 0, 16, co);
            sim_plant_write_regs(p, 0, REGMAP_HR_COUNT(cfg->n_slots), hr);
        }
        sim_plant_step(p, step_ms);
    }
    double dt = wall_s() - t0;
    struct sim_truth t;
    sim_plant_truth(p, &t);
    if (t.plant_fault)
        fprintf(stderr, "bench_plant: unexpected plant fault %u\n", t.plant_fault);
    sim_plant_free(p);
    return plant_s / dt;
}

/* Baseline: the 8 packs and chargers alone, stepped at the plant's charger rate (1 s). */
static double run_chargers(const struct plantcfg *cfg, double plant_s)
{
    struct sim_battery b[REGMAP_MAX_SLOTS];
    struct sim_charger c[REGMAP_MAX_SLOTS];
    struct sim_rng r;
    sim_rng_seed(&r, 1);
    memset(c, 0, sizeof c);
    for (int s = 0; s < cfg->n_slots; s++)
        sim_battery_init(&b[s], cfg, (uint32_t)s, 0.5, &r);
    double t0 = wall_s();
    for (double t = 0; t < plant_s; t += 1.0)
        for (int s = 0; s < cfg->n_slots; s++)
            sim_charger_step(&c[s], &b[s], cfg, CHARGER_MODE_CHARGE, 1.0, cfg->ambient_degC);
    double dt = wall_s() - t0;
    return plant_s / dt;
}

int main(void)
{
    struct plantcfg cfg;
    plantcfg_defaults(&cfg);
    printf("bench_plant: default plant, %d slots, every charger on, 1 ms resolution\n", cfg.n_slots);

    double base = run_chargers(&cfg, 200000.0);
    printf("  baseline: the 8 packs + chargers alone (1 s ticks)  %10.0f plant-s/s\n", base);

    const struct {
        const char *what;
        double plant_s;
        uint32_t step_ms, scan_ms;
        bool move;
    } runs[] = {
        { "plant, sim_plant_step(p, 1), no client", 3600.0, 1, 0, false },
        { "plant, sim_plant_step(p, 100), no client", 36000.0, 100, 0, false },
        { "plant, 1 ms steps, controller scan every 10 ms", 300.0, 1, 10, false },
        { "plant, 1 ms steps, scan every 10 ms, X moving", 120.0, 1, 10, true },
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        double r = run_plant(&cfg, runs[i].plant_s, runs[i].step_ms, runs[i].scan_ms, runs[i].move);
        printf("  %-50s %10.0f plant-s/s  %6.2f x target  %5.2f x baseline\n", runs[i].what, r,
               r / TARGET, r / base);
    }
    return 0;
}
