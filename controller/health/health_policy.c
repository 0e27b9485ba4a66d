/* Battery hand-out, charging and retirement policy, and its configuration table; see
 * health.h. */
#include "health/health.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define S struct health_config
const struct cfg_key health_policy_keys[] = {
    CFG_D("estimator", "rest_current_A", S, rest_current_A, 0, 5, "0.3", "A",
          "state unknown (no charger state, no event): a current (offset removed) at or below this is a rest"),
    CFG_D("estimator", "min_rest_s", S, min_rest_s, 0, 86400, "180", "s",
          "a shorter rest gives no open-circuit voltage"),
    CFG_D("estimator", "rest_skip_s", S, rest_skip_s, 0, 3600, "120", "s",
          "the first seconds of a rest are left out of the relaxation fit (fast RC branch)"),
    CFG_D("estimator", "relax_tau1_s", S, relax_tau1_s, 10, 100000, "600", "s",
          "relaxation fit: the shorter time constant (minutes)"),
    CFG_D("estimator", "relax_tau2_s", S, relax_tau2_s, 10, 1000000, "3600", "s",
          "relaxation fit: the longer time constant (hours)"),
    CFG_D("estimator", "relax_prior_mohm", S, relax_prior_mohm, 0, 1000, "6", "mOhm",
          "per cell: prior sd of each relaxation amplitude per A of recent current"),
    CFG_D("estimator", "relax_model_rel", S, relax_model_rel, 0, 1, "0.3", "fraction",
          "share of the extrapolated relaxation counted as model error"),
    CFG_D("estimator", "hyst_mV", S, hyst_mV, 0, 100, "8", "mV",
          "per cell: OCV half-gap between the charge and the discharge branch"),
    CFG_D("estimator", "hyst_soc", S, hyst_soc, 0.001, 1, "0.05", "fraction",
          "SoC swing over which the hysteresis turns (e-folding)"),
    CFG_D("estimator", "hyst_sd_rel", S, hyst_sd_rel, 0, 2, "0.25", "fraction",
          "relative uncertainty of hyst_mV"),
    CFG_D("estimator", "min_window_soc", S, min_window_soc, 0.01, 1, "0.2", "fraction",
          "a rejected window smaller than this keeps its older anchor for a larger one"),
    CFG_D("estimator", "max_window_sd_rel", S, max_window_sd_rel, 0.001, 1, "0.04", "fraction",
          "a capacity window is used when its relative sd is at most this"),
    CFG_D("estimator", "ocv_sd_mV", S, ocv_sd_mV, 0.1, 100, "2", "mV",
          "per cell: uncertainty of a rested OCV against the OCV-SoC table"),
    CFG_D("estimator", "voltage_sd_mV", S, voltage_sd_mV, 0.01, 1000, "3", "mV",
          "pack: noise floor of one voltage reading (quantisation included)"),
    CFG_D("estimator", "current_noise_A", S, current_noise_A, 0, 10, "0.05", "A",
          "sd of one current reading"),
    CFG_D("estimator", "current_offset_sd_A", S, current_offset_sd_A, 0, 10, "0.04", "A",
          "sd of the offset of a current sensor not yet seen at rest"),
    CFG_D("estimator", "current_gain_sd", S, current_gain_sd, 0, 0.2, "0.006", "fraction",
          "gain uncertainty of the current sensors"),
    CFG_D("estimator", "self_discharge_pct_month", S, self_discharge_pct_month, 0, 50, "2", "%/month",
          "charge a resting pack loses without any sensor seeing it (counted with 50 % sd)"),
    CFG_D("estimator", "recovery_rest_s", S, recovery_rest_s, 0, 10000000, "43200", "s",
          "a rest this long gives back recoverable capacity for a while"),
    CFG_D("estimator", "recovery_sd", S, recovery_sd, 0, 0.2, "0.015", "fraction",
          "windows after such a rest get this much more relative sd..."),
    CFG_D("estimator", "recovery_efc", S, recovery_efc, 0.01, 1000, "2", "EFC",
          "... fading away over this much use"),
    CFG_D("estimator", "max_gap_s", S, max_gap_s, 1, 3600, "60", "s",
          "a longer gap between samples while current flows breaks the coulomb count"),
    CFG_D("estimator", "dcir_delay_s", S, dcir_delay_s, 1, 60, "10", "s",
          "DCIR = dV/dI this long after the charge-start step (R0 plus part of R1)"),
    CFG_D("estimator", "dcir_min_step_A", S, dcir_min_step_A, 0.1, 200, "1", "A",
          "smallest charge-start current step used for DCIR"),
    CFG_D("estimator", "dcir_soc_min", S, dcir_soc_min, 0, 1, "0.2", "fraction",
          "DCIR only from steps starting at or above this SoC"),
    CFG_D("estimator", "dcir_soc_max", S, dcir_soc_max, 0, 1, "0.8", "fraction",
          "... and at or below this SoC"),
    CFG_D("estimator", "dcir_sd_rel", S, dcir_sd_rel, 0.001, 1, "0.03", "fraction",
          "measurement sd of one DCIR reading"),
    CFG_D("estimator", "arrhenius_K", S, arrhenius_K, 0, 20000, "2420", "K",
          "Ea/R of the resistance; readings are normalised to 25 degC"),
    CFG_D("estimator", "dcir_rated_mohm", S, dcir_rated_mohm, 0.1, 10000, "75", "mOhm",
          "prior DCIR of a new pack (pack, at dcir_delay_s, 25 degC)"),
    CFG_I("estimator", "dcir_new_count", S, dcir_new_count, 1, 100, "5", "steps",
          "the filtered DCIR after this many steps is the pack's new resistance"),
    CFG_D("estimator", "capacity_prior_sd", S, capacity_prior_sd, 0.001, 0.5, "0.03", "fraction",
          "sd of a new pack's capacity around rated"),
    CFG_D("estimator", "capacity_process_sd", S, capacity_process_sd, 0, 0.1, "0.001", "fraction/sqrt(EFC)",
          "random ageing of the capacity level"),
    CFG_D("estimator", "fade_process_sd", S, fade_process_sd, 0, 0.1, "0.0002", "fraction/EFC/sqrt(EFC)",
          "drift of the fade rate"),
    CFG_D("estimator", "dcir_process_sd", S, dcir_process_sd, 0, 1, "0.005", "fraction/sqrt(EFC)",
          "random growth of the resistance"),
    CFG_D("estimator", "min_cell_V", S, min_cell_V, 0, 5, "2.0", "V",
          "cell voltages below this are absurd telemetry"),
    CFG_D("estimator", "max_cell_V", S, max_cell_V, 0, 6, "4.5", "V",
          "cell voltages above this are absurd telemetry"),
    CFG_D("estimator", "max_current_A", S, max_current_A, 1, 1000, "300", "A",
          "absolute current above this is absurd telemetry"),
    CFG_D("estimator", "min_temp_degC", S, min_temp_degC, -100, 0, "-40", "degC",
          "temperatures below this are absurd telemetry"),
    CFG_D("estimator", "max_temp_degC", S, max_temp_degC, 30, 200, "100", "degC",
          "temperatures above this are absurd telemetry"),

    CFG_D("eligibility", "discharge_min_degC", S, discharge_min_degC, -40, 60, "-20", "degC",
          "discharge window: lowest pack temperature to hand out"),
    CFG_D("eligibility", "discharge_max_degC", S, discharge_max_degC, 0, 100, "60", "degC",
          "discharge window: highest pack temperature"),
    CFG_D("eligibility", "cooled_max_degC", S, cooled_max_degC, 0, 100, "35", "degC",
          "a pack warmer than this after a charge is still cooling"),
    CFG_D("eligibility", "min_rest_after_charge_s", S, min_rest_after_charge_s, 0, 86400, "300", "s",
          "rest after the end of charge before hand-out"),
    CFG_D("eligibility", "reserve_soc", S, reserve_soc, 0, 0.9, "0.2", "fraction",
          "SoC that must remain after the next flight"),

    CFG_D("charging", "charge_min_degC", S, charge_min_degC, -20, 45, "0", "degC",
          "charge window: lowest pack temperature"),
    CFG_D("charging", "charge_max_degC", S, charge_max_degC, 0, 80, "45", "degC",
          "charge window: highest pack temperature"),
    CFG_D("charging", "c_rate", S, charge_c_rate, 0.05, 10, "1.0", "C",
          "charge current, for the just-in-time estimate"),
    CFG_D("charging", "cv_tail_s", S, cv_tail_s, 0, 36000, "1200", "s",
          "duration of the constant-voltage phase"),
    CFG_D("charging", "jit_margin_s", S, jit_margin_s, 0, 86400, "900", "s",
          "start a charge this much earlier than strictly needed"),
    CFG_D("charging", "rest_before_charge_s", S, rest_before_charge_s, 0, 86400, "600", "s",
          "a pack rests this long before a charge unless it is needed sooner: its rested OCV anchors capacity windows"),
    CFG_D("charging", "storage_after_days", S, storage_after_days, 0.1, 365, "10", "days",
          "packs idle longer go to storage voltage"),
    CFG_D("charging", "storage_v_per_cell", S, storage_v_per_cell, 3.5, 4.0, "3.85", "V",
          "storage voltage per cell"),

    CFG_D("retirement", "soh", S, retire_soh, 0.3, 1, "0.80", "fraction",
          "retire below this state of health"),
    CFG_D("retirement", "soh_z", S, retire_z, 0, 5, "1.0", "sd",
          "... when SoH + z sd is below it (upper confidence bound)"),
    CFG_I("retirement", "confirmations", S, retire_confirmations, 1, 100, "3", "estimates",
          "... or after this many consecutive capacity estimates below it"),
    CFG_D("retirement", "dcir_ratio", S, retire_dcir_ratio, 1.1, 10, "2.0", "x new",
          "retire when DCIR (lower confidence bound) reaches this multiple of new"),
    CFG_D("retirement", "quarantine_temp_degC", S, quarantine_temp_degC, 30, 150, "65", "degC",
          "a pack that was this hot is quarantined for inspection"),
    CFG_I("retirement", "quarantine_unreadable_tag", S, quarantine_unreadable_tag, 0, 1, "1", "bool",
          "quarantine a pack whose RFID tag cannot be read"),
};
#undef S
const size_t health_policy_n_keys = sizeof health_policy_keys / sizeof health_policy_keys[0];

void health_config_defaults(struct health_config *cfg)
{
    struct cfg_error err;
    memset(cfg, 0, sizeof *cfg);
    cfg_defaults(health_policy_keys, health_policy_n_keys, cfg, &err);
}

int health_config_check(const struct health_config *c, struct cfg_error *err)
{
    const char *why = NULL;
    if (c->dcir_soc_min >= c->dcir_soc_max)
        why = "[estimator] dcir_soc_min must be below dcir_soc_max";
    else if (c->min_cell_V >= c->max_cell_V)
        why = "[estimator] min_cell_V must be below max_cell_V";
    else if (c->discharge_min_degC >= c->discharge_max_degC)
        why = "[eligibility] discharge_min_degC must be below discharge_max_degC";
    else if (c->charge_min_degC >= c->charge_max_degC)
        why = "[charging] charge_min_degC must be below charge_max_degC";
    else if (c->rest_skip_s >= c->min_rest_s && c->min_rest_s > 0)
        why = "[estimator] rest_skip_s must be below min_rest_s";
    else if (c->relax_tau1_s >= c->relax_tau2_s)
        why = "[estimator] relax_tau1_s must be below relax_tau2_s";
    if (!why)
        return 0;
    if (err) {
        snprintf(err->msg, sizeof err->msg, "%s", why);
        err->n_errors = 1;
    }
    return -1;
}

int health_config_load(const char *path, struct health_config *cfg, struct cfg_error *err)
{
    static struct cfg_where where;  /* large; loaded once at start-up */
    const struct cfg_table t = { health_policy_keys, health_policy_n_keys, cfg };
    if (cfg_load_tables_where(path, &t, 1, err, &where) != 0)
        return -1;
    if (health_config_check(cfg, err) != 0) {
        /* "file:line: [section] key ...": the line of the key the check names */
        cfg_where_error(&where, err, "%s", err->msg);
        return -1;
    }
    return 0;
}

/* ---- eligibility and choice ------------------------------------------------------------ */

#define WHY(...) do { if (why) snprintf(why, why_size, __VA_ARGS__); } while (0)

int health_pack_eligible(const struct health_config *cfg, const struct health_pack *p,
                         double need_soc, char *why, size_t why_size)
{
    if (!p->in_service) {
        WHY("not in service");
        return -1;
    }
    if (p->fault || !p->tag_readable) {
        WHY(p->fault ? "fault" : "tag unreadable");
        return -1;
    }
    if (!isfinite(p->temp_degC) || !isfinite(p->soc) || !isfinite(p->soh)) {
        WHY("unknown reading");
        return -1;
    }
    if (p->temp_degC < cfg->discharge_min_degC || p->temp_degC > cfg->discharge_max_degC) {
        WHY("temperature %.1f degC outside the discharge window", p->temp_degC);
        return -1;
    }
    if (p->rest_s < cfg->min_rest_after_charge_s) {
        WHY("not rested (current flowed %.0f s ago)", p->rest_s);
        return -1;
    }
    if (p->since_charge_end_s < cfg->min_rest_after_charge_s || p->temp_degC > cfg->cooled_max_degC) {
        WHY("still cooling after charge");
        return -1;
    }
    if (p->soc < need_soc + cfg->reserve_soc) {
        WHY("SoC %.0f %% below the %.0f %% needed", p->soc * 100, (need_soc + cfg->reserve_soc) * 100);
        return -1;
    }
    WHY("eligible");
    return 0;
}

static double usable_mAh(const struct health_pack *p)
{
    return p->soc * p->soh * p->rated_mAh;
}

int health_choose_pack(const struct health_config *cfg, const struct health_pack *packs, int n,
                       double need_soc)
{
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (health_pack_eligible(cfg, &packs[i], need_soc, NULL, 0) != 0)
            continue;
        if (best < 0) {
            best = i;
            continue;
        }
        double e = usable_mAh(&packs[i]), eb = usable_mAh(&packs[best]);
        /* Within 1 % the energy is a tie: wear-level by cycles instead. */
        if (fabs(e - eb) <= 0.01 * fmax(e, eb)) {
            if (packs[i].efc < packs[best].efc)
                best = i;
        } else if (e > eb) {
            best = i;
        }
    }
    return best;
}

enum health_charge_action health_charge_decision(const struct health_config *cfg,
                                                 const struct health_pack *p, double needed_in_s,
                                                 double idle_s)
{
    if (!p->in_service || p->fault || !isfinite(p->temp_degC) || !isfinite(p->soc) ||
        p->temp_degC < cfg->charge_min_degC || p->temp_degC > cfg->charge_max_degC)
        return HEALTH_CHARGE_OFF;
    double cc_s = (1.0 - p->soc) / cfg->charge_c_rate * 3600.0;
    double need_s = (cc_s > 0 ? cc_s : 0) + cfg->cv_tail_s + cfg->jit_margin_s;
    bool needed = needed_in_s >= 0 && needed_in_s <= need_s;
    if (p->soc < 0.99 && p->rest_s < cfg->rest_before_charge_s && !needed)
        return HEALTH_CHARGE_REST;
    if (needed)
        return p->soc < 0.99 ? HEALTH_CHARGE_FULL : HEALTH_CHARGE_OFF;
    if (idle_s >= cfg->storage_after_days * 86400.0)
        return HEALTH_CHARGE_STORAGE;
    return HEALTH_CHARGE_OFF;
}

enum health_verdict health_judge(const struct health_config *cfg, const struct health_estimator *e,
                                 bool tag_readable, char *why, size_t why_size)
{
    double soh = health_est_soh(e), sd = health_est_soh_sd(e);
    if (e->cap_count > 0 && (soh + cfg->retire_z * sd < cfg->retire_soh ||
                             e->below_count >= cfg->retire_confirmations)) {
        WHY("SoH %.1f %% +- %.1f below %.0f %%", soh * 100, sd * 100, cfg->retire_soh * 100);
        return HEALTH_RETIRE;
    }
    double rsd = health_est_dcir_sd(e);
    if (e->dcir_count >= cfg->dcir_new_count && e->dcir_new_mohm > 0 &&
        e->dcir_mohm - cfg->retire_z * rsd >= cfg->retire_dcir_ratio * e->dcir_new_mohm) {
        WHY("DCIR %.1f mOhm >= %.1f x new (%.1f mOhm)", e->dcir_mohm, cfg->retire_dcir_ratio,
            e->dcir_new_mohm);
        return HEALTH_RETIRE;
    }
    if (isfinite(e->peak_temp_degC) && e->peak_temp_degC >= cfg->quarantine_temp_degC) {
        WHY("over-temperature: %.1f degC seen", e->peak_temp_degC);
        return HEALTH_QUARANTINE;
    }
    if (!tag_readable && cfg->quarantine_unreadable_tag) {
        WHY("RFID tag unreadable");
        return HEALTH_QUARANTINE;
    }
    WHY("healthy");
    return HEALTH_KEEP;
}
