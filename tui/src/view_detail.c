/*
 * view_detail.c - one task (tui.h): its state and wait with the source
 * location, the wait-for chain followed to its end, its counters, the
 * percentiles of its run and wait times, and its children.  Esc goes
 * back.
 *
 * The children are found by a look at every task: a list (order.h) built
 * in slices between frames and every second (chain's root has 100k
 * children: looking at every task in every frame took 15 ms).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "order.h"
#include "tui.h"
#include "util.h"

#define CHAIN_MAX 16 /* links of the wait-for chain shown */
#define KIDS_MAX  64 /* children listed */

#define PAD_LINES 512 /* the detail is drawn whole into a pad, then scrolled */

typedef struct detail_view {
	uint64_t task;
	WINDOW *pad;
	int scroll, lines, page; /* first line shown, lines drawn, lines on screen */
	order *kids;             /* its children alive, by id */
} detail_view;

void *tui_detail_new(uint64_t task)
{
	detail_view *v = xcalloc(1, sizeof(*v));
	v->task = task;
	v->kids = order_create();
	return v;
}

static void detail_free(void *state)
{
	detail_view *v = state;
	if (v->pad)
		delwin(v->pad);
	order_destroy(v->kids);
	free(v);
}

/* The children's key (order.h): alive tasks whose parent is the view's. */
static int kid_key(void *ctx, model *m, uint64_t id, uint64_t key[ORDER_WORDS])
{
	const detail_view *v = ctx;
	const model_task *k = model_task_get(m, id);
	(void)key;
	return k && k->parent == v->task && k->ended_ns < 0;
}

static int kids_tick(tui *t, detail_view *v, int64_t deadline, int periodic)
{
	order_src src = {model_task_ids, kid_key, v, 0, 0};
	return order_tick(v->kids, tui_model(t), tui_generation(t), &src, deadline, periodic);
}

static int detail_work(tui *t, void *state, int64_t deadline_ns)
{
	return kids_tick(t, state, deadline_ns, 1);
}

/* "file:line" of a string id, "" if none. */
static const char *site_text(tui *t, uint32_t id, char *buf, size_t cap)
{
	char full[512], fn[256];
	buf[0] = 0;
	if (id && tui_string(t, id, full, sizeof(full)) == 0)
		ts_split_site(full, buf, cap, fn, sizeof(fn));
	return buf;
}

/* The task t waits for, along the first owned edge (a lock's holder, the
 * joined task); 0 if none. */
static uint64_t next_in_chain(model *m, const model_task *t)
{
	if (t->cur.state != MS_BLOCKED || t->ended_ns >= 0)
		return 0;
	if (t->cur.wait_kind == TSK_WAIT_JOIN)
		return t->cur.obj;
	if (t->cur.wait_kind != TSK_WAIT_MUTEX && t->cur.wait_kind != TSK_WAIT_RWLOCK_WR &&
	    t->cur.wait_kind != TSK_WAIT_RWLOCK_RD)
		return 0;
	model_res *r = model_res_get(m, t->cur.obj);
	for (uint32_t i = 0; r && i < r->nholds; i++)
		if (r->holds[i].task != t->id || t->cur.wait_kind == TSK_WAIT_MUTEX)
			return r->holds[i].task;
	return 0;
}

static void draw_hist(WINDOW *w, int y, const char *what, const model_hist *h, const char *unit)
{
	char a[32], b[32], c[32], d[32];
	mvwprintw(w, y, 0, "%s p50 %-10s p90 %-10s p99 %-10s max %s (%" PRIu64 " %s)", what,
	          ts_fmt_ns((int64_t)model_hist_quantile(h, 0.5), a, sizeof(a)),
	          ts_fmt_ns((int64_t)model_hist_quantile(h, 0.9), b, sizeof(b)),
	          ts_fmt_ns((int64_t)model_hist_quantile(h, 0.99), c, sizeof(c)),
	          ts_fmt_ns((int64_t)h->max_ns, d, sizeof(d)), h->n, unit);
}

/* The histogram as one row of bars, a column per power of two from the
 * shortest bucket used to the longest, each as tall as its share of the
 * largest (ASCII, so it reads on any terminal):  1us [ .:#=. ] 2ms */
static int draw_bars(WINDOW *w, int y, int end, const model_hist *h)
{
	static const char ramp[] = " .:-=+*#%@";
	int lo = -1, hi = -1;
	uint32_t top = 0;
	for (int b = 0; b < MODEL_HIST_BUCKETS; b++) {
		if (!h->count[b])
			continue;
		if (lo < 0)
			lo = b;
		hi = b;
		if (h->count[b] > top)
			top = h->count[b];
	}
	if (lo < 0 || y >= end)
		return y;
	char a[32], b[32], bars[MODEL_HIST_BUCKETS + 1];
	int n = 0;
	for (int k = lo; k <= hi; k++) {
		/* an empty bucket stays blank; a used one shows at least '.' */
		size_t level = h->count[k] ? 1 + (size_t)h->count[k] * 8 / top : 0;
		bars[n++] = ramp[level];
	}
	bars[n] = 0;
	mvwprintw(w, y, 0, "           %9s [%s] %s", ts_fmt_ns(lo ? 1ll << lo : 0, a, sizeof(a)),
	          bars, ts_fmt_ns(hi >= 62 ? INT64_MAX : 2ll << hi, b, sizeof(b)));
	return y + 1;
}

/* Draws the whole detail into pad w from its line 0; returns the lines
 * used. */
static int draw_all(tui *t, detail_view *v, WINDOW *w)
{
	model *m = tui_model(t);
	model_task *k = model_task_get(m, v->task);
	int y = 0, end = PAD_LINES;
	char a[64], b[64], site[256], waits[64];
	if (!k) {
		mvwprintw(w, y, 0,
		          "task %" PRIu64 " is no longer known (ended long ago)   Esc: back",
		          v->task);
		return 1;
	}
	int64_t now = tui_now_ns(t);
	wattron(w, A_BOLD);
	mvwprintw(
	        w, y++, 0, "task %" PRIu64 " \"%s\"  %s for %s", k->id, k->name, tui_state_name(k),
	        ts_fmt_ns((k->ended_ns >= 0 ? k->ended_ns : now) - k->cur.start_ns, a, sizeof(a)));
	wattroff(w, A_BOLD);
	mvwprintw(w, y++, 0,
	          "  spawned at %s by task %" PRIu64 ", %" PRIu64 " polls, busy %s, %" PRIu64
	          " wakes (%" PRIu64 " by itself)",
	          *site_text(t, k->spawn_site, site, sizeof(site)) ? site : "?", k->parent,
	          k->polls, ts_fmt_ns((int64_t)k->busy_ns, b, sizeof(b)), k->wakes, k->self_wakes);
	if (k->cur.state == MS_BLOCKED && k->ended_ns < 0) {
		tui_wait_text(m, k, waits, sizeof(waits));
		mvwprintw(w, y++, 0, "  waits on %s at %s%s", waits,
		          *site_text(t, k->cur.site, site, sizeof(site)) ? site : "?",
		          k->cur.deadline_ns >= 0 ? " (with a deadline)" : "");
	}
	y++;
	if (y < end)
		mvwprintw(w, y++, 0, "Wait-for chain");
	uint64_t seen[CHAIN_MAX + 1];
	size_t n = 0;
	const model_task *cur = k;
	while (cur && y < end && n < CHAIN_MAX) {
		seen[n++] = cur->id;
		uint64_t next = next_in_chain(m, cur);
		tui_wait_text(m, cur, waits, sizeof(waits));
		mvwprintw(w, y++, 0, "  %s task %" PRIu64 " \"%s\" %s%s", n == 1 ? "  " : "->",
		          cur->id, cur->name, tui_state_name(cur), *waits ? " on " : "");
		wprintw(w, "%s", waits);
		if (!next)
			break;
		size_t i;
		for (i = 0; i < n && seen[i] != next; i++)
			;
		if (i < n) {
			if (y < end)
				mvwprintw(w, y++, 0, "  -> back to task %" PRIu64 ": a cycle",
				          next);
			break;
		}
		cur = model_task_get(m, next);
	}
	y++;
	if (y + 4 < end) {
		draw_hist(w, y++, "Run times ", &k->run, "runs");
		y = draw_bars(w, y, end, &k->run);
		draw_hist(w, y++, "Wait times", &k->wait, "waits");
		y = draw_bars(w, y, end, &k->wait);
	}
	/* the stack at the suspension, when the runtime sampled one */
	tsk_seg_stack stk;
	if (k->cur.state == MS_BLOCKED && k->ended_ns < 0 && y + 2 < end &&
	    tui_stack(t, k->cur.stack, &stk) == 0 && stk.nframes) {
		y++;
		mvwprintw(w, y++, 0, "Stack at the suspension");
		for (uint32_t i = 0; i < stk.nframes && i < TSK_SEG_STACK_DEPTH && y + 1 < end;
		     i++) {
			char sym[256];
			if (tui_string(t, stk.frames[i].sym, sym, sizeof(sym)) < 0)
				snprintf(sym, sizeof(sym), "0x%" PRIx64, stk.frames[i].pc);
			mvwprintw(w, y++, 0, "  #%-2u %s", i, sym);
		}
	}
	kids_tick(t, v, ts_mono_ns() + ORDER_DRAW_NS, 0);
	size_t nkids = order_count(v->kids);
	if (nkids && y + 1 < end) {
		y++;
		mvwprintw(w, y++, 0, "Children alive: %zu", nkids);
		for (size_t i = 0; i < nkids && i < KIDS_MAX && y < end; i++) {
			model_task *kid = model_task_get(m, order_id(v->kids, i));
			if (kid)
				mvwprintw(w, y++, 0, "  task %" PRIu64 " \"%s\" %s", kid->id,
				          kid->name, tui_state_name(kid));
		}
	}
	return y;
}

static void detail_draw(tui *t, void *state, int y0, int h)
{
	detail_view *v = state;
	if (h <= 0)
		return;
	if (!v->pad || getmaxx(v->pad) != COLS) {
		if (v->pad)
			delwin(v->pad);
		v->pad = newpad(PAD_LINES, COLS);
		if (!v->pad)
			return;
	}
	werase(v->pad);
	int n = draw_all(t, v, v->pad);
	if (v->scroll > n - h)
		v->scroll = n - h > 0 ? n - h : 0;
	v->lines = n;
	v->page = h;
	copywin(v->pad, stdscr, v->scroll, 0, y0, 0, y0 + h - 1, COLS - 1, FALSE);
}

static int detail_key(tui *t, void *state, int key)
{
	detail_view *v = state;
	int page = v->page > 1 ? v->page - 1 : 1;
	switch (key) {
	case 27:
	case KEY_BACKSPACE:
	case 127:
	case KEY_LEFT:
		tui_pop(t);
		return 1;
	case KEY_DOWN:
	case 'j':
		v->scroll++; /* clamped by the next draw */
		return 1;
	case KEY_UP:
	case 'k':
		v->scroll = v->scroll > 0 ? v->scroll - 1 : 0;
		return 1;
	case KEY_NPAGE:
		v->scroll += page;
		return 1;
	case KEY_PPAGE:
		v->scroll = v->scroll > page ? v->scroll - page : 0;
		return 1;
	case KEY_HOME:
	case 'g':
		v->scroll = 0;
		return 1;
	case KEY_END:
	case 'G':
		v->scroll = v->lines;
		return 1;
	default:
		return 0;
	}
}

const tui_view_ops tui_detail_view = {.name = "detail",
                                      .draw = detail_draw,
                                      .key = detail_key,
                                      .free = detail_free,
                                      .work = detail_work};
