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

SEC("uprobe")
int BPF_KPROBE(ssl_free_enter, void *ssl)
{
	conn_state_forget((__u64)ssl);
	return 0;
}
