// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Defines the maps and globals every other BPF unit declares extern. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define TLSTAP_DEFINE_MAPS
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
