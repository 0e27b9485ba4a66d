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

/* Steps plant_s seconds in calls of chunk_ms, with a heartbeat and one register-image
 * scan (the controller's 4 block transfers) every 10 ms; returns plant-s per wall-s. */
static double run_plant(const struct plantcfg *cfg, double plant_s, uint32_t chunk_ms, bool move)
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
    uint64_t start = sim_plant_now_ms(p);
    while (sim_plant_now_ms(p) - start < end) {
        uint64_t now = sim_plant_now_ms(p);
        if (now % 10 < chunk_ms || chunk_ms >= 10) {
            sim_plant_read_bits(p, SIM_DI, 0, REGMAP_DI_COUNT(cfg->n_slots), di);
            sim_plant_read_regs(p, SIM_IR, 0, REGMAP_IR_COUNT(cfg->n_slots), ir);
            sim_plant_read_regs(p, SIM_HR, 0, REGMAP_HR_COUNT(cfg->n_slots), hr);
            hr[REGMAP_HR_HEARTBEAT] = ++hb;
            if (move && di[REGMAP_DI_X_IN_POS])
                hr[REGMAP_HR_X_TARGET] = hr[REGMAP_HR_X_TARGET] ? 0 : 6000;
            sim_plant_write_coils(p, 0, 16, co);
            sim_plant_write_regs(p, 0, REGMAP_HR_COUNT(cfg->n_slots), hr);
        }
        sim_plant_step(p, chunk_ms);
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

    double base = run_chargers(&cfg, 2e6);
    printf("  baseline: 8 chargers + packs alone (1 s ticks)     %12.0f plant-s/s\n", base);

    double chunk = run_plant(&cfg, 3600.0 * 4, 100, false);
    printf("  plant, scan every 100 ms, idle mechanics           %12.0f plant-s/s  %.2f x target  %.2f x baseline\n",
           chunk, chunk / TARGET, chunk / base);

    double scan = run_plant(&cfg, 600.0, 10, false);
    printf("  plant, scan every 10 ms, idle mechanics            %12.0f plant-s/s  %.2f x target  %.2f x baseline\n",
           scan, scan / TARGET, scan / base);

    double one = run_plant(&cfg, 120.0, 1, false);
    printf("  plant, sim_plant_step(p, 1) calls, idle mechanics  %12.0f plant-s/s  %.2f x target  %.2f x baseline\n",
           one, one / TARGET, one / base);

    double moving = run_plant(&cfg, 120.0, 10, true);
    printf("  plant, X axis always moving, scan every 10 ms      %12.0f plant-s/s  %.2f x target  %.2f x baseline\n",
           moving, moving / TARGET, moving / base);
    return 0;
}
