/* A slow disk for the host's event log, for `buzzline bench chaos --host-env LD_PRELOAD=...`.
 *
 * Every pwrite() and pwrite64() (SQLite writes its WAL with them) sleeps SLOWWRITE_MS
 * milliseconds (default 15) first, in the process it is preloaded into and nowhere else. A host
 * killed in that moment has read a buzz, acknowledged its delivery to the broker, and not
 * written it: the moment a loaded machine or a slow disk widens (docs/performance.md).
 *
 *   cc -shared -fPIC -O2 -o /tmp/slowwrite.so bench/slowwrite.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static void pause_ms(void) {
    const char *text = getenv("SLOWWRITE_MS");
    long ms = text ? atol(text) : 15;
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t at) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
    pause_ms();
    return real(fd, buf, n, at);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t at) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    pause_ms();
    return real(fd, buf, n, at);
}
