// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * OpenSSL (1.1 and 3.x) plaintext: SSL_write/SSL_read and their _ex forms.
 * One return program serves all four; the entry records which kind it was.
 * The library kind (openssl, boringssl, ...) arrives as the attach cookie,
 * with, for OpenSSL files whose secret offsets are known, the file's slot in
 * ssl_key_offsets: the return then sends each new session's secrets once.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "calls.bpf.h"

SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, const void *buf, int num)
{
	return tls_call_enter(ctx, (__u64)ssl, (__u64)buf, 0, TLSTAP_DIR_TX);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void *ssl, const void *buf, size_t num, size_t *written)
{
	return tls_call_enter(ctx, (__u64)ssl, (__u64)buf, (__u64)written, TLSTAP_DIR_TX);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void *ssl, void *buf, int num)
{
	return tls_call_enter(ctx, (__u64)ssl, (__u64)buf, 0, TLSTAP_DIR_RX);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return tls_call_enter(ctx, (__u64)ssl, (__u64)buf, (__u64)readbytes, TLSTAP_DIR_RX);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_call_exit, int ret)
{
	return tls_call_exit(ret, TLSTAP_COOKIE_KEY_FILE(bpf_get_attach_cookie(ctx)));
}

/*
 * BoringSSL's SSL_do_handshake (SSL_connect, SSL_accept and the implicit
 * handshake of SSL_read and SSL_write go through it), probed only when its
 * keys are wanted: the session whose handshake secrets this thread's socket
 * writes read until it returns (keys.bpf.h ssl_handshake_keys_send).
 */
SEC("uprobe")
int BPF_KPROBE(ssl_handshake_enter, void *ssl)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct thread_calls *t;

	if (!should_trace(bpf_get_current_pid_tgid()))
		return 0;
	t = thread_calls_get(true);
	if (!t) {
		stat_add(TLSTAP_STAT_LOST_NO_ENTRY_CALLS, 1);
		return 0;
	}
	t->handshake_ssl = (__u64)ssl;
	t->handshake_file = TLSTAP_COOKIE_KEY_FILE(cookie);
	t->handshake_lib = TLSTAP_COOKIE_LIB(cookie);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_handshake_exit, int ret)
{
	struct thread_calls *t = thread_calls_get(false);

	if (t)
		t->handshake_ssl = 0;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_free_enter, void *ssl)
{
	conn_state_forget((__u64)ssl);
	return 0;
}
