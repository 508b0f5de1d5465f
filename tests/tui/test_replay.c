/*
 * test_replay.c - tests of tui/src/replay.c: a history written row by row
 * (the schema of db.c and its identity pragmas), whose state at every
 * instant is known, replayed at chosen times T:
 *
 *   time (ns)  0   10  30      120 130     400        700 710 720    1000
 *   root  #1   rdy run sleep---rdy run w1- join #2----rdy run recv ch2 -> (holds mx
 *                                          from 380; label "working" 120-700)
 *   w     #2   spawned 100: rdy, run 140 (holds mx 150-340), sleep 160-300, rdy, run
 *              310, rwlock_wr rw 350-600, rdy, run 605 (writes rw 605-650), ended 700
 *   r1    #3   spawned 100: rdy, run 180 (reads rw 200-500), recv ch 260-500, rdy (woke
 *              itself), run 520, sleep 560 -> (deadline 5000)
 *   r2    #4   spawned 100: rdy, run 240-600 (reads rw 250-590), rdy (yielded), run 640 ->
 *   late  #5   spawned 800: ready ->
 *   old   #6   before the history: unknown 0-50, run 50, sleep 70-90, rdy (timeout),
 *              run 92, ended 95 (held mutex "pre" from before the history to 90)
 *   z     #7   spawned 100, parts of zero length: ready 100-100, run 100-130, sleep
 *              130-150; rdy 150, run 160-160, sleep 160-300; rdy 300, run 310 ->
 *   lab   #8   spawned 100, labelled "working" 120-210: the label splits a run and a
 *              ready part in two spans each: rdy, run 110 | 120, sleep 130-200,
 *              rdy (woken) 200 | 210, run 220 ->
 *   zw    #9   spawned 100: rdy, run 105, a wait of 0 ns at 110, rdy (timeout), run 115 ->
 *   gap   #10  spawned 100: rdy, run 130-140, then nothing (a recorder killed before
 *              it wrote the next span)
 *
 * resources: mx (mutex) and rw (rwlock) from 0, ch (channel) 50-600, ch2
 * (channel) from 0, closed at 900, wg from 900, pre (mutex) from before the
 * history.  Deadlocks: #2 (likely stall) found at 300, #1 (definite
 * cycle) found at 480.  Warnings: stuck (first 400), long_poll (600).
 *
 * Each test checks the model replay_model_at builds at several T (states,
 * waits, counters, histograms, lock holders, ended tasks, resources),
 * replay_step, replay_history, the deadlocks and warnings by T; then that
 * nothing leaked (descriptors here, memory under ASan).
 */
#include <inttypes.h>

#include "inspector/history_test.h"

#include "replay.h"

typedef struct fixture {
	char dir[64];
	char db[128];
	replay *rp;
	int fds;
} fixture;

static void write_scenario(const char *path)
{
	sqlite3 *db = ht_create(path, 1);

	ht_exec(db,
	        "BEGIN;"
	        "INSERT INTO process(id, pid, name, source, workers, first_ns, last_ns, complete)"
	        " VALUES (1, 4242, 'synth', 'record', 2, 0, 1000, 1);"
	        "INSERT INTO strings VALUES (2, 'syn.c:20 wait_here'), (3, 'working'),"
	        " (4, 'lock+0x10');"
	        /* id, name, parent, location, function, spawned, ended, flags */
	        "INSERT INTO tasks(id, name, parent_id, location, function, spawned_ns, ended_ns,"
	        " flags) VALUES"
	        " (1, 'root', NULL, 'syn.c:1', 'main', 0, NULL, 4),"
	        " (2, 'w', 1, 'syn.c:2', 'root', 100, 700, 0),"
	        " (3, 'r1', 1, 'syn.c:3', 'root', 100, NULL, 0),"
	        " (4, 'r2', 1, 'syn.c:4', 'root', 100, NULL, 0),"
	        " (5, 'late', 1, 'syn.c:5', 'root', 800, NULL, 0),"
	        " (6, 'old', 1, 'syn.c:6', 'root', NULL, 95, 0),"
	        " (7, 'z', 1, 'syn.c:7', 'root', 100, NULL, 0),"
	        " (8, 'lab', 1, 'syn.c:8', 'root', 100, NULL, 0),"
	        " (9, 'zw', 1, 'syn.c:9', 'root', 100, NULL, 0),"
	        " (10, 'gap', 1, 'syn.c:10', 'root', 100, NULL, 0);"
	        /* task, state0, start, run, stop, end, worker, waker, how, wait, resource,
	           site, stack, deadline, label */
	        "INSERT INTO spans VALUES"
	        " (1, 1, 0, 10, 30, 120, 0, NULL, 0, 1, NULL, 2, NULL, 120, NULL),"
	        " (1, 1, 120, 130, 400, 700, 1, NULL, 2, 2, 2, 2, NULL, NULL, 3),"
	        " (1, 1, 700, 710, 720, NULL, 0, 2, 1, 4, 14, 2, 1, NULL, NULL),"
	        " (2, 1, 100, 140, 160, 300, 1, 1, 0, 1, NULL, 2, NULL, NULL, NULL),"
	        " (2, 1, 300, 310, 350, 600, 0, 3, 1, 8, 11, 2, NULL, NULL, NULL),"
	        " (2, 1, 600, 605, NULL, 700, 1, 4, 1, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (3, 1, 100, 180, 260, 500, 0, 1, 0, 4, 12, 2, NULL, NULL, NULL),"
	        " (3, 1, 500, 520, 560, NULL, 0, 3, 1, 1, NULL, 2, NULL, 5000, NULL),"
	        " (4, 1, 100, 240, NULL, 600, 1, 1, 0, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (4, 1, 600, 640, NULL, NULL, 0, NULL, 4, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (5, 1, 800, NULL, NULL, NULL, NULL, 1, 0, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (6, 0, 0, NULL, NULL, 50, NULL, NULL, 5, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (6, 2, 50, 50, 70, 90, 0, NULL, NULL, 1, NULL, 2, NULL, NULL, NULL),"
	        " (6, 1, 90, 92, NULL, 95, 0, NULL, 2, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (7, 1, 100, 100, 130, 150, 1, 1, 0, 1, NULL, 2, NULL, NULL, NULL),"
	        " (7, 1, 150, 160, 160, 300, 1, NULL, 2, 1, NULL, 2, NULL, NULL, NULL),"
	        " (7, 1, 300, 310, NULL, NULL, 1, NULL, 2, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (8, 1, 100, 110, NULL, 120, 0, 1, 0, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (8, 2, 120, 120, 130, 200, 0, NULL, NULL, 1, NULL, 2, NULL, NULL, 3),"
	        " (8, 1, 200, NULL, NULL, 210, NULL, 1, 1, NULL, NULL, NULL, NULL, NULL, 3),"
	        " (8, 1, 210, 220, NULL, NULL, 0, 1, 1, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (9, 1, 100, 105, 110, 110, 1, 1, 0, 1, NULL, 2, NULL, NULL, NULL),"
	        " (9, 1, 110, 115, NULL, NULL, 1, NULL, 2, NULL, NULL, NULL, NULL, NULL, NULL),"
	        " (10, 1, 100, 130, NULL, 140, 1, 1, 0, NULL, NULL, NULL, NULL, NULL, NULL);"
	        "INSERT INTO resources(id, kind, name, location, created_ns, freed_ns, capacity)"
	        " VALUES (10, 'mutex', 'mx', 'syn.c:10', 0, NULL, NULL),"
	        " (11, 'rwlock', 'rw', 'syn.c:11', 0, NULL, NULL),"
	        " (12, 'channel', 'ch', 'syn.c:12', 50, 600, 4),"
	        " (13, 'waitgroup', 'wg', 'syn.c:13', 900, NULL, NULL),"
	        " (14, 'channel', 'ch2', 'syn.c:14', 0, NULL, NULL),"
	        " (15, 'mutex', 'pre', 'syn.c:15', NULL, NULL, NULL);"
	        "INSERT INTO ownership VALUES (10, 2, 0, 150, 340), (10, 1, 0, 380, NULL),"
	        " (11, 3, 1, 200, 500), (11, 4, 1, 250, 590), (11, 2, 0, 605, 650),"
	        " (15, 6, 0, NULL, 90);"
	        "INSERT INTO events VALUES (900, 'close', 1, 14, NULL);"
	        "INSERT INTO stacks VALUES (1, 2);"
	        "INSERT INTO frames VALUES (1, 0, 4096, 4), (1, 1, 8192, NULL);"
	        "INSERT INTO deadlocks VALUES"
	        " (1, 'definite', 'cycle', 450, 480, 2, '[]', 'w and r1: a cycle'),"
	        " (2, 'likely', 'stall', 250, 300, 1, '[]', 'r1 on ch: a stall');"
	        "INSERT INTO deadlock_tasks VALUES (1, 0, 2, 8, 11, 2, NULL, 350, '[3]'),"
	        " (1, 1, 3, 4, 12, 2, NULL, 260, '[2]'), (2, 0, 3, 4, 12, 2, NULL, 260, '[]');"
	        "INSERT INTO warnings VALUES (1, 'long_poll', 4, NULL, 600, 640, 1, 360, 'ran'),"
	        " (2, 'stuck', 3, 12, 400, 500, 1, 100, 'stuck');"
	        "COMMIT;");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";

	assert_non_null(f);
	f->fds = ht_fd_count();
	strcpy(f->dir, "/tmp/tsk-replay-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/h.db", f->dir);
	write_scenario(f->db);
	f->rp = replay_open(f->db, err, sizeof(err));
	if (!f->rp)
		fail_msg("replay_open: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	replay_close(f->rp);
	unlink(f->db);
	rmdir(f->dir);
	assert_int_equal(ht_fd_count(), f->fds);
	free(f);
	return 0;
}

/* The task id at T, which must be known. */
static model_task *task_at(fixture *f, int64_t T, uint64_t id)
{
	model_task *k = model_task_get(replay_model_at(f->rp, T), id);
	if (!k)
		fail_msg("task %" PRIu64 " unknown at %" PRId64, id, T);
	return k;
}

/* The resource id at T (NULL if it does not exist then). */
static model_res *res_at(fixture *f, int64_t T, uint64_t id)
{
	return model_res_get(replay_model_at(f->rp, T), id);
}

static void test_open(void **state)
{
	fixture *f = *state;
	char buf[64];
	tsk_seg_stack st;

	assert_string_equal(replay_program(f->rp), "synth");
	assert_int_equal(replay_pid(f->rp), 4242);
	assert_int_equal(replay_workers(f->rp), 2);
	assert_int_equal(replay_first_ns(f->rp), 0);
	assert_int_equal(replay_last_ns(f->rp), 1000);
	assert_int_equal(replay_nspans(f->rp), 24);
	assert_int_equal(replay_string(f->rp, 3, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "working");
	assert_int_equal(replay_string(f->rp, 999, buf, sizeof(buf)), -1);
	assert_int_equal(replay_string(f->rp, 0, buf, sizeof(buf)), -1);
	/* the spawn site: location and function, interned */
	model_task *k = task_at(f, 0, 1);
	assert_int_equal(replay_string(f->rp, k->spawn_site, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "syn.c:1 main");
	assert_int_equal(replay_stack(f->rp, 1, &st), 0);
	assert_int_equal(st.nframes, 2);
	assert_int_equal(st.frames[0].pc, 4096);
	assert_int_equal(st.frames[0].sym, 4);
	assert_int_equal(st.frames[1].pc, 8192);
	assert_int_equal(st.frames[1].sym, 0);
	assert_int_equal(replay_stack(f->rp, 2, &st), -1);
}

/* Which tasks exist at T: spawned by then, not before the history's
 * first sight of one spawned before it. */
static void test_tasks_alive(void **state)
{
	fixture *f = *state;
	model *m = replay_model_at(f->rp, 0);
	model_stats ms;

	assert_non_null(model_task_get(m, 1));
	assert_non_null(model_task_get(m, 6)); /* from before the history, seen at 0 */
	for (uint64_t id = 2; id <= 5; id++)
		assert_null(model_task_get(m, id));
	m = replay_model_at(f->rp, 99);
	assert_null(model_task_get(m, 2));
	m = replay_model_at(f->rp, 100);
	for (uint64_t id = 2; id <= 4; id++)
		assert_non_null(model_task_get(m, id));
	assert_non_null(model_task_get(m, 7));
	assert_null(model_task_get(m, 5));
	assert_null(model_task_get(replay_model_at(f->rp, 799), 5));
	model_task *k = task_at(f, 800, 5);
	assert_int_equal(k->cur.state, MS_READY);
	assert_int_equal(k->cur.start_ns, 800);
	assert_int_equal(k->spawned_ns, 800);
	assert_int_equal(k->parent, 1);
	assert_string_equal(k->name, "late");

	/* at the end: 8 alive (root, r1 blocked; r2, z, lab, zw running;
	 * late, gap ready), w and old ended */
	m = replay_model_at(f->rp, 1000);
	model_get_stats(m, &ms);
	assert_int_equal(ms.by_state[MS_RUNNING], 4);
	assert_int_equal(ms.by_state[MS_READY], 2);
	assert_int_equal(ms.by_state[MS_BLOCKED], 2);
	assert_int_equal(ms.by_state[MS_DONE], 2);
}

/* The state, wait and ready details of the part that covers T, at the
 * edges of the parts. */
static void test_states(void **state)
{
	fixture *f = *state;
	model_task *k;

	k = task_at(f, 0, 1);
	assert_int_equal(k->cur.state, MS_READY);
	assert_int_equal(k->cur.how, MR_SPAWNED);
	assert_int_equal(task_at(f, 9, 1)->cur.state, MS_READY);
	k = task_at(f, 10, 1);
	assert_int_equal(k->cur.state, MS_RUNNING);
	assert_int_equal(k->cur.start_ns, 10);
	assert_int_equal(k->cur.worker, 0);
	assert_int_equal(task_at(f, 29, 1)->cur.state, MS_RUNNING);
	k = task_at(f, 30, 1);
	assert_int_equal(k->cur.state, MS_BLOCKED);
	assert_int_equal(k->cur.start_ns, 30);
	assert_int_equal(k->cur.wait_kind, TSK_WAIT_SLEEP);
	assert_int_equal(k->cur.site, 2);
	assert_int_equal(k->cur.deadline_ns, 120);
	assert_int_equal(task_at(f, 119, 1)->cur.state, MS_BLOCKED);
	/* woken by its timeout at 120: the next span's ready part */
	k = task_at(f, 120, 1);
	assert_int_equal(k->cur.state, MS_READY);
	assert_int_equal(k->cur.start_ns, 120);
	assert_int_equal(k->cur.how, MR_TIMEOUT);
	assert_int_equal(k->cur.label, 3);
	k = task_at(f, 450, 1);
	assert_int_equal(k->cur.state, MS_BLOCKED);
	assert_int_equal(k->cur.wait_kind, TSK_WAIT_JOIN);
	assert_int_equal(k->cur.obj, 2);
	assert_int_equal(k->cur.start_ns, 400);
	assert_int_equal(k->cur.deadline_ns, -1);
	/* woken by w, which has ended */
	k = task_at(f, 705, 1);
	assert_int_equal(k->cur.state, MS_READY);
	assert_int_equal(k->cur.how, MR_WOKEN);
	assert_int_equal(k->cur.obj, 2);
	assert_int_equal(k->cur.label, 0);
	k = task_at(f, 800, 1);
	assert_int_equal(k->cur.state, MS_BLOCKED);
	assert_int_equal(k->cur.wait_kind, TSK_WAIT_CHAN_RECV);
	assert_int_equal(k->cur.obj, 14);
	assert_int_equal(k->cur.stack, 1);
	assert_int_equal(k->cur.start_ns, 720);

	/* r1 on ch: in the channel's wait queue; then asleep with a deadline */
	model *m = replay_model_at(f->rp, 300);
	k = model_task_get(m, 3);
	assert_non_null(k);
	assert_int_equal(k->cur.state, MS_BLOCKED);
	assert_int_equal(k->cur.wait_kind, TSK_WAIT_CHAN_RECV);
	assert_int_equal(k->cur.obj, 12);
	model_res *r = model_res_get(m, 12);
	assert_non_null(r);
	assert_int_equal(r->nwq, 1);
	assert_int_equal(r->wq[0], 3);
	k = task_at(f, 600, 3);
	assert_int_equal(k->cur.state, MS_BLOCKED);
	assert_int_equal(k->cur.wait_kind, TSK_WAIT_SLEEP);
	assert_int_equal(k->cur.deadline_ns, 5000);
	/* r2 yielded at 600 */
	k = task_at(f, 600, 4);
	assert_int_equal(k->cur.state, MS_READY);
	assert_int_equal(k->cur.how, MR_YIELDED);
	assert_int_equal(task_at(f, 599, 4)->cur.state, MS_RUNNING);
	k = task_at(f, 1000, 4);
	assert_int_equal(k->cur.state, MS_RUNNING);
	assert_int_equal(k->cur.start_ns, 640);
	assert_int_equal(k->cur.worker, 0);

	/* gap: after its last span, ready (not running) from its end, how
	 * unknown */
	assert_int_equal(task_at(f, 139, 10)->cur.state, MS_RUNNING);
	k = task_at(f, 500, 10);
	assert_int_equal(k->cur.state, MS_READY);
	assert_int_equal(k->cur.start_ns, 140);
	assert_int_equal(k->cur.how, MR_UNSEEN);
	assert_int_equal(k->busy_ns, 10);

	/* zero-length parts: z runs at once, and blocks at once */
	k = task_at(f, 100, 7);
	assert_int_equal(k->cur.state, MS_RUNNING);
	assert_int_equal(k->cur.start_ns, 100);
	k = task_at(f, 160, 7);
	assert_int_equal(k->cur.state, MS_BLOCKED);
	assert_int_equal(k->cur.start_ns, 160);
}

/* Ended tasks: done from their end, with what they did counted. */
static void test_ended(void **state)
{
	fixture *f = *state;
	model_task *k;

	k = task_at(f, 699, 2);
	assert_int_equal(k->cur.state, MS_RUNNING);
	assert_int_equal(k->ended_ns, -1);
	assert_string_equal(tui_state_name(k), "running");
	k = task_at(f, 700, 2);
	assert_int_equal(k->ended_ns, 700);
	assert_string_equal(tui_state_name(k), "done");
	assert_int_equal(k->polls, 3);
	assert_int_equal(k->busy_ns, 20 + 40 + 95);
	k = task_at(f, 95, 6);
	assert_int_equal(k->ended_ns, 95);
	assert_int_equal(task_at(f, 94, 6)->ended_ns, -1);
	assert_int_equal(task_at(f, 94, 6)->cur.state, MS_RUNNING);
}

/* Counters and histograms summed over the parts before T, the open part
 * up to T. */
static void test_counters(void **state)
{
	fixture *f = *state;
	model_task *k;

	/* root at 35: ready 0-10, ran 10-30, asleep since 30 */
	k = task_at(f, 35, 1);
	assert_int_equal(k->polls, 1);
	assert_int_equal(k->busy_ns, 20);
	assert_int_equal(k->sched_ns, 10);
	assert_int_equal(k->idle_ns, 5);
	assert_int_equal(k->wakes, 0);
	assert_int_equal(k->run.n, 1);
	assert_int_equal(k->run.count[4], 1); /* 20 ns: [16, 32) */
	assert_int_equal(k->run.max_ns, 20);
	assert_int_equal(k->wait.n, 0); /* the wait is still going */

	/* at 5, ready for 5 ns; at 10, a run of 0 ns so far */
	k = task_at(f, 5, 1);
	assert_int_equal(k->sched_ns, 5);
	assert_int_equal(k->polls, 0);
	k = task_at(f, 10, 1);
	assert_int_equal(k->sched_ns, 10);
	assert_int_equal(k->polls, 1);
	assert_int_equal(k->busy_ns, 0);
	/* at 20, the run is still going: counted, not in the histogram */
	k = task_at(f, 20, 1);
	assert_int_equal(k->polls, 1);
	assert_int_equal(k->busy_ns, 10);
	assert_int_equal(k->run.n, 0);
	k = task_at(f, 30, 1);
	assert_int_equal(k->run.n, 1);
	assert_int_equal(k->idle_ns, 0);
	/* a wait is in the histogram from its end on */
	assert_int_equal(task_at(f, 119, 1)->wait.n, 0);
	k = task_at(f, 120, 1);
	assert_int_equal(k->wait.n, 1);
	assert_int_equal(k->wait.count[6], 1);
	assert_int_equal(k->idle_ns, 90);
	/* zw: a wait of 0 ns, ended at 110 */
	assert_int_equal(task_at(f, 109, 9)->wait.n, 0);
	k = task_at(f, 110, 9);
	assert_int_equal(k->cur.state, MS_READY);
	assert_int_equal(k->cur.how, MR_TIMEOUT);
	assert_int_equal(k->wait.n, 1);
	assert_int_equal(k->wait.count[0], 1);
	assert_int_equal(k->idle_ns, 0);
	assert_int_equal(k->busy_ns, 5);

	/* root at the end */
	k = task_at(f, 1000, 1);
	assert_int_equal(k->polls, 3);
	assert_int_equal(k->busy_ns, 20 + 270 + 10);
	assert_int_equal(k->sched_ns, 10 + 10 + 10);
	assert_int_equal(k->idle_ns, 90 + 300 + 280);
	assert_int_equal(k->wakes, 2); /* the timeout and w's wake; the spawn is none */
	assert_int_equal(k->self_wakes, 0);
	assert_int_equal(k->run.n, 3);
	assert_int_equal(k->run.count[3], 1); /* 10 */
	assert_int_equal(k->run.count[4], 1); /* 20 */
	assert_int_equal(k->run.count[8], 1); /* 270: [256, 512) */
	assert_int_equal(k->run.sum_ns, 300);
	assert_int_equal(k->wait.n, 2);
	assert_int_equal(k->wait.count[6], 1); /* 90: [64, 128) */
	assert_int_equal(k->wait.count[8], 1); /* 300 */
	assert_int_equal(k->wait.max_ns, 300);
	assert_int_equal(k->max_wait_at_ns, 400);

	/* r1 woke itself; r2's yield is no wake */
	k = task_at(f, 1000, 3);
	assert_int_equal(k->wakes, 1);
	assert_int_equal(k->self_wakes, 1);
	k = task_at(f, 1000, 4);
	assert_int_equal(k->wakes, 0);
	assert_int_equal(k->polls, 2);
	assert_int_equal(k->busy_ns, 360 + 360);
	assert_int_equal(k->sched_ns, 140 + 40);
	assert_int_equal(k->idle_ns, 0);

	/* z: a part of zero length counts zero, and its neighbours their own */
	k = task_at(f, 1000, 7);
	assert_int_equal(k->polls, 3);
	assert_int_equal(k->busy_ns, 30 + 0 + 690);
	assert_int_equal(k->sched_ns, 0 + 10 + 10);
	assert_int_equal(k->idle_ns, 20 + 140);
	assert_int_equal(k->run.n, 2);
	assert_int_equal(k->run.count[0], 1); /* the run of 0 ns */
	assert_int_equal(k->run.count[4], 1); /* 30 */
	assert_int_equal(k->run.max_ns, 30);
	assert_int_equal(k->wait.n, 2);
	assert_int_equal(k->wait.count[4], 1); /* 20 */
	assert_int_equal(k->wait.count[7], 1); /* 140: [128, 256) */

	/* lab: a label change is no new run or wake (the model counts a poll
	 * at a RUN, a wake at a WAKE), but the halves are two runs in the
	 * histogram, as in the model (a label closes an interval) */
	k = task_at(f, 1000, 8);
	assert_int_equal(k->polls, 2);
	assert_int_equal(k->wakes, 1);
	assert_int_equal(k->busy_ns, 10 + 10 + 780);
	assert_int_equal(k->sched_ns, 10 + 10 + 10);
	assert_int_equal(k->idle_ns, 70);
	assert_int_equal(k->run.n, 2);
	assert_int_equal(k->run.count[3], 2);
	k = task_at(f, 125, 8);
	assert_int_equal(k->cur.state, MS_RUNNING);
	assert_int_equal(k->cur.label, 3);
	assert_int_equal(k->polls, 1);
	model_worker *w = model_worker_get(replay_model_at(f->rp, 125), 0);
	assert_non_null(w);
	assert_int_equal(w->task, 8);
	assert_int_equal(w->polls, 4); /* root at 10, old at 50 and 92, lab at 110 */
	/* old: the unknown part before its first event is not time ready
	 * (docs/SCHEMA.md: sched_ns is time ready, waiting for a worker) */
	k = task_at(f, 1000, 6);
	assert_int_equal(k->polls, 2);
	assert_int_equal(k->busy_ns, 20 + 3);
	assert_int_equal(k->sched_ns, 2);
	assert_int_equal(k->idle_ns, 20);
	assert_int_equal(k->wakes, 1);
}

/* The workers: known from the start, their runs counted up to T. */
static void test_workers(void **state)
{
	fixture *f = *state;
	model *m = replay_model_at(f->rp, 15);
	model_stats ms;

	model_get_stats(m, &ms);
	assert_int_equal(ms.nworkers, 2);
	model_worker *w = model_worker_get(m, 0);
	assert_non_null(w);
	assert_int_equal(w->task, 1);
	assert_int_equal(w->polls, 1);
	assert_int_equal(w->busy_ns, 5);
	w = model_worker_get(replay_model_at(f->rp, 35), 0);
	assert_non_null(w);
	assert_int_equal(w->task, 0);
	assert_int_equal(w->busy_ns, 20);
}

/* Lock holders from the ownerships open at T: [start, end). */
static void test_holders(void **state)
{
	fixture *f = *state;
	model_res *r;

	r = res_at(f, 149, 10);
	assert_non_null(r);
	assert_int_equal(r->nholds, 0);
	r = res_at(f, 150, 10);
	assert_int_equal(r->nholds, 1);
	assert_int_equal(r->holds[0].task, 2);
	assert_int_equal(r->holds[0].shared, 0);
	assert_int_equal(res_at(f, 339, 10)->nholds, 1);
	assert_int_equal(res_at(f, 340, 10)->nholds, 0);
	r = res_at(f, 1000, 10);
	assert_int_equal(r->nholds, 1);
	assert_int_equal(r->holds[0].task, 1);
	/* the model's view of a holder: the task holds it */
	model_task *k = model_task_get(replay_model_at(f->rp, 400), 1);
	assert_non_null(k);
	assert_int_equal(k->nholds, 1);
	assert_int_equal(k->held[0], 10);

	/* the rwlock: readers, then a writer */
	assert_int_equal(res_at(f, 199, 11)->nholds, 0);
	r = res_at(f, 200, 11);
	assert_int_equal(r->nholds, 1);
	assert_int_equal(r->holds[0].task, 3);
	assert_int_equal(r->holds[0].shared, 1);
	r = res_at(f, 260, 11);
	assert_int_equal(r->nholds, 2);
	assert_int_equal(r->holds[0].shared + r->holds[1].shared, 2);
	assert_int_equal(r->holds[0].task + r->holds[1].task, 3 + 4);
	r = res_at(f, 500, 11);
	assert_int_equal(r->nholds, 1);
	assert_int_equal(r->holds[0].task, 4);
	assert_int_equal(res_at(f, 590, 11)->nholds, 0);
	r = res_at(f, 605, 11);
	assert_int_equal(r->nholds, 1);
	assert_int_equal(r->holds[0].task, 2);
	assert_int_equal(r->holds[0].shared, 0);
	assert_int_equal(res_at(f, 650, 11)->nholds, 0);

	/* held since before the history, released at 90 */
	r = res_at(f, 0, 15);
	assert_non_null(r);
	assert_int_equal(r->nholds, 1);
	assert_int_equal(r->holds[0].task, 6);
	assert_int_equal(res_at(f, 89, 15)->nholds, 1);
	assert_int_equal(res_at(f, 90, 15)->nholds, 0);
}

/* Resources exist from their creation to their free; closed from the
 * close. */
static void test_resources(void **state)
{
	fixture *f = *state;
	model_res *r;

	assert_null(res_at(f, 49, 12));
	r = res_at(f, 50, 12);
	assert_non_null(r);
	assert_int_equal(r->kind, TSK_RES_CHAN);
	assert_string_equal(r->name, "ch");
	assert_int_equal(r->capacity, 4);
	assert_non_null(res_at(f, 599, 12));
	assert_null(res_at(f, 600, 12));
	assert_null(res_at(f, 899, 13));
	r = res_at(f, 900, 13);
	assert_non_null(r);
	assert_int_equal(r->kind, TSK_RES_WG);
	r = res_at(f, 0, 15); /* created before the history */
	assert_non_null(r);
	assert_int_equal(r->kind, TSK_RES_MUTEX);
	assert_int_equal(res_at(f, 899, 14)->closed, 0);
	assert_int_equal(res_at(f, 900, 14)->closed, 1);
	r = res_at(f, 0, 10);
	assert_non_null(r);
	char buf[64];
	assert_int_equal(replay_string(f->rp, r->site, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "syn.c:10");
}

/* replay_step: the nearest part boundary of any task after or before T. */
static void test_step(void **state)
{
	fixture *f = *state;
	/* every boundary of the scenario, in order */
	static const int64_t times[] = {0,   10,  30,  50,  70,  90,  92,  95,  100, 105,
	                                110, 115, 120, 130, 140, 150, 160, 180, 200, 210,
	                                220, 240, 260, 300, 310, 350, 400, 500, 520, 560,
	                                600, 605, 640, 700, 710, 720, 800};
	size_t n = sizeof(times) / sizeof(times[0]);

	for (size_t i = 0; i + 1 < n; i++) {
		assert_int_equal(replay_step(f->rp, times[i], 1), times[i + 1]);
		assert_int_equal(replay_step(f->rp, times[i + 1], -1), times[i]);
		if (times[i + 1] - times[i] > 1) {
			assert_int_equal(replay_step(f->rp, times[i] + 1, 1), times[i + 1]);
			assert_int_equal(replay_step(f->rp, times[i] + 1, -1), times[i]);
		}
	}
	/* nothing beyond: T itself */
	assert_int_equal(replay_step(f->rp, 800, 1), 800);
	assert_int_equal(replay_step(f->rp, 1000, 1), 1000);
	assert_int_equal(replay_step(f->rp, 1000, -1), 800);
	assert_int_equal(replay_step(f->rp, 0, -1), 0);
	assert_int_equal(replay_step(f->rp, -5, -1), -5);
	assert_int_equal(replay_step(f->rp, -5, 1), 0);
}

/* replay_history: the parts that ended by T, oldest first. */
static void test_history(void **state)
{
	fixture *f = *state;
	tui_span s[TUI_SPANS];
	/* (start, end, state, wait kind of a blocked part) */
	static const struct {
		int64_t start_ns, end_ns;
		uint8_t state, wait_kind;
	} root[] = {
	        {0, 10, MS_READY, 0},      {10, 30, MS_RUNNING, 0},
	        {30, 120, MS_BLOCKED, 1},  {120, 130, MS_READY, 0},
	        {130, 400, MS_RUNNING, 0}, {400, 700, MS_BLOCKED, TSK_WAIT_JOIN},
	        {700, 710, MS_READY, 0},   {710, 720, MS_RUNNING, 0},
	};
	size_t n = replay_history(f->rp, 1, 1000, s, TUI_SPANS);

	assert_int_equal(n, 8);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(s[i].start_ns, root[i].start_ns);
		assert_int_equal(s[i].end_ns, root[i].end_ns);
		assert_int_equal(s[i].state, root[i].state);
		if (root[i].state == MS_BLOCKED)
			assert_int_equal(s[i].wait_kind, root[i].wait_kind);
	}
	/* at most cap, the newest */
	n = replay_history(f->rp, 1, 1000, s, 3);
	assert_int_equal(n, 3);
	assert_int_equal(s[0].start_ns, 400);
	assert_int_equal(s[2].start_ns, 710);
	/* the part still open at T is not there; one ending at T is */
	n = replay_history(f->rp, 1, 125, s, TUI_SPANS);
	assert_int_equal(n, 3);
	assert_int_equal(s[2].end_ns, 120);
	n = replay_history(f->rp, 1, 120, s, TUI_SPANS);
	assert_int_equal(n, 3);
	n = replay_history(f->rp, 1, 119, s, TUI_SPANS);
	assert_int_equal(n, 2);
	assert_int_equal(s[1].end_ns, 30);
	/* zero-length parts are parts */
	n = replay_history(f->rp, 7, 1000, s, TUI_SPANS);
	assert_int_equal(n, 7);
	assert_int_equal(s[0].start_ns, 100);
	assert_int_equal(s[0].end_ns, 100);
	assert_int_equal(s[0].state, MS_READY);
	assert_int_equal(s[4].start_ns, 160);
	assert_int_equal(s[4].end_ns, 160);
	assert_int_equal(s[4].state, MS_RUNNING);
	/* before the task, an unknown task, no room */
	assert_int_equal(replay_history(f->rp, 5, 799, s, TUI_SPANS), 0);
	assert_int_equal(replay_history(f->rp, 99, 1000, s, TUI_SPANS), 0);
	assert_int_equal(replay_history(f->rp, 1, 1000, s, 0), 0);
}

static void count_warning(void *ctx, const det_warning *w)
{
	int *n = ctx;
	assert_true(w->kind == DL_STUCK || w->kind == DL_LONG_POLL);
	(*n)++;
}

/* Deadlocks in the order found, counted by T; warnings first seen by T. */
static void test_deadlocks(void **state)
{
	fixture *f = *state;
	const det_deadlock *d;

	assert_int_equal(replay_ndeadlocks(f->rp, 0), 0);
	assert_int_equal(replay_ndeadlocks(f->rp, 299), 0);
	assert_int_equal(replay_ndeadlocks(f->rp, 300), 1);
	assert_int_equal(replay_ndeadlocks(f->rp, 479), 1);
	assert_int_equal(replay_ndeadlocks(f->rp, 480), 2);
	assert_int_equal(replay_ndeadlocks(f->rp, 1000), 2);
	d = replay_deadlock(f->rp, 0);
	assert_non_null(d);
	assert_int_equal(d->id, 2);
	assert_int_equal(d->verdict, DET_LIKELY);
	assert_int_equal(d->kind, DET_STALL);
	assert_int_equal(d->found_ns, 300);
	assert_int_equal(d->ntasks, 1);
	d = replay_deadlock(f->rp, 1);
	assert_non_null(d);
	assert_int_equal(d->id, 1);
	assert_int_equal(d->verdict, DET_DEFINITE);
	assert_int_equal(d->kind, DET_CYCLE);
	assert_int_equal(d->closed_ns, 450);
	assert_string_equal(d->text, "w and r1: a cycle");
	assert_int_equal(d->ntasks, 2);
	assert_int_equal(d->tasks[0].task, 2);
	assert_int_equal(d->tasks[0].wait_kind, TSK_WAIT_RWLOCK_WR);
	assert_int_equal(d->tasks[0].obj, 11);
	assert_int_equal(d->tasks[0].site, 2);
	assert_int_equal(d->tasks[0].since_ns, 350);
	assert_int_equal(d->tasks[1].task, 3);
	assert_int_equal(d->tasks[1].obj, 12);
	assert_null(replay_deadlock(f->rp, 2));

	int n = 0;
	replay_each_warning(f->rp, 399, count_warning, &n);
	assert_int_equal(n, 0);
	replay_each_warning(f->rp, 400, count_warning, &n);
	assert_int_equal(n, 1);
	n = 0;
	replay_each_warning(f->rp, 1000, count_warning, &n);
	assert_int_equal(n, 2);
}

/* A dump's detector confirms a deadlock after the dump's last event: the
 * history reaches to it, so that the end shows it. */
static void test_found_after_end(void **state)
{
	fixture *f = *state;
	char err[256] = "";
	sqlite3 *db;

	replay_close(f->rp);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	ht_exec(db, "UPDATE deadlocks SET found_ns = 1500 WHERE id = 1;");
	sqlite3_close(db);
	f->rp = replay_open(f->db, err, sizeof(err));
	assert_non_null(f->rp);
	assert_int_equal(replay_first_ns(f->rp), 0);
	assert_int_equal(replay_last_ns(f->rp), 1500);
	assert_int_equal(replay_ndeadlocks(f->rp, 1499), 1);
	assert_int_equal(replay_ndeadlocks(f->rp, replay_last_ns(f->rp)), 2);
	/* the tasks at the new end are those at the last event */
	model_task *k = task_at(f, 1500, 1);
	assert_int_equal(k->cur.state, MS_BLOCKED);
	assert_int_equal(k->cur.wait_kind, TSK_WAIT_CHAN_RECV);
}

/* Moving back and forth gives the same model as going there at once. */
static void test_rebuild(void **state)
{
	fixture *f = *state;

	model_task *k = task_at(f, 1000, 1);
	uint64_t busy = k->busy_ns, idle = k->idle_ns;
	task_at(f, 35, 1);
	k = task_at(f, 1000, 1);
	assert_int_equal(k->busy_ns, busy);
	assert_int_equal(k->idle_ns, idle);
	assert_int_equal(res_at(f, 1000, 10)->nholds, 1);
}

/* What replay_open refuses, with a message. */
static void test_refusals(void **state)
{
	fixture *f = *state;
	char path[160], err[256] = "";

	snprintf(path, sizeof(path), "%s/empty.db", f->dir);
	sqlite3_close(ht_create(path, 0));
	assert_null(replay_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, "no process row"));
	unlink(path);
	err[0] = 0;
	snprintf(path, sizeof(path), "%s/missing.db", f->dir);
	assert_null(replay_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, "missing.db"));
	/* a table the replay reads is gone */
	snprintf(path, sizeof(path), "%s/gutted.db", f->dir);
	write_scenario(path);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	ht_exec(db, "DROP TABLE ownership;");
	sqlite3_close(db);
	err[0] = 0;
	assert_null(replay_open(path, err, sizeof(err)));
	assert_true(err[0] != 0);
	assert_null(strchr(err, '\n'));
	unlink(path);
	replay_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_open, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_tasks_alive, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_states, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_ended, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_workers, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_holders, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_resources, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_step, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_history, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_deadlocks, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_found_after_end, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rebuild, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
