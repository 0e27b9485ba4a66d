/* The daemon shell's settings; see shellcfg.h. */
#include "shellcfg.h"

#define S struct shellcfg
const struct cfg_key shellcfg_keys[] = {
    CFG_I("scan", "period_ms", S, scan_period_ms, 2, 1000, "20", "ms", "Scan cycle period"),
    CFG_I("scan", "overrun_warn_pct", S, overrun_warn_pct, 10, 1000, "100", "%", "Log a scan that took longer than this share of the period"),
    CFG_S("plant_link", "host", S, plant_host, "127.0.0.1", "Plant Modbus TCP server address"),
    CFG_I("plant_link", "port", S, plant_port, 1, 65535, "1502", "", "Plant Modbus TCP port"),
    CFG_I("plant_link", "unit_id", S, plant_unit_id, 0, 247, "1", "", "Modbus unit id"),
    CFG_I("plant_link", "period_ms", S, plant_period_ms, 2, 1000, "20", "ms", "Process-image exchange period"),
    CFG_I("plant_link", "timeout_ms", S, plant_timeout_ms, 5, 5000, "50", "ms", "Modbus response timeout per request"),
    CFG_I("plant_link", "backoff_min_ms", S, plant_backoff_min_ms, 10, 60000, "100", "ms", "First reconnect delay"),
    CFG_I("plant_link", "backoff_max_ms", S, plant_backoff_max_ms, 10, 600000, "2000", "ms", "Longest reconnect delay"),
    CFG_S("drone_link", "endpoint", S, drone_endpoint, "serial:/dev/ttyUSB0:57600", "Drone radio: serial:DEV:BAUD, pty:PATH or udp:HOST:PORT"),
    CFG_S("drone_link", "key", S, drone_key_hex, "", "MAVLink 2 signing key, 64 hex digits; empty = unsigned"),
    CFG_B("drone_link", "require_signing", S, drone_require_signing, "false", "Drop unsigned and MAVLink 1 frames"),
    CFG_S("drone_link", "allow", S, drone_allow, "", "Comma-separated drone system ids allowed to swap; empty = any"),
    CFG_I("drone_link", "station_sysid", S, station_sysid, 1, 255, "200", "", "The station's own MAVLink system id"),
    CFG_S("database", "path", S, db_path, "/var/lib/swapd/swapd.db", "Battery registry database (SQLite)"),
    CFG_D("simulation", "time_scale", S, sim_time_scale, 1, 1000, "1", "x",
          "Battery time per wall time when the plant and drones are simulators run faster (swapsim --realtime-factor x --battery-time-scale): battery telemetry and rest timers are in the packs' time; 1 on a real station"),
};
#undef S
const size_t shellcfg_n_keys = sizeof shellcfg_keys / sizeof shellcfg_keys[0];
