// Inventory over a fake /proc and the real one: what scan_pid and scan_all
// find, key and skip, and the files they could not inspect.
#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "discovery/targets.h"
#include "discovery_oracles.h"

namespace tlstap::discovery {
namespace {

using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// --- Inventory ---

// A fake /proc: PID directories holding a maps file and root -> "/".
class FakeProc {
 public:
  const std::string& root() const { return dir_.path(); }

  void AddProcess(pid_t pid, const std::string& maps) {
    std::string pid_dir = root() + "/" + std::to_string(pid);
    std::filesystem::create_directory(pid_dir);
    std::filesystem::create_directory_symlink("/", pid_dir + "/root");
    WriteFile(pid_dir + "/maps", maps);
  }

 private:
  TempDir dir_;
};

// A maps line mapping `path` executable, with the device and inode given.
std::string MapsLine(const std::string& path, FileId id, const std::string& perms = "r-xp") {
  char line[512];
  snprintf(line, sizeof(line), "7f0000001000-7f0000002000 %s 00001000 %02x:%02x %llu    %s\n",
           perms.c_str(), major(id.dev), minor(id.dev), static_cast<unsigned long long>(id.ino),
           path.c_str());
  return line;
}

std::string MapsLine(const std::string& path) { return MapsLine(path, StatId(path)); }

TEST(InventoryTest, ScanPidFindsLibraryOnceAndAddsLaterPids) {
  const std::string lib = DISCOVERY_FAKE_LIBSSL;
  const FileId lib_id = StatId(lib);
  FakeProc proc;
  proc.AddProcess(100, MapsLine(lib, lib_id, "r--p") + MapsLine(lib) + MapsLine(lib));
  proc.AddProcess(200, MapsLine(lib));
  Inventory inventory(proc.root());

  std::vector<Target*> added = inventory.scan_pid(100);
  ASSERT_EQ(added.size(), 1u);
  const Target& target = *added[0];
  EXPECT_EQ(target.id, lib_id);
  EXPECT_EQ(target.kind, LibKind::kOpenSsl);
  EXPECT_EQ(target.version, "3");
  EXPECT_EQ(target.path, lib);
  EXPECT_EQ(target.open_path, proc.root() + "/100/root" + lib);
  EXPECT_EQ(Offsets(target),
            Offsets(ReadelfFunctions(lib, "dyn-syms"),
                    {"SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex", "SSL_free"}));
  EXPECT_THAT(target.pids, UnorderedElementsAre(100));
  ASSERT_EQ(inventory.targets().size(), 1u);
  EXPECT_EQ(&inventory.targets().at(lib_id), added[0]);

  EXPECT_THAT(inventory.scan_pid(200), IsEmpty());
  EXPECT_EQ(inventory.targets().size(), 1u);
  EXPECT_THAT(inventory.targets().at(lib_id).pids, UnorderedElementsAre(100, 200));
  // The pointer handed out earlier still points at the live entry.
  EXPECT_THAT(added[0]->pids, UnorderedElementsAre(100, 200));
  EXPECT_THAT(inventory.failures(), IsEmpty());
}

TEST(InventoryTest, TlstapsOwnProcessIsNotScanned) {
  FakeProc proc;
  proc.AddProcess(getpid(), MapsLine(DISCOVERY_FAKE_LIBSSL));
  Inventory inventory(proc.root());
  EXPECT_THAT(inventory.scan_pid(getpid()), IsEmpty());
  inventory.scan_all();
  EXPECT_FALSE(inventory.targets().contains(StatId(DISCOVERY_FAKE_LIBSSL)));
}

TEST(InventoryTest, SkipsWhatCannotBeProbed) {
  const std::string lib = DISCOVERY_FAKE_LIBSSL;
  const std::string not_tls = DISCOVERY_NOT_TLS;
  FakeProc proc;
  proc.AddProcess(100,
                  // Not executable.
                  MapsLine(lib, StatId(lib), "r--p") +
                      // Deleted.
                      MapsLine(lib + " (deleted)", StatId(lib)) +
                      // Anonymous and pseudo mappings.
                      "7f0000003000-7f0000004000 r-xp 00000000 00:00 0 \n"
                      "7f0000005000-7f0000006000 r-xp 00000000 00:00 0    [vdso]\n" +
                      // An ELF file that is not a TLS library.
                      MapsLine(not_tls));
  Inventory inventory(proc.root());
  EXPECT_THAT(inventory.scan_pid(100), IsEmpty());
  EXPECT_THAT(inventory.targets(), IsEmpty());
  EXPECT_THAT(inventory.failures(), IsEmpty());
}

TEST(InventoryTest, RecordsFilesThatCannotBeInspected) {
  TempDir files;
  const std::string text = files.path() + "/not elf.so";
  WriteFile(text, "plain text\n");
  const FileId missing_id{makedev(0x12, 0x34), 777};
  FakeProc proc;
  proc.AddProcess(100, MapsLine(text) + MapsLine(files.path() + "/gone.so", missing_id));
  Inventory inventory(proc.root());

  EXPECT_THAT(inventory.scan_pid(100), IsEmpty());
  EXPECT_THAT(inventory.targets(), IsEmpty());
  std::map<FileId, std::string> expected = {
      {StatId(text), "cannot inspect " + proc.root() + "/100/root" + text + ": not an ELF file"},
      {missing_id, "cannot inspect " + proc.root() + "/100/root" + files.path() +
                       "/gone.so: No such file or directory"}};
  EXPECT_EQ(inventory.failures(), expected);
}

TEST(InventoryTest, ProcessesWithoutMapsAreSkipped) {
  FakeProc proc;
  // 300 has a directory but no maps file (exited, or hidden from us); 400 has
  // no directory at all.
  std::filesystem::create_directory(proc.root() + "/300");
  Inventory inventory(proc.root());
  EXPECT_THAT(inventory.scan_pid(300), IsEmpty());  // no maps file
  EXPECT_THAT(inventory.scan_pid(400), IsEmpty());  // no directory
  EXPECT_THAT(inventory.targets(), IsEmpty());
  EXPECT_THAT(inventory.failures(), IsEmpty());
}

TEST(InventoryTest, KeysByMapsIdentityWhenStatDisagrees) {
  // Overlay filesystems can show one (dev, inode) in maps and another to
  // stat(); the maps one is the key.
  const std::string lib = DISCOVERY_FAKE_LIBSSL;
  const FileId maps_id{makedev(0, 0x99), 12345};
  FakeProc proc;
  proc.AddProcess(100, MapsLine(lib, maps_id));
  proc.AddProcess(200, MapsLine(lib, maps_id));
  Inventory inventory(proc.root());

  std::vector<Target*> added = inventory.scan_pid(100);
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(added[0]->id, maps_id);
  ASSERT_TRUE(inventory.targets().contains(maps_id));
  EXPECT_FALSE(inventory.targets().contains(StatId(lib)));
  EXPECT_THAT(inventory.scan_pid(200), IsEmpty());
  EXPECT_THAT(inventory.targets().at(maps_id).pids, UnorderedElementsAre(100, 200));
}

TEST(InventoryTest, FileKnownUnderItsStatIdentityIsNotAddedAgain) {
  // Process 100's maps agree with stat(); process 200's show another
  // identity for the same file (as overlayfs can).
  const std::string lib = DISCOVERY_FAKE_LIBSSL;
  const FileId lib_id = StatId(lib);
  FakeProc proc;
  proc.AddProcess(100, MapsLine(lib));
  proc.AddProcess(200, MapsLine(lib, FileId{makedev(0, 0x99), 12345}));
  Inventory inventory(proc.root());

  ASSERT_EQ(inventory.scan_pid(100).size(), 1u);
  EXPECT_THAT(inventory.scan_pid(200), IsEmpty());
  ASSERT_EQ(inventory.targets().size(), 1u);
  EXPECT_THAT(inventory.targets().at(lib_id).pids, UnorderedElementsAre(100, 200));
}

TEST(InventoryTest, ScanPidOnAChildFindsTheLibraryItLoaded) {
  // The real /proc, with real device numbers in maps: a child (tlstap's own
  // process is never scanned) loads the library and waits.
  const std::string lib = DISCOVERY_FAKE_LIBSSL;
  int loaded[2];
  ASSERT_EQ(pipe(loaded), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char ok = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL) ? 1 : 0;
    (void)!write(loaded[1], &ok, 1);
    pause();  // until killed
    _exit(0);
  }
  char ok = 0;
  ASSERT_EQ(read(loaded[0], &ok, 1), 1);
  Inventory inventory;
  std::vector<Target*> added = inventory.scan_pid(child);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(loaded[0]);
  close(loaded[1]);
  ASSERT_EQ(ok, 1) << "the child could not dlopen " << lib;

  const FileId lib_id = StatId(lib);
  auto found = std::find_if(added.begin(), added.end(),
                            [&](const Target* target) { return target->id == lib_id; });
  ASSERT_NE(found, added.end());
  EXPECT_EQ((*found)->path, lib);
  EXPECT_EQ((*found)->open_path, "/proc/" + std::to_string(child) + "/root" + lib);
  EXPECT_THAT((*found)->pids, UnorderedElementsAre(child));
}

TEST(InventoryTest, ScanAllCoversProcessesAndLinkerCache) {
  const std::string lib = DISCOVERY_FAKE_LIBSSL;
  const FileId lib_id = StatId(lib);
  FakeProc proc;
  proc.AddProcess(100, MapsLine(lib));
  proc.AddProcess(200, MapsLine(lib));
  std::filesystem::create_directory(proc.root() + "/300");   // exited: no maps
  std::filesystem::create_directory(proc.root() + "/self");  // not a PID
  WriteFile(proc.root() + "/uptime", "1.0 1.0\n");
  Inventory inventory(proc.root());

  std::vector<Target*> added = inventory.scan_all();
  std::map<FileId, Target*> by_id;
  for (Target* target : added) {
    EXPECT_TRUE(by_id.emplace(target->id, target).second) << "returned twice: " << target->path;
    EXPECT_EQ(&inventory.targets().at(target->id), target);
  }
  EXPECT_EQ(by_id.size(), inventory.targets().size());

  ASSERT_TRUE(by_id.contains(lib_id));
  EXPECT_THAT(by_id.at(lib_id)->pids, UnorderedElementsAre(100, 200));

  // The system libssl is mapped by no fake process; it comes from the cache.
  const std::string libssl = SystemLibrary("libssl.so.3");
  if (!libssl.empty()) {
    FileId libssl_id = StatId(libssl);
    ASSERT_TRUE(by_id.contains(libssl_id));
    const Target& target = *by_id.at(libssl_id);
    EXPECT_EQ(target.open_path, target.path);
    EXPECT_EQ(StatId(target.path), libssl_id);
    EXPECT_EQ(target.version, "3");
    EXPECT_THAT(target.pids, IsEmpty());
  }

  // Everything is known now: a second scan finds nothing new.
  EXPECT_THAT(inventory.scan_all(), IsEmpty());
}

}  // namespace
}  // namespace tlstap::discovery
