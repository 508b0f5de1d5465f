/*
 * store.c - the history store (store.h): opening and closing, the bounded
 * queue of batches and the writer thread that commits them.  The batches
 * and the row producers are in store_rows.c, the SQL in store_write.c,
 * retention in store_retain.c.
 *
 *     collector thread                     writer thread
 *     store_interval() ... append to cur
 *     cur full / store_flush ──queue──►    take up to STORE_TXN_BATCHES
 *        (drop if the queue is over        BEGIN, multi-row INSERTs, COMMIT
 *         its bound: never wait)           retention (store_retain.c)
 *     store_sync ◄──────── idle ───────    batches back to the free list
 *
 * Invariants:
 *   - The calling thread never touches SQLite while the writer runs; the
 *     writer never touches s->cur.  Everything between them (the queue,
 *     the free list, stats, busy, stop, failed) is under s->mu.
 *   - queued_bytes is the sum of the bytes of the batches queued or being
 *     written; a batch that would take it past queue_max loses its bulk
 *     rows (intervals, ownership, events), counted in stats.dropped; its
 *     tasks, resources, strings, stacks and process row, which every other
 *     row refers to and which are few, are still queued unless even they
 *     would pass queue_max by a quarter; a batch with the process row or a
 *     verdict (store_sql) is queued whatever the queue holds.
 *   - A writer error is sticky (s->failed, w.err): the transaction was
 *     rolled back, its rows and every later row are counted as dropped,
 *     and store_sync / store_close report the error.  A half-written
 *     history with silent holes would be worse than a stop.
 *
 * The database is created by us (O_EXCL, so an existing file is refused
 * unless overwrite removes it first, with its -wal and -shm), in WAL mode
 * with synchronous=NORMAL: a commit is a WAL append without fsync, which
 * survives the recorder being killed (not a power loss), and readers
 * (stock sqlite3) never block the writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "db.h"
#include "store_int.h"
#include "util.h"

#define FREE_BATCHES    4     /* recycled batches kept (their arrays keep their capacity) */
#define BUSY_TIMEOUT_MS 60000 /* another connection writing (a user's CREATE INDEX) */
#define WAL_PAGES       8192  /* checkpoint period, in (4 KiB) pages */

/* A batch from the free list, or a new one.  Called with s->mu held. */
static store_batch *batch_get_locked(store *s)
{
	store_batch *b = s->free;
	if (b) {
		s->free = b->next;
		s->nfree--;
		b->next = NULL;
		return b;
	}
	return NULL;
}

/* Queues s->cur for the writer (store_flush, a full batch) and starts a
 * new one.  Never waits for the writer. */
void store__hand_off(store *s)
{
	store_batch *b = s->cur, *next;

	if (!b->rows)
		return;
	b->bytes = store__batch_bytes(b);
	pthread_mutex_lock(&s->mu);
	if (!s->failed && s->queued_bytes + b->bytes > s->queue_max) {
		size_t bulk = b->iv.n + b->own.n + b->ev.n;
		s->stats.dropped += bulk;
		b->rows -= bulk;
		b->bytes -= store__bulk_bytes(b);
		b->iv.n = b->own.n = b->ev.n = 0;
	}
	/* the process row and the detector's verdicts are never dropped: a
	 * history without its process row cannot be read at all, and a
	 * deadlock found is the recording's point (both are rare and small) */
	int essential = b->have_proc || b->sql.n;
	if (s->failed || !b->rows ||
	    (!essential && s->queued_bytes + b->bytes > s->queue_max + s->queue_max / 4)) {
		s->stats.dropped += b->rows;
		pthread_mutex_unlock(&s->mu);
		store__batch_reset(b);
		return;
	}
	if (s->tail)
		s->tail->next = b;
	else
		s->head = b;
	s->tail = b;
	s->queued_bytes += b->bytes;
	pthread_cond_signal(&s->work);
	next = batch_get_locked(s);
	pthread_mutex_unlock(&s->mu);
	s->cur = next ? next : xcalloc(1, sizeof(store_batch));
}

/* ---- the writer thread ------------------------------------------------------------ */

/* Takes up to w.txn_batches batches off the queue.  s->mu held. */
static store_batch *take_locked(store *s, int *n)
{
	store_batch *list = s->head, *last = list;
	*n = 1;
	while (*n < s->w.txn_batches && last->next) {
		last = last->next;
		++*n;
	}
	s->head = last->next;
	if (!s->head)
		s->tail = NULL;
	last->next = NULL;
	return list;
}

/* The writer runs niced: it has a deep queue to absorb a late commit,
 * while the collector that feeds it has only the program's rings, so on a
 * machine with fewer cores than busy threads the collector must win. */
#define WRITER_NICE 5

static void *writer_main(void *arg)
{
	errno = 0;
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
	                WRITER_NICE + getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid))) < 0)
		errno = 0; /* not allowed here: it only costs some margin */
	store *s = arg;
	store_writer *w = &s->w;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->head && !s->stop)
			pthread_cond_wait(&s->work, &s->mu);
		if (!s->head)
			break;
		int n, failed = s->failed;
		store_batch *list = take_locked(s, &n), *b, *next;
		s->busy = 1;
		pthread_mutex_unlock(&s->mu);

		size_t rows = 0, bytes = 0;
		for (b = list; b; b = b->next) {
			rows += b->rows;
			bytes += b->bytes;
		}
		int wrote = !failed && store__write_txn(w, list, n) == 0;
		int kept = wrote && store__retain(w) == 0;
		int64_t db_bytes = wrote ? store__db_bytes(w) : -1;
		for (b = list; b; b = b->next)
			store__batch_reset(b); /* keeps next */

		pthread_mutex_lock(&s->mu);
		if (wrote) {
			s->stats.rows += rows;
			s->stats.batches += (uint64_t)n;
		} else {
			s->stats.dropped += rows;
		}
		if (!kept)
			s->failed = 1;
		if (db_bytes >= 0)
			s->stats.db_bytes = db_bytes;
		s->stats.deleted = w->deleted;
		s->queued_bytes -= bytes;
		while (list && s->nfree < FREE_BATCHES) {
			b = list;
			list = b->next;
			b->next = s->free;
			s->free = b;
			s->nfree++;
		}
		s->busy = 0;
		pthread_cond_broadcast(&s->idle);
		if (list) { /* more than the free list keeps: freed unlocked */
			pthread_mutex_unlock(&s->mu);
			for (b = list; b; b = next) {
				next = b->next;
				store__batch_free(b);
			}
			pthread_mutex_lock(&s->mu);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- opening and closing -------------------------------------------------------------- */

/* Removes path if it exists (ENOENT is fine).  Returns 0 or -1 with err. */
static int remove_file(const char *path, char *err, size_t cap)
{
	if (unlink(path) == 0 || errno == ENOENT)
		return 0;
	snprintf(err, cap, "%s: cannot replace it: %s", path, strerror(errno));
	return -1;
}

/* Creates the empty database file ourselves, so that an existing file is
 * refused atomically and a missing directory gets errno's own words (SQLite
 * would say "unable to open database file").  A -wal or -shm left next to
 * a missing file belongs to a database that is gone: SQLite would replay
 * that WAL into ours, so they go too. */
static int create_file(store *s, int overwrite, char *err, size_t cap)
{
	struct stat sb;
	int fd;

	if (overwrite && stat(s->path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		snprintf(err, cap, "%s: %s", s->path, strerror(EISDIR));
		return -1;
	}
	/* --force replaces a database, never a device, a pipe or a socket
	 * (removing /dev/null would break the machine) */
	if (overwrite && lstat(s->path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		snprintf(err, cap, "%s: not a regular file: refusing to replace it", s->path);
		return -1;
	}
	if (overwrite && remove_file(s->path, err, cap) < 0)
		return -1;
	fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (errno == EEXIST && stat(s->path, &sb) == 0 && S_ISDIR(sb.st_mode))
			snprintf(err, cap, "%s: %s", s->path, strerror(EISDIR));
		else if (errno == EEXIST)
			snprintf(err, cap, "%s: %s (use --force to replace it)", s->path,
			         strerror(EEXIST));
		else
			snprintf(err, cap, "%s: %s", s->path, strerror(errno));
		return -1;
	}
	close(fd);
	if (remove_file(s->wal_path, err, cap) < 0 || remove_file(s->shm_path, err, cap) < 0) {
		unlink(s->path);
		return -1;
	}
	return 0;
}

static char *path_with(const char *path, const char *suffix)
{
	size_t n = strlen(path), k = strlen(suffix);
	char *p = xmalloc(n + k + 1);
	memcpy(p, path, n);
	memcpy(p + n, suffix, k + 1);
	return p;
}

/* The connection's settings and the tables.  Returns 0 or -1 with err. */
static int setup_db(store *s, char *err, size_t cap)
{
	sqlite3 *db = s->w.db;
	char sql[512], *msg = NULL;
	sqlite3_stmt *st;
	int wal = 0;

	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	/* WAL first: it cannot change inside a transaction */
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
		sqlite3_finalize(st);
	}
	if (!wal && !s->w.in_memory) {
		snprintf(err, cap, "%s: cannot use WAL mode: %s", s->path, sqlite3_errmsg(db));
		return -1;
	}
	/* A 64 MiB page cache.  No zeroing of freed pages (retention deletes
	 * a lot; Debian's SQLite has secure_delete on by default).  A
	 * checkpoint every WAL_PAGES pages (32 MiB) instead of SQLite's 1000:
	 * 1.1M rows/s instead of 0.9M; a quarter of max_size at most, so the
	 * WAL does not eat the bound.  The WAL cut back to that after a
	 * checkpoint (journal_size_limit). */
	int64_t wal_pages = WAL_PAGES;
	if (s->w.max_size > 0 && s->w.max_size / 4 / 4096 < wal_pages)
		wal_pages = s->w.max_size / 4 / 4096 > 64 ? s->w.max_size / 4 / 4096 : 64;
	snprintf(sql, sizeof(sql),
	         "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; PRAGMA secure_delete=OFF;"
	         "PRAGMA wal_autocheckpoint=%lld; PRAGMA journal_size_limit=%lld;"
	         "BEGIN; PRAGMA application_id=%d; PRAGMA user_version=%d;",
	         (long long)wal_pages, (long long)wal_pages * 4096, DB_APP_ID, DB_SCHEMA_VERSION);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(db, db_schema_tables, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, cap, "%s: creating the tables: %s", s->w.path,
		         msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static void free_span(void *ctx, uint64_t id, void *val)
{
	(void)ctx;
	(void)id;
	free(val);
}

static void store_free(store *s)
{
	if (s->spans.cap) {
		idmap_each(&s->spans, free_span, NULL);
		idmap_fini(&s->spans);
	}
	store_batch *b, *next;

	store__write_finalize(&s->w);
	sqlite3_close(s->w.db);
	for (b = s->free; b; b = next) {
		next = b->next;
		store__batch_free(b);
	}
	if (s->cur)
		store__batch_free(s->cur);
	if (s->thread_started) {
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->work);
		pthread_cond_destroy(&s->idle);
	}
	free(s->path);
	free(s->wal_path);
	free(s->shm_path);
	free(s);
}

store *store_open(const char *path, const store_opts *opts, char *err, size_t cap)
{
	store_opts o = {0};
	store *s = xcalloc(1, sizeof(*s));
	int created = 0;

	if (opts)
		o = *opts;
	s->w.in_memory = o.in_memory;
	s->w.max_size = o.max_size_bytes;
	s->w.max_age = o.max_age_ns;
	s->w.newest_ns = INT64_MIN;
	/* under max_size, a transaction stays a small part of the bound (a
	 * batch is about 0.5 MiB on disk): retention runs between them */
	s->w.txn_batches = STORE_TXN_BATCHES;
	if (o.max_size_bytes > 0 && o.max_size_bytes / (10 << 20) < STORE_TXN_BATCHES)
		s->w.txn_batches = o.max_size_bytes / (10 << 20) > 1
		                           ? (int)(o.max_size_bytes / (10 << 20))
		                           : 1;
	s->queue_max = STORE_QUEUE_MAX;
	if (o.in_memory) {
		s->w.path = ":memory:";
		s->w.wal_path = "";
	} else {
		s->path = xstrdup(path);
		s->wal_path = path_with(path, "-wal");
		s->shm_path = path_with(path, "-shm");
		s->w.path = s->path;
		s->w.wal_path = s->wal_path;
		if (create_file(s, o.overwrite, err, cap) < 0)
			goto fail;
		created = 1;
	}
	/* NOMUTEX: one thread at a time uses it (the writer; the caller of
	 * store_db only while the writer is idle), and a mutex per bind costs 15% */
	int rc = sqlite3_open_v2(s->w.path, &s->w.db,
	                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                         NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, cap, "%s: %s", s->w.path,
		         s->w.db ? sqlite3_errmsg(s->w.db) : sqlite3_errstr(rc));
		goto fail;
	}
	if (setup_db(s, err, cap) < 0)
		goto fail;
	if (store__write_prepare(&s->w) < 0) {
		snprintf(err, cap, "%s", s->w.err);
		goto fail;
	}
	s->cur = xcalloc(1, sizeof(store_batch));
	idmap_init(&s->spans);
	s->newest_iv_ns = INT64_MIN;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	rc = pthread_create(&s->thread, NULL, writer_main, s);
	if (rc != 0) {
		snprintf(err, cap, "%s: cannot start the writer thread: %s", s->w.path,
		         strerror(rc));
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->work);
		pthread_cond_destroy(&s->idle);
		goto fail;
	}
	s->thread_started = 1;
	return s;
fail:
	if (created) {
		sqlite3_close(s->w.db);
		s->w.db = NULL;
		unlink(s->path);
		unlink(s->wal_path);
		unlink(s->shm_path);
	}
	store_free(s);
	return NULL;
}

/* Waits until the writer has committed everything queued.  Returns 0, or
 * -1 with its error in err. */
static int wait_idle(store *s, char *err, size_t cap)
{
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	while (s->head || s->busy)
		pthread_cond_wait(&s->idle, &s->mu);
	if (s->failed) {
		snprintf(err, cap, "%s", s->w.err);
		rc = -1;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Sets the journal mode; returns 1 if it is now mode.  Does not wait for
 * readers (a reader keeps WAL mode: the switch is then skipped). */
static int journal_mode(sqlite3 *db, const char *mode)
{
	char sql[64];
	sqlite3_stmt *st;
	int ok = 0;

	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", mode);
	sqlite3_busy_timeout(db, 0);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			ok = sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), mode) == 0;
		sqlite3_finalize(st);
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	return ok;
}

/* Room for the indexes under max_size, then the indexes, complete = 1
 * and statistics in one transaction, so that complete = 1 means the
 * indexes are there.
 *
 * The indexes are built in rollback-journal mode when no reader is
 * attached: in WAL mode every new index page is written twice (to the
 * WAL, then by the checkpoint), in DELETE mode once (the journal keeps
 * only the few pages that existed): 23 s instead of 36 s for the index
 * on intervals(task, start_ns) of 9.6M rows.  A crash meanwhile leaves a
 * hot journal that the next open rolls back: the DB as it was, without
 * indexes, complete = 0.  WAL mode comes back afterwards. */
static int finish_db(store *s, char *err, size_t cap)
{
	sqlite3 *db = s->w.db;
	char *msg = NULL;
	int wal_off = 0;

	if (store__retain_for_indexes(&s->w) < 0) {
		snprintf(err, cap, "%s", s->w.err);
		return -1;
	}
	if (!s->w.in_memory)
		wal_off = journal_mode(db, "delete");
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	if (db_build_indexes(db, err, cap) < 0) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		goto fail_mode;
	}
	/* analysis_limit: a sample of each index (milliseconds on 10M rows) */
	if (sqlite3_exec(db,
	                 "UPDATE process SET complete = 1;"
	                 "PRAGMA analysis_limit = 1000; ANALYZE; COMMIT",
	                 NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	if (wal_off && !journal_mode(db, "wal")) {
		snprintf(err, cap, "%s: cannot return to WAL mode: %s", s->w.path,
		         sqlite3_errmsg(db));
		return -1;
	}
	return 0;
fail:
	snprintf(err, cap, "%s: finishing the database: %s", s->w.path,
	         msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
fail_mode:
	if (wal_off)
		journal_mode(db, "wal");
	return -1;
}

/* store_close and store_close_keep: keep non-NULL hands the open
 * database to the caller instead of closing it. */
static int close_store(store *s, int complete, sqlite3 **keep, char *err, size_t cap)
{
	int rc;

	if (!s)
		return 0;
	store__spans_flush(s, INT64_MAX);
	store__hand_off(s);
	rc = wait_idle(s, err, cap);
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	if (rc == 0 && complete)
		rc = finish_db(s, err, cap);
	store__write_finalize(&s->w);
	if (!s->w.in_memory) {
		/* a reader still open keeps the WAL: fine, it is not an error */
		sqlite3_wal_checkpoint_v2(s->w.db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	}
	if (keep && rc == 0) {
		*keep = s->w.db;
	} else if (sqlite3_close(s->w.db) != SQLITE_OK) {
		if (rc == 0)
			snprintf(err, cap, "%s: closing: %s", s->w.path, sqlite3_errmsg(s->w.db));
		rc = -1;
		sqlite3_close_v2(s->w.db); /* closes once the caller's statements are gone */
	}
	s->w.db = NULL;
	store_free(s);
	return rc;
}

int store_close(store *s, int complete, char *err, size_t cap)
{
	return close_store(s, complete, NULL, err, cap);
}

int store_close_keep(store *s, struct sqlite3 **out, char *err, size_t cap)
{
	*out = NULL;
	return close_store(s, 1, out, err, cap);
}

/* ---- the calling thread's side ---------------------------------------------------------- */

void store_flush(store *s)
{
	if (s->newest_iv_ns != INT64_MIN)
		store__spans_flush(s, s->newest_iv_ns - 1000000000);
	store__hand_off(s);
}

int store_sync(store *s, char *err, size_t cap)
{
	store__spans_flush(s, INT64_MAX);
	store__hand_off(s);
	return wait_idle(s, err, cap);
}

void store_get_stats(store *s, store_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->stats;
	out->queued_bytes = s->queued_bytes;
	pthread_mutex_unlock(&s->mu);
}

struct sqlite3 *store_db(store *s)
{
	return s->w.db;
}

void store__set_queue_max(store *s, size_t bytes)
{
	pthread_mutex_lock(&s->mu);
	s->queue_max = bytes;
	pthread_mutex_unlock(&s->mu);
}
