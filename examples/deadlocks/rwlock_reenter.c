/*
 * rwlock_reenter.c - a read lock taken twice with a writer in between:
 * task "reader" read-locks "table"; task "writer" asks for the write lock
 * and queues; the reader then asks for a second read lock.  tsk_rwlock is
 * writer-preferring (a queued writer stops new readers, rwlock.c), so the
 * reader waits behind the writer, which waits for the reader's first read
 * lock to go.
 *
 * The order: the root spawns the writer once the reader holds its read
 * lock (its first note); the reader knows the writer has queued when
 * tsk_rwlock_tryrdlock starts to fail with -EBUSY (it only fails with a
 * writer queued, since nobody holds the write lock); it then makes its
 * last call.  The root joins the reader.
 *
 * The inspector must say: one deadlock, definite, a cycle of {reader,
 * writer}: writer waits on rwlock "table" (write), blocked by reader, a
 * holder of a read lock; reader waits on "table" (read), blocked by the
 * queued writer.
 *
 * Usage: rwlock_reenter [--delay MS] (see zoo.h; "ready pid <pid>" once
 * deadlocked)
 * Exit status: never exits by itself; 1 a runtime error, 2 bad usage.
 */
#define ZOO_PROG "rwlock_reenter"
#include "zoo.h"

struct rwlock_reenter {
	tsk_rwlock *table;
	atomic_int holds; /* the reader holds its first read lock */
	atomic_int noted; /* tasks at their last call */
};

static struct rwlock_reenter rr;

static void *reader(void *arg)
{
	int rc;

	(void)arg;
	ZOO_TRY(tsk_rwlock_rdlock(rr.table, TSK_FOREVER));
	zoo_note(&rr.holds);
	/* until the writer has queued */
	while ((rc = tsk_rwlock_tryrdlock(rr.table)) == 0) {
		ZOO_TRY(tsk_rwlock_unlock(rr.table));
		ZOO_TRY(tsk_sleep(tsk_after_ms(1)));
	}
	if (rc != -EBUSY)
		ZOO_TRY(rc);
	tsk_set_state("reading the table again");
	zoo_note(&rr.noted);
	ZOO_NEVER(tsk_rwlock_rdlock(rr.table, TSK_FOREVER));
}

static void *writer(void *arg)
{
	(void)arg;
	tsk_set_state("updating the table");
	zoo_note(&rr.noted);
	ZOO_NEVER(tsk_rwlock_wrlock(rr.table, TSK_FOREVER));
}

static void *root(void *arg)
{
	tsk_task *r, *w;

	ZOO_TRY(tsk_rwlock_create(&rr.table, "table"));
	zoo_delay(arg);

	ZOO_TRY(tsk_spawn(&r, "reader", reader, NULL));
	zoo_await(&rr.holds, 1);
	ZOO_TRY(tsk_spawn(&w, "writer", writer, NULL));
	zoo_ready_when(&rr.noted, 2);
	tsk_set_state("joining reader and writer");
	ZOO_NEVER(tsk_join(r, NULL, TSK_FOREVER)); /* the writer's join would come next */
}

int main(int argc, char **argv)
{
	return zoo_main(
	        argc, argv,
	        "Task \"reader\" read-locks rwlock \"table\", task \"writer\" asks for the\n"
	        "write lock, then the reader asks for a second read lock, which waits\n"
	        "behind the writer; the root joins them.  A definite cycle {reader, writer}.\n",
	        root);
}
