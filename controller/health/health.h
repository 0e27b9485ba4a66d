/* Battery health: estimators fed by charger telemetry in the slots and by the drone's
 * BATTERY_STATUS in flight (capacity from throughput between rested OCVs, DCIR from the
 * current step at charge start and at take-off, equivalent full cycles, peak temperature),
 * filtered over cycles with their uncertainty; and the hand-out / charging / retirement
 * policy. Built for real sensors: rests come from what is known (charger state, drone on
 * the pad) before any current threshold, each current sensor's offset is learned during
 * known rests and removed, OCVs are extrapolated from the relaxation of a rest, and a
 * capacity window is used when its propagated uncertainty is small enough.
 * Pure code: time comes in the samples, nothing here reads a clock or does I/O.
 *
 * Sign convention: current_A > 0 charges the pack (into it), < 0 discharges it.
 */
#ifndef SWAP_HEALTH_H
#define SWAP_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"
#include "mavlink/mav.h"

/* Every tunable of the estimators and of the policy (configs/health.ini). */
struct health_config {
    /* [estimator] */
    double rest_current_A;        /* state unknown: |I - offset| at or below this is a rest */
    double min_rest_s;            /* a shorter rest gives no OCV */
    double rest_skip_s;           /* the first seconds of a rest are not fitted (fast RC) */
    double relax_tau1_s, relax_tau2_s; /* relaxation fit: V = OCV + a1 e^-t/tau1 + a2 e^-t/tau2 */
    double relax_prior_mohm;      /* per cell: prior sd of a1, a2 per A of recent current */
    double relax_model_rel;       /* share of the extrapolated part counted as model error */
    double hyst_mV;               /* per cell: OCV half-gap between charge and discharge */
    double hyst_soc;              /* SoC swing that turns the hysteresis (e-folding) */
    double hyst_sd_rel;           /* relative uncertainty of hyst_mV */
    double min_window_soc;        /* a smaller, rejected window keeps its older anchor */
    double max_window_sd_rel;     /* a window is used when its relative sd is at most this */
    double ocv_sd_mV;             /* per cell: OCV model error (table, temperature, spread) */
    double voltage_sd_mV;         /* pack: reading noise floor of a rest sample */
    double current_noise_A;       /* sd of one current reading */
    double current_offset_sd_A;   /* sd of an unlearned sensor offset */
    double current_gain_sd;       /* relative: current sensor gain uncertainty */
    double self_discharge_pct_month; /* charge a resting pack loses unseen */
    double recovery_rest_s;       /* a rest this long gives back recoverable capacity... */
    double recovery_sd;           /* ... so windows after it get this much more sd (relative) */
    double recovery_efc;          /* ... fading over this many EFC of use */
    double max_gap_s;             /* a longer gap between samples with current breaks coulomb counting */
    double dcir_delay_s;          /* DCIR = dV/dI this long after the charge-start step */
    double dcir_min_step_A;
    double dcir_soc_min, dcir_soc_max;   /* DCIR only in the flat middle of the resistance bowl */
    double dcir_sd_rel;           /* measurement sd of one DCIR, relative */
    double arrhenius_K;           /* Ea/R: DCIR is normalised to 25 degC with this */
    double dcir_rated_mohm;       /* prior for a new pack (pack DCIR at dcir_delay_s) */
    int dcir_new_count;           /* the filtered DCIR after this many steps becomes "new" */
    double capacity_prior_sd;     /* relative sd of a new pack's capacity around rated */
    double capacity_process_sd;   /* relative, per sqrt(EFC): ageing noise of the level */
    double fade_process_sd;       /* relative per EFC, per sqrt(EFC): drift of the fade rate */
    double dcir_process_sd;       /* relative, per sqrt(EFC) */
    double min_cell_V, max_cell_V;/* telemetry outside this is absurd and rejected */
    double max_current_A;
    double min_temp_degC, max_temp_degC;
    /* [eligibility] */
    double discharge_min_degC, discharge_max_degC;
    double cooled_max_degC;       /* a pack warmer than this after charge is not handed out */
    double min_rest_after_charge_s;
    double reserve_soc;           /* SoC that must remain after the next flight */
    /* [charging] */
    double charge_min_degC, charge_max_degC;
    double charge_c_rate;         /* for the just-in-time estimate */
    double cv_tail_s;             /* CV phase duration, roughly constant */
    double jit_margin_s;
    double rest_before_charge_s;  /* rest (for the OCV) before a charge not needed sooner */
    double storage_after_days;
    double storage_v_per_cell;
    /* [retirement] */
    double retire_soh;            /* SoH below this retires a pack */
    double retire_z;              /* ... when soh + z sd is below it */
    int retire_confirmations;     /* ... or after this many consecutive estimates below it */
    double retire_dcir_ratio;     /* DCIR >= ratio x new retires */
    double quarantine_temp_degC;  /* a pack that was ever this hot is quarantined */
    int quarantine_unreadable_tag;/* quarantine a pack whose tag cannot be read (1) */
};

extern const struct cfg_key health_policy_keys[];
extern const size_t health_policy_n_keys;

/* Fills cfg with the defaults (the values in configs/health.ini). */
void health_config_defaults(struct health_config *cfg);
/* Loads an INI file with only the health tables. 0, or -1 with err set (also when the
 * windows are inconsistent, e.g. dcir_soc_min >= dcir_soc_max). */
int health_config_load(const char *path, struct health_config *cfg, struct cfg_error *err);
/* Cross-key checks after cfg_load_tables; 0 or -1 with err set. */
int health_config_check(const struct health_config *cfg, struct cfg_error *err);

/* ---- OCV / SoC -------------------------------------------------------------------- */

/* Cell OCV (V) at soc 0..1 from the NMC table of the reference; clamped outside. */
double health_ocv_from_soc(double soc);
/* Inverse: SoC 0..1 at a cell OCV (V); clamped outside the table. */
double health_soc_from_ocv(double cell_V);
/* dOCV/dSoC (V per unit SoC) of the table segment around soc. */
double health_ocv_slope(double soc);

/* ---- telemetry -------------------------------------------------------------------- */

/* What is known about the pack when a sample was taken, before any current is read. */
enum health_state {
    HEALTH_STATE_UNKNOWN,    /* nothing: rests are inferred from |I| <= rest_current_A */
    HEALTH_STATE_REST,       /* no current flows: charger idle / done / off, no load */
    HEALTH_STATE_CHARGE,     /* the charger charges (CC, CV, storage) */
    HEALTH_STATE_PAD,        /* on a drone that is landed and disarmed: a small load */
    HEALTH_STATE_FLIGHT,     /* on a drone that is armed or flying */
    HEALTH_STATE_COUNT
};

/* "unknown", "rest", "charge", "pad", "flight" (the event names of a log). */
const char *health_state_name(enum health_state s);
/* The state of an event name ("charge_start" and "flight_start" count too); -1 if none. */
int health_state_from_name(const char *name);

struct health_sample {
    double t_s;
    double voltage_V;   /* pack terminal voltage */
    double current_A;   /* reading at t_s (mean since the previous sample when the sensor
                         * gives that); > 0 charging */
    double temp_degC;
    enum health_state state;
    uint32_t sensor;    /* which current sensor (a slot's charger, a drone); 0: one sensor */
    bool has_counter;
    double counter_mAh; /* the sensor's own charge counter (+ into the pack), when it has one */
};

/* Converts the slot's input registers (IR_SLOT_TAG_HI .. IR_SLOT_CHG_FAULT, 10 words, in
 * register-map order) into a sample: state from the charger state (idle / done: rest,
 * CC / CV / storage: charge), the charger's charge counter while it charges; sensor is
 * left 0 for the caller (the slot). Returns 0, or -1 when a reading is unknown (0xFFFF
 * voltage, open NTC 32767) or the charger reports a fault. */
int health_sample_from_slot(const uint16_t regs[10], double t_s, struct health_sample *out);
/* From a drone's BATTERY_STATUS: voltage = sum of the known cells, current sign turned
 * to ours, consumed mAh as the counter (negated); state FLIGHT when armed, PAD when
 * landed and disarmed. Returns 0, or -1 when voltage, current or temperature is unknown. */
int health_sample_from_battery_status(const struct mav_battery_status *bs, double t_s,
                                      struct health_sample *out);
/* The same with what the drone link knows: armed flag (HEARTBEAT). */
int health_sample_from_drone(const struct mav_battery_status *bs, bool armed, double t_s,
                             struct health_sample *out);

/* ---- estimator --------------------------------------------------------------------- */

/* Why a sample or a measurement was not used (counters in struct health_estimator). */
enum health_reject {
    HEALTH_REJ_NAN,            /* NaN / infinite field */
    HEALTH_REJ_VOLTAGE,        /* cell voltage outside min_cell_V..max_cell_V */
    HEALTH_REJ_CURRENT,        /* |I| > max_current_A */
    HEALTH_REJ_TEMP,           /* outside min_temp_degC..max_temp_degC */
    HEALTH_REJ_TIME,           /* time not increasing */
    HEALTH_REJ_GAP,            /* gap with current: coulomb count broken */
    HEALTH_REJ_UNRESTED,       /* capacity window: an end was not relaxed */
    HEALTH_REJ_SMALL_WINDOW,   /* capacity window: too uncertain (sd > max_window_sd_rel) */
    HEALTH_REJ_INCONSISTENT,   /* capacity window: charge and SoC disagree in sign / absurd */
    HEALTH_REJ_DCIR,           /* DCIR step unusable (outside SoC window, current unsteady) */
    HEALTH_REJ_COUNT
};

const char *health_reject_name(enum health_reject r);

/* Events that health_est_feed reports (bit mask). */
#define HEALTH_EV_REJECTED   0x01   /* the sample was rejected (counted) */
#define HEALTH_EV_CAPACITY   0x02   /* a capacity window was measured and filtered in */
#define HEALTH_EV_DCIR       0x04   /* a DCIR step was measured and filtered in */
#define HEALTH_EV_CYCLE      0x08   /* a charge started: the previous cycle is complete */

/* What a capacity window spanned: a charge (rest, charge, rest), a flight (rest in the
 * slot, pad, flight, landing, rest in the slot) or both. */
enum health_window_kind { HEALTH_WINDOW_CHARGE, HEALTH_WINDOW_FLIGHT, HEALTH_WINDOW_MIXED };
/* "charge", "flight", "mixed". */
const char *health_window_kind_name(enum health_window_kind k);

/* The last capacity window filtered in. */
struct health_window {
    double capacity_mAh, sd_mAh;
    enum health_window_kind kind;
};

/* What one cycle (charge start to next charge start) measured. */
struct health_cycle {
    int index;                    /* 1, 2, ... (0: before the first charge) */
    double t_start_s;
    double charged_mAh, discharged_mAh;
    double capacity_meas_mAh;     /* last window in the cycle; NaN when none */
    double capacity_meas_sd_mAh;
    double dcir_meas_mohm;        /* at 25 degC; NaN when none */
    double peak_temp_degC;
};

#define HEALTH_SENSORS 8      /* current sensors whose offset is remembered */
#define HEALTH_WIN_SENSORS 4  /* sensors tracked inside one window (more share the last) */

/* A current sensor's learned offset. */
struct health_offset {
    uint32_t sensor;
    double offset_A, var;
    long n;
    bool used;
};

/* What one current sensor contributed to the window in progress. */
struct health_win_sensor {
    uint32_t sensor;
    double active_s;              /* time with current counted */
    double abs_mAh;               /* |charge| counted */
    double offset_var;            /* offset variance it was corrected with */
};

struct health_estimator {
    struct health_config cfg;
    int cells;
    double rated_mAh;
    /* filtered state: capacity level and fade rate (mAh per EFC) with covariance */
    double cap_mAh, fade_mAh_efc;
    double P[2][2];
    double efc_at_update;
    /* filtered DCIR at 25 degC, pack, at dcir_delay_s */
    double dcir_mohm, dcir_var;
    double dcir_new_mohm;
    double dcir_efc;              /* EFC at the last DCIR update */
    int dcir_count;
    int cap_count;
    int below_count;              /* consecutive capacity updates with SoH < retire_soh */
    /* totals */
    double ah_throughput, efc, peak_temp_degC;
    int charge_count;
    double q_mAh;                 /* net coulomb count, + into the pack */
    /* stream state */
    bool have_prev;
    struct health_sample prev;
    bool prev_rest;
    struct health_offset offsets[HEALTH_SENSORS];
    double i_branch_A[2];         /* current through each relaxation branch's time constant */
    double hyst;                  /* hysteresis state -1 .. +1 */
    bool resting;
    double rest_start_s, rest_last_s, rest_i_A[2];
    long rest_n, fit_n;
    double fit_A[3][3], fit_b[3], fit_vv; /* normal equations of the relaxation fit */
    double rest_tail_v[4];        /* last rest voltages (pack), for a step's V0 */
    int rest_tail_n;
    /* on the pad before a take-off */
    double pad_v_sum, pad_i_sum;
    int pad_n;
    /* last relaxed point and the window since */
    bool have_anchor;
    double anchor_soc, anchor_q_mAh, anchor_var_soc;
    struct health_win_sensor win[HEALTH_WIN_SENSORS];
    int win_n;
    double win_noise_var;         /* mAh^2 from reading noise */
    double win_selfdis_mAh;       /* self-discharge assumed inside the window */
    double win_flight_mAh;        /* |charge| counted on a drone (pad, flight; or out of the
                                   * pack in an unknown state) */
    double win_charge_mAh;        /* |charge| counted while charging (or into the pack in an
                                   * unknown state) */
    struct health_window last_window;
    int cap_flight_count, cap_charge_count; /* windows filtered in, by kind (mixed: neither) */
    bool have_long_rest;
    double long_rest_efc;         /* EFC at the end of the last long rest */
    /* DCIR step in progress */
    bool step_active;
    double step_t0, step_v0, step_q0, step_soc0, step_i0;
    double step_i_min, step_i_max;
    double step_q_before_last;    /* q before the last sample's charge */
    /* counters */
    long samples, rejected[HEALTH_REJ_COUNT];
    struct health_cycle cycle;    /* the cycle in progress */
    struct health_cycle last_cycle;   /* the last complete cycle (after HEALTH_EV_CYCLE) */
};

/* Starts a new pack: capacity = rated with the prior sd, DCIR = dcir_rated_mohm. */
void health_est_init(struct health_estimator *e, const struct health_config *cfg, int cells,
                     double rated_mAh);
/* Continues from stored estimates (the registry's values). */
void health_est_restore(struct health_estimator *e, double cap_mAh, double cap_sd_mAh,
                        double dcir_mohm, double dcir_sd_mohm, double dcir_new_mohm,
                        double efc, int charge_count);

/* Feeds one sample; returns HEALTH_EV_* bits. A rejected sample changes no estimate. */
unsigned health_est_feed(struct health_estimator *e, const struct health_sample *s);

/* Ends the stream: closes the cycle in progress into last_cycle (HEALTH_EV_CYCLE if it
 * had any data, else 0). */
unsigned health_est_finish(struct health_estimator *e);
/* The sensor that watched a rest stops seeing the pack (it leaves the slot): the rest ends
 * at its last sample, as it would at the next sample from another sensor, so its OCV
 * closes a window now instead of when the pack is next measured. Returns
 * HEALTH_EV_CAPACITY when a window was filtered in, else 0. */
unsigned health_est_rest_end(struct health_estimator *e);

double health_est_soh(const struct health_estimator *e);
double health_est_soh_sd(const struct health_estimator *e);
double health_est_capacity_sd(const struct health_estimator *e);
double health_est_dcir_sd(const struct health_estimator *e);
long health_est_rejected_total(const struct health_estimator *e);

/* ---- policy ------------------------------------------------------------------------- */

/* What the policy needs to know about a pack in the magazine. */
struct health_pack {
    uint32_t tag;
    bool in_service;              /* status in service */
    bool fault;                   /* charger fault, unknown reading, ... */
    bool tag_readable;
    double soc;                   /* 0..1, from OCV or the charger */
    double soh;
    double rated_mAh;
    double efc;
    double temp_degC;             /* NaN = unknown (counts as a fault) */
    double rest_s;                /* time without current (must reach min_rest_after_charge_s) */
    double since_charge_end_s;    /* time since the last charge ended (large when never) */
};

/* 0 when p may be handed out for a flight needing need_soc (0..1) of its charge (the
 * flight alone: reserve_soc is added here, callers must not add it again);
 * otherwise -1 with a reason in why. */
int health_pack_eligible(const struct health_config *cfg, const struct health_pack *p,
                         double need_soc, char *why, size_t why_size);

/* Index of the pack to hand out: eligible, most usable energy (soc x soh x rated), ties
 * (within 1 %) broken by fewest EFC. -1 when none is eligible. */
int health_choose_pack(const struct health_config *cfg, const struct health_pack *packs, int n,
                       double need_soc);

/* OFF: no request (the station's default applies); REST: keep the charger off, the pack
 * rests first. */
enum health_charge_action { HEALTH_CHARGE_OFF, HEALTH_CHARGE_FULL, HEALTH_CHARGE_STORAGE, HEALTH_CHARGE_REST };

/* Just in time: charge fully when the pack is needed within the time a charge takes (plus
 * margin); move to storage voltage when idle longer than storage_after_days and not needed
 * soon; otherwise leave it. A pack that is not full and has rested (rest_s) less than
 * rest_before_charge_s rests first (REST) unless it is needed that soon: the rested OCV
 * before a charge closes the window of the flight that emptied it and opens the charge's.
 * Never charges outside the charge temperature window or with a fault (OFF then).
 * needed_in_s < 0 means no demand known. */
enum health_charge_action health_charge_decision(const struct health_config *cfg,
                                                 const struct health_pack *p, double needed_in_s,
                                                 double idle_s);

enum health_verdict { HEALTH_KEEP, HEALTH_QUARANTINE, HEALTH_RETIRE };

/* Status decision from the estimator's state, the pack's peak temperature and whether its
 * tag reads. Retires at SoH < retire_soh (upper confidence bound below it, or
 * retire_confirmations consecutive estimates below it) or DCIR >= ratio x new (lower
 * bound); quarantines over-temperature and unreadable tags. why gets the reason. */
enum health_verdict health_judge(const struct health_config *cfg, const struct health_estimator *e,
                                 bool tag_readable, char *why, size_t why_size);

#endif
