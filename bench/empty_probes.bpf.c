// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The physical floor of the benchmark: one entry and one return program that
 * do nothing. floor_probes attaches them where tlstap attaches its own (the
 * same plan, loader::hooks_for: for OpenSSL SSL_write/SSL_read or their
 * internal functions, entry-only SSL_free; for Go every entry and RET), so
 * the cost measured is the probe hits alone.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("uprobe")
int BPF_KPROBE(empty_enter)
{
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(empty_exit)
{
	return 0;
}

/* floor_probes --syscalls: the empty form of tlstap's syscall hook */
SEC("tp_btf/sys_enter")
int BPF_PROG(empty_sys_enter, struct pt_regs *regs, long id)
{
	return 0;
}
