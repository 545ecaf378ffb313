#include "discovery/call_targets.h"

#include <capstone/capstone.h>
#include <elf.h>

#include <functional>

namespace tlstap::discovery {
namespace {

// Decodes `code` in order and hands each instruction (with detail) to
// visit, until the end or the first byte sequence that is no instruction.
// Returns whether it reached the end.
bool for_each_instruction(std::span<const uint8_t> code, uint64_t vaddr, uint16_t machine,
                          const std::function<void(cs_arch, const cs_insn&)>& visit) {
  cs_arch arch;
  cs_mode mode;
  if (machine == EM_X86_64) {
    arch = CS_ARCH_X86;
    mode = CS_MODE_64;
  } else if (machine == EM_AARCH64) {
    arch = CS_ARCH_ARM64;
    mode = CS_MODE_ARM;
  } else {
    return false;
  }
  csh handle;
  if (cs_open(arch, mode, &handle) != CS_ERR_OK) return false;
  cs_option(handle, CS_OPT_DETAIL, CS_OPT_ON);
  cs_insn* insn = cs_malloc(handle);
  const uint8_t* bytes = code.data();
  size_t size = code.size();
  uint64_t address = vaddr;
  while (cs_disasm_iter(handle, &bytes, &size, &address, insn)) visit(arch, *insn);
  cs_free(insn, 1);
  cs_close(&handle);
  return size == 0;
}

}  // namespace

std::vector<uint64_t> direct_call_targets(std::span<const uint8_t> code, uint64_t vaddr,
                                          uint16_t machine) {
  std::vector<uint64_t> targets;
  for_each_instruction(code, vaddr, machine, [&targets](cs_arch arch, const cs_insn& insn) {
    if (arch == CS_ARCH_X86) {
      const cs_x86& x86 = insn.detail->x86;
      if (insn.id == X86_INS_CALL && x86.op_count == 1 && x86.operands[0].type == X86_OP_IMM) {
        targets.push_back(static_cast<uint64_t>(x86.operands[0].imm));
      }
    } else {
      const cs_arm64& a64 = insn.detail->arm64;
      if (insn.id == ARM64_INS_BL && a64.op_count == 1 && a64.operands[0].type == ARM64_OP_IMM) {
        targets.push_back(static_cast<uint64_t>(a64.operands[0].imm));
      }
    }
  });
  return targets;
}

std::vector<uint64_t> rip_relative_operands(std::span<const uint8_t> code, uint64_t vaddr,
                                            uint16_t machine) {
  std::vector<uint64_t> addresses;
  if (machine != EM_X86_64) return addresses;
  for_each_instruction(code, vaddr, machine, [&addresses](cs_arch, const cs_insn& insn) {
    const cs_x86& x86 = insn.detail->x86;
    for (uint8_t i = 0; i < x86.op_count; ++i) {
      const cs_x86_op& op = x86.operands[i];
      if (op.type == X86_OP_MEM && op.mem.base == X86_REG_RIP && op.mem.index == X86_REG_INVALID) {
        addresses.push_back(insn.address + insn.size + static_cast<uint64_t>(op.mem.disp));
      }
    }
  });
  return addresses;
}

std::optional<std::vector<uint64_t>> return_addresses(std::span<const uint8_t> code, uint64_t vaddr,
                                                      uint16_t machine) {
  std::vector<uint64_t> returns;
  bool whole =
      for_each_instruction(code, vaddr, machine, [&returns](cs_arch arch, const cs_insn& insn) {
        unsigned ret = arch == CS_ARCH_X86 ? unsigned{X86_INS_RET} : unsigned{ARM64_INS_RET};
        if (insn.id == ret) {
          returns.push_back(insn.address);
        }
      });
  if (!whole) return std::nullopt;
  return returns;
}

}  // namespace tlstap::discovery
