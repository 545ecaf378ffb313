// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * GnuTLS plaintext: gnutls_record_send/gnutls_record_recv (and the _send2 /
 * _recv_seq forms where a program calls them). They return the byte count
 * as ssize_t, or a negative error (GNUTLS_E_AGAIN, ...) that emits nothing.
 * gnutls_deinit ends a session. With keys on, the return of a call that
 * moved data sends a new session's secrets (keys.bpf.h), every one of them
 * still held by the session then (GnuTLS 3.7 wipes none before
 * gnutls_deinit).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "calls.bpf.h"

SEC("uprobe")
int BPF_KPROBE(gnutls_send_enter, void *session, const void *data, size_t size)
{
	return tls_call_enter(ctx, (__u64)session, (__u64)data, 0, TLSTAP_DIR_TX);
}

SEC("uprobe")
int BPF_KPROBE(gnutls_recv_enter, void *session, void *data, size_t size)
{
	return tls_call_enter(ctx, (__u64)session, (__u64)data, 0, TLSTAP_DIR_RX);
}

SEC("uretprobe")
int BPF_KRETPROBE(gnutls_call_exit, long ret)
{
	return tls_call_exit(ret, TLSTAP_COOKIE_KEY_FILE(bpf_get_attach_cookie(ctx)));
}

SEC("uprobe")
int BPF_KPROBE(gnutls_deinit_enter, void *session)
{
	conn_state_forget((__u64)session);
	return 0;
}
