/*
 * net.c - TCP helpers on the reactor: tsk_listen_tcp, tsk_dial_tcp, and
 * the name lookup they share.
 *
 * Name lookup: a numeric address (or no host at all) resolves at once with
 * AI_NUMERICHOST.  Anything else goes through getaddrinfo, which may block
 * for seconds (DNS), so it runs on the blocking pool (tsk_offload) and only
 * the calling task waits.  getaddrinfo errors map to -errno: an unknown
 * name is -ENOENT, a temporary failure -EAGAIN.
 *
 * Dialling tries the addresses in the order getaddrinfo returns them (RFC
 * 6724 order with glibc), each with the whole remaining deadline, and stops
 * at a timeout or a cancel.  Listening with no host binds "::" with
 * IPV6_V6ONLY off (IPv6 and IPv4 at once), or 0.0.0.0 where IPv6 is
 * unavailable.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io_int.h"

/* A lookup, on the calling task's stack while the pool runs it. */
typedef struct net_lookup {
	const char *host;     /* name or address; NULL: the wildcard */
	char port[8];         /* decimal port */
	int flags;            /* AI_* */
	struct addrinfo *res; /* out: the addresses (freeaddrinfo) */
	int rc;               /* out: getaddrinfo's result */
	int err;              /* out: errno after it, for EAI_SYSTEM */
} net_lookup;

static void *lookup_job(void *arg)
{
	net_lookup *l = arg;
	struct addrinfo hints = {
	        .ai_family = AF_UNSPEC,
	        .ai_socktype = SOCK_STREAM,
	        .ai_flags = l->flags,
	};
	l->rc = getaddrinfo(l->host, l->port, &hints, &l->res);
	l->err = errno;
	return NULL;
}

static int eai_to_errno(int rc, int err)
{
	switch (rc) {
	case 0:
		return 0;
	case EAI_NONAME:
	case EAI_NODATA:
	case EAI_ADDRFAMILY:
		return -ENOENT;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return err > 0 ? -err : -EIO;
	case EAI_FAIL:
		return -EIO;
	default: /* EAI_FAMILY, EAI_SERVICE, EAI_BADFLAGS, EAI_SOCKTYPE */
		return -EINVAL;
	}
}

/* Resolves host:port into *res (freeaddrinfo it).  Returns 0, -EPERM (a
 * name that needs a lookup, outside a task), or an error of tsk_offload or
 * getaddrinfo. */
static int resolve(const char *host, int port, bool passive, int64_t deadline, const tsk_site *site,
                   struct addrinfo **res)
{
	net_lookup l = {.host = host, .flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
	snprintf(l.port, sizeof(l.port), "%d", port);

	l.flags |= AI_NUMERICHOST;
	lookup_job(&l);
	if (l.rc == EAI_NONAME && host) {
		if (!rt__self())
			return -EPERM;
		l.flags &= ~AI_NUMERICHOST;
		int rc = tsk_offload_at(lookup_job, &l, NULL, deadline, site);
		if (rc < 0)
			return rc;
	}
	if (l.rc == 0 && !l.res)
		return -ENOENT;
	*res = l.res;
	return eai_to_errno(l.rc, l.err);
}

/* ---- listening -------------------------------------------------------- */

/* A listening socket on addr, or -errno. */
static int listen_on(const struct sockaddr *addr, socklen_t len, int backlog)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)addr;
		/* the wildcard serves IPv4 too; a specific address is itself */
		if (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr))
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	}
	if (bind(fd, addr, len) < 0 || listen(fd, backlog) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	rt__io_fresh(fd, IO_KIND_STREAM);
	return fd;
}

int tsk_listen_tcp(const char *host, int port, int backlog)
{
	if (port < 0 || port > 65535)
		return -EINVAL;
	if (backlog <= 0)
		backlog = SOMAXCONN;
	if (!host || !*host) {
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
		                          .sin6_port = htons((uint16_t)port),
		                          .sin6_addr = IN6ADDR_ANY_INIT};
		int fd = listen_on((struct sockaddr *)&a6, sizeof(a6), backlog);
		if (fd != -EAFNOSUPPORT && fd != -EADDRNOTAVAIL)
			return fd;
		struct sockaddr_in a4 = {.sin_family = AF_INET,
		                         .sin_port = htons((uint16_t)port),
		                         .sin_addr.s_addr = htonl(INADDR_ANY)};
		return listen_on((struct sockaddr *)&a4, sizeof(a4), backlog);
	}
	struct addrinfo *res = NULL;
	int rc = resolve(host, port, true, TSK_FOREVER, NULL, &res);
	if (rc == 0) {
		rc = -ENOENT;
		for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
			if ((rc = listen_on(ai->ai_addr, ai->ai_addrlen, backlog)) >= 0)
				break;
	}
	if (res)
		freeaddrinfo(res);
	return rc;
}

/* ---- dialling --------------------------------------------------------- */

/* Connects a fresh socket to ai; returns it or -errno. */
static int dial_one(const struct addrinfo *ai, int64_t deadline, const tsk_site *site)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rt__io_fresh(fd, IO_KIND_STREAM);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int rc = tsk_connect_at(fd, ai->ai_addr, ai->ai_addrlen, deadline, site);
	if (rc == 0)
		return fd;
	tsk_close(fd);
	return rc;
}

int tsk_dial_tcp_at(const char *host, int port, int64_t deadline, const tsk_site *site)
{
	if (!rt__self())
		return -EPERM;
	if (!host || !*host || port <= 0 || port > 65535)
		return -EINVAL;
	struct addrinfo *res = NULL;
	int rc = resolve(host, port, false, deadline, site, &res);
	if (rc == 0) {
		rc = -ENOENT;
		for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
			rc = dial_one(ai, deadline, site);
			if (rc >= 0 || rc == -ETIMEDOUT || rc == -ECANCELED)
				break;
		}
	}
	if (res)
		freeaddrinfo(res);
	return rc;
}

int(tsk_dial_tcp)(const char *host, int port, int64_t deadline)
{
	return tsk_dial_tcp_at(host, port, deadline, NULL);
}
