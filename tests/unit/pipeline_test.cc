// The user-space pipeline fed by a fake event source: records laid out as
// the kernel writes them go in, events and counters come out.
#include "capture/pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include "record_builder.h"

namespace tlstap::capture {
namespace {

using testing::Call;
using testing::Chunk;
using testing::Chunks;
using ::testing::ElementsAre;
using ::testing::Pair;
using Clock = Pipeline::Clock;

constexpr int64_t kOffset = 1'700'000'000'000'000'000;  // realtime - monotonic

class PipelineTest : public ::testing::Test {
 protected:
  Pipeline pipeline_{kOffset, [this](const DataEvent& e) { events_.push_back(e); },
                     [this](const FileMappedEvent& m) { mapped_.push_back(m); }};
  std::vector<DataEvent> events_;
  std::vector<FileMappedEvent> mapped_;
  Clock::time_point t0_ = Clock::now();

  void feed(const std::vector<uint8_t>& rec, Clock::time_point at) { pipeline_.on_record(rec, at); }
  // What the pipeline handed on so far, once calls idle for 200 ms are flushed.
  std::vector<DataEvent> take(Clock::time_point at) {
    pipeline_.flush(at, std::chrono::milliseconds(200));
    return std::exchange(events_, {});
  }
};

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return s;
}

// A one-chunk call is handed on with its bytes still in the ring record; a
// handler that keeps the event keeps a copy that owns them, so reusing the
// record memory (the kernel's next record) does not change what was kept.
TEST_F(PipelineTest, KeptEventOwnsItsBytesAfterTheRecordIsReused) {
  Call c;
  c.data = "HTTP/1.1 200 OK\r\n\r\nkept";
  std::vector<uint8_t> rec = Chunk(c, 0, c.data.size());
  bool borrowed_in_handler = false;
  Pipeline pipeline(
      kOffset,
      [&](const DataEvent& e) {
        borrowed_in_handler = e.data.borrowed();
        events_.push_back(e);
      },
      nullptr);
  pipeline.on_record(rec, t0_);
  std::fill(rec.begin(), rec.end(), 'X');
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_TRUE(borrowed_in_handler);  // no copy on the way to the exporters
  EXPECT_FALSE(events_[0].data.borrowed());
  EXPECT_EQ(events_[0].data, "HTTP/1.1 200 OK\r\n\r\nkept");
}

TEST_F(PipelineTest, SmallCallBecomesOneEventWithEveryField) {
  Call c;
  c.data = "GET / HTTP/1.1\r\n\r\n";
  feed(Chunk(c, 0, c.data.size()), t0_);
  auto events = take(t0_);
  ASSERT_EQ(events.size(), 1u);
  const DataEvent& e = events[0];
  EXPECT_EQ(e.ts_ns, 1'000'000'000 + kOffset);
  EXPECT_EQ(e.pid, 4242);
  EXPECT_EQ(e.tid, 4243);
  EXPECT_EQ(e.uid, 1000u);
  EXPECT_EQ(e.fd, 5);
  EXPECT_EQ(e.comm, "curl");
  EXPECT_EQ(e.lib, Lib::kOpenSsl);
  EXPECT_EQ(e.dir, Dir::kTx);
  EXPECT_EQ(e.attribution, Attribution::kSyscall);
  EXPECT_EQ(format_endpoint(e.local), "127.0.0.1:51514");
  EXPECT_EQ(format_endpoint(e.remote), "127.0.0.2:8443");
  EXPECT_EQ(e.conn_id, 7u);
  EXPECT_EQ(e.len, c.data.size());
  EXPECT_EQ(e.data, c.data);
  EXPECT_TRUE(e.lost.empty());
  EXPECT_EQ(pipeline_.user_stats().events, 1u);
  EXPECT_EQ(pipeline_.user_stats().captured_bytes, c.data.size());
  EXPECT_EQ(pipeline_.user_stats().attributed_bytes, c.data.size());
}

TEST_F(PipelineTest, OneMebibyteCallIsReassembledFromInterleavedChunks) {
  Call big;
  big.data = pattern(1 << 20);
  Call other;  // another thread's small call lands between the chunks
  other.tid = 9999;
  other.pid = 9999;
  other.data = "hello";
  auto chunks = Chunks(big);
  ASSERT_EQ(chunks.size(), 32u);
  for (size_t i = 0; i < chunks.size(); ++i) {
    feed(chunks[i], t0_);
    if (i == 3) feed(Chunk(other, 0, 5), t0_);
  }
  auto events = take(t0_);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].pid, 9999);
  EXPECT_EQ(events[0].data, "hello");
  EXPECT_EQ(events[1].len, 1u << 20);
  EXPECT_EQ(events[1].data, big.data);
  EXPECT_TRUE(events[1].lost.empty());
}

TEST_F(PipelineTest, LostMiddleChunkIsListedOnceTheLastArrives) {
  Call c;
  c.data = pattern(3 * TLSTAP_CHUNK_MAX);
  auto chunks = Chunks(c);
  feed(chunks[0], t0_);
  feed(chunks[2], t0_);  // chunk 1 never arrives (ring buffer was full)
  auto events = take(t0_);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].len, 3u * TLSTAP_CHUNK_MAX);
  EXPECT_THAT(events[0].lost, ElementsAre(Pair(TLSTAP_CHUNK_MAX, TLSTAP_CHUNK_MAX)));
  EXPECT_EQ(events[0].data, c.data.substr(0, TLSTAP_CHUNK_MAX) +
                                c.data.substr(2 * TLSTAP_CHUNK_MAX, TLSTAP_CHUNK_MAX));
  EXPECT_EQ(pipeline_.user_stats().incomplete_calls, 1u);
}

TEST_F(PipelineTest, LostTailIsReportedAfterIdleTimeout) {
  Call c;
  c.data = pattern(2 * TLSTAP_CHUNK_MAX + 10);
  auto chunks = Chunks(c);
  feed(chunks[0], t0_);
  feed(chunks[1], t0_);  // the 10-byte tail never arrives
  EXPECT_TRUE(take(t0_ + std::chrono::milliseconds(100)).empty()) << "still waiting";
  auto events = take(t0_ + std::chrono::milliseconds(300));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_THAT(events[0].lost, ElementsAre(Pair(2 * TLSTAP_CHUNK_MAX, 10)));
  EXPECT_EQ(events[0].data, c.data.substr(0, 2 * TLSTAP_CHUNK_MAX));
  EXPECT_EQ(pipeline_.user_stats().incomplete_calls, 1u);
}

TEST_F(PipelineTest, NextCallOfSameThreadFinishesAnIncompleteOne) {
  Call first;
  first.data = pattern(2 * TLSTAP_CHUNK_MAX);
  feed(Chunks(first)[0], t0_);  // its tail was lost
  Call second;
  second.ts_ns = first.ts_ns + 1000;
  second.data = "next";
  feed(Chunk(second, 0, 4), t0_);
  auto events = take(t0_);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_THAT(events[0].lost, ElementsAre(Pair(TLSTAP_CHUNK_MAX, TLSTAP_CHUNK_MAX)));
  EXPECT_EQ(events[1].data, "next");
}

// The end of a session reaches its handler after every call of that
// session, a call still missing its tail included (finished at once, not
// after the idle timeout); other sessions' calls keep waiting.
TEST_F(PipelineTest, ConnEndFinishesItsSessionsCallsFirst) {
  std::vector<std::string> order;
  pipeline_.set_conn_end_handler([&](const ConnEndEvent& e) {
    EXPECT_EQ(e.conn_id, 7u);
    EXPECT_EQ(e.pid, 4242);
    EXPECT_EQ(e.ts_ns, 2'000'000'000 + kOffset);
    order.push_back("end " + std::to_string(events_.size()));
  });
  Call mine;
  mine.data = pattern(2 * TLSTAP_CHUNK_MAX);
  feed(Chunks(mine)[0], t0_);  // its tail was lost
  Call other;
  other.tid = 5000;
  other.conn_id = 8;
  other.data = pattern(2 * TLSTAP_CHUNK_MAX);
  feed(Chunks(other)[0], t0_);  // still to come
  feed(testing::ConnEnd(7), t0_);
  EXPECT_THAT(order, ElementsAre("end 1")) << "after the session's one call";
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].conn_id, 7u);
  EXPECT_THAT(events_[0].lost, ElementsAre(Pair(TLSTAP_CHUNK_MAX, TLSTAP_CHUNK_MAX)));
  feed(Chunks(other)[1], t0_);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_TRUE(events_[1].lost.empty());
  EXPECT_EQ(pipeline_.user_stats().malformed_records, 0u);
  // Shorter than its struct: malformed.
  std::vector<uint8_t> cut = testing::ConnEnd(7);
  cut.resize(cut.size() - 1);
  feed(cut, t0_);
  EXPECT_EQ(pipeline_.user_stats().malformed_records, 1u);
  EXPECT_EQ(order.size(), 1u);
}

TEST_F(PipelineTest, UnattributedCallIsKeptAndCounted) {
  Call c;
  c.fd = -1;
  c.flags = 0;
  c.data = "no socket seen";
  feed(Chunk(c, 0, c.data.size()), t0_);
  auto events = take(t0_);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].attributed());
  EXPECT_EQ(events[0].data, "no socket seen");
  EXPECT_EQ(pipeline_.user_stats().captured_bytes, 14u);
  EXPECT_EQ(pipeline_.user_stats().attributed_bytes, 0u);
  EXPECT_DOUBLE_EQ(pipeline_.user_stats().attributed_share(), 0.0);
}

// comm is the process's name; the thread's own name (after the header in
// the record) is kept only when the program named its thread otherwise.
TEST_F(PipelineTest, ThreadNameIsKeptWhenItDiffersFromTheProcesss) {
  Call named;
  named.comm = "python3";
  named.thread = "tlsworker";
  named.data = "GET / HTTP/1.1\r\n\r\n";
  Call plain = named;
  plain.thread = "";
  plain.tid = named.tid + 1;
  plain.ts_ns = named.ts_ns + 1;
  feed(Chunk(named, 0, named.data.size()), t0_);
  feed(Chunk(plain, 0, plain.data.size()), t0_);
  auto events = take(t0_);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].comm, "python3");
  EXPECT_EQ(events[0].thread, "tlsworker");
  EXPECT_EQ(events[1].comm, "python3");
  EXPECT_EQ(events[1].thread, "");
}

TEST_F(PipelineTest, MalformedRecordsAreCountedNotTrusted) {
  Call c;
  c.data = "abc";
  auto rec = Chunk(c, 0, 3, /*slack=*/0);
  rec.resize(rec.size() - 1);  // payload claims more than the record holds
  feed(rec, t0_);
  feed({0x01, 0x00}, t0_);                       // shorter than a type field
  feed({0x63, 0x00, 0x00, 0x00, 1, 2, 3}, t0_);  // unknown type 99
  EXPECT_TRUE(take(t0_).empty());
  EXPECT_EQ(pipeline_.user_stats().malformed_records, 3u);
}

TEST_F(PipelineTest, FileMappedNoticeReachesTheHandlerWithUserspaceDev) {
  tlstap_file_mapped m{};
  m.type = TLSTAP_RECORD_FILE_MAPPED;
  m.pid = 77;
  m.dev = (uint64_t{254} << 20) | 1;  // kernel encoding of 254:1
  m.ino = 123456;
  std::vector<uint8_t> rec(sizeof(m));
  std::memcpy(rec.data(), &m, sizeof(m));
  feed(rec, t0_);
  ASSERT_EQ(mapped_.size(), 1u);
  EXPECT_EQ(mapped_[0].pid, 77);
  EXPECT_EQ(mapped_[0].dev, makedev(254, 1));
  EXPECT_EQ(mapped_[0].ino, 123456u);
}

// Go's writeKeyLog record: the three fields with their lengths, the time
// moved to the realtime clock.
TEST(PipelineSecretsTest, LoggedSecretReachesItsHandlerWhole) {
  std::vector<LoggedSecretEvent> logged;
  Pipeline pipeline(
      kOffset, [](const DataEvent&) {}, [](const FileMappedEvent&) {}, nullptr,
      [&](const LoggedSecretEvent& e) { logged.push_back(e); });
  tlstap_logged_secret k{};
  k.type = TLSTAP_RECORD_LOGGED_SECRET;
  k.pid = 77;
  k.tid = 78;
  k.ts_ns = 5;
  k.lib = TLSTAP_LIB_GO;
  k.label_len = 23;
  std::memcpy(k.label, "CLIENT_TRAFFIC_SECRET_0", 23);
  k.random_len = 32;
  k.client_random[31] = 0x1f;
  k.secret_len = 48;
  k.secret[47] = 0x2f;
  std::memcpy(k.comm, "tls_go", 6);
  std::vector<uint8_t> rec(sizeof(k));
  std::memcpy(rec.data(), &k, sizeof(k));
  pipeline.on_record(rec, Clock::now());
  rec.pop_back();  // a record shorter than its struct is not trusted
  pipeline.on_record(rec, Clock::now());
  ASSERT_EQ(logged.size(), 1u);
  const LoggedSecretEvent& e = logged[0];
  EXPECT_EQ(e.ts_ns, kOffset + 5);
  EXPECT_EQ(e.pid, 77);
  EXPECT_EQ(e.tid, 78);
  EXPECT_EQ(e.comm, "tls_go");
  EXPECT_EQ(e.lib, Lib::kGo);
  EXPECT_EQ(e.label, "CLIENT_TRAFFIC_SECRET_0");
  EXPECT_EQ(e.label_len, 23u);
  EXPECT_EQ(e.random_len, 32u);
  EXPECT_EQ(e.client_random[31], 0x1f);
  EXPECT_EQ(e.secret_len, 48u);
  EXPECT_EQ(e.secret[47], 0x2f);
  EXPECT_EQ(e.label_addr, 0u);
  EXPECT_EQ(pipeline.user_stats().malformed_records, 1u);

  // A label the probe could not read comes as its address, not as bytes.
  k.label_addr = 0x4d2000;
  rec.assign(sizeof(k), 0);
  std::memcpy(rec.data(), &k, sizeof(k));
  pipeline.on_record(rec, Clock::now());
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_EQ(logged[1].label, "");
  EXPECT_EQ(logged[1].label_addr, 0x4d2000u);
  EXPECT_EQ(logged[1].label_len, 23u);
}

// A keys record with the final TLS 1.3 tail: BoringSSL's handshake-time
// one (the two handshake secrets alone) is marked so, a data call's is not.
TEST(PipelineSecretsTest, HandshakeOnlyKeysRecordIsMarked) {
  std::vector<SecretsEvent> secrets;
  Pipeline pipeline(
      kOffset, [](const DataEvent&) {}, [](const FileMappedEvent&) {},
      [&](const SecretsEvent& e) { secrets.push_back(e); }, nullptr);
  tlstap_keys_event k{};
  k.type = TLSTAP_RECORD_KEYS;
  k.pid = 77;
  k.version = TLSTAP_TLS13_VERSION;
  k.lib = TLSTAP_LIB_BORINGSSL;
  k.client_random[0] = 0x11;
  tlstap_keys_tls13_final t{};
  t.client_hs_secret[0] = 0x22;
  t.server_hs_secret[47] = 0x33;
  std::vector<uint8_t> rec(sizeof(k) + sizeof(t));
  for (uint8_t layout : {TLSTAP_KEYS_FINAL_HANDSHAKE, TLSTAP_KEYS_FINAL}) {
    k.layout = layout;
    std::memcpy(rec.data(), &k, sizeof(k));
    std::memcpy(rec.data() + sizeof(k), &t, sizeof(t));
    pipeline.on_record(rec, Clock::now());
  }
  rec.pop_back();  // a tail shorter than its struct is not trusted
  pipeline.on_record(rec, Clock::now());
  ASSERT_EQ(secrets.size(), 2u);
  EXPECT_TRUE(secrets[0].final_secrets);
  EXPECT_TRUE(secrets[0].handshake_only);
  EXPECT_EQ(secrets[0].client_hs_secret[0], 0x22);
  EXPECT_EQ(secrets[0].server_hs_secret[47], 0x33);
  EXPECT_EQ(secrets[0].client_random[0], 0x11);
  EXPECT_TRUE(secrets[1].final_secrets);
  EXPECT_FALSE(secrets[1].handshake_only);
  EXPECT_EQ(pipeline.user_stats().malformed_records, 1u);
}

}  // namespace
}  // namespace tlstap::capture
