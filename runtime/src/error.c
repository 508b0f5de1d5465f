/*
 * error.c - names and messages for the negative error codes the API returns.
 *
 * One table maps each code the runtime uses to its symbolic name and a
 * message written for the runtime's meaning of it (ETIMEDOUT is "deadline
 * passed", EPIPE is "channel closed, or the reader is gone").  Any other
 * errno value (the I/O calls pass on what the kernel said: EMFILE,
 * ENETUNREACH, ...) gets glibc's name and description (strerrorname_np,
 * strerrordesc_np: static strings, no locale, thread-safe); a value that is
 * no errno at all gets "E?" / "unknown error".
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "taskscope.h"

static const struct {
	int code;
	const char *name;
	const char *msg;
} errors[] = {
        {0, "OK", "success"},
        {EPERM, "EPERM", "operation not permitted here (outside a task, or not the owner)"},
        {EINVAL, "EINVAL", "invalid argument"},
        {ENOMEM, "ENOMEM", "out of memory"},
        {EAGAIN, "EAGAIN", "operation would block"},
        {EBUSY, "EBUSY", "resource busy (locked, or tasks wait on it)"},
        {ETIMEDOUT, "ETIMEDOUT", "deadline passed"},
        {ECANCELED, "ECANCELED", "task cancelled"},
        {EPIPE, "EPIPE", "channel closed, or the reader of the pipe or socket is gone"},
        {EDEADLK, "EDEADLK", "operation would deadlock"},
        {EOVERFLOW, "EOVERFLOW", "value too large"},
        {EBADF, "EBADF", "bad file descriptor"},
        {ECONNRESET, "ECONNRESET", "connection reset by peer"},
        {ECONNREFUSED, "ECONNREFUSED", "connection refused"},
        {ENOENT, "ENOENT", "no such file or directory, or unknown host"},
        {EINTR, "EINTR", "interrupted"},
};

static int find(int err)
{
	int code = err < 0 ? -err : err;
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (errors[i].code == code)
			return (int)i;
	return -1;
}

const char *tsk_strerror(int err)
{
	int i = find(err);
	if (i >= 0)
		return errors[i].msg;
	const char *d = strerrordesc_np(err < 0 ? -err : err);
	return d ? d : "unknown error";
}

const char *tsk_errname(int err)
{
	int i = find(err);
	if (i >= 0)
		return errors[i].name;
	const char *n = strerrorname_np(err < 0 ? -err : err);
	return n ? n : "E?";
}
