/*
 * test_e2e_kill.c - the flight recorder survives SIGKILL: end to end, the
 * real runtime writing, the reader library reading what a killed process
 * left behind.
 *
 * A child process runs a small program: task "holder" locks mutex "db" and
 * then waits forever on channel "never"; five "waiter" tasks block on "db";
 * the root joins the holder.  The parent watches the child's segment with
 * the reader library until every waiter shows as blocked on the mutex,
 * kills the child with SIGKILL, then opens the segment the dead process
 * left in /dev/shm and checks that it still tells the whole story: every
 * task with its name, parent and state, what each waits on (the mutex, the
 * channel, the joined task) and where, who holds the mutex, and the last
 * events (each waiter's BLOCK on the mutex, the holder's ACQUIRE).
 * With the probes compiled out (PROBES=0) the runtime makes no segment:
 * the binary passes without running the test, as test_res_probe does.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tsk_reader.h"
#include "tsk_test.h"

#define NWAITERS 5

static tsk_mutex *db;
static tsk_chan *never;

static void *holder(void *arg)
{
	int v;
	(void)arg;
	tsk_mutex_lock(db, TSK_FOREVER);
	tsk_set_state("holding db");
	tsk_chan_recv(never, &v, TSK_FOREVER); /* forever: nobody sends */
	return NULL;
}

static void *waiter(void *arg)
{
	(void)arg;
	tsk_mutex_lock(db, TSK_FOREVER);
	return NULL;
}

static void *child_root(void *arg)
{
	tsk_task *h;
	(void)arg;
	if (tsk_mutex_create(&db, "db") || tsk_chan_create(&never, "never", sizeof(int), 0))
		_exit(3);
	tsk_spawn(&h, "holder", holder, NULL);
	tsk_sleep(tsk_after_ms(20)); /* the holder takes the lock first */
	for (int i = 0; i < NWAITERS; i++)
		tsk_spawn(NULL, "waiter", waiter, NULL);
	tsk_join(h, NULL, TSK_FOREVER); /* forever */
	return NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Counts the tasks settled in their final waits: five on the mutex, plus
 * the holder on the channel and the root in its join (as 100 each). */
static int mutex_waiters(const tsk_rd_snap *s)
{
	int n = 0;
	for (size_t i = 0; i < s->ntasks; i++) {
		const tsk_seg_task *t = &s->tasks[i].slot;
		if (!t->id || t->state != TSK_TS_BLOCKED)
			continue;
		n += t->wait_kind == TSK_WAIT_MUTEX;
		n += t->wait_kind == TSK_WAIT_CHAN_RECV ? 100 : 0;
		n += t->wait_kind == TSK_WAIT_JOIN ? 100 : 0;
	}
	return n;
}

static const tsk_seg_task *find_task(const tsk_rd_snap *s, tsk_reader *r, const char *name, int nth)
{
	for (size_t i = 0; i < s->ntasks; i++) {
		const tsk_seg_task *t = &s->tasks[i].slot;
		if (t->id && strcmp(t->name, name) == 0 && nth-- == 0)
			return t;
	}
	(void)r;
	return NULL;
}

static const tsk_seg_res *find_res(const tsk_rd_snap *s, const char *name)
{
	for (size_t i = 0; i < s->nres; i++)
		if (s->res[i].slot.id && strcmp(s->res[i].slot.name, name) == 0)
			return &s->res[i].slot;
	return NULL;
}

struct evscan {
	uint64_t mutex_id, holder_id;
	int blocks_on_mutex; /* BLOCK events with obj == mutex */
	int holder_acquired; /* ACQUIRE by the holder on the mutex */
	int spawns;
};

static int scan_batch(void *ctx, uint32_t ring, const tsk_rd_rec *recs, size_t n)
{
	struct evscan *e = ctx;
	(void)ring;
	for (size_t i = 0; i < n; i++) {
		const tsk_seg_event *ev = &recs[i].ev;
		if (ev->type == TSK_EV_BLOCK && ev->obj == e->mutex_id && ev->a32 == TSK_WAIT_MUTEX)
			e->blocks_on_mutex++;
		if (ev->type == TSK_EV_ACQUIRE && ev->obj == e->mutex_id &&
		    ev->task == e->holder_id)
			e->holder_acquired++;
		if (ev->type == TSK_EV_SPAWN)
			e->spawns++;
	}
	return 0;
}

static void test_sigkill_leaves_the_story(void **state)
{
	(void)state;
	unsetenv("TASKSCOPE");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		tsk_config cfg = {.workers = 2};
		tsk_run(child_root, NULL, &cfg, NULL);
		_exit(0);
	}

	/* watch the live child until all five waiters are blocked on db */
	tsk_reader *r = NULL;
	tsk_rd_snap snap;
	int64_t give_up = now_ms() + 10000;
	int seen = 0;
	while (now_ms() < give_up) {
		if (!r && tsk_reader_open_pid(pid, 0, &r) != 0)
			r = NULL;
		if (r && tsk_reader_snap_take(r, &snap) == 0) {
			seen = mutex_waiters(&snap);
			tsk_reader_snap_free(&snap);
			if (seen == NWAITERS + 200)
				break;
		}
		usleep(10000);
	}
	if (r)
		tsk_reader_close(r);
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	assert_int_equal(seen, NWAITERS + 200);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	/* the dead process's segment */
	assert_int_equal(tsk_reader_open_pid(pid, 0, &r), 0);
	const char *path = tsk_reader_path(r);
	char saved_path[256];
	snprintf(saved_path, sizeof(saved_path), "%s", path);
	assert_int_equal(tsk_reader_snap_take(r, &snap), 0);
	assert_int_equal(snap.torn, 0);

	const tsk_seg_task *root = find_task(&snap, r, "root", 0);
	const tsk_seg_task *hold = find_task(&snap, r, "holder", 0);
	const tsk_seg_res *mx = find_res(&snap, "db");
	const tsk_seg_res *ch = find_res(&snap, "never");
	assert_non_null(root);
	assert_non_null(hold);
	assert_non_null(mx);
	assert_non_null(ch);
	assert_int_equal(mx->kind, TSK_RES_MUTEX);
	assert_int_equal(ch->kind, TSK_RES_CHAN);

	/* the root waits for the holder, the holder for the channel */
	assert_int_equal(root->state, TSK_TS_BLOCKED);
	assert_int_equal(root->wait_kind, TSK_WAIT_JOIN);
	assert_int_equal(root->wait_obj, hold->id);
	assert_int_equal(hold->parent, root->id);
	assert_int_equal(hold->state, TSK_TS_BLOCKED);
	assert_int_equal(hold->wait_kind, TSK_WAIT_CHAN_RECV);
	assert_int_equal(hold->wait_obj, ch->id);
	char buf[256];
	assert_true(tsk_reader_string(r, hold->label, buf, sizeof(buf)) >= 0);
	assert_string_equal(buf, "holding db");
	assert_true(tsk_reader_string(r, hold->wait_site, buf, sizeof(buf)) >= 0);
	assert_non_null(strstr(buf, "test_e2e_kill.c:"));
	assert_non_null(strstr(buf, "holder"));

	/* the mutex is held by the holder, with five waiters */
	assert_int_equal(mx->owner, hold->id);
	assert_int_equal(mx->waiters, NWAITERS);
	for (int i = 0; i < NWAITERS; i++) {
		const tsk_seg_task *w = find_task(&snap, r, "waiter", i);
		assert_non_null(w);
		assert_int_equal(w->state, TSK_TS_BLOCKED);
		assert_int_equal(w->wait_kind, TSK_WAIT_MUTEX);
		assert_int_equal(w->wait_obj, mx->id);
		assert_int_equal(w->parent, root->id);
		assert_true(tsk_reader_string(r, w->wait_site, buf, sizeof(buf)) >= 0);
		assert_non_null(strstr(buf, "waiter"));
	}
	assert_null(find_task(&snap, r, "waiter", NWAITERS));

	/* the last events are there too */
	struct evscan e = {.mutex_id = mx->id, .holder_id = hold->id};
	assert_true(tsk_reader_ring_drain(r, scan_batch, &e) > 0);
	assert_int_equal(e.blocks_on_mutex, NWAITERS);
	assert_int_equal(e.holder_acquired, 1);
	assert_int_equal(e.spawns, 2 + NWAITERS);

	tsk_reader_snap_free(&snap);
	tsk_reader_close(r);
	unlink(saved_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sigkill_leaves_the_story),
	};

#if defined(TSK_PROBES) && TSK_PROBES == 0
	puts("test_e2e_kill: probes compiled out (PROBES=0): the runtime records nothing");
	(void)tests;
	return 0;
#else
	return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
