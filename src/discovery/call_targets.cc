#include "discovery/call_targets.h"

#include <capstone/capstone.h>
#include <elf.h>

namespace tlstap::discovery {

std::vector<uint64_t> direct_call_targets(std::span<const uint8_t> code, uint64_t vaddr,
                                          uint16_t machine) {
  cs_arch arch;
  cs_mode mode;
  if (machine == EM_X86_64) {
    arch = CS_ARCH_X86;
    mode = CS_MODE_64;
  } else if (machine == EM_AARCH64) {
    arch = CS_ARCH_ARM64;
    mode = CS_MODE_ARM;
  } else {
    return {};
  }
  csh handle;
  if (cs_open(arch, mode, &handle) != CS_ERR_OK) return {};
  cs_option(handle, CS_OPT_DETAIL, CS_OPT_ON);

  std::vector<uint64_t> targets;
  cs_insn* insn = cs_malloc(handle);
  const uint8_t* bytes = code.data();
  size_t size = code.size();
  uint64_t address = vaddr;
  while (cs_disasm_iter(handle, &bytes, &size, &address, insn)) {
    bool is_call = arch == CS_ARCH_X86 ? insn->id == X86_INS_CALL : insn->id == ARM64_INS_BL;
    if (!is_call) continue;
    if (arch == CS_ARCH_X86) {
      const cs_x86& x86 = insn->detail->x86;
      if (x86.op_count == 1 && x86.operands[0].type == X86_OP_IMM) {
        targets.push_back(static_cast<uint64_t>(x86.operands[0].imm));
      }
    } else {
      const cs_arm64& a64 = insn->detail->arm64;
      if (a64.op_count == 1 && a64.operands[0].type == ARM64_OP_IMM) {
        targets.push_back(static_cast<uint64_t>(a64.operands[0].imm));
      }
    }
  }
  cs_free(insn, 1);
  cs_close(&handle);
  return targets;
}

}  // namespace tlstap::discovery
