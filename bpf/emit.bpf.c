// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Defines emit_thread_call, the global function every probe sends through. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define TLSTAP_DEFINE_EMIT
#include "emit.bpf.h"
