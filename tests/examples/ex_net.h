/*
 * ex_net.h - plain blocking loopback sockets for the example tests
 * (prefix ex_net_).
 *
 * The test side of the conversation with an example server: ordinary
 * blocking sockets of the test process, nothing of the runtime, so that
 * what is tested is the example alone.  Every socket is close-on-exec (a
 * server started later must not hold a client's end open) and has send
 * and receive timeouts, so a server that stops answering fails the test
 * instead of hanging it.  Sends use MSG_NOSIGNAL: a server closing early
 * is an error to check, not a SIGPIPE.  Thread-safe (no shared state).
 */
#ifndef TSK_EX_NET_H
#define TSK_EX_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Connects to 127.0.0.1:port, retrying a refused connection for up to ms.
 * The socket has TCP_NODELAY and ex_ms(10000) send and receive timeouts.
 * Returns the descriptor (the caller closes it) or -errno. */
int ex_net_connect(int port, int ms);

/* Sends buf[0..n) whole.  Returns 0 or -errno (-EAGAIN: timed out). */
int ex_net_send_all(int fd, const void *buf, size_t n);

/* Receives exactly n bytes into buf.  Returns n, fewer when the peer
 * closed first, or -errno (-EAGAIN: timed out) when nothing came. */
ssize_t ex_net_recv_exact(int fd, void *buf, size_t n);

/* Waits up to ms for the peer to close.  Returns 0 at end of file, 1 when
 * bytes came instead (one is consumed), -ETIMEDOUT, or -errno (a reset:
 * -ECONNRESET). */
int ex_net_wait_eof(int fd, int ms);

/* Whether nothing at all (no byte, no end of file) arrives within ms. */
bool ex_net_quiet(int fd, int ms);

/* A socket listening on 127.0.0.1 at a free port (stored in *port).
 * Returns the descriptor or -errno. */
int ex_net_listen(int *port);

/* A TCP port of 127.0.0.1 that was free a moment ago, or -errno. */
int ex_net_free_port(void);

#endif
