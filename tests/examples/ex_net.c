/*
 * ex_net.c - plain blocking loopback sockets for the example tests (see
 * ex_net.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ex_net.h"
#include "ex_proc.h"

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

int ex_net_connect(int port, int ms)
{
	struct sockaddr_in a = loopback(port);
	long long deadline = ex_now_ms() + ms;

	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
			int one = 1, io_ms = ex_ms(10000);
			struct timeval tv = {.tv_sec = io_ms / 1000,
			                     .tv_usec = io_ms % 1000 * 1000};
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			return fd;
		}
		int err = errno;
		close(fd);
		if (err != ECONNREFUSED || ex_now_ms() >= deadline)
			return -err;
		usleep(5000);
	}
}

int ex_net_send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

ssize_t ex_net_recv_exact(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = recv(fd, (char *)buf + got, n - got, 0);
		if (k == 0)
			break;
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return got > 0 ? (ssize_t)got : -errno;
		}
		got += (size_t)k;
	}
	return (ssize_t)got;
}

int ex_net_wait_eof(int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int r = poll(&pfd, 1, ms);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	char c;
	ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT);
	if (k < 0)
		return -errno;
	return k == 0 ? 0 : 1;
}

bool ex_net_quiet(int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	return poll(&pfd, 1, ms) == 0;
}

int ex_net_listen(int *port)
{
	struct sockaddr_in a = loopback(0);
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

int ex_net_free_port(void)
{
	int port;
	int fd = ex_net_listen(&port);
	if (fd < 0)
		return fd;
	close(fd);
	return port;
}
