/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TLS secrets from OpenSSL's and BoringSSL's SSL objects and GnuTLS's sessions, at offsets
 * user space found for that very build (tlstap-keyprobe). Per call that moved data: one 32-byte
 * read of the client random, compared with the session's last; only a new
 * one (a new session, or a renegotiation) reads and sends the secrets.
 */
#ifndef TLSTAP_BPF_KEYS_BPF_H_
#define TLSTAP_BPF_KEYS_BPF_H_

#include "maps.bpf.h"

/*
 * The unsigned value of size bytes (1, 2 or 4) at off in the session, or
 * behind the pointer at ptr_off there.
 */
static __always_inline long read_u32_field(__u64 ssl, __u32 ptr_off, __u32 off, __u32 size,
					   __u32 *out)
{
	__u64 base = ssl;
	long err;

	if (ptr_off != TLSTAP_NO_OFFSET &&
	    bpf_probe_read_user(&base, sizeof(base), (const void *)(ssl + ptr_off)))
		return -1;
	err = bpf_probe_read_user(out, sizeof(*out), (const void *)(base + off));
	if (size == 1)
		*out &= 0xff;
	else if (size == 2)
		*out &= 0xffff;
	return err;
}

/* Where a final layout's secrets are: the session, or what secrets_ptr leads to. */
static __always_inline long secrets_base(__u64 ssl, const struct tlstap_ssl_offsets *o, __u64 *base)
{
	*base = ssl;
	if (o->layout != TLSTAP_KEYS_FINAL || o->secrets_ptr == TLSTAP_NO_OFFSET)
		return 0;
	return bpf_probe_read_user(base, sizeof(*base), (const void *)(ssl + o->secrets_ptr));
}

/* A 64-byte secret field, zeros when the build does not hold it. */
static __always_inline long read_secret_field(__u8 *out, __u64 ssl, __u32 off)
{
	if (off == TLSTAP_NO_OFFSET) {
		__builtin_memset(out, 0, TLSTAP_SECRET_FIELD);
		return 0;
	}
	return bpf_probe_read_user(out, TLSTAP_SECRET_FIELD, (const void *)(ssl + off));
}

/*
 * A library that holds its secrets final (GnuTLS): reserves the record for
 * the session's version and reads them into it; NULL when that failed
 * (*err set for a fault, else the ring was full).
 */
static __always_inline struct tlstap_keys_event *keys_read_final(__u64 ssl,
								 const struct tlstap_ssl_offsets *o,
								 __s32 *version, long *err)
{
	struct tlstap_keys_event *e;
	__u32 client_app = o->client_app_secret, server_app = o->server_app_secret;
	/* held in a handshake state of their own: read while it lives (sock.bpf.c) */
	__u32 client_hs =
		o->handshake_ptr == TLSTAP_NO_OFFSET ? o->client_hs_secret : TLSTAP_NO_OFFSET;
	__u32 server_hs =
		o->handshake_ptr == TLSTAP_NO_OFFSET ? o->server_hs_secret : TLSTAP_NO_OFFSET;
	__u32 raw = 0;
	__u64 base = 0, session = 0;
	__u8 role = 0;

	if (read_u32_field(ssl, o->version_ptr, o->version, o->version_bytes, &raw) ||
	    secrets_base(ssl, o, &base)) {
		*err = -1;
		return NULL;
	}
	if (raw == o->tls13_version) {
		struct tlstap_keys_tls13_final *k;

		if (o->role_mask) {
			if (bpf_probe_read_user(&role, sizeof(role),
						(const void *)(ssl + o->role))) {
				*err = -1;
				return NULL;
			}
			if (role & o->role_mask) { /* a server: its write secret is the server's */
				client_app = o->server_app_secret;
				server_app = o->client_app_secret;
			}
		}
		*version = TLSTAP_TLS13_VERSION;
		e = bpf_ringbuf_reserve(&events, sizeof(*e) + sizeof(*k), 0);
		if (!e)
			return NULL;
		k = (void *)(e + 1);
		k->pad = 0;
		k->hash_len = 0;
		if (o->hash_len_bytes)
			*err |= read_u32_field(base, o->hash_len_ptr, o->hash_len,
					       o->hash_len_bytes, &k->hash_len);
		*err |= read_secret_field(k->client_hs_secret, base, client_hs);
		*err |= read_secret_field(k->server_hs_secret, base, server_hs);
		*err |= read_secret_field(k->client_app_secret, base, client_app);
		*err |= read_secret_field(k->server_app_secret, base, server_app);
		*err |= read_secret_field(k->exporter_secret, base, o->exporter_secret);
	} else {
		struct tlstap_keys_tls12 *k;

		*version = raw;
		e = bpf_ringbuf_reserve(&events, sizeof(*e) + sizeof(*k), 0);
		if (!e)
			return NULL;
		k = (void *)(e + 1);
		session = base;
		if (o->session != TLSTAP_NO_OFFSET)
			*err |= bpf_probe_read_user(&session, sizeof(session),
						    (const void *)(base + o->session));
		*err |= bpf_probe_read_user(k->master_key, sizeof(k->master_key),
					    (const void *)(session + o->master_key));
	}
	return e;
}

/* Fills in a keys record's header and sends it. */
static __always_inline void keys_event_submit(struct tlstap_keys_event *e, __u64 pid_tgid, __u8 lib,
					      __u32 layout, __s32 version, const __u64 random[4],
					      __u64 conn_id)
{
	struct task_struct *task = bpf_get_current_task_btf();

	e->type = TLSTAP_RECORD_KEYS;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->ts_ns = bpf_ktime_get_ns();
	e->conn_id = conn_id;
	e->version = version;
	e->lib = lib;
	e->layout = layout;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	__builtin_memcpy(e->client_random, random, sizeof(e->client_random));
	__builtin_memcpy(e->comm, task->group_leader->comm, sizeof(e->comm)); /* the process's */
	/* rare and small, and a key log reader waits for it: wake the reader */
	bpf_ringbuf_submit(e, 0);
}

/* Reads the secrets into a reserved record and sends it; 0 when sent. */
static __always_inline int ssl_keys_send(__u64 pid_tgid, __u8 lib, __u64 ssl,
					 const struct tlstap_ssl_offsets *o, const __u64 random[4],
					 __u64 conn_id)
{
	struct tlstap_keys_event *e;
	__s32 version = 0;
	__u64 session = 0;
	long err = 0;

	if (o->layout == TLSTAP_KEYS_FINAL) {
		e = keys_read_final(ssl, o, &version, &err);
		if (!e) {
			if (err)
				goto fault;
			goto full;
		}
	} else if (bpf_probe_read_user(&version, sizeof(version),
				       (const void *)(ssl + o->version))) {
		goto fault;
	} else if (version == TLSTAP_TLS13_VERSION) {
		struct tlstap_keys_tls13 *k;

		e = bpf_ringbuf_reserve(&events, sizeof(*e) + sizeof(*k), 0);
		if (!e)
			goto full;
		k = (void *)(e + 1);
		err |= bpf_probe_read_user(k->handshake_secret, TLSTAP_SECRET_FIELD,
					   (const void *)(ssl + o->handshake_secret));
		err |= bpf_probe_read_user(k->handshake_traffic_hash, TLSTAP_SECRET_FIELD,
					   (const void *)(ssl + o->handshake_traffic_hash));
		err |= bpf_probe_read_user(k->client_finished_secret, TLSTAP_SECRET_FIELD,
					   (const void *)(ssl + o->client_finished_secret));
		err |= bpf_probe_read_user(k->client_app_secret, TLSTAP_SECRET_FIELD,
					   (const void *)(ssl + o->client_app_secret));
		err |= bpf_probe_read_user(k->server_app_secret, TLSTAP_SECRET_FIELD,
					   (const void *)(ssl + o->server_app_secret));
		err |= bpf_probe_read_user(k->exporter_secret, TLSTAP_SECRET_FIELD,
					   (const void *)(ssl + o->exporter_secret));
	} else {
		struct tlstap_keys_tls12 *k;

		e = bpf_ringbuf_reserve(&events, sizeof(*e) + sizeof(*k), 0);
		if (!e)
			goto full;
		k = (void *)(e + 1);
		err |= bpf_probe_read_user(&session, sizeof(session),
					   (const void *)(ssl + o->session));
		if (!err && session)
			err |= bpf_probe_read_user(k->master_key, sizeof(k->master_key),
						   (const void *)(session + o->master_key));
		else
			err = -1;
	}
	if (err) {
		bpf_ringbuf_discard(e, 0);
		goto fault;
	}
	keys_event_submit(e, pid_tgid, lib, o->layout, version, random, conn_id);
	return 0;
full:
	stat_add(TLSTAP_STAT_LOST_KEYS_RINGBUF, 1);
	return -1;
fault:
	stat_add(TLSTAP_STAT_LOST_KEYS_FAULT, 1);
	return -1;
}

/*
 * Sends the session's secrets if its client random is not the one whose
 * secrets went last. A lost record leaves the old random in place, so the
 * next call tries again.
 *
 * A function of its own (a BPF-to-BPF call): inlined, its locals sat in the
 * frame of the return probe that also calls the emitter's loop callbacks,
 * and 6.1's verifier refused that chain's combined stack (544 of 512 bytes)
 * whenever keys and data were both on (--keylog, -w FILE.pcapng).
 */
static __noinline void ssl_keys_send_if_new(__u64 pid_tgid, __u8 lib, __u64 ssl,
					    struct conn_state *st, __u32 file)
{
	const struct tlstap_ssl_offsets *o = bpf_map_lookup_elem(&ssl_key_offsets, &file);
	__u64 random[4];
	__u64 base = 0;

	if (!o || !o->valid)
		return;
	if (secrets_base(ssl, o, &base) ||
	    bpf_probe_read_user(random, sizeof(random), (const void *)(base + o->client_random))) {
		stat_add(TLSTAP_STAT_LOST_KEYS_FAULT, 1);
		return;
	}
	if (random[0] == st->client_random[0] && random[1] == st->client_random[1] &&
	    random[2] == st->client_random[2] && random[3] == st->client_random[3])
		return;
	if (!(random[0] | random[1] | random[2] | random[3]))
		return; /* no handshake yet */
	if (ssl_keys_send(pid_tgid, lib, ssl, o, random, st->conn_id))
		return;
	st->client_random[0] = random[0];
	st->client_random[1] = random[1];
	st->client_random[2] = random[2];
	st->client_random[3] = random[3];
}

#endif /* TLSTAP_BPF_KEYS_BPF_H_ */
