/* The message tables: every known message's fields in wire order. Encoding, decoding,
 * mavdump's JSON and the CRC_EXTRA unit test all read these tables, so a field is
 * described exactly once. */
#include <stddef.h>

#include "mavlink/mav.h"

#define F(st, xml, member, ty) { xml, MAV_FT_##ty, 0, offsetof(struct st, member), false }
#define A(st, xml, member, ty, n) { xml, MAV_FT_##ty, n, offsetof(struct st, member), false }
#define FX(st, xml, member, ty) { xml, MAV_FT_##ty, 0, offsetof(struct st, member), true }
#define AX(st, xml, member, ty, n) { xml, MAV_FT_##ty, n, offsetof(struct st, member), true }
/* One element of a struct array that the XML spells as separate fields (param1..7). */
#define FE(st, xml, member, i, ty) \
    { xml, MAV_FT_##ty, 0, offsetof(struct st, member) + (i) * sizeof(float), false }

static const struct mav_field heartbeat_fields[] = {
    F(mav_heartbeat, "custom_mode", custom_mode, UINT32),
    F(mav_heartbeat, "type", type, UINT8),
    F(mav_heartbeat, "autopilot", autopilot, UINT8),
    F(mav_heartbeat, "base_mode", base_mode, UINT8),
    F(mav_heartbeat, "system_status", system_status, UINT8),
    F(mav_heartbeat, "mavlink_version", mavlink_version, UINT8),
};

static const struct mav_field sys_status_fields[] = {
    F(mav_sys_status, "onboard_control_sensors_present", sensors_present, UINT32),
    F(mav_sys_status, "onboard_control_sensors_enabled", sensors_enabled, UINT32),
    F(mav_sys_status, "onboard_control_sensors_health", sensors_health, UINT32),
    F(mav_sys_status, "load", load, UINT16),
    F(mav_sys_status, "voltage_battery", voltage_battery, UINT16),
    F(mav_sys_status, "current_battery", current_battery, INT16),
    F(mav_sys_status, "drop_rate_comm", drop_rate_comm, UINT16),
    F(mav_sys_status, "errors_comm", errors_comm, UINT16),
    F(mav_sys_status, "errors_count1", errors_count1, UINT16),
    F(mav_sys_status, "errors_count2", errors_count2, UINT16),
    F(mav_sys_status, "errors_count3", errors_count3, UINT16),
    F(mav_sys_status, "errors_count4", errors_count4, UINT16),
    F(mav_sys_status, "battery_remaining", battery_remaining, INT8),
    FX(mav_sys_status, "onboard_control_sensors_present_extended", present_ext, UINT32),
    FX(mav_sys_status, "onboard_control_sensors_enabled_extended", enabled_ext, UINT32),
    FX(mav_sys_status, "onboard_control_sensors_health_extended", health_ext, UINT32),
};

static const struct mav_field command_long_fields[] = {
    FE(mav_command_long, "param1", param, 0, FLOAT),
    FE(mav_command_long, "param2", param, 1, FLOAT),
    FE(mav_command_long, "param3", param, 2, FLOAT),
    FE(mav_command_long, "param4", param, 3, FLOAT),
    FE(mav_command_long, "param5", param, 4, FLOAT),
    FE(mav_command_long, "param6", param, 5, FLOAT),
    FE(mav_command_long, "param7", param, 6, FLOAT),
    F(mav_command_long, "command", command, UINT16),
    F(mav_command_long, "target_system", target_system, UINT8),
    F(mav_command_long, "target_component", target_component, UINT8),
    F(mav_command_long, "confirmation", confirmation, UINT8),
};

static const struct mav_field command_ack_fields[] = {
    F(mav_command_ack, "command", command, UINT16),
    F(mav_command_ack, "result", result, UINT8),
    FX(mav_command_ack, "progress", progress, UINT8),
    FX(mav_command_ack, "result_param2", result_param2, INT32),
    FX(mav_command_ack, "target_system", target_system, UINT8),
    FX(mav_command_ack, "target_component", target_component, UINT8),
};

static const struct mav_field battery_status_fields[] = {
    F(mav_battery_status, "current_consumed", current_consumed, INT32),
    F(mav_battery_status, "energy_consumed", energy_consumed, INT32),
    F(mav_battery_status, "temperature", temperature, INT16),
    A(mav_battery_status, "voltages", voltages, UINT16, 10),
    F(mav_battery_status, "current_battery", current_battery, INT16),
    F(mav_battery_status, "id", id, UINT8),
    F(mav_battery_status, "battery_function", battery_function, UINT8),
    F(mav_battery_status, "type", type, UINT8),
    F(mav_battery_status, "battery_remaining", battery_remaining, INT8),
    FX(mav_battery_status, "time_remaining", time_remaining, INT32),
    FX(mav_battery_status, "charge_state", charge_state, UINT8),
    AX(mav_battery_status, "voltages_ext", voltages_ext, UINT16, 4),
    FX(mav_battery_status, "mode", mode, UINT8),
    FX(mav_battery_status, "fault_bitmask", fault_bitmask, UINT32),
};

static const struct mav_field extended_sys_state_fields[] = {
    F(mav_extended_sys_state, "vtol_state", vtol_state, UINT8),
    F(mav_extended_sys_state, "landed_state", landed_state, UINT8),
};

static const struct mav_field statustext_fields[] = {
    F(mav_statustext, "severity", severity, UINT8),
    A(mav_statustext, "text", text, CHAR, 50),
    FX(mav_statustext, "id", id, UINT16),
    FX(mav_statustext, "chunk_seq", chunk_seq, UINT8),
};

static const struct mav_field smart_battery_info_fields[] = {
    F(mav_smart_battery_info, "capacity_full_specification", capacity_full_specification, INT32),
    F(mav_smart_battery_info, "capacity_full", capacity_full, INT32),
    F(mav_smart_battery_info, "cycle_count", cycle_count, UINT16),
    F(mav_smart_battery_info, "weight", weight, UINT16),
    F(mav_smart_battery_info, "discharge_minimum_voltage", discharge_min_v, UINT16),
    F(mav_smart_battery_info, "charging_minimum_voltage", charging_min_v, UINT16),
    F(mav_smart_battery_info, "resting_minimum_voltage", resting_min_v, UINT16),
    F(mav_smart_battery_info, "id", id, UINT8),
    F(mav_smart_battery_info, "battery_function", battery_function, UINT8),
    F(mav_smart_battery_info, "type", type, UINT8),
    A(mav_smart_battery_info, "serial_number", serial_number, CHAR, 16),
    A(mav_smart_battery_info, "device_name", device_name, CHAR, 50),
    FX(mav_smart_battery_info, "charging_maximum_voltage", charging_max_v, UINT16),
    FX(mav_smart_battery_info, "cells_in_series", cells_in_series, UINT8),
    FX(mav_smart_battery_info, "discharge_maximum_current", discharge_max_current, UINT32),
    FX(mav_smart_battery_info, "discharge_maximum_burst_current", discharge_max_burst_current, UINT32),
    AX(mav_smart_battery_info, "manufacture_date", manufacture_date, CHAR, 11),
};

static const struct mav_field battery_info_fields[] = {
    F(mav_battery_info, "discharge_minimum_voltage", discharge_min_v, FLOAT),
    F(mav_battery_info, "charging_minimum_voltage", charging_min_v, FLOAT),
    F(mav_battery_info, "resting_minimum_voltage", resting_min_v, FLOAT),
    F(mav_battery_info, "charging_maximum_voltage", charging_max_v, FLOAT),
    F(mav_battery_info, "charging_maximum_current", charging_max_current, FLOAT),
    F(mav_battery_info, "nominal_voltage", nominal_voltage, FLOAT),
    F(mav_battery_info, "discharge_maximum_current", discharge_max_current, FLOAT),
    F(mav_battery_info, "discharge_maximum_burst_current", discharge_max_burst_current, FLOAT),
    F(mav_battery_info, "design_capacity", design_capacity, FLOAT),
    F(mav_battery_info, "full_charge_capacity", full_charge_capacity, FLOAT),
    F(mav_battery_info, "cycle_count", cycle_count, UINT16),
    F(mav_battery_info, "weight", weight, UINT16),
    F(mav_battery_info, "id", id, UINT8),
    F(mav_battery_info, "battery_function", battery_function, UINT8),
    F(mav_battery_info, "type", type, UINT8),
    F(mav_battery_info, "state_of_health", state_of_health, UINT8),
    F(mav_battery_info, "cells_in_series", cells_in_series, UINT8),
    A(mav_battery_info, "manufacture_date", manufacture_date, CHAR, 9),
    A(mav_battery_info, "serial_number", serial_number, CHAR, 32),
    A(mav_battery_info, "name", name, CHAR, 50),
};

#define N(a) (uint8_t)(sizeof(a) / sizeof((a)[0]))
#define MSG(id, name, extra, base, max, st, fields) \
    { id, name, extra, base, max, sizeof(struct st), N(fields), fields }

/* Sorted by id: mav_msg_info() is on the parser's per-frame path. */
static const struct mav_msg_info messages[] = {
    MSG(MAV_MSG_HEARTBEAT, "HEARTBEAT", 50, 9, 9, mav_heartbeat, heartbeat_fields),
    MSG(MAV_MSG_SYS_STATUS, "SYS_STATUS", 124, 31, 43, mav_sys_status, sys_status_fields),
    MSG(MAV_MSG_COMMAND_LONG, "COMMAND_LONG", 152, 33, 33, mav_command_long, command_long_fields),
    MSG(MAV_MSG_COMMAND_ACK, "COMMAND_ACK", 143, 3, 10, mav_command_ack, command_ack_fields),
    MSG(MAV_MSG_BATTERY_STATUS, "BATTERY_STATUS", 154, 36, 54, mav_battery_status,
        battery_status_fields),
    MSG(MAV_MSG_EXTENDED_SYS_STATE, "EXTENDED_SYS_STATE", 130, 2, 2, mav_extended_sys_state,
        extended_sys_state_fields),
    MSG(MAV_MSG_STATUSTEXT, "STATUSTEXT", 83, 51, 54, mav_statustext, statustext_fields),
    MSG(MAV_MSG_SMART_BATTERY_INFO, "SMART_BATTERY_INFO", 75, 87, 109, mav_smart_battery_info,
        smart_battery_info_fields),
    MSG(MAV_MSG_BATTERY_INFO, "BATTERY_INFO", 26, 140, 140, mav_battery_info, battery_info_fields),
};

const struct mav_msg_info *mav_msg_info(uint32_t msgid)
{
    switch (msgid) {
    case MAV_MSG_HEARTBEAT: return &messages[0];
    case MAV_MSG_SYS_STATUS: return &messages[1];
    case MAV_MSG_COMMAND_LONG: return &messages[2];
    case MAV_MSG_COMMAND_ACK: return &messages[3];
    case MAV_MSG_BATTERY_STATUS: return &messages[4];
    case MAV_MSG_EXTENDED_SYS_STATE: return &messages[5];
    case MAV_MSG_STATUSTEXT: return &messages[6];
    case MAV_MSG_SMART_BATTERY_INFO: return &messages[7];
    case MAV_MSG_BATTERY_INFO: return &messages[8];
    default: return NULL;
    }
}

size_t mav_msg_count(void)
{
    return sizeof messages / sizeof messages[0];
}

const struct mav_msg_info *mav_msg_info_at(size_t index)
{
    return index < mav_msg_count() ? &messages[index] : NULL;
}

static const struct {
    const char *name;
    size_t size;
} ftypes[MAV_FT_COUNT] = {
    [MAV_FT_CHAR] = { "char", 1 },       [MAV_FT_UINT8] = { "uint8_t", 1 },
    [MAV_FT_INT8] = { "int8_t", 1 },     [MAV_FT_UINT16] = { "uint16_t", 2 },
    [MAV_FT_INT16] = { "int16_t", 2 },   [MAV_FT_UINT32] = { "uint32_t", 4 },
    [MAV_FT_INT32] = { "int32_t", 4 },   [MAV_FT_FLOAT] = { "float", 4 },
};

const char *mav_ftype_name(enum mav_ftype t)
{
    return (unsigned)t < MAV_FT_COUNT ? ftypes[t].name : "?";
}

size_t mav_ftype_size(enum mav_ftype t)
{
    return (unsigned)t < MAV_FT_COUNT ? ftypes[t].size : 0;
}
