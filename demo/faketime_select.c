/*-------------------------------------------------------------------------
 *
 * faketime_select.c
 *	  select() without libfaketime, preloaded before libfaketime into the
 *	  demo's PostgreSQL server when SYNCOPT_DEMO_AT runs it on a faked
 *	  clock (demo/demo.py builds it; nothing of syncopt uses it).
 *
 * PostgreSQL 15's postmaster waits in select() with signals unblocked, and
 * forks from its signal handlers: the walwriter, the autovacuum launcher
 * and the background workers (syncopt's collector and executor) when
 * recovery ends, dynamic background workers (the collector's pollers,
 * pg_cron's jobs) and autovacuum workers when asked.  libfaketime's
 * select() marks its thread "do not fake" around the real call; a child
 * forked from a handler inside that call inherits the mark and never
 * returns from the call, so it reads the real clock all its life while the
 * backends read the faked one.  This select() makes the system call
 * itself, so the postmaster never waits inside libfaketime and every
 * process reads the faked clock.  libfaketime's select() differs only by
 * scaling the timeout for a clock rate other than 1, which the demo does
 * not use.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* select(2), straight to the kernel (pselect6 where there is no select). */
int
select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, struct timeval *timeout)
{
#ifdef SYS_select
	return (int) syscall(SYS_select, nfds, readfds, writefds, exceptfds, timeout);
#else
	struct timespec ts;
	int			rc;

	if (timeout != NULL)
	{
		ts.tv_sec = timeout->tv_sec;
		ts.tv_nsec = timeout->tv_usec * 1000;
	}
	rc = (int) syscall(SYS_pselect6, nfds, readfds, writefds, exceptfds, timeout != NULL ? &ts : NULL, NULL);
	/* select(2) leaves the time not slept in *timeout, as Linux does. */
	if (timeout != NULL)
	{
		timeout->tv_sec = ts.tv_sec;
		timeout->tv_usec = ts.tv_nsec / 1000;
	}
	return rc;
#endif
}
