// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Defines emit_thread_call and emit_thread_chunk, the global functions every
 * probe sends its events through.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define TLSTAP_DEFINE_EMIT
#include "emit.bpf.h"
