/* The station core's internal interface: what its files (station.c, station_recover.c,
 * station_chain.c, station_schedule.c, station_packml.c, station_safety.c,
 * station_command.c) call in each other. Not for the shell: station.h is the core's API. */
#ifndef SWAP_CORE_STATION_IMPL_H
#define SWAP_CORE_STATION_IMPL_H

#include "core/station.h"

/* station.c: names, recording, shared helpers, outputs */
extern const char *const station_cmd_names[STATION_CMD_COUNT];
extern const char *const station_mode_names[STATION_MODE_COUNT];
void station_record_event(struct station *st, const char *from, const char *to, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void station_record_alarm(struct station *st, int id, bool raised);
void station_set_note(struct station *st, enum diag_id id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool station_at_end(bool this_end, bool other_end);
void station_send_msg(struct station *st, uint8_t sysid, enum station_msg_kind kind, int32_t param);
void station_refuse(struct station *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void station_transition(struct station *st, const struct station_inputs *in, enum station_state to,
                       const char *reason);
void station_request(struct station *st, enum station_state to, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int station_n_slots(const struct station *st);
const struct station_drone_in *station_find_drone(const struct station_inputs *in, uint8_t sysid);
bool station_drone_reports_armed(const struct station *st, const struct station_drone_in *d);
bool station_head_in_pad_zone(const struct station *st, const struct station_plant_in *p);
bool station_head_may_reach_pad_zone(const struct station *st, const struct station_plant_in *p);
bool station_pad_gate_ok(const struct station *st, const struct station_inputs *in);
bool station_disarmed_since_touchdown(const struct station *st, const struct station_inputs *in);
bool station_weather_ok(const struct station *st, const struct station_plant_in *p);
bool station_in_queue(const struct station *st, uint8_t sysid);
void station_queue_remove(struct station *st, uint8_t sysid);
void station_emit_move(struct station *st, uint32_t tag, struct station_location from,
                      struct station_location to, const char *step);
struct station_location station_loc(enum station_place p, int index);
bool station_hold_or_abort_alarm(const struct station *st);
int station_first_blocking_alarm(const struct station *st);

/* station_recover.c: reconciliation and resume */
void station_adopt_image(struct station *st, const struct station_plant_in *p);
bool station_inventory_agrees(const struct station *st, const struct station_inputs *in, char *why, size_t size);
void station_take_inventory(struct station *st, const struct station_inventory_in *inv);
bool station_grippers_settled(struct station *st, const struct station_plant_in *p);
void station_reconcile(struct station *st, const struct station_inputs *in);
void station_plant_renewed(struct station *st, const struct station_inputs *in);
bool station_reconciles_in_place(enum station_state s);
void station_adopt_sensors(struct station *st, const struct station_inputs *in);
bool station_move_already_done(const struct station *st, enum swapseq_id id);
bool station_resume_swap(struct station *st, const struct station_inputs *in);

/* station_chain.c: the swap chain runner */
enum swapseq_id station_cur_step(const struct station *st);
void station_chain_start(struct station *st, const struct swapseq_chain *c, int pos);
void station_chain_end(struct station *st);
int station_pick_store_slot(const struct station *st, const struct station_plant_in *p);
void station_apply_move(struct station *st, const struct station_inputs *in, enum swapseq_id id);
void station_chain_run(struct station *st, const struct station_inputs *in);
bool station_fresh_slot_ok(const struct station *st, const struct station_inputs *in);
int station_external_block(const struct station *st, const struct station_inputs *in);

/* station_schedule.c: scheduling and the landing queue */
bool station_prestage_wanted(const struct station *st, const struct station_inputs *in);
void station_clear_to_land(struct station *st);
void station_clear_when_ready(struct station *st, const struct station_inputs *in);
bool station_schedule(struct station *st, const struct station_inputs *in);
void station_service_queue(struct station *st, const struct station_inputs *in);

/* station_packml.c: state actions */
void station_stop_axes(struct station *st);
bool station_store_possible(const struct station *st, const struct station_inputs *in);
void station_execute_run(struct station *st, const struct station_inputs *in, uint64_t now_ms);

/* station_safety.c: diagnosis, reactions, permissives */
bool station_in_execute_family(enum station_state s);
void station_alarm_raise(struct station *st, const struct station_inputs *in, enum diag_id id, int detail);
void station_echo_note_sent(struct station *st);
bool station_echo_frozen(struct station *st, const struct station_plant_in *p);
void station_diagnose(struct station *st, const struct station_inputs *in);
void station_permissives(const struct station *st, const struct station_plant_in *p, struct station_plant_out *o);

/* station_command.c: operator commands */
bool station_jog_allowed_state(enum station_state s);
void station_do_command(struct station *st, const struct station_inputs *in);
void station_do_op(struct station *st, const struct station_inputs *in);

#endif
