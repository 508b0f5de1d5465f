/*
 * detect_int.h - what the parts of the deadlock detector share (detect.h
 * is the interface; docs/DEADLOCKS.md the rules):
 *   detect.c         thresholds, names, the detector and its step
 *   detect_graph.c   the wait-for graph's owned edges, confirmation on the
 *                    live state, the incremental cycle search
 *   detect_stall.c   the stall fixpoint
 *   detect_report.c  the text of a verdict, reporting it once
 *   detect_lint.c    the lints
 */
#ifndef TS_DETECT_INT_H
#define TS_DETECT_INT_H

#include <stdint.h>
#include <stdlib.h>

#include "detect.h"
#include "idmap.h"
#include "util.h"

#define LINT_EVERY_NS 1000000000 /* periodic lints: once a second */
#define MAX_WARNINGS  10000
#define TEXT_HEAD     4    /* a long chain's text: its first links ... */
#define TEXT_TAIL     2    /* ... and its last */
#define MAX_RETRY     1024 /* cycles not confirmed, searched again at the next fixpoint */

typedef struct u64vec {
	uint64_t *p;
	size_t n, cap;
} u64vec;

static inline void vpush(u64vec *v, uint64_t x)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->p = xrealloc(v->p, v->cap * sizeof(*v->p));
	}
	v->p[v->n++] = x;
}

/* A likely stall waiting out hold_ns before it is reported. */
typedef struct pending {
	det_deadlock dl; /* members sorted by task id */
	uint32_t *seqs;  /* of the members' slots when first seen */
	int64_t first_ns;
	int seen; /* met again in the latest fixpoint */
} pending;

/* What a task was reported in. */
typedef struct reported {
	int64_t since_ns; /* the wait it was reported in */
	uint8_t verdict;
} reported;

struct det {
	model *m;
	det_config cfg;
	det_out out;
	det_live live;
	int have_live;
	u64vec dirty;     /* tasks that began an untimed owned wait since the last step */
	idmap reported;   /* task id -> reported */
	det_deadlock *dl; /* reported, in order */
	size_t ndl, capdl;
	pending *pend;
	size_t npend, cappend;
	idmap warns; /* task * 8 + kind -> det_warning */
	size_t nwarns;
	int64_t last_fix_ns; /* INT64_MIN: never */
	int64_t fix_gap_ns;  /* the least time to the next fixpoint */
	int64_t last_lint_ns;
	/* the periodic lint sweep in progress: the task ids it visits,
	 * LINT_SLICE a step (100k stuck tasks took one step 100+ ms, a pass
	 * of the collector that `top`'s keys wait for), and every task's waits
	 * summed once a sweep */
	uint64_t *lint_ids;
	size_t lint_n, lint_pos;
	model_hist lint_all;
	int lint_have_all;
	uint64_t waits_since_fix;
	int64_t cpu_ns;
	int64_t now_ns;
	/* find_cycles' working memory, kept between calls */
	idmap colour;  /* task id -> gen << 2 | colour (1 on the path, 2 done) */
	uintptr_t gen; /* colours of older generations count as none */
	u64vec edges;
	struct frame *stack;
	size_t capstack;
	u64vec retry; /* tasks of cycles not confirmed yet: searched again at each fixpoint */
	det_stats st;
};

static inline int det__alive(const model_task *t)
{
	return t && t->ended_ns < 0;
}

/* Is t blocked without a deadline on a wait the detector judges? */
static inline int det__untimed(const model_task *t)
{
	return det__alive(t) && t->cur.state == MS_BLOCKED && t->cur.deadline_ns < 0;
}

static inline int det__owned_wait(uint8_t k)
{
	return k == TSK_WAIT_MUTEX || k == TSK_WAIT_RWLOCK_RD || k == TSK_WAIT_RWLOCK_WR ||
	       k == TSK_WAIT_JOIN;
}

/* detect_graph.c: edges, members, confirmation, cycles */
void det__owned_edges(det *d, const model_task *t, u64vec *out);
void det__member_of(const model_task *t, det_member *m);
int det__confirm_read(det *d, const det_member *mem, size_t n, uint32_t *seqs);
int det__confirm_same(det *d, const det_member *mem, size_t n, const uint32_t *seqs);
int det__confirm_now(det *d, const det_member *mem, size_t n, int cycle);
void det__find_cycles(det *d, const uint64_t *starts, size_t nstarts);

/* detect_report.c: the text of a verdict, what was reported */
int det__cmp_u64(const void *a, const void *b);
int det__by_task(const void *a, const void *b);
int det__is_news(det *d, const det_member *mem, size_t n, uint8_t verdict);
int det__any_reported(det *d, const det_member *mem, size_t n);
void det__announce(det *d, det_deadlock *dl);
void det__dl_free(det_deadlock *dl);

/* detect_stall.c: the fixpoint */
void det__fixpoint(det *d);
void det__settle_pending(det *d, int force);

/* detect_lint.c: the lints */
/* A slice of the lint sweep (final: a whole new sweep); 1 once the sweep
 * is complete. */
int det__lints(det *d, int final);
void det__on_note(void *ctx, const model_note *n);

#endif /* TS_DETECT_INT_H */
