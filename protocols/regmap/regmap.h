/* The Modbus register map: the contract between swapd (client) and the plant (server).
 *
 * Both the controller and the simulator include this header; docs/register-map.md is
 * generated from the same table (`regmap-doc`), and a test keeps the two identical.
 * The layout is four contiguous blocks so that one controller scan is two block reads
 * (discrete inputs, input registers) and two block writes (coils, holding registers) —
 * one request each up to 10 slots; from 11 slots the input registers exceed the 125
 * registers of one Modbus request and take two. REGMAP_MAX_SLOTS bounds the magazine:
 * the per-slot blocks and every process image are sized for it at compile time.
 *
 * Conventions
 * - Addresses are 0-based protocol addresses (mbpoll's -0 option; PLC "40001" = HR 0).
 * - Commands are levels, not edges: the controller writes its whole output image every
 *   scan, and the plant acts on the level (an axis moves toward its target while its
 *   enable coil is 1). A lost or repeated write therefore never causes a second motion.
 * - 32-bit values occupy two registers, high word first.
 * - Signed values are two's complement in the 16-bit register.
 * - Per-slot blocks repeat with a fixed stride; slot s (0-based) of n_slots.
 */
#ifndef SWAP_REGMAP_H
#define SWAP_REGMAP_H

#include <stdint.h>
#include <stdio.h>

#define REGMAP_MAX_SLOTS 16

/* ---- discrete inputs (FC 02): sensors ----------------------------------------------- */
#define REGMAP_DI(X)                                                                       \
    X(DI_ESTOP_OK,          0, "E-stop chain closed (1 = no e-stop pressed)")             \
    X(DI_GUARD_CLOSED,      1, "Guard door closed and light curtain clear")               \
    X(DI_PLANT_READY,       2, "Plant ready: no latched fault, e-stop ok, watchdog ok")   \
    X(DI_WATCHDOG_TRIPPED,  3, "Plant watchdog tripped (heartbeat stale); latched")       \
    X(DI_CENTER_OPEN,       4, "Centering pushers at open end")                           \
    X(DI_CENTER_CLOSED,     5, "Centering pushers at closed end (drone centred)")         \
    X(DI_CLAMP_UNLOCKED,    6, "Drone clamp at unlocked end")                             \
    X(DI_CLAMP_LOCKED,      7, "Drone clamp at locked end")                               \
    X(DI_X_HOMED,           8, "Axis X homed")                                            \
    X(DI_X_BUSY,            9, "Axis X moving")                                           \
    X(DI_X_IN_POS,         10, "Axis X at its target, standing still")                   \
    X(DI_X_FAULT,          11, "Axis X fault (following error, interlock, jam); latched")\
    X(DI_Z_HOMED,          12, "Axis Z homed")                                            \
    X(DI_Z_BUSY,           13, "Axis Z moving")                                           \
    X(DI_Z_IN_POS,         14, "Axis Z at its target, standing still")                   \
    X(DI_Z_FAULT,          15, "Axis Z fault; latched")                                   \
    X(DI_STROKE_RETRACTED, 16, "Stroke Y at retracted end")                               \
    X(DI_STROKE_EXTENDED,  17, "Stroke Y at extended end")                                \
    X(DI_WRIST_A,          18, "Wrist turned so that gripper A faces the work")          \
    X(DI_WRIST_B,          19, "Wrist turned so that gripper B faces the work")          \
    X(DI_GRIP_A_OPEN,      20, "Gripper A at open end")                                   \
    X(DI_GRIP_A_CLOSED,    21, "Gripper A at closed end")                                 \
    X(DI_GRIP_A_HOLDING,   22, "Gripper A holds a battery")                               \
    X(DI_GRIP_B_OPEN,      23, "Gripper B at open end")                                   \
    X(DI_GRIP_B_CLOSED,    24, "Gripper B at closed end")                                 \
    X(DI_GRIP_B_HOLDING,   25, "Gripper B holds a battery")                               \
    X(DI_CAROUSEL_BUSY,    26, "Carousel turning")                                        \
    X(DI_CAROUSEL_IN_POS,  27, "Carousel standing at its target slot")                   \
    X(DI_CAROUSEL_FAULT,   28, "Carousel fault; latched")                                 \
    X(DI_RAIN,             29, "Rain sensor wet")

/* Per-slot discrete inputs: DI_SLOT_BASE + slot * DI_SLOT_STRIDE + offset. */
#define REGMAP_DI_SLOT_BASE   32
#define REGMAP_DI_SLOT_STRIDE 2
#define REGMAP_DI_SLOT(X)                                                                  \
    X(DI_SLOT_PRESENT, 0, "Battery present in the slot")                                  \
    X(DI_SLOT_TAG_OK,  1, "Slot's RFID reader read the battery's tag")

/* ---- coils (FC 01/05/15): commands ---------------------------------------------------- */
#define REGMAP_CO(X)                                                                       \
    X(CO_FAULT_RESET,     0, "Fault reset: a 0->1 edge clears latched faults whose cause is gone") \
    X(CO_CENTER_CLOSE,    1, "Centering pushers: 1 close, 0 open")                        \
    X(CO_CLAMP_LOCK,      2, "Drone clamp: 1 lock, 0 unlock")                             \
    X(CO_X_ENABLE,        3, "Axis X: while 1, move to HR_X_TARGET; 0 decelerates to stop") \
    X(CO_X_HOME,          4, "Axis X: while 1, run the homing sequence")                  \
    X(CO_Z_ENABLE,        5, "Axis Z: while 1, move to HR_Z_TARGET; 0 decelerates to stop") \
    X(CO_Z_HOME,          6, "Axis Z: while 1, run the homing sequence")                  \
    X(CO_STROKE_EXTEND,   7, "Stroke Y: 1 extend, 0 retract")                             \
    X(CO_WRIST_B,         8, "Wrist: 1 gripper B faces the work, 0 gripper A")            \
    X(CO_GRIP_A_CLOSE,    9, "Gripper A: 1 close, 0 open")                                \
    X(CO_GRIP_B_CLOSE,   10, "Gripper B: 1 close, 0 open")                                \
    X(CO_CAROUSEL_ENABLE,11, "Carousel: while 1, turn (shortest way) to HR_CAROUSEL_TARGET") \
    X(CO_LIGHT_GREEN,    12, "Tower light green")                                         \
    X(CO_LIGHT_YELLOW,   13, "Tower light yellow")                                        \
    X(CO_LIGHT_RED,      14, "Tower light red")                                           \
    X(CO_HORN,           15, "Horn")

/* ---- holding registers (FC 03/06/16): setpoints ------------------------------------- */
/* X(name, address, type, unit, min, max, meaning) — the plant answers exception 3
 * (illegal data value) to a write outside [min, max]. */
#define REGMAP_HR(X)                                                                       \
    X(HR_HEARTBEAT,        0, "u16", "count",  0, 65535, "Controller heartbeat; must change within the watchdog time") \
    X(HR_X_TARGET,         1, "u16", "0.1 mm", 0, 6000,  "Axis X target position (0 = magazine, 6000 = pad bay)") \
    X(HR_Z_TARGET,         2, "u16", "0.1 mm", 0, 1500,  "Axis Z target position (0 = top, travel height)") \
    X(HR_CAROUSEL_TARGET,  3, "u16", "slot",   0, REGMAP_MAX_SLOTS - 1, "Slot to bring to the transfer position")

/* Per-slot holding registers: HR_SLOT_BASE + slot * HR_SLOT_STRIDE + offset. */
#define REGMAP_HR_SLOT_BASE   8
#define REGMAP_HR_SLOT_STRIDE 1
#define REGMAP_HR_SLOT(X)                                                                  \
    X(HR_SLOT_CHARGER_MODE, 0, "u16", "enum", 0, 2, "Charger mode: 0 off, 1 charge (CC-CV to full), 2 storage (to storage voltage)")

/* ---- input registers (FC 04): measurements ------------------------------------------- */
/* X(name, address, type, unit, meaning) */
#define REGMAP_IR(X)                                                                       \
    X(IR_PLANT_FAULT,      0, "u16", "code",    "Plant fault code (enum plant_fault); 0 none; first latched fault") \
    X(IR_X_POS,            1, "u16", "0.1 mm",  "Axis X actual position")                 \
    X(IR_X_VEL,            2, "s16", "mm/s",    "Axis X actual velocity")                 \
    X(IR_Z_POS,            3, "u16", "0.1 mm",  "Axis Z actual position")                 \
    X(IR_Z_VEL,            4, "s16", "mm/s",    "Axis Z actual velocity")                 \
    X(IR_CAROUSEL_POS,     5, "u16", "slot",    "Slot at the transfer position; 65535 while between slots") \
    X(IR_LOAD_G,           6, "u16", "g",       "Pad load cell (net of the empty pad)")  \
    X(IR_WIND,             7, "u16", "0.1 m/s", "Wind speed")                             \
    X(IR_AMBIENT,          8, "s16", "0.1 degC","Ambient temperature")                    \
    X(IR_HEARTBEAT_ECHO,   9, "u16", "count",   "Last heartbeat value the plant saw")    \
    X(IR_N_SLOTS,         10, "u16", "count",   "Number of magazine slots fitted")       \
    X(IR_MAP_VERSION,     11, "u16", "version", "Register map version (REGMAP_VERSION)")

/* Per-slot input registers: IR_SLOT_BASE + slot * IR_SLOT_STRIDE + offset. */
#define REGMAP_IR_SLOT_BASE   16
#define REGMAP_IR_SLOT_STRIDE 10
#define REGMAP_IR_SLOT(X)                                                                  \
    X(IR_SLOT_TAG_HI,      0, "u32", "id",       "Battery tag id, high word (0 when absent or unreadable)") \
    X(IR_SLOT_TAG_LO,      1, "",    "",         "Battery tag id, low word")             \
    X(IR_SLOT_VOLTAGE,     2, "u16", "mV",       "Pack voltage at the charger")          \
    X(IR_SLOT_CURRENT,     3, "s16", "mA",       "Charger current, positive into the pack") \
    X(IR_SLOT_TEMP,        4, "s16", "0.1 degC", "Pack temperature (NTC); 32767 = sensor open") \
    X(IR_SLOT_CHARGE_MAH,  5, "u16", "mAh",      "Charge counter since the charger was last enabled") \
    X(IR_SLOT_CELL_MIN,    6, "u16", "mV",       "Lowest cell voltage (balance lead)")   \
    X(IR_SLOT_CELL_MAX,    7, "u16", "mV",       "Highest cell voltage (balance lead)")  \
    X(IR_SLOT_CHG_STATE,   8, "u16", "enum",     "Charger state: 0 idle, 1 CC, 2 CV, 3 done, 4 fault, 5 storage") \
    X(IR_SLOT_CHG_FAULT,   9, "u16", "code",     "Charger fault code (enum charger_fault); 0 none")

#define REGMAP_VERSION 1

#define REGMAP_ENUM_ADDR(name, addr, ...) REGMAP_##name = (addr),
enum regmap_di { REGMAP_DI(REGMAP_ENUM_ADDR) REGMAP_DI_GENERAL_COUNT = 30 };
enum regmap_di_slot { REGMAP_DI_SLOT(REGMAP_ENUM_ADDR) };
enum regmap_co { REGMAP_CO(REGMAP_ENUM_ADDR) REGMAP_CO_COUNT = 16 };
enum regmap_hr { REGMAP_HR(REGMAP_ENUM_ADDR) };
enum regmap_hr_slot { REGMAP_HR_SLOT(REGMAP_ENUM_ADDR) };
enum regmap_ir { REGMAP_IR(REGMAP_ENUM_ADDR) };
enum regmap_ir_slot { REGMAP_IR_SLOT(REGMAP_ENUM_ADDR) };
#undef REGMAP_ENUM_ADDR

/* Block sizes for a plant with n slots: what one scan reads and writes. */
#define REGMAP_DI_COUNT(n) (REGMAP_DI_SLOT_BASE + (n) * REGMAP_DI_SLOT_STRIDE)
#define REGMAP_CO_COUNT_N(n) (REGMAP_CO_COUNT)
#define REGMAP_HR_COUNT(n) (REGMAP_HR_SLOT_BASE + (n) * REGMAP_HR_SLOT_STRIDE)
#define REGMAP_IR_COUNT(n) (REGMAP_IR_SLOT_BASE + (n) * REGMAP_IR_SLOT_STRIDE)

#define REGMAP_DI_SLOT_ADDR(s, off) (REGMAP_DI_SLOT_BASE + (s) * REGMAP_DI_SLOT_STRIDE + (off))
#define REGMAP_HR_SLOT_ADDR(s, off) (REGMAP_HR_SLOT_BASE + (s) * REGMAP_HR_SLOT_STRIDE + (off))
#define REGMAP_IR_SLOT_ADDR(s, off) (REGMAP_IR_SLOT_BASE + (s) * REGMAP_IR_SLOT_STRIDE + (off))

/* Sentinel values. */
#define REGMAP_CAROUSEL_BETWEEN 0xFFFFu
#define REGMAP_TEMP_OPEN        32767

enum regmap_charger_mode { CHARGER_MODE_OFF = 0, CHARGER_MODE_CHARGE = 1, CHARGER_MODE_STORAGE = 2 };

enum regmap_charger_state {
    CHARGER_IDLE = 0,
    CHARGER_CC = 1,
    CHARGER_CV = 2,
    CHARGER_DONE = 3,
    CHARGER_FAULT = 4,
    CHARGER_STORAGE = 5,
};

/* Charger fault codes (IR_SLOT_CHG_FAULT). */
#define REGMAP_CHARGER_FAULTS(X)                                                           \
    X(CHGF_NONE,        0, "no fault")                                                     \
    X(CHGF_OVERTEMP,    1, "pack over temperature")                                        \
    X(CHGF_OVERVOLT,    2, "cell over voltage")                                            \
    X(CHGF_TIMEOUT,     3, "charge did not finish in the allowed time")                    \
    X(CHGF_HW,          4, "charger hardware fault")                                       \
    X(CHGF_NO_BATTERY,  5, "charge commanded with no battery in the slot")

/* Plant fault codes (IR_PLANT_FAULT): the first fault that latched. */
#define REGMAP_PLANT_FAULTS(X)                                                             \
    X(PF_NONE,                 0, "no fault")                                              \
    X(PF_ESTOP,                1, "e-stop chain open")                                     \
    X(PF_WATCHDOG,             2, "controller heartbeat stale: all motion stopped")        \
    X(PF_GUARD,                3, "guard opened while moving")                             \
    X(PF_X_JAM,                4, "axis X following error (jam)")                          \
    X(PF_Z_JAM,                5, "axis Z following error (jam)")                          \
    X(PF_X_NOT_HOMED,          6, "axis X commanded before homing")                        \
    X(PF_Z_NOT_HOMED,          7, "axis Z commanded before homing")                        \
    X(PF_IL_X_WITH_Z_DOWN,     8, "interlock: X travel refused with Z below travel height") \
    X(PF_IL_X_WITH_STROKE,     9, "interlock: X travel refused with stroke extended")      \
    X(PF_IL_Z_WITH_STROKE,    10, "interlock: Z travel refused with stroke extended")      \
    X(PF_IL_CAROUSEL_WITH_STROKE, 11, "interlock: carousel refused with stroke extended")  \
    X(PF_IL_CAROUSEL_WITH_Z_DOWN, 12, "interlock: carousel refused with Z in the magazine") \
    X(PF_IL_WRIST_WITH_STROKE, 13, "interlock: wrist turn refused with stroke extended")   \
    X(PF_IL_STROKE_NOT_ALIGNED, 14, "interlock: stroke refused, head not at a bay or slot") \
    X(PF_IL_STROKE_MOVING,    15, "interlock: stroke refused while an axis or the carousel moves") \
    X(PF_IL_CENTER_WITH_ROBOT, 16, "interlock: centering/clamp refused with the robot in the pad zone and stroke extended") \
    X(PF_STROKE_TIMEOUT,      17, "stroke Y did not reach its end in time")               \
    X(PF_WRIST_TIMEOUT,       18, "wrist did not reach its end in time")                  \
    X(PF_GRIP_A_TIMEOUT,      19, "gripper A did not reach its end in time")              \
    X(PF_GRIP_B_TIMEOUT,      20, "gripper B did not reach its end in time")              \
    X(PF_CENTER_TIMEOUT,      21, "centering did not reach its end in time")              \
    X(PF_CLAMP_TIMEOUT,       22, "clamp did not reach its end in time")                  \
    X(PF_CAROUSEL_JAM,        23, "carousel did not reach its slot in time")              \
    X(PF_COLLISION,           24, "gripper closed on an occupied place or pushed a battery into an occupied place")

#define REGMAP_ENUM_CODE(name, code, text) name = (code),
enum charger_fault { REGMAP_CHARGER_FAULTS(REGMAP_ENUM_CODE) };
enum plant_fault { REGMAP_PLANT_FAULTS(REGMAP_ENUM_CODE) PF_COUNT };
#undef REGMAP_ENUM_CODE

/* Names the fault codes; returns "unknown fault" for codes outside the table. */
const char *regmap_plant_fault_str(unsigned code);
const char *regmap_charger_fault_str(unsigned code);
const char *regmap_charger_state_str(unsigned state);

/* Writes the register map as a Markdown table (the integrator's copy) to f. */
void regmap_write_markdown(FILE *f, unsigned n_slots);

#endif
