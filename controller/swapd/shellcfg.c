/* The daemon shell's settings; see shellcfg.h. */
#include "shellcfg.h"

#include <stdlib.h>

#include "plantlink/plantlink.h"
#include "plantmap/plantmap.h"
#include "plantmap/scanplan.h"

static const char *const transport_names[] = { "tcp", "rtu", NULL };
static const char *const parity_names[] = { "none", "even", "odd", NULL };

#define S struct shellcfg
const struct cfg_key shellcfg_keys[] = {
    CFG_I("scan", "period_ms", S, scan_period_ms, 2, 1000, "20", "ms", "Scan cycle period (on fresh input: the longest time between scans)"),
    CFG_B("scan", "on_fresh_input", S, scan_on_fresh_input, "false", "Scan when a fresh plant image, a drone frame or a console command is there (the plant link polls back to back and writes the outputs at once), and at the core's next deadline, at least every period_ms; false: a fixed scan every period_ms and a plant-link exchange every [plant_link] period_ms"),
    CFG_I("scan", "overrun_warn_pct", S, overrun_warn_pct, 10, 1000, "100", "%", "Log a scan that took longer than this share of the period"),
    CFG_S("plant_link", "host", S, plant_host, "127.0.0.1", "Plant Modbus TCP server address"),
    CFG_I("plant_link", "port", S, plant_port, 1, 65535, "1502", "", "Plant Modbus TCP port"),
    CFG_I("plant_link", "unit_id", S, plant_unit_id, 0, 247, "1", "", "Modbus unit id"),
    CFG_I("plant_link", "period_ms", S, plant_period_ms, 2, 1000, "20", "ms", "Process-image exchange period (on fresh input: the longest wait for the scan's outputs, and the retry period of a failed exchange)"),
    CFG_I("plant_link", "fresh_gap_ms", S, plant_fresh_gap_ms, 0, 100, "1", "ms", "On fresh input ([scan] on_fresh_input): pause between writing the outputs and reading the next image; a sensor edge waits at most this plus one round trip to be seen"),
    CFG_I("plant_link", "timeout_ms", S, plant_timeout_ms, 5, 5000, "50", "ms", "Modbus response timeout per request"),
    CFG_I("plant_link", "backoff_min_ms", S, plant_backoff_min_ms, 10, 60000, "100", "ms", "First reconnect delay"),
    CFG_I("plant_link", "backoff_max_ms", S, plant_backoff_max_ms, 10, 600000, "2000", "ms", "Longest reconnect delay"),
    CFG_E("plant_link", "transport", S, plant_transport, transport_names, "tcp", "Modbus TCP (host, port) or RTU on a serial line (device, baud, ...)"),
    CFG_S("plant_link", "device", S, plant_device, "", "RTU: serial device, e.g. /dev/ttyUSB0 or a pty"),
    CFG_I("plant_link", "baud", S, plant_baud, 300, 4000000, "115200", "bit/s", "RTU: line speed"),
    CFG_E("plant_link", "parity", S, plant_parity, parity_names, "none", "RTU: parity"),
    CFG_I("plant_link", "data_bits", S, plant_data_bits, 7, 8, "8", "", "RTU: data bits"),
    CFG_I("plant_link", "stop_bits", S, plant_stop_bits, 1, 2, "1", "", "RTU: stop bits"),
    CFG_B("plant_link", "rs485", S, plant_rs485, "false", "RTU: switch the port to RS-485 mode (ports whose driver needs it)"),
    CFG_I("plant_link", "byte_timeout_ms", S, plant_byte_timeout_ms, 0, 5000, "0", "ms", "Inter-character (RTU inter-frame) timeout; 0 = timeout_ms"),
    CFG_S("plant_link", "map", S, plant_map, "", "Plant map file (docs/plant-map.md); empty = the built-in default map"),
    CFG_I("plant_link", "slow_period_ms", S, plant_slow_period_ms, 0, 600000, "1000", "ms", "Slow-class signals are read round-robin, each once per this; 0 = every exchange"),
    CFG_I("plant_link", "refresh_ms", S, plant_refresh_ms, 0, 600000, "1000", "ms", "Outputs are written when they change and at least this often; 0 = every exchange"),
    CFG_I("plant_link", "request_us", S, plant_request_us, 1, 1000000, "200", "us", "TCP: round trip and device turnaround per request, for the scan plan's timing"),
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

int shellcfg_plant_plan(const struct shellcfg *sh, unsigned n_slots, struct plantmap *map, FILE *print, char *err,
                        size_t errsize)
{
    if (sh->plant_map[0] ? plantmap_load(sh->plant_map, map, err, errsize) != 0 : plantmap_default(map) != 0) {
        if (!sh->plant_map[0])
            snprintf(err, errsize, "plant map: out of memory");
        return -1;
    }
    struct scanplan *plan = malloc(sizeof *plan);
    struct plantlink_config pcfg;
    shellcfg_plant_link(sh, n_slots, map, &pcfg);
    struct scanplan_link l = { .rtu = pcfg.rtu, .baud = pcfg.baud, .data_bits = pcfg.data_bits,
                               .stop_bits = pcfg.stop_bits, .parity = pcfg.parity, .tcp_bps = 100e6,
                               .tcp_request_us = pcfg.tcp_request_us };
    int rc = -1;
    if (!plan)
        snprintf(err, errsize, "scan plan: out of memory");
    else if (scanplan_build(map, n_slots, &l, plan, err, errsize) == 0) {
        int need = scanplan_min_period_ms(plan, &l, sh->plant_slow_period_ms);
        if (print)
            scanplan_print(print, plan, map, &l, sh->plant_period_ms, sh->plant_slow_period_ms);
        if (need > sh->plant_period_ms)
            snprintf(err, errsize,
                     "[plant_link] period_ms = %d: the fast loop of map \"%s\" over %s takes up to %d ms; "
                     "period_ms = %d would fit (swapd --print-scan-plan shows the requests)",
                     sh->plant_period_ms, map->name, pcfg.rtu ? "RTU" : "TCP", need, need);
        else
            rc = 0;
    }
    free(plan);
    if (rc != 0)
        plantmap_free(map);
    return rc;
}

void shellcfg_plant_link(const struct shellcfg *sh, unsigned n_slots, const struct plantmap *map,
                         struct plantlink_config *pcfg)
{
    static const char parity[] = { 'N', 'E', 'O' };
    *pcfg = (struct plantlink_config){ .port = sh->plant_port, .unit_id = sh->plant_unit_id, .n_slots = n_slots,
                                       .period_ms = sh->plant_period_ms, .response_timeout_ms = sh->plant_timeout_ms,
                                       .backoff_min_ms = sh->plant_backoff_min_ms,
                                       .backoff_max_ms = sh->plant_backoff_max_ms, .rtu = sh->plant_transport == 1,
                                       .baud = sh->plant_baud, .data_bits = sh->plant_data_bits,
                                       .stop_bits = sh->plant_stop_bits, .parity = parity[sh->plant_parity % 3],
                                       .rs485 = sh->plant_rs485, .byte_timeout_ms = sh->plant_byte_timeout_ms,
                                       .map = map, .slow_period_ms = sh->plant_slow_period_ms,
                                       .refresh_ms = sh->plant_refresh_ms, .tcp_request_us = sh->plant_request_us,
                                       .on_fresh_input = sh->scan_on_fresh_input,
                                       .fresh_gap_ms = sh->plant_fresh_gap_ms };
    snprintf(pcfg->host, sizeof pcfg->host, "%s", sh->plant_host);
    snprintf(pcfg->device, sizeof pcfg->device, "%s", sh->plant_device);
}
