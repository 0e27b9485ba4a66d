/* campaign: the invariant campaign on demand (docs/campaign.md). Runs seeded worlds of
 * random swaps with faults in one process on a virtual clock and checks the safety
 * rules after every scan. World i of a run uses seed S + i, so the seed a violation
 * report names replays that world alone: campaign --seed <it> --count <swaps per world>.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "campaign.h"
#include "core/swapseq.h"
#include "plant/plant.h"
#include "plantmap/plantmap.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: campaign [options]\n"
            "  --seed S        first world's seed (default 1)\n"
            "  --count N       swaps in all (default 10000)\n"
            "  --per-world K   swaps per world (default 25); world i has seed S+i\n"
            "  --drones D      drones per world, 1..32 (default: 1..3 at random per world)\n"
            "  --clean         no faults, misbehaviour, restarts or operator noise\n"
            "  --naive         the naive swap order instead of the pipelined one\n"
            "  --keep-going    run every world even after a violation\n"
            "  --quiet         only the summary\n"
            "  --trace         print every event of every world as it happens\n"
            "  --without KIND  never inject this plant fault (axis_jam, guard_open, ...); repeatable\n"
            "  --careless      the operator also jogs during an e-stop or an armed-drone alarm\n"
            "  --shell-log     keep the shell's own log lines (swapd's stderr); default: dropped\n"
            "  --fleet         a clean fleet run: drones start full and ask one after the other;\n"
            "                  three of them divert once while queued\n"
            "  --plant-map F   the plant serves the layout of map file F (docs/plant-map.md)\n"
            "Exit codes: 0 no violation, 1 violation or stall, 2 usage.\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "seed", required_argument, NULL, 's' },   { "count", required_argument, NULL, 'n' },
        { "per-world", required_argument, NULL, 'k' }, { "drones", required_argument, NULL, 'd' },
        { "clean", no_argument, NULL, 'c' },        { "naive", no_argument, NULL, 'N' },
        { "keep-going", no_argument, NULL, 'g' },   { "quiet", no_argument, NULL, 'q' },
        { "trace", no_argument, NULL, 't' },
        { "without", required_argument, NULL, 'w' },
        { "careless", no_argument, NULL, 'C' },
        { "fleet", no_argument, NULL, 'F' },
        { "plant-map", required_argument, NULL, 'M' },
        { "shell-log", no_argument, NULL, 'L' },
        { "help", no_argument, NULL, 'h' },         { 0, 0, 0, 0 },
    };
    uint64_t seed = 1, count = 10000, per_world = 25, drones = 0;
    unsigned without = 0;
    bool careless = false, fleet = false, shell_log = false;
    const char *map_path = NULL;
    bool clean = false, naive = false, keep_going = false, quiet = false, trace = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        uint64_t *target = NULL;
        switch (c) {
        case 's': target = &seed; break;
        case 'n': target = &count; break;
        case 'k': target = &per_world; break;
        case 'd': target = &drones; break;
        case 'c': clean = true; break;
        case 'F': fleet = clean = true; break;
        case 'N': naive = true; break;
        case 'g': keep_going = true; break;
        case 'q': quiet = true; break;
        case 't': trace = true; break;
        case 'C': careless = true; break;
        case 'M': map_path = optarg; break;
        case 'L': shell_log = true; break;
        case 'w': {
            int k = sim_fault_from_name(optarg);
            if (k <= 0) {
                fprintf(stderr, "campaign: --without: unknown fault \"%s\"\n", optarg);
                return 2;
            }
            without |= 1u << k;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (target && parse_u64(optarg, target) != 0) {
            fprintf(stderr, "campaign: --%s needs a non-negative integer, not \"%s\"\n",
                    longopts[c == 's' ? 0 : c == 'n' ? 1 : c == 'k' ? 2 : 3].name, optarg);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "campaign: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (count < 1 || per_world < 1 || per_world > 100000 || drones > CAMPAIGN_MAX_DRONES || count > 100000000) {
        fprintf(stderr, "campaign: need --count >= 1, --per-world 1..100000, --drones 0..32\n");
        return 2;
    }

    struct plantmap map;
    if (map_path) {
        char err[512];
        if (plantmap_load(map_path, &map, err, sizeof err) != 0) {
            fprintf(stderr, "campaign: %s\n", err);
            return 2;
        }
    }

    /* The shell logs every event to stderr, as swapd does for the journal: the reports go
     * to the real stderr, the shell's lines nowhere unless asked for. */
    FILE *report = stderr;
    if (!shell_log) {
        int fd = dup(STDERR_FILENO);
        report = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!report || !freopen("/dev/null", "w", stderr)) {
            fprintf(report ? report : stdout, "campaign: cannot set the shell's log aside\n");
            return 1;
        }
        setvbuf(report, NULL, _IOLBF, 0);
    }
    struct campaign_result total;
    memset(&total, 0, sizeof total);
    unsigned worlds = 0, bad_worlds = 0;
    double t0 = cpu_s();
    uint64_t left = count;
    for (uint64_t i = 0; left > 0; i++) {
        struct campaign_opts o = {
            .seed = seed + i,
            .swaps = (unsigned)(left < per_world ? left : per_world),
            .sequence = naive ? SWAPSEQ_NAIVE : SWAPSEQ_PIPELINED,
            .faults = !clean,
            .n_drones = (unsigned)drones,
            .report = report,
            .trace = trace ? stdout : NULL,
            .without = without,
            .careless = careless,
            .fleet = fleet,
            .fleet_divert = fleet ? 3 : 0,
            .plant_map = map_path ? &map : NULL,
        };
        struct campaign_result r;
        int rc = campaign_run(&o, &r);
        if (rc < 0) {
            fprintf(report, "campaign: seed %" PRIu64 ": the world could not be built\n", o.seed);
            return 1;
        }
        worlds++;
        campaign_result_add(&total, &r);
        unsigned ended = r.swaps_completed + r.swaps_aborted;
        left -= ended < left ? ended : left;
        if (rc != 0)
            bad_worlds++;
        if (!quiet)
            printf("seed %" PRIu64 ": %u swaps (%u done, %u aborted), %u violations%s, %.0f s virtual, "
                   "faults %u, misbehaviour %u, comm losses %u, restarts %u, disk faults %u, plant restarts %u, "
                   "hash %016" PRIx64 ", blind %u\n",
                   o.seed, ended, r.swaps_completed, r.swaps_aborted, r.violations, r.stalled ? ", STALLED" : "",
                   (double)r.virtual_ms / 1000.0, r.faults_injected, r.misbehaviours, r.comm_losses, r.restarts,
                   r.disk_faults, r.plant_restarts, r.trace_hash, r.blind_arming_scans);
        fflush(stdout);
        if (rc != 0 && !keep_going)
            break;
        if (worlds >= count) /* bound: even worlds that stall before a swap ends cannot loop for ever */
            break;
    }
    double wall = cpu_s() - t0;
    unsigned ended = total.swaps_completed + total.swaps_aborted;
    printf("campaign: seeds %" PRIu64 "..%" PRIu64 ", %u worlds, %u swaps: %u completed, %u aborted by faults\n",
           seed, seed + worlds - 1, worlds, ended, total.swaps_completed, total.swaps_aborted);
    printf("campaign: %u faults, %u drone misbehaviours, %u comm losses, %u restarts, %u operator commands "
           "(%u refused), %u drones sent off by the operator, %u lifted off\n",
           total.faults_injected, total.misbehaviours, total.comm_losses, total.restarts, total.operator_cmds,
           total.operator_refused, total.drones_dispatched, total.drones_removed);
    printf("campaign: real shell in the loop: %u controller restarts, %u disk faults (full or I/O errors), "
           "%u plant (PLC) restarts; the registry file compared with the shell %u times\n", total.restarts,
           total.disk_faults, total.plant_restarts, total.durable_checks);
    printf("campaign: of those faults %u contradictory end sensor pairs, %u frozen images, %u registers out of "
           "range; %u operator Suspends with a drone on the pad\n",
           total.sensor_conflicts, total.frozen_images, total.invalid_images, total.suspends_on_pad);
    printf("campaign: %.1f h of station time in %.1f s (%.0f swaps/s, %.2f ms per swap), %" PRIu64 " scans\n",
           (double)total.virtual_ms / 3.6e6, wall, wall > 0 ? ended / wall : 0.0, ended ? wall * 1000.0 / ended : 0.0,
           total.scans);
    if (total.onpad_n)
        printf("campaign: on-pad time of completed swaps: mean %.3f s, min %.3f s, max %.3f s\n",
               total.onpad_sum_s / total.onpad_n, total.onpad_min_s, total.onpad_max_s);
    printf("campaign: %u violations", total.violations);
    for (int i = 0; i < CAMPAIGN_RULE_COUNT; i++)
        if (total.violations_by_rule[i])
            printf(" [%s %u]", campaign_rule_name(i), total.violations_by_rule[i]);
    printf(", %u worlds with a violation or stall, %u blind scans (armed drone unheard)\n", bad_worlds,
           total.blind_arming_scans);
    printf("campaign: %u drone stalls (a drone without progress within the protocol's timeouts)\n",
           total.drone_stalls);
    if (total.first_violation[0])
        printf("campaign: first: %s\n", total.first_violation);
    if (total.first_stall[0])
        printf("campaign: first drone stall: %s\n", total.first_stall);
    return bad_worlds ? 1 : 0;
}
