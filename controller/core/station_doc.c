/* The station's tables as Markdown: docs/station.md carries this text, and a test keeps
 * the two identical. */
#include "core/station.h"

static void dev_level(FILE *f, const char *name, int8_t level, const char *one, const char *zero, int *n)
{
    if (level == SWK)
        return;
    fprintf(f, "%s%s %s", *n ? ", " : "", name, level ? one : zero);
    (*n)++;
}

static const char *const x_names[] = { "", "X magazine", "X standby", "X bay" };
static const char *const z_names[] = { "", "Z top", "Z slot" };
static const char *const slot_names[] = { "", "carousel to fresh slot", "carousel to free slot" };
static const char *const move_names[] = { "-", "fresh pack slot -> gripper B", "old pack drone -> gripper A",
                                          "fresh pack gripper B -> drone", "old pack gripper A -> slot",
                                          "fresh pack slot -> gripper A", "fresh pack gripper A -> drone" };

static void write_step(FILE *f, int i, enum swapseq_id id)
{
    const struct swapseq_step *s = &swapseq_steps[id];
    fprintf(f, "| %d | `%s` | ", i, s->name);
    int n = 0;
    dev_level(f, "centering", s->center, "close", "open", &n);
    dev_level(f, "clamp", s->clamp, "lock", "unlock", &n);
    dev_level(f, "stroke", s->stroke, "extend", "retract", &n);
    dev_level(f, "wrist", s->wrist_b, "B", "A", &n);
    dev_level(f, "gripper A", s->grip_a, "close", "open", &n);
    dev_level(f, "gripper B", s->grip_b, "close", "open", &n);
    if (s->x != SWX_KEEP)
        fprintf(f, "%s%s", n++ ? ", " : "", x_names[s->x]);
    if (s->z != SWZ_KEEP)
        fprintf(f, "%s%s", n++ ? ", " : "", z_names[s->z]);
    if (s->carousel != SWS_KEEP)
        fprintf(f, "%s%s", n++ ? ", " : "", slot_names[s->carousel]);
    if (!n)
        fprintf(f, "-");
    fprintf(f, " | end sensors of every commanded device");
    static const char *const req[] = { "drone on the load cell", "A holds a pack", "A empty", "B holds a pack",
                                       "B empty", "load cell lost one pack", "drone reports the new pack, sane voltage" };
    for (int b = 0; b < 7; b++)
        if (s->require & (1u << b))
            fprintf(f, "; %s", req[b]);
    fprintf(f, " | %s | %s | %s |\n", s->require & SWAPSEQ_REQ_TOUCHDOWN ? "landing_timeout_ms" : "nominal x margin + extra",
            s->pad_gate ? "pad-zone rule first" : "-", move_names[s->move]);
}

static void write_chain(FILE *f, const struct swapseq_chain *c)
{
    fprintf(f, "| # | Step | Action | Complete when | Deadline | Gate | Inventory move |\n");
    fprintf(f, "|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < c->n_steps; i++)
        write_step(f, i, c->steps[i]);
    fprintf(f, "\nOn the pad from step %d (touchdown) to the end of step %d (cleared for take-off).\n\n",
            c->touchdown_index, c->release_index);
}

void station_write_tables(FILE *f)
{
    fprintf(f, "### PackML states and commands\n\n| State | Moves the robot | ");
    for (int c = 0; c < STATION_CMD_COUNT; c++)
        fprintf(f, "%s | ", station_cmd_name(c));
    fprintf(f, "\n|---|---|");
    for (int c = 0; c < STATION_CMD_COUNT; c++)
        fprintf(f, "---|");
    fprintf(f, "\n");
    for (int s = 0; s < ST_COUNT; s++) {
        fprintf(f, "| %s | %s | ", station_states[s].name, station_states[s].robot_moves ? "yes" : "no");
        for (int c = 0; c < STATION_CMD_COUNT; c++) {
            int to = station_states[s].on_cmd[c];
            fprintf(f, "%s | ", to == ST_NONE ? "-" : station_state_name(to));
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\n### Swap step chain: %s\n\n", swapseq_chains[SWAPSEQ_PIPELINED].name);
    write_chain(f, &swapseq_chains[SWAPSEQ_PIPELINED]);
    fprintf(f, "### Swap step chain: %s (benchmark baseline)\n\n", swapseq_chains[SWAPSEQ_NAIVE].name);
    write_chain(f, &swapseq_chains[SWAPSEQ_NAIVE]);
    fprintf(f, "### Diagnosis\n\n| Alarm | Debounce | Severity | Reaction | Latches | What happened | What the operator does |\n");
    fprintf(f, "|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < DIAG_COUNT; i++) {
        const struct diag_def *d = &diag_table[i];
        fprintf(f, "| `%s` | %u ms | %s | %s | %s | %s | %s |\n", d->name, (unsigned)d->debounce_ms,
                diag_severity_name(d->severity), diag_reaction_name(d->reaction), d->latch ? "yes" : "no", d->text,
                d->remedy);
    }
}
