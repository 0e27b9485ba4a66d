/* Seeded, deterministic pseudo-random numbers for the simulators (splitmix64 seeding a
 * xoshiro256** state). Same seed, same sequence, on every machine. */
#ifndef SWAP_SIM_RNG_H
#define SWAP_SIM_RNG_H

#include <stdint.h>

struct sim_rng {
    uint64_t s[4];
};

void sim_rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *r);
/* Uniform in [0, 1). */
double sim_rng_uniform(struct sim_rng *r);
/* Uniform in [lo, hi). */
double sim_rng_range(struct sim_rng *r, double lo, double hi);
/* Standard normal (Box-Muller). */
double sim_rng_normal(struct sim_rng *r);
/* Uniform integer in [0, n), n > 0. */
uint32_t sim_rng_below(struct sim_rng *r, uint32_t n);

#endif
