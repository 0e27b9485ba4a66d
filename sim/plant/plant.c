/* The plant model; see plant.h and docs/plant-model.md.
 *
 * Time: mechanics advance in 1 ms ticks; batteries and chargers in CHARGER_TICK_MS ticks
 * on absolute multiples of that period, so slicing never changes results. While nothing
 * mechanical evolves and no input changed, the step jumps straight to the next timed
 * event (charger tick, watchdog deadline, end of step).
 */
#include "plant/plant.h"

#include "battery/sensor.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Chargers report once per second, like real balance chargers; a 1 s step is well
 * inside the pack's time constants (RC 30 s, thermal 900 s) and is integrated exactly
 * for constant current. */
#define CHARGER_TICK_MS 1000
/* The carousel interlock treats the head as "in the magazine" within this X window. */
#define MAGAZINE_ZONE_MM 20.0
/* A gripper with the no-close fault stalls here (0 open .. 1 closed). */
#define NO_CLOSE_STALL 0.9
/* Overtemperature injection: the pack approaches the injected temperature with this
 * time constant (a failing cell heats far faster than ambient would). */
#define OVERTEMP_TAU_S 10.0
#define MAX_STUCK 32
#define EPS 1e-9

enum act_id { ACT_CENTER, ACT_CLAMP, ACT_STROKE, ACT_WRIST, ACT_GRIP_A, ACT_GRIP_B, ACT_N };

struct act {
    double pos;          /* 0 .. 1 */
    int dir;             /* direction of the travel in progress, 0 standing */
    bool blocked;        /* refused by an interlock: does not move until a fault reset */
    bool stuck;          /* injected: does not move */
    bool no_close;       /* injected (grippers): stalls before the closed end */
    double t_sup_s;      /* time since the travel began, for the timeout */
    bool timed_out;
};

struct axis {
    double pos_mm, vel_mm_s;
    bool homed, homing;
    bool home_done;      /* homing finished while the home coil stayed 1: do not repeat */
    double home_t_s, home_from_mm;
    bool fault;
    unsigned fault_code;
    bool jammed;
    double jam_s;
};

struct pack {
    bool used;
    struct sim_battery b;
    enum sim_place place;
    int slot;
};

struct slot {
    int pack;            /* index into packs, -1 empty */
    struct sim_charger chg;
    /* Measurements as the charger last sampled them (once per tick, and at once when
     * a pack comes or goes or the mode changes): reads cost nothing. */
    uint16_t meas_mV, cell_min_mV, cell_max_mV, temp_raw;
    uint16_t meas_mA, meas_charge_mAh;
    /* The charger's sensors: their errors, period and missing updates (plant.ini
     * [charger_sensor]); its own charge counter follows the measured current. */
    struct sim_sensor sensor;
    double sensor_age_s, counted_mAh, last_charge_mah;
    bool reader_fault;
    bool overtemp;
    double overtemp_degC;
};

struct stuck {
    bool used;
    enum sim_table table;
    unsigned addr;
    uint16_t value;
};

struct sim_plant {
    struct plantcfg cfg;
    uint64_t seed;
    int battery_time_scale;  /* battery ticks per charger tick (sim_plant_set_battery_time_scale) */
    struct sim_rng rng;
    uint64_t now_ms;
    uint8_t co[REGMAP_CO_COUNT];
    uint16_t hr[REGMAP_HR_COUNT(REGMAP_MAX_SLOTS)];

    struct axis x, z;
    struct act act[ACT_N];
    double act_travel_s[ACT_N];
    double car_pos;      /* slots, 0 .. n (fractional between slots) */
    int car_dir;
    bool car_moving, car_fault, car_stuck;
    unsigned car_fault_code;
    double car_t_s, car_limit_s;

    struct slot slots[REGMAP_MAX_SLOTS];
    struct pack packs[SIM_MAX_BATTERIES];
    int grip_pack[2];
    bool drone_present;
    int drone_pack;
    double drone_load_a;

    bool estop_pressed, guard_open, rain;
    double wind_mps;
    unsigned fault_code;
    bool estop_latch, guard_latch, wd_tripped, wd_armed;
    uint64_t hb_change_ms;
    struct stuck stuck[MAX_STUCK];
    bool any_stuck;
    bool frozen;         /* injected: reads return the image taken at injection */
    uint8_t frozen_di[REGMAP_DI_COUNT(REGMAP_MAX_SLOTS)];
    uint16_t frozen_ir[REGMAP_IR_COUNT(REGMAP_MAX_SLOTS)];
    unsigned takeoff_while_clamped, collisions;

    bool dirty, quiet;
    uint64_t next_charger_ms;
    uint64_t next_event_ms;  /* earliest of the next charger tick and the watchdog deadline */

    struct sim_log_entry *log;
    uint64_t log_n;
};

static void update_next_event(struct sim_plant *p);

/* ---- faults ------------------------------------------------------------------------ */

static void latch(struct sim_plant *p, unsigned code)
{
    if (!p->fault_code)
        p->fault_code = code;
    if (code == PF_COLLISION)
        p->collisions++;
}

static bool halted(const struct sim_plant *p)
{
    return p->estop_pressed || p->estop_latch || p->wd_tripped || p->guard_latch || p->guard_open;
}

/* Called when a device would move while the plant is halted: the guard being open is
 * the one halt that a motion request itself turns into a fault. */
static void refuse_halted(struct sim_plant *p)
{
    if (p->guard_open && !p->guard_latch) {
        p->guard_latch = true;
        latch(p, PF_GUARD);
    }
}

static void hard_stop(struct sim_plant *p)
{
    p->x.vel_mm_s = p->z.vel_mm_s = 0.0;
    p->x.homing = p->z.homing = false;
    p->car_moving = false;
    p->quiet = false;
}

static bool anything_moving(const struct sim_plant *p)
{
    if (p->x.vel_mm_s != 0.0 || p->z.vel_mm_s != 0.0 || p->x.homing || p->z.homing || p->car_moving)
        return true;
    for (int i = 0; i < ACT_N; i++)
        if (p->act[i].dir && !p->act[i].stuck && !p->act[i].blocked)
            return true;
    return false;
}

/* ---- geometry and places ----------------------------------------------------------- */

#define PLACE_NONE (-2)
#define PLACE_BAY (-1)

static bool car_at_slot(const struct sim_plant *p, int *slot)
{
    double r = floor(p->car_pos + 0.5);
    if (p->car_moving || fabs(p->car_pos - r) > EPS)
        return false;
    *slot = (int)r % p->cfg.n_slots;
    return true;
}

/* What the head faces: the drone's bay, a slot at the transfer position, or nothing. */
static int facing_place(const struct sim_plant *p)
{
    const struct plantcfg *c = &p->cfg;
    double tol = c->position_tolerance_mm;
    if (fabs(p->x.pos_mm - c->x_bay_mm) <= tol && fabs(p->z.pos_mm - c->z_bay_mm) <= tol)
        return PLACE_BAY;
    int s;
    if (fabs(p->x.pos_mm - c->x_magazine_mm) <= tol && fabs(p->z.pos_mm - c->z_slot_mm) <= tol &&
        car_at_slot(p, &s))
        return s;
    return PLACE_NONE;
}

/* Pack at a place (-1 none); *exists says whether a battery could go there. */
static int place_pack(const struct sim_plant *p, int place, bool *exists)
{
    if (place == PLACE_BAY) {
        *exists = p->drone_present;
        return p->drone_present ? p->drone_pack : -1;
    }
    if (place >= 0) {
        *exists = true;
        return p->slots[place].pack;
    }
    *exists = false;
    return -1;
}

/* Gripper (0 A, 1 B) facing the work, -1 while the wrist is between ends. */
static int facing_gripper(const struct sim_plant *p)
{
    double w = p->act[ACT_WRIST].pos;
    return w == 0.0 ? 0 : w == 1.0 ? 1 : -1;
}

static void sample_slot(struct sim_plant *p, int s);

static void move_pack(struct sim_plant *p, int idx, int place, int gripper)
{
    struct pack *k = &p->packs[idx];
    if (k->place == SIM_PLACE_SLOT) {
        p->slots[k->slot].pack = -1;
        sample_slot(p, k->slot);
    }
    else if (k->place == SIM_PLACE_DRONE)
        p->drone_pack = -1;
    else if (k->place == SIM_PLACE_GRIPPER_A)
        p->grip_pack[0] = -1;
    else if (k->place == SIM_PLACE_GRIPPER_B)
        p->grip_pack[1] = -1;
    k->slot = -1;
    if (gripper >= 0) {
        k->place = gripper ? SIM_PLACE_GRIPPER_B : SIM_PLACE_GRIPPER_A;
        p->grip_pack[gripper] = idx;
    } else if (place == PLACE_BAY) {
        k->place = SIM_PLACE_DRONE;
        p->drone_pack = idx;
    } else {
        k->place = SIM_PLACE_SLOT;
        k->slot = place;
        p->slots[place].pack = idx;
        sample_slot(p, place);
    }
}

/* ---- axes -------------------------------------------------------------------------- */

/* Advances (pos, vel) by dt along the time-optimal bounded-velocity, bounded-acceleration
 * path to target, phase by phase in closed form, so that a move from rest to rest takes
 * exactly plantcfg_move_time_s. */
static void profile_advance(double *pos, double *vel, double target, double vmax, double amax,
                            double dt)
{
    for (int iter = 0; iter < 8 && dt > 1e-12; iter++) {
        double d = target - *pos, v = *vel;
        if (fabs(d) < 1e-7 && fabs(v) < 1e-7) {
            *pos = target;
            *vel = 0.0;
            return;
        }
        double dir = d > 0 ? 1.0 : d < 0 ? -1.0 : (v > 0 ? -1.0 : 1.0);
        double dist = fabs(d), w = v * dir, acc, t;
        bool landing = false;
        if (w < 0) {
            acc = amax;
            t = -w / amax;
        } else if (w * w / (2.0 * amax) >= dist - 1e-9) {
            acc = -amax;
            t = w / amax;
            landing = true;
        } else if (w < vmax - 1e-9) {
            acc = amax;
            double t_vmax = (vmax - w) / amax;
            double t_meet = (-w + sqrt(w * w / 2.0 + amax * dist)) / amax;
            t = t_vmax < t_meet ? t_vmax : t_meet;
        } else {
            acc = 0.0;
            w = vmax;
            t = (dist - vmax * vmax / (2.0 * amax)) / vmax;
        }
        if (t < 0)
            t = 0;
        double h = dt < t ? dt : t;
        *pos += dir * (w * h + 0.5 * acc * h * h);
        *vel = dir * (w + acc * h);
        dt -= h;
        if (landing && h >= t) {
            if (fabs(target - *pos) < 1e-6)
                *pos = target;
            *vel = 0.0;
        }
    }
}

static void decelerate(struct axis *a, double amax, double dt)
{
    double v = a->vel_mm_s, dv = amax * dt;
    if (fabs(v) <= dv) {
        double t = fabs(v) / amax;
        a->pos_mm += v * t / 2.0;
        a->vel_mm_s = 0.0;
    } else {
        double s = v > 0 ? 1.0 : -1.0;
        a->pos_mm += v * dt - s * amax * dt * dt / 2.0;
        a->vel_mm_s = v - s * dv;
    }
}

static bool axis_busy(const struct axis *a) { return a->vel_mm_s != 0.0 || a->homing; }

/* The end stops: an axis braking from speed (a stop near the end, a retarget it cannot
 * brake for in time) ends on the hard limit, not beyond it. */
static void axis_limit(struct axis *a, const struct plantcfg_axis *c)
{
    if (a->pos_mm < 0.0) {
        a->pos_mm = 0.0;
        a->vel_mm_s = 0.0;
    } else if (a->pos_mm > c->length_mm) {
        a->pos_mm = c->length_mm;
        a->vel_mm_s = 0.0;
    }
}

static void axis_refuse(struct sim_plant *p, struct axis *a, unsigned code)
{
    if (!a->fault) {
        a->fault = true;
        a->fault_code = code;
    }
    latch(p, code);
}

/* Interlock for a motion of axis z_axis (0 X, 1 Z) toward target; 0 if allowed. */
static unsigned axis_interlock(const struct sim_plant *p, int z_axis, double target_mm)
{
    const struct plantcfg *c = &p->cfg;
    if (p->act[ACT_STROKE].pos > 0.0)
        return z_axis ? PF_IL_Z_WITH_STROKE : PF_IL_X_WITH_STROKE;
    if (!z_axis && p->z.pos_mm > c->z_travel_max_mm + EPS)
        return PF_IL_X_WITH_Z_DOWN;
    if (z_axis && target_mm > c->z_travel_max_mm + EPS && axis_busy(&p->x))
        return PF_IL_X_WITH_Z_DOWN;
    /* The same pair the other way round: lowering into a magazine that is turning. */
    if (z_axis && target_mm > c->z_travel_max_mm + EPS && p->car_moving &&
        fabs(p->x.pos_mm - c->x_magazine_mm) <= MAGAZINE_ZONE_MM)
        return PF_IL_CAROUSEL_WITH_Z_DOWN;
    return 0;
}

static bool axis_move(struct sim_plant *p, int z_axis, double dt);

static bool axis_step(struct sim_plant *p, int z_axis, double dt)
{
    bool active = axis_move(p, z_axis, dt);
    struct axis *a = z_axis ? &p->z : &p->x;
    axis_limit(a, z_axis ? &p->cfg.z : &p->cfg.x);
    return active;
}

static bool axis_move(struct sim_plant *p, int z_axis, double dt)
{
    struct axis *a = z_axis ? &p->z : &p->x;
    const struct plantcfg_axis *c = z_axis ? &p->cfg.z : &p->cfg.x;
    bool en = p->co[z_axis ? REGMAP_CO_Z_ENABLE : REGMAP_CO_X_ENABLE];
    bool home = p->co[z_axis ? REGMAP_CO_Z_HOME : REGMAP_CO_X_HOME];
    double target = p->hr[z_axis ? REGMAP_HR_Z_TARGET : REGMAP_HR_X_TARGET] / 10.0;
    unsigned jam_code = z_axis ? PF_Z_JAM : PF_X_JAM;
    if (!home)
        a->home_done = false;
    /* Homing runs on the coil's level, once per request: it starts when the coil is 1 and
     * this request has not homed the axis yet (so a request held through a fault reset
     * starts after the reset). */
    bool home_req = home && !a->home_done;
    double fe_s = p->cfg.following_error_ms / 1000.0;

    if (halted(p)) {
        a->homing = false;
        if (home_req || (en && a->homed && fabs(target - a->pos_mm) > EPS))
            refuse_halted(p);
        if (a->vel_mm_s != 0.0) {
            decelerate(a, c->amax_mm_s2, dt);
            return true;
        }
        return false;
    }
    if (a->homing) {
        if (!home || a->fault) {
            a->homing = false;
            a->vel_mm_s = 0.0;
            return true;
        }
        if (a->jammed) {
            a->vel_mm_s = 0.0;
            a->jam_s += dt;
            if (a->jam_s >= fe_s - EPS) {
                a->homing = false;
                axis_refuse(p, a, jam_code);
            }
            return true;
        }
        a->home_t_s += dt;
        if (a->home_t_s >= c->home_time_s - EPS) {
            a->homing = false;
            a->homed = true;
            a->home_done = true;
            a->pos_mm = 0.0;
            a->vel_mm_s = 0.0;
        } else {
            a->vel_mm_s = -a->home_from_mm / c->home_time_s;
            a->pos_mm = a->home_from_mm * (1.0 - a->home_t_s / c->home_time_s);
        }
        return true;
    }
    if (home_req && !a->fault) {
        unsigned il = axis_interlock(p, z_axis, 0.0);
        if (il) {
            axis_refuse(p, a, il);
            return false;
        }
        a->homing = true;
        a->homed = false;
        a->home_t_s = 0.0;
        a->jam_s = 0.0;
        a->home_from_mm = a->pos_mm;
        return true;
    }
    bool need = en && (fabs(target - a->pos_mm) > EPS || a->vel_mm_s != 0.0);
    if (!need || a->fault) {
        a->jam_s = 0.0;
        if (a->vel_mm_s != 0.0) {
            decelerate(a, c->amax_mm_s2, dt);
            return true;
        }
        return false;
    }
    if (!a->homed) {
        axis_refuse(p, a, z_axis ? PF_Z_NOT_HOMED : PF_X_NOT_HOMED);
        return false;
    }
    unsigned il = axis_interlock(p, z_axis, target);
    if (il) {
        axis_refuse(p, a, il);
        return true;
    }
    if (a->jammed) {
        a->vel_mm_s = 0.0;
        a->jam_s += dt;
        if (a->jam_s >= fe_s - EPS)
            axis_refuse(p, a, jam_code);
        return true;
    }
    profile_advance(&a->pos_mm, &a->vel_mm_s, target, c->vmax_mm_s, c->amax_mm_s2, dt);
    return true;
}

/* ---- carousel ---------------------------------------------------------------------- */

static void car_refuse(struct sim_plant *p, unsigned code)
{
    if (!p->car_fault) {
        p->car_fault = true;
        p->car_fault_code = code;
    }
    latch(p, code);
}

static int car_direction(const struct sim_plant *p, int target, double *dist)
{
    double n = p->cfg.n_slots;
    double fwd = fmod(target - p->car_pos + 2.0 * n, n);
    if (fwd <= n / 2.0) {
        *dist = fwd;
        return 1;
    }
    *dist = n - fwd;
    return -1;
}

static bool carousel_step(struct sim_plant *p, double dt)
{
    const struct plantcfg *c = &p->cfg;
    bool en = p->co[REGMAP_CO_CAROUSEL_ENABLE];
    int target = p->hr[REGMAP_HR_CAROUSEL_TARGET];
    int at;
    bool at_target = car_at_slot(p, &at) && at == target;

    if (!p->car_moving) {
        if (!en || at_target || p->car_fault)
            return false;
        if (halted(p)) {
            refuse_halted(p);
            return false;
        }
        if (p->act[ACT_STROKE].pos > 0.0) {
            car_refuse(p, PF_IL_CAROUSEL_WITH_STROKE);
            return false;
        }
        if (p->z.pos_mm > c->z_travel_max_mm + EPS &&
            fabs(p->x.pos_mm - c->x_magazine_mm) <= MAGAZINE_ZONE_MM) {
            car_refuse(p, PF_IL_CAROUSEL_WITH_Z_DOWN);
            return false;
        }
        double dist;
        p->car_dir = car_direction(p, target, &dist);
        p->car_moving = true;
        p->car_t_s = 0.0;
        p->car_limit_s = c->supervision_factor * c->carousel_step_s * (dist < 1 ? 1 : dist) + 0.1;
        return true;
    }
    if (halted(p)) {
        p->car_moving = false;
        return false;
    }
    p->car_t_s += dt;
    if (p->car_stuck) {
        if (p->car_t_s > p->car_limit_s) {
            p->car_moving = false;
            car_refuse(p, PF_CAROUSEL_JAM);
        }
        return true;
    }
    double n = c->n_slots;
    double next = p->car_dir > 0 ? floor(p->car_pos + EPS) + 1.0 : ceil(p->car_pos - EPS) - 1.0;
    double np = p->car_pos + p->car_dir * dt / c->carousel_step_s;
    if (p->car_dir * (np - next) >= -EPS) {
        p->car_pos = fmod(next + n, n);
        if (!en || (int)p->car_pos == target) {
            p->car_moving = false;
        } else {
            double dist;
            p->car_dir = car_direction(p, target, &dist);
        }
    } else {
        p->car_pos = np;
    }
    return true;
}

/* ---- two-position actuators --------------------------------------------------------- */

static const unsigned act_coil[ACT_N] = {
    [ACT_CENTER] = REGMAP_CO_CENTER_CLOSE, [ACT_CLAMP] = REGMAP_CO_CLAMP_LOCK,
    [ACT_STROKE] = REGMAP_CO_STROKE_EXTEND, [ACT_WRIST] = REGMAP_CO_WRIST_B,
    [ACT_GRIP_A] = REGMAP_CO_GRIP_A_CLOSE, [ACT_GRIP_B] = REGMAP_CO_GRIP_B_CLOSE,
};
static const unsigned act_timeout_code[ACT_N] = {
    [ACT_CENTER] = PF_CENTER_TIMEOUT, [ACT_CLAMP] = PF_CLAMP_TIMEOUT,
    [ACT_STROKE] = PF_STROKE_TIMEOUT, [ACT_WRIST] = PF_WRIST_TIMEOUT,
    [ACT_GRIP_A] = PF_GRIP_A_TIMEOUT, [ACT_GRIP_B] = PF_GRIP_B_TIMEOUT,
};

/* A holding gripper may open only where the pack has somewhere to go: facing the work
 * with the stroke extended into an empty bay or slot. */
static bool release_possible(const struct sim_plant *p, int g, int *place)
{
    bool exists;
    *place = facing_place(p);
    return facing_gripper(p) == g && p->act[ACT_STROKE].pos == 1.0 && *place != PLACE_NONE &&
           place_pack(p, *place, &exists) < 0 && exists;
}

/* Interlock for actuator i starting toward dir (+1 to the "1" end); 0 if allowed. */
static unsigned act_start(struct sim_plant *p, int i, int dir)
{
    const struct plantcfg *c = &p->cfg;
    switch (i) {
    case ACT_CENTER:
    case ACT_CLAMP:
        if (p->x.pos_mm >= c->x_pad_zone_mm && p->act[ACT_STROKE].pos > 0.0)
            return PF_IL_CENTER_WITH_ROBOT;
        return 0;
    case ACT_WRIST:
        return p->act[ACT_STROKE].pos > 0.0 ? PF_IL_WRIST_WITH_STROKE : 0;
    case ACT_STROKE: {
        if (dir < 0)
            return 0;
        if (axis_busy(&p->x) || axis_busy(&p->z) || p->car_moving || facing_gripper(p) < 0)
            return PF_IL_STROKE_MOVING;
        int place = facing_place(p);
        if (place == PLACE_NONE)
            return PF_IL_STROKE_NOT_ALIGNED;
        bool exists;
        int g = facing_gripper(p);
        if (place_pack(p, place, &exists) >= 0 &&
            (p->grip_pack[g] >= 0 || p->act[ACT_GRIP_A + g].pos > 0.0))
            return PF_COLLISION;
        return 0;
    }
    case ACT_GRIP_A:
    case ACT_GRIP_B: {
        int g = i - ACT_GRIP_A, place;
        if (dir > 0 || p->grip_pack[g] < 0)
            return 0;
        return release_possible(p, g, &place) ? 0 : PF_COLLISION;
    }
    default:
        return 0;
    }
}

/* The pack is let go when the gripper reaches open (the drone's latch engages then). If
 * the head was pulled away meanwhile, the pack stays in the fingers and it is a collision. */
static void gripper_opened(struct sim_plant *p, int g)
{
    int place;
    if (p->grip_pack[g] < 0)
        return;
    if (release_possible(p, g, &place))
        move_pack(p, p->grip_pack[g], place, -1);
    else
        latch(p, PF_COLLISION);
}

static void gripper_closed(struct sim_plant *p, int g)
{
    if (p->grip_pack[g] >= 0 || facing_gripper(p) != g || p->act[ACT_STROKE].pos != 1.0)
        return;
    int place = facing_place(p);
    bool exists;
    int k = place_pack(p, place, &exists);
    if (k >= 0)
        move_pack(p, k, PLACE_NONE, g);
}

static bool act_step(struct sim_plant *p, int i, double dt)
{
    struct act *a = &p->act[i];
    int cmd = p->co[act_coil[i]] ? 1 : 0;
    double goal = cmd;
    if (a->pos == goal) {
        a->dir = 0;
        a->t_sup_s = 0.0;
        a->timed_out = false;
        return false;
    }
    int dir = goal > a->pos ? 1 : -1;
    if (a->blocked)
        return false;
    if (halted(p)) {
        refuse_halted(p);
        return false;
    }
    if (dir != a->dir) {
        unsigned il = act_start(p, i, dir);
        if (il) {
            a->blocked = true;
            a->dir = 0;
            latch(p, il);
            return false;
        }
        a->dir = dir;
        a->t_sup_s = 0.0;
        a->timed_out = false;
    }
    a->t_sup_s += dt;
    double travel = p->act_travel_s[i];
    if (!a->timed_out && a->t_sup_s > p->cfg.supervision_factor * travel + 0.1) {
        a->timed_out = true;
        latch(p, act_timeout_code[i]);
    }
    double limit = (a->no_close && dir > 0) ? NO_CLOSE_STALL : goal;
    if (a->stuck || (dir > 0 && a->pos >= limit))
        return !a->timed_out;
    a->pos += dir * dt / travel;
    if ((dir > 0 && a->pos >= limit - EPS) || (dir < 0 && a->pos <= limit + EPS)) {
        a->pos = limit;
        if (a->pos == goal) {
            a->dir = 0;
            a->t_sup_s = 0.0;
            if (i == ACT_GRIP_A || i == ACT_GRIP_B) {
                if (goal == 1.0)
                    gripper_closed(p, i - ACT_GRIP_A);
                else
                    gripper_opened(p, i - ACT_GRIP_A);
            }
        }
    }
    return true;
}

/* ---- batteries and chargers ------------------------------------------------------------ */

static uint16_t u16_of(double v)
{
    v = floor(v + 0.5);
    return v < 0 ? 0 : v > 65535 ? 65535 : (uint16_t)v;
}

static uint16_t s16_of(double v)
{
    v = floor(v + 0.5);
    if (v < -32768)
        v = -32768;
    if (v > 32767)
        v = 32767;
    return (uint16_t)(int16_t)v;
}

static void sample_slot(struct sim_plant *p, int s)
{
    struct slot *sl = &p->slots[s];
    if (sl->pack < 0) {
        sl->meas_mV = sl->cell_min_mV = sl->cell_max_mV = 0;
        sl->temp_raw = REGMAP_TEMP_OPEN;
        return;
    }
    const struct sim_battery *b = &p->packs[sl->pack].b;
    double v, vmin, vmax;
    sim_battery_measure(b, -sl->chg.current_a, &v, &vmin, &vmax);
    struct sim_sensor *ss = &sl->sensor;
    sl->meas_mV = u16_of(sim_sensor_voltage(ss, v) * 1000.0);
    sl->cell_min_mV = u16_of(sim_sensor_cell(ss, vmin) * 1000.0);
    sl->cell_max_mV = u16_of(sim_sensor_cell(ss, vmax) * 1000.0);
    sl->temp_raw = s16_of(sim_sensor_temp(ss, b->temp_degC) * 10.0);
    sl->meas_mA = s16_of(sim_sensor_current(ss, sl->chg.current_a) * 1000.0);
    sl->meas_charge_mAh = u16_of(sl->counted_mAh);
}

/* The charger's own charge counter: it counts the measured current while it charges
 * and restarts with the charger's counter. */
static void count_slot(struct slot *sl, double dt_s)
{
    if (sl->chg.charge_mah < sl->last_charge_mah - 1e-9 || sl->chg.charge_mah == 0.0)
        sl->counted_mAh = 0.0;
    if (sl->chg.current_a != 0.0)
        sl->counted_mAh += (sl->sensor.gain * sl->chg.current_a + sl->sensor.offset_A) * dt_s / 3.6;
    sl->last_charge_mah = sl->chg.charge_mah;
}

static void sensor_cfg_of(const struct plantcfg *c, struct sim_sensor_cfg *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->current_noise_A = c->chs_current_noise_mA / 1000.0;
    sc->current_offset_A = c->chs_current_offset_mA / 1000.0;
    sc->current_gain_rel = c->chs_current_gain_pct / 100.0;
    sc->current_lsb_A = 0.001; /* the register's resolution */
    sc->voltage_noise_V = c->chs_voltage_noise_mV / 1000.0;
    sc->voltage_lsb_V = c->chs_voltage_lsb_mV / 1000.0;
    sc->cell_noise_V = c->chs_voltage_noise_mV / 1000.0 / 3.0;
    sc->cell_lsb_V = c->chs_cell_lsb_mV / 1000.0;
    sc->temp_noise_degC = c->chs_temp_noise_degC;
    sc->temp_lsb_degC = 0.1;
    sc->period_s = c->chs_period_s;
    sc->missing_frac = c->chs_missing_pct / 100.0;
}

static void charger_tick(struct sim_plant *p, double dt_s)
{
    const struct plantcfg *c = &p->cfg;
    for (int s = 0; s < c->n_slots; s++) {
        struct slot *sl = &p->slots[s];
        struct sim_battery *b = sl->pack >= 0 ? &p->packs[sl->pack].b : NULL;
        if (b && sl->overtemp)
            b->temp_degC += (sl->overtemp_degC - b->temp_degC) * (1.0 - exp(-dt_s / OVERTEMP_TAU_S));
        sim_charger_step(&sl->chg, b, c, p->hr[REGMAP_HR_SLOT_ADDR(s, REGMAP_HR_SLOT_CHARGER_MODE)],
                         dt_s, c->ambient_degC);
        count_slot(sl, dt_s);
        sl->sensor_age_s += dt_s;
        if (!b) {
            sample_slot(p, s);
        } else if (sl->sensor_age_s + 1e-9 >= sl->sensor.cfg.period_s) {
            sl->sensor_age_s = 0.0;
            if (!sim_sensor_missing(&sl->sensor))
                sample_slot(p, s);
        }
    }
    for (int g = 0; g < 2; g++)
        if (p->grip_pack[g] >= 0)
            sim_battery_step(&p->packs[p->grip_pack[g]].b, 0.0, dt_s, c->ambient_degC);
    if (p->drone_pack >= 0)
        sim_battery_step(&p->packs[p->drone_pack].b, p->drone_load_a, dt_s, c->ambient_degC);
}

/* ---- life cycle and stepping -------------------------------------------------------- */

/* The model divides by these; plantcfg_load's ranges guarantee them, a hand-built
 * configuration might not. */
static bool cfg_runnable(const struct plantcfg *c)
{
    const double pos[] = { c->x.vmax_mm_s, c->x.amax_mm_s2, c->x.home_time_s, c->z.vmax_mm_s,
                           c->z.amax_mm_s2, c->z.home_time_s, c->stroke_s, c->wrist_s,
                           c->gripper_s, c->center_s, c->clamp_s, c->carousel_step_s,
                           c->supervision_factor, c->x.length_mm, c->z.length_mm };
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (!(pos[i] > 0.0) || !isfinite(pos[i]))
            return false;
    return c->n_slots >= 1 && c->n_slots <= REGMAP_MAX_SLOTS && c->watchdog_ms > 0 &&
           c->following_error_ms > 0 && c->battery_cells >= 1 && c->battery_rated_mah > 0 &&
           c->battery_tau_s > 0 && c->battery_heat_capacity_j_k > 0 && c->battery_cooling_w_k > 0 &&
           c->battery_r0_mohm > 0 && c->battery_r1_mohm > 0;
}

struct sim_plant *sim_plant_new(const struct plantcfg *cfg, uint64_t seed)
{
    if (!cfg_runnable(cfg))
        return NULL;
    struct sim_plant *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->log = calloc(SIM_LOG_KEEP, sizeof *p->log);
    if (!p->log) {
        free(p);
        return NULL;
    }
    p->cfg = *cfg;
    p->seed = seed;
    sim_rng_seed(&p->rng, seed);
    p->act_travel_s[ACT_CENTER] = cfg->center_s;
    p->act_travel_s[ACT_CLAMP] = cfg->clamp_s;
    p->act_travel_s[ACT_STROKE] = cfg->stroke_s;
    p->act_travel_s[ACT_WRIST] = cfg->wrist_s;
    p->act_travel_s[ACT_GRIP_A] = cfg->gripper_s;
    p->act_travel_s[ACT_GRIP_B] = cfg->gripper_s;
    p->grip_pack[0] = p->grip_pack[1] = -1;
    p->drone_pack = -1;
    p->wind_mps = cfg->wind_mps;
    struct sim_sensor_cfg scfg;
    sensor_cfg_of(cfg, &scfg);
    for (int s = 0; s < REGMAP_MAX_SLOTS; s++) {
        p->slots[s].pack = -1;
        sim_sensor_init(&p->slots[s].sensor, &scfg, seed * 0x9E3779B97F4A7C15ull + 0xC4A2u + (uint64_t)s);
    }
    for (int s = 0; s < cfg->n_slots; s++) {
        struct pack *k = &p->packs[s];
        k->used = true;
        sim_battery_init(&k->b, cfg, 0x5A000001u + (uint32_t)s, 0.5, &p->rng);
        k->place = SIM_PLACE_SLOT;
        k->slot = s;
        p->slots[s].pack = s;
        sim_charger_step(&p->slots[s].chg, &k->b, cfg, CHARGER_MODE_OFF, 0.0, cfg->ambient_degC);
    }
    for (int s = 0; s < REGMAP_MAX_SLOTS; s++)
        sample_slot(p, s);
    p->next_charger_ms = CHARGER_TICK_MS;
    p->battery_time_scale = 1;
    update_next_event(p);
    return p;
}

void sim_plant_free(struct sim_plant *p)
{
    if (!p)
        return;
    free(p->log);
    free(p);
}

uint64_t sim_plant_now_ms(const struct sim_plant *p) { return p->now_ms; }

void sim_plant_set_battery_time_scale(struct sim_plant *p, int k)
{
    p->battery_time_scale = k >= 1 ? k : 1;
    if (p->battery_time_scale > 1)
        p->next_charger_ms = p->now_ms + 1;
}

const struct plantcfg *sim_plant_config(const struct sim_plant *p) { return &p->cfg; }

static void update_next_event(struct sim_plant *p)
{
    p->next_event_ms = p->next_charger_ms;
    if (p->wd_armed && !p->wd_tripped) {
        uint64_t w = p->hb_change_ms + (uint64_t)p->cfg.watchdog_ms;
        if (w < p->next_event_ms)
            p->next_event_ms = w;
    }
}

static bool mech_step(struct sim_plant *p, double dt)
{
    if (p->guard_open && !p->guard_latch && anything_moving(p)) {
        p->guard_latch = true;
        latch(p, PF_GUARD);
    }
    bool active = axis_step(p, 0, dt);
    active |= axis_step(p, 1, dt);
    active |= carousel_step(p, dt);
    for (int i = 0; i < ACT_N; i++)
        active |= act_step(p, i, dt);
    return active;
}

static void timed_events(struct sim_plant *p)
{
    if (p->wd_armed && !p->wd_tripped &&
        p->now_ms - p->hb_change_ms >= (uint64_t)p->cfg.watchdog_ms) {
        p->wd_tripped = true;
        latch(p, PF_WATCHDOG);
        p->quiet = false;
    }
    /* With batteries k times faster: k ticks of the same length per CHARGER_TICK_MS,
     * spread evenly when k divides it, else all at once. */
    int k_bat = p->battery_time_scale;
    bool spread = CHARGER_TICK_MS % k_bat == 0;
    while (p->now_ms >= p->next_charger_ms) {
        for (int k = 0; k < (spread ? 1 : k_bat); k++)
            charger_tick(p, CHARGER_TICK_MS / 1000.0);
        p->next_charger_ms += spread ? CHARGER_TICK_MS / k_bat : CHARGER_TICK_MS;
    }
    update_next_event(p);
}

void sim_plant_step(struct sim_plant *p, uint32_t dt_ms)
{
    uint64_t end = p->now_ms + dt_ms;
    if (p->quiet && !p->dirty && end < p->next_event_ms) {
        p->now_ms = end; /* nothing happens before the next timed event */
        return;
    }
    while (p->now_ms < end) {
        if (p->quiet && !p->dirty) {
            uint64_t t = end < p->next_event_ms ? end : p->next_event_ms;
            p->now_ms = t > p->now_ms ? t : p->now_ms + 1;
        } else {
            p->dirty = false;
            p->quiet = !mech_step(p, 0.001);
            p->now_ms++;
        }
        timed_events(p);
    }
}

/* ---- register image --------------------------------------------------------------------- */

static unsigned n_di(const struct sim_plant *p) { return REGMAP_DI_COUNT(p->cfg.n_slots); }
static unsigned n_hr(const struct sim_plant *p) { return REGMAP_HR_COUNT(p->cfg.n_slots); }
static unsigned n_ir(const struct sim_plant *p) { return REGMAP_IR_COUNT(p->cfg.n_slots); }

static bool axis_in_pos(const struct sim_plant *p, const struct axis *a, unsigned hr)
{
    return a->homed && !axis_busy(a) &&
           fabs(a->pos_mm - p->hr[hr] / 10.0) <= p->cfg.position_tolerance_mm;
}

static bool tag_readable(const struct sim_plant *p, int s)
{
    int k = p->slots[s].pack;
    return k >= 0 && !p->slots[s].reader_fault && !p->packs[k].b.tag_unreadable;
}

static uint8_t di_raw(const struct sim_plant *p, unsigned addr)
{
    if (addr >= REGMAP_DI_SLOT_BASE) {
        int s = (int)((addr - REGMAP_DI_SLOT_BASE) / REGMAP_DI_SLOT_STRIDE);
        unsigned off = (addr - REGMAP_DI_SLOT_BASE) % REGMAP_DI_SLOT_STRIDE;
        if (off == REGMAP_DI_SLOT_PRESENT)
            return p->slots[s].pack >= 0;
        return tag_readable(p, s);
    }
    int at;
    switch (addr) {
    case REGMAP_DI_ESTOP_OK: return !p->estop_pressed;
    case REGMAP_DI_GUARD_CLOSED: return !p->guard_open;
    case REGMAP_DI_PLANT_READY: return !p->fault_code && !p->estop_pressed && !p->wd_tripped;
    case REGMAP_DI_WATCHDOG_TRIPPED: return p->wd_tripped;
    case REGMAP_DI_CENTER_OPEN: return p->act[ACT_CENTER].pos == 0.0;
    case REGMAP_DI_CENTER_CLOSED: return p->act[ACT_CENTER].pos == 1.0;
    case REGMAP_DI_CLAMP_UNLOCKED: return p->act[ACT_CLAMP].pos == 0.0;
    case REGMAP_DI_CLAMP_LOCKED: return p->act[ACT_CLAMP].pos == 1.0;
    case REGMAP_DI_X_HOMED: return p->x.homed;
    case REGMAP_DI_X_BUSY: return axis_busy(&p->x);
    case REGMAP_DI_X_IN_POS: return axis_in_pos(p, &p->x, REGMAP_HR_X_TARGET);
    case REGMAP_DI_X_FAULT: return p->x.fault;
    case REGMAP_DI_Z_HOMED: return p->z.homed;
    case REGMAP_DI_Z_BUSY: return axis_busy(&p->z);
    case REGMAP_DI_Z_IN_POS: return axis_in_pos(p, &p->z, REGMAP_HR_Z_TARGET);
    case REGMAP_DI_Z_FAULT: return p->z.fault;
    case REGMAP_DI_STROKE_RETRACTED: return p->act[ACT_STROKE].pos == 0.0;
    case REGMAP_DI_STROKE_EXTENDED: return p->act[ACT_STROKE].pos == 1.0;
    case REGMAP_DI_WRIST_A: return p->act[ACT_WRIST].pos == 0.0;
    case REGMAP_DI_WRIST_B: return p->act[ACT_WRIST].pos == 1.0;
    case REGMAP_DI_GRIP_A_OPEN: return p->act[ACT_GRIP_A].pos == 0.0;
    case REGMAP_DI_GRIP_A_CLOSED: return p->act[ACT_GRIP_A].pos == 1.0;
    case REGMAP_DI_GRIP_A_HOLDING: return p->grip_pack[0] >= 0;
    case REGMAP_DI_GRIP_B_OPEN: return p->act[ACT_GRIP_B].pos == 0.0;
    case REGMAP_DI_GRIP_B_CLOSED: return p->act[ACT_GRIP_B].pos == 1.0;
    case REGMAP_DI_GRIP_B_HOLDING: return p->grip_pack[1] >= 0;
    case REGMAP_DI_CAROUSEL_BUSY: return p->car_moving;
    case REGMAP_DI_CAROUSEL_IN_POS:
        return car_at_slot(p, &at) && at == p->hr[REGMAP_HR_CAROUSEL_TARGET];
    case REGMAP_DI_CAROUSEL_FAULT: return p->car_fault;
    case REGMAP_DI_RAIN: return p->rain;
    default: return 0;
    }
}

static double load_noise(const struct sim_plant *p)
{
    struct sim_rng r;
    sim_rng_seed(&r, p->seed ^ (p->now_ms * 0xD1B54A32D192ED03ull) ^ 0x10AD);
    return sim_rng_normal(&r);
}

static uint16_t ir_slot(const struct sim_plant *p, int s, unsigned off)
{
    const struct slot *sl = &p->slots[s];
    const struct sim_battery *b = sl->pack >= 0 ? &p->packs[sl->pack].b : NULL;
    switch (off) {
    case REGMAP_IR_SLOT_TAG_HI: return tag_readable(p, s) ? (uint16_t)(b->tag >> 16) : 0;
    case REGMAP_IR_SLOT_TAG_LO: return tag_readable(p, s) ? (uint16_t)(b->tag & 0xFFFF) : 0;
    case REGMAP_IR_SLOT_VOLTAGE: return sl->meas_mV;
    case REGMAP_IR_SLOT_CURRENT: return b ? sl->meas_mA : 0;
    case REGMAP_IR_SLOT_TEMP: return sl->temp_raw;
    case REGMAP_IR_SLOT_CHARGE_MAH: return sl->meas_charge_mAh;
    case REGMAP_IR_SLOT_CELL_MIN: return sl->cell_min_mV;
    case REGMAP_IR_SLOT_CELL_MAX: return sl->cell_max_mV;
    case REGMAP_IR_SLOT_CHG_STATE: return (uint16_t)sl->chg.state;
    case REGMAP_IR_SLOT_CHG_FAULT: return (uint16_t)sl->chg.fault;
    default: return 0;
    }
}

static uint16_t ir_raw(const struct sim_plant *p, unsigned addr)
{
    const struct plantcfg *c = &p->cfg;
    if (addr >= REGMAP_IR_SLOT_BASE)
        return ir_slot(p, (int)((addr - REGMAP_IR_SLOT_BASE) / REGMAP_IR_SLOT_STRIDE),
                       (addr - REGMAP_IR_SLOT_BASE) % REGMAP_IR_SLOT_STRIDE);
    int at;
    double load;
    switch (addr) {
    case REGMAP_IR_PLANT_FAULT: return (uint16_t)p->fault_code;
    case REGMAP_IR_X_POS: return u16_of(p->x.pos_mm * 10.0);
    case REGMAP_IR_X_VEL: return s16_of(p->x.vel_mm_s);
    case REGMAP_IR_Z_POS: return u16_of(p->z.pos_mm * 10.0);
    case REGMAP_IR_Z_VEL: return s16_of(p->z.vel_mm_s);
    case REGMAP_IR_CAROUSEL_POS: return car_at_slot(p, &at) ? (uint16_t)at : REGMAP_CAROUSEL_BETWEEN;
    case REGMAP_IR_LOAD_G:
        load = 0.0;
        if (p->drone_present)
            load = c->drone_mass_g + (p->drone_pack >= 0 ? c->battery_mass_g : 0.0);
        return u16_of(load + c->pad_noise_g * load_noise(p));
    case REGMAP_IR_WIND: return u16_of(p->wind_mps * 10.0);
    case REGMAP_IR_AMBIENT: return s16_of(c->ambient_degC * 10.0);
    case REGMAP_IR_HEARTBEAT_ECHO: return p->hr[REGMAP_HR_HEARTBEAT];
    case REGMAP_IR_N_SLOTS: return (uint16_t)c->n_slots;
    case REGMAP_IR_MAP_VERSION: return REGMAP_VERSION;
    default: return 0;
    }
}

static bool stuck_value(const struct sim_plant *p, enum sim_table t, unsigned addr, uint16_t *v)
{
    if (!p->any_stuck)
        return false;
    for (int i = 0; i < MAX_STUCK; i++)
        if (p->stuck[i].used && p->stuck[i].table == t && p->stuck[i].addr == addr) {
            *v = p->stuck[i].value;
            return true;
        }
    return false;
}

int sim_plant_read_bits(struct sim_plant *p, enum sim_table t, unsigned addr, unsigned n,
                        uint8_t *out)
{
    unsigned limit = t == SIM_DI ? n_di(p) : t == SIM_CO ? REGMAP_CO_COUNT : 0;
    if (n == 0 || addr >= limit || n > limit - addr)
        return SIM_EXC_ADDRESS;
    for (unsigned i = 0; i < n; i++) {
        if (t == SIM_CO) {
            out[i] = p->co[addr + i];
            continue;
        }
        uint16_t v;
        if (p->frozen)
            out[i] = p->frozen_di[addr + i];
        else
            out[i] = stuck_value(p, SIM_DI, addr + i, &v) ? (v != 0) : di_raw(p, addr + i);
    }
    return 0;
}

int sim_plant_read_regs(struct sim_plant *p, enum sim_table t, unsigned addr, unsigned n,
                        uint16_t *out)
{
    unsigned limit = t == SIM_HR ? n_hr(p) : t == SIM_IR ? n_ir(p) : 0;
    if (n == 0 || addr >= limit || n > limit - addr)
        return SIM_EXC_ADDRESS;
    for (unsigned i = 0; i < n; i++) {
        if (t == SIM_HR) {
            out[i] = p->hr[addr + i];
            continue;
        }
        uint16_t v;
        if (p->frozen)
            out[i] = p->frozen_ir[addr + i];
        else
            out[i] = stuck_value(p, SIM_IR, addr + i, &v) ? v : ir_raw(p, addr + i);
    }
    return 0;
}

static void log_change(struct sim_plant *p, enum sim_table t, unsigned addr, uint16_t old_v,
                       uint16_t new_v)
{
    struct sim_log_entry *e = &p->log[p->log_n % SIM_LOG_KEEP];
    e->t_ms = p->now_ms;
    e->table = t;
    e->addr = (uint16_t)addr;
    e->old_value = old_v;
    e->new_value = new_v;
    p->log_n++;
}

/* Collects the codes of every latch whose cause is still present. */
static size_t remaining_faults(const struct sim_plant *p, unsigned *codes)
{
    size_t n = 0;
    if (p->estop_latch)
        codes[n++] = PF_ESTOP;
    if (p->wd_tripped)
        codes[n++] = PF_WATCHDOG;
    if (p->guard_latch)
        codes[n++] = PF_GUARD;
    if (p->x.fault)
        codes[n++] = p->x.fault_code;
    if (p->z.fault)
        codes[n++] = p->z.fault_code;
    if (p->car_fault)
        codes[n++] = p->car_fault_code;
    for (int i = 0; i < ACT_N; i++)
        if (p->act[i].timed_out)
            codes[n++] = act_timeout_code[i];
    return n;
}

static void fault_reset(struct sim_plant *p)
{
    if (!p->estop_pressed)
        p->estop_latch = false;
    if (p->wd_tripped && p->now_ms - p->hb_change_ms < (uint64_t)p->cfg.watchdog_ms)
        p->wd_tripped = false;
    if (!p->guard_open)
        p->guard_latch = false;
    struct axis *ax[2] = { &p->x, &p->z };
    for (int i = 0; i < 2; i++)
        if (ax[i]->fault && !ax[i]->jammed) {
            ax[i]->fault = false;
            ax[i]->jam_s = 0.0;
        }
    if (p->car_fault && !p->car_stuck)
        p->car_fault = false;
    for (int i = 0; i < ACT_N; i++) {
        struct act *a = &p->act[i];
        a->blocked = false;
        if (a->timed_out && !a->stuck && !a->no_close) {
            a->timed_out = false;
            a->t_sup_s = 0.0;
        }
        if (!a->timed_out)
            a->dir = 0;
    }
    unsigned codes[16];
    size_t n = remaining_faults(p, codes);
    unsigned keep = 0;
    for (size_t i = 0; i < n; i++)
        if (codes[i] == p->fault_code)
            keep = p->fault_code;
    p->fault_code = keep ? keep : n ? codes[0] : PF_NONE;
    update_next_event(p);
}

int sim_plant_write_coils(struct sim_plant *p, unsigned addr, unsigned n, const uint8_t *v)
{
    if (n == 0 || addr >= REGMAP_CO_COUNT || n > REGMAP_CO_COUNT - addr)
        return SIM_EXC_ADDRESS;
    for (unsigned i = 0; i < n; i++) {
        unsigned a = addr + i;
        uint8_t nv = v[i] ? 1 : 0;
        if (p->co[a] == nv)
            continue;
        log_change(p, SIM_CO, a, p->co[a], nv);
        p->co[a] = nv;
        if (a == REGMAP_CO_FAULT_RESET && nv)
            fault_reset(p);
        p->dirty = true;
    }
    return 0;
}

static uint16_t hr_max(const struct sim_plant *p, unsigned a)
{
    const struct plantcfg *c = &p->cfg;
    if (a >= REGMAP_HR_SLOT_BASE)
        return CHARGER_MODE_STORAGE;
    switch (a) {
    case REGMAP_HR_HEARTBEAT: return 65535;
    case REGMAP_HR_X_TARGET: return u16_of(fmin(6000.0, c->x.length_mm * 10.0));
    case REGMAP_HR_Z_TARGET: return u16_of(fmin(1500.0, c->z.length_mm * 10.0));
    case REGMAP_HR_CAROUSEL_TARGET: return (uint16_t)(c->n_slots - 1);
    default: return 0; /* the gap between the general block and the slots */
    }
}

int sim_plant_write_regs(struct sim_plant *p, unsigned addr, unsigned n, const uint16_t *v)
{
    if (n == 0 || addr >= n_hr(p) || n > n_hr(p) - addr)
        return SIM_EXC_ADDRESS;
    for (unsigned i = 0; i < n; i++)
        if (v[i] > hr_max(p, addr + i))
            return SIM_EXC_VALUE;
    for (unsigned i = 0; i < n; i++) {
        unsigned a = addr + i;
        if (p->hr[a] == v[i])
            continue;
        if (a == REGMAP_HR_HEARTBEAT) {
            p->hb_change_ms = p->now_ms;
            p->wd_armed = true;
            p->hr[a] = v[i];
            update_next_event(p);
            continue; /* the heartbeat moves no device */
        } else {
            log_change(p, SIM_HR, a, p->hr[a], v[i]);
        }
        p->hr[a] = v[i];
        if (a >= REGMAP_HR_SLOT_BASE) {
            /* The charger reacts at once (current step visible without waiting a tick). */
            int s = (int)(a - REGMAP_HR_SLOT_BASE);
            struct slot *sl = &p->slots[s];
            sim_charger_step(&sl->chg, sl->pack >= 0 ? &p->packs[sl->pack].b : NULL, &p->cfg,
                             v[i], 0.0, p->cfg.ambient_degC);
            sample_slot(p, s);
        }
        p->dirty = true;
    }
    return 0;
}

/* ---- the drone on the pad ---------------------------------------------------------------- */

static int find_pack(const struct sim_plant *p, uint32_t tag, bool include_away)
{
    for (int i = 0; i < SIM_MAX_BATTERIES; i++)
        if (p->packs[i].used && p->packs[i].b.tag == tag &&
            (include_away || p->packs[i].place != SIM_PLACE_AWAY))
            return i;
    return -1;
}

int sim_plant_drone_land(struct sim_plant *p, const struct sim_battery *battery)
{
    if (p->drone_present)
        return -1;
    int idx = -1;
    if (battery) {
        if (find_pack(p, battery->tag, false) >= 0)
            return -3;
        idx = find_pack(p, battery->tag, true);
        for (int i = 0; idx < 0 && i < SIM_MAX_BATTERIES; i++)
            if (!p->packs[i].used)
                idx = i;
        for (int i = 0; idx < 0 && i < SIM_MAX_BATTERIES; i++)
            if (p->packs[i].place == SIM_PLACE_AWAY)
                idx = i;
        if (idx < 0)
            return -1;
        p->packs[idx].used = true;
        p->packs[idx].b = *battery;
        p->packs[idx].place = SIM_PLACE_DRONE;
        p->packs[idx].slot = -1;
    }
    p->drone_present = true;
    p->drone_pack = idx;
    p->drone_load_a = 0.0;
    p->dirty = true;
    return 0;
}

int sim_plant_drone_takeoff(struct sim_plant *p, struct sim_battery *battery, bool *has_battery)
{
    if (!p->drone_present)
        return -1;
    /* Held: clamp or pushers not fully open, or the head's stroke reaching into the bay. */
    bool head_in_bay = p->act[ACT_STROKE].pos > 0.0 &&
                       fabs(p->x.pos_mm - p->cfg.x_bay_mm) <= p->cfg.position_tolerance_mm;
    if (p->act[ACT_CLAMP].pos > 0.0 || p->act[ACT_CENTER].pos > 0.0 || head_in_bay) {
        p->takeoff_while_clamped++;
        return -2;
    }
    int k = p->drone_pack;
    if (has_battery)
        *has_battery = k >= 0;
    if (k >= 0) {
        if (battery)
            *battery = p->packs[k].b;
        p->packs[k].place = SIM_PLACE_AWAY;
        p->packs[k].slot = -1;
    }
    p->drone_pack = -1;
    p->drone_present = false;
    p->drone_load_a = 0.0;
    p->dirty = true;
    return 0;
}

int sim_plant_remove_pack(struct sim_plant *p, int slot, struct sim_battery *battery)
{
    if (slot < 0 || slot >= p->cfg.n_slots || p->slots[slot].pack < 0)
        return -1;
    bool at_transfer = fabs(p->car_pos - (double)slot) < 1e-9 ||
                       fabs(p->car_pos - (double)slot - (double)p->cfg.n_slots) < 1e-9;
    if (at_transfer && p->act[ACT_STROKE].pos > 0.0 &&
        fabs(p->x.pos_mm - p->cfg.x_magazine_mm) <= p->cfg.position_tolerance_mm)
        return -2;
    int k = p->slots[slot].pack;
    if (battery)
        *battery = p->packs[k].b;
    p->slots[slot].pack = -1;
    p->packs[k].place = SIM_PLACE_AWAY;
    p->packs[k].slot = -1;
    sample_slot(p, slot);
    p->dirty = true;
    return 0;
}

const struct sim_battery *sim_plant_drone_battery(const struct sim_plant *p)
{
    return p->drone_present && p->drone_pack >= 0 ? &p->packs[p->drone_pack].b : NULL;
}

void sim_plant_drone_set_load(struct sim_plant *p, double current_a)
{
    p->drone_load_a = isfinite(current_a) ? current_a : 0.0;
}

/* ---- fault injection ------------------------------------------------------------------ */

static const char *const fault_names[SIM_FAULT_COUNT] = {
    [SIM_FAULT_NONE] = "none",
    [SIM_FAULT_AXIS_JAM] = "axis_jam",
    [SIM_FAULT_SENSOR_STUCK] = "sensor_stuck",
    [SIM_FAULT_GRIPPER_NO_CLOSE] = "gripper_no_close",
    [SIM_FAULT_ACTUATOR_STUCK] = "actuator_stuck",
    [SIM_FAULT_CHARGER] = "charger",
    [SIM_FAULT_OVERTEMP] = "overtemp",
    [SIM_FAULT_TAG_UNREADABLE] = "tag_unreadable",
    [SIM_FAULT_ESTOP] = "estop",
    [SIM_FAULT_GUARD_OPEN] = "guard_open",
    [SIM_FAULT_WEATHER] = "weather",
    [SIM_FAULT_IMAGE_FROZEN] = "image_frozen",
};

const char *sim_fault_name(enum sim_fault_kind k)
{
    return (unsigned)k < SIM_FAULT_COUNT ? fault_names[k] : "unknown";
}

int sim_fault_from_name(const char *name)
{
    for (int k = 0; name && k < SIM_FAULT_COUNT; k++)
        if (!strcmp(name, fault_names[k]))
            return k;
    return -1;
}

static int act_of(enum sim_actuator a)
{
    switch (a) {
    case SIM_ACT_CENTER: return ACT_CENTER;
    case SIM_ACT_CLAMP: return ACT_CLAMP;
    case SIM_ACT_STROKE: return ACT_STROKE;
    case SIM_ACT_WRIST: return ACT_WRIST;
    default: return -1;
    }
}

int sim_plant_inject(struct sim_plant *p, const struct sim_fault *f)
{
    int n = p->cfg.n_slots;
    bool slot_ok = f->a >= 0 && f->a < n;
    switch (f->kind) {
    case SIM_FAULT_NONE:
        return 0;
    case SIM_FAULT_AXIS_JAM:
        if (f->a != 0 && f->a != 1)
            return -1;
        (f->a ? &p->z : &p->x)->jammed = true;
        break;
    case SIM_FAULT_SENSOR_STUCK: {
        unsigned lim = f->a == SIM_DI ? n_di(p) : f->a == SIM_IR ? n_ir(p) : 0;
        if (f->b < 0 || (unsigned)f->b >= lim || !(f->value >= 0 && f->value <= 65535))
            return -1;
        int free_i = -1;
        for (int i = 0; i < MAX_STUCK; i++) {
            if (p->stuck[i].used && p->stuck[i].table == (enum sim_table)f->a &&
                p->stuck[i].addr == (unsigned)f->b) {
                free_i = i;
                break;
            }
            if (!p->stuck[i].used && free_i < 0)
                free_i = i;
        }
        if (free_i < 0)
            return -1;
        p->stuck[free_i] = (struct stuck){ true, (enum sim_table)f->a, (unsigned)f->b,
                                           (uint16_t)f->value };
        p->any_stuck = true;
        break;
    }
    case SIM_FAULT_GRIPPER_NO_CLOSE:
        if (f->a != 0 && f->a != 1)
            return -1;
        p->act[ACT_GRIP_A + f->a].no_close = true;
        break;
    case SIM_FAULT_ACTUATOR_STUCK:
        if (f->a == SIM_ACT_CAROUSEL) {
            p->car_stuck = true;
        } else {
            int i = act_of((enum sim_actuator)f->a);
            if (i < 0)
                return -1;
            p->act[i].stuck = true;
        }
        break;
    case SIM_FAULT_CHARGER:
        if (!slot_ok)
            return -1;
        p->slots[f->a].chg.forced_fault = true;
        sim_charger_step(&p->slots[f->a].chg,
                         p->slots[f->a].pack >= 0 ? &p->packs[p->slots[f->a].pack].b : NULL, &p->cfg,
                         p->hr[REGMAP_HR_SLOT_ADDR(f->a, 0)], 0.0, p->cfg.ambient_degC);
        sample_slot(p, f->a);
        break;
    case SIM_FAULT_OVERTEMP:
        if (!slot_ok || !(f->value > -50.0 && f->value < 200.0))
            return -1;
        p->slots[f->a].overtemp = true;
        p->slots[f->a].overtemp_degC = f->value;
        break;
    case SIM_FAULT_TAG_UNREADABLE:
        if (!slot_ok)
            return -1;
        p->slots[f->a].reader_fault = true;
        break;
    case SIM_FAULT_ESTOP:
        p->estop_pressed = true;
        p->estop_latch = true;
        latch(p, PF_ESTOP);
        hard_stop(p);
        break;
    case SIM_FAULT_GUARD_OPEN:
        p->guard_open = true;
        if (anything_moving(p)) {
            p->guard_latch = true;
            latch(p, PF_GUARD);
        }
        break;
    case SIM_FAULT_WEATHER:
        if (!(f->value >= 0.0 && f->value <= 6000.0) || (f->b != 0 && f->b != 1))
            return -1;
        p->wind_mps = f->value;
        p->rain = f->b == 1;
        break;
    case SIM_FAULT_IMAGE_FROZEN:
        if (!p->frozen) {
            sim_plant_read_bits(p, SIM_DI, 0, n_di(p), p->frozen_di);
            sim_plant_read_regs(p, SIM_IR, 0, n_ir(p), p->frozen_ir);
            p->frozen = true;
        }
        break;
    default:
        return -1;
    }
    p->dirty = true;
    return 0;
}

void sim_plant_clear_faults(struct sim_plant *p, enum sim_fault_kind kind)
{
    bool all = kind == SIM_FAULT_NONE;
    if (all || kind == SIM_FAULT_AXIS_JAM)
        p->x.jammed = p->z.jammed = false;
    if (all || kind == SIM_FAULT_SENSOR_STUCK) {
        memset(p->stuck, 0, sizeof p->stuck);
        p->any_stuck = false;
    }
    if (all || kind == SIM_FAULT_IMAGE_FROZEN)
        p->frozen = false;
    if (all || kind == SIM_FAULT_GRIPPER_NO_CLOSE)
        p->act[ACT_GRIP_A].no_close = p->act[ACT_GRIP_B].no_close = false;
    if (all || kind == SIM_FAULT_ACTUATOR_STUCK) {
        p->car_stuck = false;
        for (int i = 0; i < ACT_N; i++)
            p->act[i].stuck = false;
    }
    for (int s = 0; s < REGMAP_MAX_SLOTS; s++) {
        if (all || kind == SIM_FAULT_CHARGER)
            p->slots[s].chg.forced_fault = false;
        if (all || kind == SIM_FAULT_OVERTEMP)
            p->slots[s].overtemp = false;
        if (all || kind == SIM_FAULT_TAG_UNREADABLE)
            p->slots[s].reader_fault = false;
    }
    if (all || kind == SIM_FAULT_ESTOP)
        p->estop_pressed = false;
    if (all || kind == SIM_FAULT_GUARD_OPEN)
        p->guard_open = false;
    if (all || kind == SIM_FAULT_WEATHER) {
        p->wind_mps = p->cfg.wind_mps;
        p->rain = false;
    }
    p->dirty = true;
}

/* ---- ground truth and log ------------------------------------------------------------------ */

void sim_plant_truth(const struct sim_plant *p, struct sim_truth *out)
{
    memset(out, 0, sizeof *out);
    out->now_ms = p->now_ms;
    out->x_mm = p->x.pos_mm;
    out->z_mm = p->z.pos_mm;
    out->x_vel_mm_s = p->x.vel_mm_s;
    out->z_vel_mm_s = p->z.vel_mm_s;
    int at;
    out->carousel_slot = car_at_slot(p, &at) ? at : -1;
    out->stroke_pos = p->act[ACT_STROKE].pos;
    out->wrist_pos = p->act[ACT_WRIST].pos;
    out->grip_a_pos = p->act[ACT_GRIP_A].pos;
    out->grip_b_pos = p->act[ACT_GRIP_B].pos;
    out->center_pos = p->act[ACT_CENTER].pos;
    out->clamp_pos = p->act[ACT_CLAMP].pos;
    out->head_in_pad_zone = p->x.pos_mm >= p->cfg.x_pad_zone_mm;
    out->drone_present = p->drone_present;
    out->drone_clamped = p->drone_present && p->act[ACT_CLAMP].pos == 1.0;
    out->drone_centred = p->drone_present && p->act[ACT_CENTER].pos == 1.0;
    out->drone_battery_latched = p->drone_present && p->drone_pack >= 0;
    out->watchdog_tripped = p->wd_tripped;
    out->plant_fault = p->fault_code;
    out->takeoff_while_clamped = p->takeoff_while_clamped;
    out->collisions = p->collisions;
    for (int i = 0; i < SIM_MAX_BATTERIES; i++) {
        const struct pack *k = &p->packs[i];
        if (!k->used)
            continue;
        struct sim_truth_battery *t = &out->batteries[out->n_batteries++];
        t->tag = k->b.tag;
        t->place = k->place;
        t->slot = k->place == SIM_PLACE_SLOT ? k->slot : -1;
        t->soc = k->b.soc;
        t->soh = sim_battery_soh(&k->b);
        t->capacity_ah = k->b.capacity_ah;
        t->r0_ohm = k->b.r0_ohm;
        t->r1_ohm = k->b.r1_ohm;
        t->temp_degC = k->b.temp_degC;
        t->efc = k->b.efc;
    }
}

struct sim_battery *sim_plant_battery(struct sim_plant *p, uint32_t tag)
{
    int i = find_pack(p, tag, false);
    return i >= 0 ? &p->packs[i].b : NULL;
}

size_t sim_plant_log(const struct sim_plant *p, uint64_t from, struct sim_log_entry *out,
                     size_t max, uint64_t *next)
{
    uint64_t first = p->log_n > SIM_LOG_KEEP ? p->log_n - SIM_LOG_KEEP : 0;
    uint64_t i = from > first ? from : first;
    size_t n = 0;
    for (; i < p->log_n && n < max; i++)
        out[n++] = p->log[i % SIM_LOG_KEEP];
    if (next)
        *next = i;
    return n;
}

/* ---- power cycle ------------------------------------------------------------------------ */

#define SIM_STATE_MAGIC 0x53574150u  /* "SWAP" */

struct saved_state {
    uint32_t magic;
    uint32_t size;               /* sizeof (struct sim_plant) of the build that wrote it */
    struct sim_plant plant;      /* log pointer meaningless on disk */
};

int sim_plant_save(const struct sim_plant *p, int fd)
{
    static struct saved_state st;   /* large: kept off the stack */
    st.magic = SIM_STATE_MAGIC;
    st.size = (uint32_t)sizeof st.plant;
    st.plant = *p;
    st.plant.log = NULL;
    st.plant.log_n = 0;
    ssize_t n = pwrite(fd, &st, sizeof st, 0);
    if (n != (ssize_t)sizeof st) {
        if (n >= 0)
            errno = EIO;
        return -1;
    }
    return 0;
}

int sim_plant_restore(struct sim_plant *p, const char *path, char *err, size_t errsize)
{
    static struct saved_state st;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = fread(&st, 1, sizeof st, f);
    fclose(f);
    if (n != sizeof st || st.magic != SIM_STATE_MAGIC || st.size != sizeof st.plant) {
        snprintf(err, errsize, "%s: not a plant state written by this swapsim", path);
        return -1;
    }
    if (st.plant.cfg.n_slots != p->cfg.n_slots) {
        snprintf(err, errsize, "%s: saved with %d slots, configured %d", path, st.plant.cfg.n_slots,
                 p->cfg.n_slots);
        return -1;
    }
    struct sim_log_entry *log = p->log;
    struct plantcfg cfg = p->cfg;
    *p = st.plant;
    p->log = log;
    p->log_n = 0;
    p->cfg = cfg;
    /* The PLC's volatile outputs after power-up; the bistable valves keep their level. */
    static const unsigned off[] = { REGMAP_CO_FAULT_RESET, REGMAP_CO_X_ENABLE, REGMAP_CO_X_HOME,
                                    REGMAP_CO_Z_ENABLE, REGMAP_CO_Z_HOME, REGMAP_CO_CAROUSEL_ENABLE,
                                    REGMAP_CO_LIGHT_GREEN, REGMAP_CO_LIGHT_YELLOW, REGMAP_CO_LIGHT_RED,
                                    REGMAP_CO_HORN };
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
        p->co[off[i]] = 0;
    p->hr[REGMAP_HR_HEARTBEAT] = 0;
    p->x.vel_mm_s = p->z.vel_mm_s = 0;
    p->x.homing = p->z.homing = false;
    p->x.home_done = p->z.home_done = false;
    p->x.fault = p->z.fault = p->x.jammed = p->z.jammed = false;
    p->x.fault_code = p->z.fault_code = 0;
    p->hr[REGMAP_HR_X_TARGET] = (uint16_t)lround(fmax(0, p->x.pos_mm) * 10.0);
    p->hr[REGMAP_HR_Z_TARGET] = (uint16_t)lround(fmax(0, p->z.pos_mm) * 10.0);
    p->car_moving = p->car_fault = p->car_stuck = false;
    p->car_fault_code = 0;
    p->car_dir = 0;
    long slot = lround(p->car_pos);
    p->hr[REGMAP_HR_CAROUSEL_TARGET] = (uint16_t)(slot >= 0 && slot < p->cfg.n_slots ? slot : 0);
    for (int i = 0; i < ACT_N; i++) {
        p->act[i].blocked = p->act[i].stuck = p->act[i].no_close = p->act[i].timed_out = false;
        p->act[i].t_sup_s = 0;
    }
    memset(p->stuck, 0, sizeof p->stuck);
    p->any_stuck = false;
    p->estop_pressed = p->guard_open = p->rain = false;
    p->wind_mps = p->cfg.wind_mps;
    p->fault_code = 0;
    p->estop_latch = p->guard_latch = p->wd_tripped = p->wd_armed = false;
    p->hb_change_ms = p->now_ms;
    for (int s = 0; s < REGMAP_MAX_SLOTS; s++)
        p->slots[s].overtemp = false;
    p->dirty = true;
    p->quiet = false;
    update_next_event(p);
    return 0;
}
