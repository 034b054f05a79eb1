#ifndef KITH_CLIBUV_SHIM_H
#define KITH_CLIBUV_SHIM_H
#include <uv.h>
#include <sys/prctl.h>
#include <sys/wait.h>

/* prctl is variadic, so Swift cannot call it: the one use kithd has, spelled out. */
static inline int kith_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

/* The pid of an exited child that has not been waited for, without reaping it (WNOWAIT):
   0 when none, -1 with errno (ECHILD: no children at all). siginfo_t is a union Swift reads badly. */
static inline int kith_peek_exited_child(void) {
    siginfo_t info;
    info.si_pid = 0;
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return -1;
    return info.si_pid;
}
#endif
