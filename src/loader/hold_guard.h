// --hold-new's watchdog. The probes stop (SIGSTOP) a process that maps a
// file tlstap has not seen, and tlstap continues it once the file's probes
// are attached. The watchdog is a child process, forked while tlstap starts,
// that makes sure no process stays stopped because of tlstap:
//  - one held longer than the limit is continued (its calls before its
//    probes are in place are not seen; tlstap says so when it gets to it);
//  - once tlstap is gone, however it ended (a crash, SIGKILL of tlstap
//    alone), every process still held is continued.
// It holds only the held_pids map and a pidfd of tlstap: no output, no
// socket. Killing tlstap's whole process group with SIGKILL kills the
// watchdog too; processes held at that moment stay stopped (kill -CONT).
#pragma once

#include <sys/types.h>

#include <chrono>

#include "util/error.h"

namespace tlstap::loader {

// Forks the watchdog for the held_pids map behind held_pids_fd. Returns
// its pid.
Result<pid_t> start_hold_guard(int held_pids_fd, std::chrono::milliseconds limit);

// Continues every process in held_pids held for at least min_age (0: all)
// that nobody continued yet (its entry is removed first: whoever removes it
// sends the SIGCONT, once). Returns how many were continued. Safe after
// fork(): no allocation.
int continue_held(int held_pids_fd, std::chrono::nanoseconds min_age);

}  // namespace tlstap::loader
