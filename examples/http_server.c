/* http_server.c: a small HTTP/1.1 server, one goroutine per connection, as
 * Go's net/http serves each connection on a goroutine of its own.
 *
 *     GET / or HEAD /         200 and a small HTML page
 *     GET or HEAD other paths 404
 *     any other method        405 (its body, if any, is read and dropped)
 *     anything not HTTP       400, then the connection is closed
 *
 * Connections stay open between requests (keep-alive): HTTP/1.1 keeps them
 * unless the client sends "Connection: close", HTTP/1.0 closes them unless
 * it sends "Connection: keep-alive". Every response has a Content-Length.
 * Requests sent back to back without waiting (pipelining) are answered in
 * order. A connection that sends no complete request head for IDLE_TIMEOUT
 * is closed: the deadline argument of gort_read().
 *
 * Usage:
 *   http_server              self-check (what `make example` runs): serve
 *                            on 127.0.0.1, a free port, and check answers
 *                            from client goroutines; exits 0 if all is well
 *   http_server PORT         serve on 127.0.0.1:PORT until killed (0: any
 *   http_server --serve PORT free port); the port is stdout's first line
 *
 * Try it: ./http_server 8080 & then `curl -v http://127.0.0.1:8080/`.
 *
 * A request is read as Go's server reads it: from a buffer per
 * connection (struct reader, Go's bufio.Reader) that gort_read() refills
 * whenever the bytes in it do not yet hold a whole request head. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* for memmem */
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h" /* after the system headers: it redefines errno */

#define SECOND 1000000000LL          /* gort times are in nanoseconds */
#define IDLE_TIMEOUT (30 * SECOND)   /* to receive a whole request head */
#define LINGER_TIMEOUT SECOND        /* to drain the client before closing */
#define MAX_HEAD 8192                /* request line + headers (Go: 1 MiB) */
#define MAX_BODY (1 << 20)           /* request bodies are read and dropped */

static const char PAGE[] =
    "<!DOCTYPE html>\n"
    "<html><head><meta charset=\"utf-8\"><title>gort</title></head>\n"
    "<body><h1>Hello from gort</h1>\n"
    "<p>This page was served by a goroutine, in C.</p></body></html>\n";
static const char NOT_FOUND[] = "404 page not found\n"; /* Go's words */

/* Counts the accept loop and every connection goroutine. */
static gort_waitgroup server_wg;

/* ---- reading: a buffer per connection ---- */

struct reader {
    int fd;
    size_t start, end; /* the bytes read but not yet used: buf[start..end) */
    char buf[MAX_HEAD];
};

/* Reads more bytes into the buffer (moving what is unread to its front
 * first). Returns the count, 0 at end of stream, -1 with errno set on an
 * error or when the deadline passed (ETIMEDOUT). */
static ssize_t fill(struct reader *r, int64_t deadline) {
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    ssize_t n = gort_read(r->fd, r->buf + r->end, sizeof r->buf - r->end, deadline);
    if (n > 0) r->end += (size_t)n;
    return n;
}

enum { HEAD_EOF = 0, HEAD_ERROR = -1, HEAD_TOO_BIG = -2, HEAD_CUT = -3 };

/* Waits until the buffer holds a whole message head: the lines up to and
 * including the empty line. Returns its length (it starts at
 * r->buf + r->start), or HEAD_EOF (the peer closed between messages),
 * HEAD_CUT (it closed in the middle of one), HEAD_TOO_BIG, HEAD_ERROR
 * (errno says why: ETIMEDOUT, ECONNRESET, ...). */
static long read_head(struct reader *r, int64_t deadline) {
    for (;;) {
        char *p = memmem(r->buf + r->start, r->end - r->start, "\r\n\r\n", 4);
        if (p) return (long)(p + 4 - (r->buf + r->start));
        if (r->start == 0 && r->end == sizeof r->buf) return HEAD_TOO_BIG;
        ssize_t n = fill(r, deadline);
        if (n < 0) return HEAD_ERROR;
        if (n == 0) return r->end == r->start ? HEAD_EOF : HEAD_CUT;
    }
}

/* Takes the next n bytes into dst (NULL: drops them). 0, or -1 when the
 * stream ended or failed first. */
static int read_body(struct reader *r, char *dst, size_t n, int64_t deadline) {
    while (n > 0) {
        if (r->start == r->end && fill(r, deadline) <= 0) return -1;
        size_t k = r->end - r->start < n ? r->end - r->start : n;
        if (dst) {
            memcpy(dst, r->buf + r->start, k);
            dst += k;
        }
        r->start += k;
        n -= k;
    }
    return 0;
}

/* ---- parsing a request head ---- */

enum method { GET, HEAD, OTHER };

struct request {
    enum method method;
    bool root;             /* the path is "/" (a query string is ignored) */
    bool keep_alive;       /* the connection stays open after the answer */
    size_t content_length; /* bytes of body that follow the head */
};

static bool is_tchar(unsigned char c) { /* RFC 9110 token characters */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* True if s[0..n) equals the lower-case word w, ignoring case. */
static bool word_is(const char *s, size_t n, const char *w) {
    return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

/* Looks for "close" and "keep-alive" in a Connection header's list. */
static void connection_tokens(const char *v, size_t n, bool *close, bool *keep) {
    while (n > 0) {
        size_t k = 0;
        while (k < n && v[k] != ',') k++;
        size_t a = 0, b = k; /* trim spaces and tabs around the token */
        while (a < b && (v[a] == ' ' || v[a] == '\t')) a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t')) b--;
        if (word_is(v + a, b - a, "close")) *close = true;
        if (word_is(v + a, b - a, "keep-alive")) *keep = true;
        if (k < n) k++; /* the comma */
        v += k;
        n -= k;
    }
}

/* Parses the head h[0..len) (it ends with an empty line). Returns 0, or
 * the status to answer with before closing the connection: 400 for
 * anything malformed, 413 for a body over MAX_BODY, 501 for a chunked
 * body (not supported here). */
static int parse_request(const char *h, size_t len, struct request *req) {
    const char *end = h + len - 2; /* the empty line's CRLF */
    *req = (struct request){OTHER, false, false, 0};

    /* Request line: METHOD SP TARGET SP HTTP/1.x CRLF */
    const char *eol = memmem(h, (size_t)(end - h), "\r\n", 2);
    const char *p = h;
    while (p < eol && is_tchar((unsigned char)*p)) p++;
    if (p == h || p == eol || *p != ' ') return 400;
    if (p - h == 3 && memcmp(h, "GET", 3) == 0) req->method = GET;
    if (p - h == 4 && memcmp(h, "HEAD", 4) == 0) req->method = HEAD;
    const char *target = ++p;
    while (p < eol && *p > ' ' && *p < 0x7f) p++;
    if (p == target || *target != '/' || p == eol || *p != ' ') return 400;
    req->root = p - target == 1 || target[1] == '?';
    p++;
    if (eol - p != 8 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1')) return 400;
    bool http11 = p[7] == '1';

    /* Header lines: Name: value CRLF */
    bool has_host = false, has_length = false, close = false, keep = false;
    for (p = eol + 2; p < end; p = eol + 2) {
        eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
        const char *colon = p;
        while (colon < eol && is_tchar((unsigned char)*colon)) colon++;
        if (colon == p || colon == eol || *colon != ':') return 400; /* also line folding */
        const char *v = colon + 1, *ve = eol;
        for (const char *c = v; c < ve; c++)
            if (((unsigned char)*c < ' ' && *c != '\t') || *c == 0x7f) return 400;
        while (v < ve && (*v == ' ' || *v == '\t')) v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        size_t name_len = (size_t)(colon - p), vlen = (size_t)(ve - v);

        if (word_is(p, name_len, "host")) {
            if (has_host) return 400;
            has_host = true;
        } else if (word_is(p, name_len, "content-length")) {
            if (has_length || vlen == 0 || vlen > 9) return 400;
            size_t n = 0;
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9') return 400;
                n = n * 10 + (size_t)(v[i] - '0');
            }
            has_length = true;
            req->content_length = n;
        } else if (word_is(p, name_len, "transfer-encoding")) {
            return 501;
        } else if (word_is(p, name_len, "connection")) {
            connection_tokens(v, vlen, &close, &keep);
        }
    }
    if (http11 && !has_host) return 400; /* RFC 9112: HTTP/1.1 requires Host */
    if (req->content_length > MAX_BODY) return 413;
    req->keep_alive = http11 ? !close : keep && !close;
    return 0;
}

/* ---- answering ---- */

static const char *reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    default: return "Error";
    }
}

/* Writes one whole response in one gort_write. For HEAD the body is left
 * out but Content-Length still gives its size. 0, or -1 on failure. */
static int respond(int fd, int status, const char *type, const char *body, bool head_only, bool keep_alive,
                   int64_t deadline) {
    char date[64], msg[2048];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    size_t blen = strlen(body);
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 %d %s\r\n"
                     "Date: %s\r\n"
                     "Server: gort-example\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "%s%s"
                     "\r\n",
                     status, reason(status), date, type, blen, status == 405 ? "Allow: GET, HEAD\r\n" : "",
                     keep_alive ? "" : "Connection: close\r\n");
    if (n < 0 || (size_t)n + blen > sizeof msg) return -1;
    if (!head_only) {
        memcpy(msg + n, body, blen);
        n += (int)blen;
    }
    return gort_write(fd, msg, (size_t)n, deadline) == n ? 0 : -1;
}

static int respond_error(int fd, int status, bool keep_alive) {
    char text[64];
    snprintf(text, sizeof text, "%d %s\n", status, reason(status));
    return respond(fd, status, "text/plain; charset=utf-8", text, false, keep_alive,
                   gort_nanotime() + IDLE_TIMEOUT);
}

/* Closes a connection without losing the last response: closing a socket
 * that still has unread input makes the kernel send a reset, which can
 * destroy the response before the client reads it. So: send our end of
 * stream first, read and drop what the client still sends for a moment,
 * then close. (Go's server does the same with CloseWrite and a delay.) */
static void linger_close(struct reader *r) {
    shutdown(r->fd, SHUT_WR);
    int64_t deadline = gort_nanotime() + LINGER_TIMEOUT;
    for (int i = 0; i < 16; i++) { /* at most 16 buffers' worth */
        r->start = r->end = 0;
        if (fill(r, deadline) <= 0) break;
    }
    gort_fd_close(r->fd);
}

/* One connection: requests and answers until either side is done. */
static void serve_conn(void *arg) {
    struct reader r = {.fd = (int)(intptr_t)arg}; /* 8 KiB on this goroutine's stack */
    for (;;) {
        long n = read_head(&r, gort_nanotime() + IDLE_TIMEOUT);
        if (n == HEAD_EOF || n == HEAD_CUT || n == HEAD_ERROR) break; /* closed, reset, idle */
        if (n == HEAD_TOO_BIG) {
            respond_error(r.fd, 431, false);
            linger_close(&r);
            goto done;
        }
        struct request req;
        int status = parse_request(r.buf + r.start, (size_t)n, &req);
        r.start += (size_t)n;
        if (status != 0) { /* garbage: answer, then hang up */
            respond_error(r.fd, status, false);
            linger_close(&r);
            goto done;
        }
        /* The body follows the head: drop it, so that the next request
         * starts where it should. */
        if (read_body(&r, NULL, req.content_length, gort_nanotime() + IDLE_TIMEOUT) != 0) break;

        int64_t deadline = gort_nanotime() + IDLE_TIMEOUT; /* for the answer */
        int rc;
        if (req.method == OTHER)
            rc = respond_error(r.fd, 405, req.keep_alive);
        else if (req.root)
            rc = respond(r.fd, 200, "text/html; charset=utf-8", PAGE, req.method == HEAD, req.keep_alive, deadline);
        else
            rc = respond(r.fd, 404, "text/plain; charset=utf-8", NOT_FOUND, req.method == HEAD, req.keep_alive,
                         deadline);
        if (rc != 0) break; /* the client went away */
        if (!req.keep_alive) {
            linger_close(&r);
            goto done;
        }
    }
    gort_fd_close(r.fd);
done:
    gort_wg_done(&server_wg);
}

/* ---- listening and accepting (as in echo_server.c) ---- */

static int listen_loopback(int port, int *bound) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* INADDR_ANY to serve other hosts */
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *bound = ntohs(sa.sin_port);
    return fd;
}

static void accept_loop(int lfd) {
    for (;;) {
        int fd = gort_accept(lfd, NULL, NULL, -1);
        if (fd < 0) {
            if (errno == EBADF) return; /* gort_fd_close(lfd): shut down */
            if (errno == ECONNABORTED || errno == EINTR) continue;
            fprintf(stderr, "http_server: accept: %s\n", strerror(errno));
            gort_sleep(SECOND / 100); /* EMFILE and friends: back off, go on */
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        gort_wg_add(&server_wg, 1);
        gort_go(serve_conn, (void *)(intptr_t)fd);
    }
}

static void accept_goroutine(void *arg) {
    accept_loop((int)(intptr_t)arg);
    gort_wg_done(&server_wg);
}

/* ---- the self-check's clients ---- */

static int port;
static atomic_int failures;
static gort_waitgroup clients_wg;

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("http_server: FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    atomic_fetch_add(&failures, 1);
}

static int dial(int64_t deadline) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (gort_connect(fd, (struct sockaddr *)&sa, sizeof sa, deadline) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

struct response {
    int status;
    bool close;     /* it said "Connection: close" */
    size_t length;  /* its Content-Length */
    char body[512]; /* the body, NUL-terminated */
};

/* Reads one response (to a HEAD request: no body). 0, or -1 after fail(). */
static int read_response(struct reader *r, bool to_head, struct response *resp, const char *who,
                         int64_t deadline) {
    long n = read_head(r, deadline);
    if (n <= 0) {
        fail("%s: no response (%s)", who, n == HEAD_ERROR ? strerror(errno) : "connection closed");
        return -1;
    }
    const char *h = r->buf + r->start, *end = h + n;
    *resp = (struct response){0};
    bool has_length = false;
    if (n < 13 || memcmp(h, "HTTP/1.1 ", 9) != 0 || h[12] != ' ' || (resp->status = atoi(h + 9)) < 100) {
        fail("%s: bad status line", who);
        return -1;
    }
    for (const char *p = (const char *)memmem(h, (size_t)n, "\r\n", 2) + 2; p < end - 2;
         p = (const char *)memmem(p, (size_t)(end - p), "\r\n", 2) + 2) {
        if (strncasecmp(p, "Content-Length:", 15) == 0) {
            resp->length = strtoul(p + 15, NULL, 10);
            has_length = true;
        }
        if (strncasecmp(p, "Connection: close\r\n", 19) == 0) resp->close = true;
    }
    r->start += (size_t)n;
    if (!has_length || resp->length >= sizeof resp->body) {
        fail("%s: response %d without a usable Content-Length", who, resp->status);
        return -1;
    }
    if (!to_head && read_body(r, resp->body, resp->length, deadline) != 0) {
        fail("%s: response %d: body cut short", who, resp->status);
        return -1;
    }
    return 0;
}

/* A conversation: each step sends its bytes (in one write) and expects
 * the responses listed, e.g. "200 404 H200" (H: the answer to a HEAD,
 * which has no body). At the end the server must have closed the
 * connection if `closes`; otherwise the client closes it. */
struct step {
    const char *send, *expect;
};
struct script {
    const char *name;
    struct step steps[8];
    bool closes;    /* the server closes after the last response */
    bool half_close; /* the client sends its end of stream after the last step */
};

#define GET(path) "GET " path " HTTP/1.1\r\nHost: localhost\r\n\r\n"
#define GET_CLOSE(path) "GET " path " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
#define HEAD_REQ(path) "HEAD " path " HTTP/1.1\r\nHost: localhost\r\n\r\n"

static const struct script scripts[] = {
    {"keep-alive", {{GET("/"), "200"}, {GET("/"), "200"}, {GET("/?q=1"), "200"}, {GET("/missing"), "404"},
                    {HEAD_REQ("/"), "H200"}, {GET_CLOSE("/"), "200"}}, true, false},
    {"pipelined", {{GET("/") GET("/x") HEAD_REQ("/") GET("/"), "200 404 H200 200"}, {GET("/"), "200"}}, false, false},
    {"sent in pieces", {{"GE", ""}, {"T / HTTP/1.1\r\nHo", ""}, {"st: a\r\n", ""}, {"\r\n", "200"}}, false, false},
    {"HTTP/1.0", {{"GET / HTTP/1.0\r\n\r\n", "200"}}, true, false},
    {"HTTP/1.0 keep-alive", {{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "200"}, {GET("/"), "200"}},
     false, false},
    {"body dropped", {{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" GET("/"), "405 200"}}, false,
     false},
    {"garbage", {{"hello there\r\n\r\n", "400"}}, true, false},
    {"binary", {{"\x16\x03\x01\x02\x10\x01\x01\x01\xfc\x03\x03\r\n\r\n", "400"}}, true, false},
    {"no Host", {{"GET / HTTP/1.1\r\n\r\n", "400"}}, true, false},
    {"bad header", {{"GET / HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n", "400"}}, true, false},
    {"cut off", {{"GET / HT", ""}}, true, true},
};
#define NSCRIPTS (sizeof scripts / sizeof scripts[0])
#define COPIES 3 /* each script runs on this many connections at once */

static void client(void *arg) {
    const struct script *s = arg;
    int64_t deadline = gort_nanotime() + 5 * SECOND; /* the whole conversation */
    struct reader r = {.fd = dial(deadline)};
    struct response resp = {0};
    if (r.fd < 0) {
        fail("%s: connect: %s", s->name, strerror(errno));
        goto done;
    }
    for (const struct step *st = s->steps; st->send; st++) {
        size_t len = strlen(st->send);
        if (gort_write(r.fd, st->send, len, deadline) != (ssize_t)len) {
            fail("%s: write: %s", s->name, strerror(errno));
            goto out;
        }
        for (const char *e = st->expect; *e; e++) {
            if (*e == ' ') continue;
            bool to_head = *e == 'H';
            int want = atoi(e + to_head);
            if (read_response(&r, to_head, &resp, s->name, deadline) != 0) goto out;
            if (resp.status != want) fail("%s: status %d, expected %d", s->name, resp.status, want);
            if (want == 200 && !to_head && strcmp(resp.body, PAGE) != 0) fail("%s: wrong page", s->name);
            if (to_head && resp.length != strlen(PAGE)) fail("%s: HEAD: Content-Length %zu", s->name, resp.length);
            while (e[1] && e[1] != ' ') e++;
        }
    }
    if (s->half_close) shutdown(r.fd, SHUT_WR);
    if (s->closes) {
        /* The server must say so in the last response, then close. */
        if (s->steps[0].expect[0] && !resp.close) fail("%s: no \"Connection: close\" in the last response", s->name);
        char c;
        ssize_t n = r.start < r.end ? 1 : gort_read(r.fd, &c, 1, deadline);
        if (n != 0) fail("%s: expected the server to close the connection (%s)", s->name,
                         n < 0 ? strerror(errno) : "more data came");
    } else if (resp.close) {
        fail("%s: the server closed a keep-alive connection", s->name);
    }
out:
    gort_fd_close(r.fd);
done:
    gort_wg_done(&clients_wg);
}

/* ---- main goroutines ---- */

static int self_check(void *arg) {
    (void)arg;
    alarm(60); /* a hang fails the check (SIGALRM ends the process) */
    int lfd = listen_loopback(0, &port);
    if (lfd < 0) {
        perror("http_server: listen");
        return 1;
    }
    printf("serving on http://127.0.0.1:%d/\n", port);
    gort_wg_add(&server_wg, 1);
    gort_go(accept_goroutine, (void *)(intptr_t)lfd);

    int64_t t0 = gort_nanotime();
    gort_wg_add(&clients_wg, (int64_t)(NSCRIPTS * COPIES));
    for (int k = 0; k < COPIES; k++)
        for (size_t i = 0; i < NSCRIPTS; i++) gort_go(client, (void *)&scripts[i]);
    gort_wg_wait(&clients_wg);
    printf("%zu conversations x %d connections: %.1f ms\n", NSCRIPTS, COPIES,
           (double)(gort_nanotime() - t0) / 1e6);
    for (size_t i = 0; i < NSCRIPTS; i++) printf("  %s\n", scripts[i].name);

    /* Shut down: the accept loop wakes with EBADF; every connection has
     * ended (the clients closed theirs, or the server did). */
    gort_fd_close(lfd);
    gort_wg_wait(&server_wg);
    /* A goroutine that called gort_wg_done may still be on its way out:
     * give them a moment (Go's tests poll runtime.NumGoroutine too). */
    int left = gort_num_goroutine();
    for (int i = 0; i < 1000 && left > 1; i++) {
        gort_sleep(SECOND / 1000);
        left = gort_num_goroutine();
    }
    if (left != 1) fail("%d goroutines left after shutdown, expected only main", left);

    if (atomic_load(&failures) != 0) {
        fprintf(stderr, "http_server: FAILED\n");
        return 1;
    }
    printf("http_server: ok\n");
    return 0;
}

static int serve(void *arg) {
    int want = *(int *)arg, bound;
    struct rlimit rl; /* as many connections as the hard limit allows */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int lfd = listen_loopback(want, &bound);
    if (lfd < 0) {
        perror("http_server: listen");
        return 1;
    }
    printf("%d\n", bound);
    fflush(stdout);
    accept_loop(lfd);
    return 1;
}

int main(int argc, char **argv) {
    static int want;
    if (argc == 1) gort_main(self_check, NULL); /* never returns */
    const char *p = argv[1];
    if (argc == 3 && strcmp(argv[1], "--serve") == 0) p = argv[2];
    else if (argc != 2) p = NULL;
    char *end = NULL;
    long v = p ? strtol(p, &end, 10) : -1;
    if (!p || *p == '\0' || *end != '\0' || v < 0 || v > 65535) {
        fprintf(stderr, "usage: http_server [[--serve] PORT]\n");
        return 2;
    }
    want = (int)v;
    gort_main(serve, &want);
}
