/* The registry's retention settings ([retention] of swapd.ini); see registry.h. */
#include "registry/registry.h"

#define S struct registry_retention
const struct cfg_key registry_retention_keys[] = {
    CFG_I("retention", "events_days", S, events_days, 0, 36500, "30", "days", "Keep the event log (swapctl events) this long; 0 = for ever"),
    CFG_I("retention", "restart_days", S, restart_days, 0, 36500, "7", "days", "Keep the restart records (the step the chain was in, the move a step was about to make; the newest of each kind always stays)"),
    CFG_I("retention", "alarms_days", S, alarms_days, 0, 36500, "365", "days", "Keep cleared alarms this long (active ones stay)"),
    CFG_I("retention", "history_days", S, history_days, 0, 36500, "180", "days", "Keep each pack's location history this long (its current place always stays)"),
    CFG_I("retention", "telemetry_days", S, telemetry_days, 0, 36500, "365", "days", "Keep per-charge and per-flight measurements this long (the pack's estimates stay)"),
    CFG_I("retention", "swap_steps_days", S, swap_steps_days, 0, 36500, "30", "days", "Keep the per-step timings of a swap this long (the swap's summary stays)"),
    CFG_I("retention", "swaps_days", S, swaps_days, 0, 36500, "730", "days", "Keep a swap's summary this long once both its packs are retired (while one is in service it stays)"),
    CFG_I("retention", "prune_interval_s", S, prune_interval_s, 1, 3600, "10", "s", "How often the persistence thread deletes one batch of expired rows"),
    CFG_I("retention", "prune_batch_rows", S, prune_batch_rows, 10, 100000, "500", "rows", "Rows of each kind deleted per batch (small: a batch never delays a battery move for long)"),
};
#undef S
const size_t registry_retention_n_keys = sizeof registry_retention_keys / sizeof registry_retention_keys[0];
