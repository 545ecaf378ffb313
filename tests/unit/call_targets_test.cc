// Direct call targets decoded from hand-assembled machine code.
#include "discovery/call_targets.h"

#include <elf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tlstap::discovery {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(DirectCallTargets, X86RelativeCallsInOrder) {
  const uint8_t code[] = {
      0x55,                          // 0x1000 push rbp
      0xe8, 0xfa, 0x0f, 0x00, 0x00,  // 0x1001 call 0x2000 (rel32 0xffa from 0x1006)
      0xff, 0xd0,                    // 0x1006 call rax: indirect, not reported
      0xe8, 0xf3, 0xff, 0xff, 0xff,  // 0x1008 call 0x1000 (rel32 -13 from 0x100d)
      0xc3,                          // 0x100d ret
  };
  EXPECT_THAT(direct_call_targets(code, 0x1000, EM_X86_64), ElementsAre(0x2000, 0x1000));
}

TEST(DirectCallTargets, Arm64BranchWithLink) {
  const uint8_t code[] = {
      0x40, 0x00, 0x00, 0x94,  // 0x4000 bl 0x4100 (imm26 = 0x40 words)
      0xc0, 0x03, 0x5f, 0xd6,  // 0x4004 ret
  };
  EXPECT_THAT(direct_call_targets(code, 0x4000, EM_AARCH64), ElementsAre(0x4100));
}

TEST(DirectCallTargets, UnknownMachineOrGarbageYieldsNothing) {
  const uint8_t code[] = {0xe8, 0x00, 0x00, 0x00, 0x00};
  EXPECT_THAT(direct_call_targets(code, 0, EM_RISCV), IsEmpty());
  const uint8_t garbage[] = {0x0f, 0xff};
  EXPECT_THAT(direct_call_targets(garbage, 0, EM_X86_64), IsEmpty());
}

TEST(ReturnAddresses, EveryX86RetInAWholeFunction) {
  const uint8_t code[] = {
      0x48, 0x85, 0xc0,  // 0x1000 test rax, rax
      0x74, 0x01,        // 0x1003 je 0x1006
      0xc3,              // 0x1005 ret
      0x31, 0xc0,        // 0x1006 xor eax, eax
      0xc3,              // 0x1008 ret
      0xcc,              // 0x1009 int3 (padding)
  };
  auto returns = return_addresses(code, 0x1000, EM_X86_64);
  ASSERT_TRUE(returns.has_value());
  EXPECT_THAT(*returns, ElementsAre(0x1005, 0x1008));
}

// A function that does not decode to its end may hide a return: no answer,
// rather than a partial one.
TEST(ReturnAddresses, UndecodableBytesGiveNoList) {
  const uint8_t code[] = {0xc3, 0x06, 0xc3};  // ret; push es (invalid in 64-bit mode); ret
  EXPECT_FALSE(return_addresses(code, 0, EM_X86_64).has_value());
  EXPECT_FALSE(return_addresses(code, 0, EM_RISCV).has_value());
}

}  // namespace
}  // namespace tlstap::discovery
