// Per-connection reassembly: events in any order, twice, overlapping or with
// lost ranges in; each direction's bytes out in order, with gaps.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "streams/reassembler.h"

namespace tlstap::streams {
namespace {

using capture::DataEvent;
using capture::Dir;
using ::testing::ElementsAre;

// Writes what the reassembler hands on as one line per call.
class TranscriptSink : public Sink {
 public:
  void on_data(const ConnInfo& conn, Dir dir, uint64_t pos, std::string_view bytes,
               uint64_t ts_ns) override {
    lines.push_back(prefix(conn, dir) + "data " + std::to_string(pos) + " " + std::string(bytes) +
                    " @" + std::to_string(ts_ns));
  }
  void on_gap(const ConnInfo& conn, Dir dir, uint64_t pos, uint64_t len) override {
    lines.push_back(prefix(conn, dir) + "gap " + std::to_string(pos) + "+" + std::to_string(len));
  }
  void on_close(const ConnInfo& conn, CloseReason reason) override {
    lines.push_back(std::to_string(conn.conn_id) + " close " +
                    std::string(close_reason_name(reason)));
  }
  std::vector<std::string> take() { return std::exchange(lines, {}); }
  std::vector<std::string> lines;

 private:
  static std::string prefix(const ConnInfo& conn, Dir dir) {
    return std::to_string(conn.conn_id) + " " + std::string(capture::dir_name(dir)) + " ";
  }
};

DataEvent Event(uint64_t conn_id, Dir dir, uint64_t pos, std::string data, uint64_t ts = 1) {
  DataEvent e;
  e.conn_id = conn_id;
  e.pid = 100;
  e.fd = 7;
  e.comm = "curl";
  e.dir = dir;
  e.stream_pos = pos;
  e.len = data.size();
  e.data = std::move(data);
  e.ts_ns = ts;
  return e;
}

class ReassemblerTest : public ::testing::Test {
 protected:
  Limits limits_;
  TranscriptSink sink_;
};

TEST_F(ReassemblerTest, InOrderBytesAreHandedOnAtOnce) {
  Reassembler r(limits_, &sink_);
  r.add(Event(1, Dir::kTx, 0, "GET ", 10));
  r.add(Event(1, Dir::kTx, 4, "/ HTTP/1.1", 11));
  r.add(Event(1, Dir::kRx, 0, "HTTP/1.1", 12));
  EXPECT_THAT(sink_.take(), ElementsAre("1 tx data 0 GET  @10", "1 tx data 4 / HTTP/1.1 @11",
                                        "1 rx data 0 HTTP/1.1 @12"));
  EXPECT_EQ(r.stats().delivered_bytes, 22u);
  EXPECT_EQ(r.pending_bytes(), 0u);
}

TEST_F(ReassemblerTest, OutOfOrderIsHeldUntilContiguous) {
  Reassembler r(limits_, &sink_);
  r.add(Event(1, Dir::kTx, 6, "ghi", 3));  // from another CPU, ahead of its turn
  r.add(Event(1, Dir::kTx, 3, "def", 2));
  EXPECT_THAT(sink_.take(), ElementsAre());
  EXPECT_EQ(r.pending_bytes(), 6u);
  r.add(Event(1, Dir::kTx, 0, "abc", 1));
  EXPECT_THAT(sink_.take(),
              ElementsAre("1 tx data 0 abc @1", "1 tx data 3 def @2", "1 tx data 6 ghi @3"));
  EXPECT_EQ(r.pending_bytes(), 0u);
  EXPECT_EQ(r.stats().gaps, 0u);
}

TEST_F(ReassemblerTest, DuplicatesAndOverlapsAreHandedOnOnce) {
  Reassembler r(limits_, &sink_);
  r.add(Event(1, Dir::kRx, 0, "abcd"));
  r.add(Event(1, Dir::kRx, 0, "abcd"));    // the same call twice
  r.add(Event(1, Dir::kRx, 2, "cdef"));    // half old, half new
  r.add(Event(1, Dir::kRx, 10, "klmn"));   // held
  r.add(Event(1, Dir::kRx, 8, "ijklmn"));  // overlaps what is held on both sides
  r.add(Event(1, Dir::kRx, 6, "gh"));
  EXPECT_THAT(sink_.take(),
              ElementsAre("1 rx data 0 abcd @1", "1 rx data 4 ef @1", "1 rx data 6 gh @1",
                          "1 rx data 8 ij @1", "1 rx data 10 klmn @1"));
  EXPECT_EQ(r.stats().duplicate_bytes, 4u + 2u + 4u);
  EXPECT_EQ(r.stats().delivered_bytes, 14u);
}

TEST_F(ReassemblerTest, LostRangesOfAnEventAreAGap) {
  Reassembler r(limits_, &sink_);
  DataEvent e = Event(1, Dir::kTx, 0, "abcghij");
  e.len = 12;                  // the call wrote 12 bytes
  e.lost = {{3, 3}, {10, 2}};  // "def" and the last two never arrived
  r.add(e);
  r.add(Event(1, Dir::kTx, 12, "xyz"));
  EXPECT_THAT(sink_.take(), ElementsAre("1 tx data 0 abc @1", "1 tx gap 3+3", "1 tx data 6 ghij @1",
                                        "1 tx gap 10+2", "1 tx data 12 xyz @1"));
  EXPECT_EQ(r.stats().lost_bytes, 5u);
  EXPECT_EQ(r.stats().gaps, 2u);
}

TEST_F(ReassemblerTest, HoleIsGivenUpAfterMaxAge) {
  limits_.max_hole_age_ns = 1000;
  Reassembler r(limits_, &sink_);
  r.add(Event(1, Dir::kTx, 0, "abc", 100));
  r.add(Event(1, Dir::kTx, 5, "fg", 200));  // 3..5 missing
  r.add(Event(1, Dir::kRx, 0, "x", 900));
  EXPECT_THAT(sink_.take(), ElementsAre("1 tx data 0 abc @100", "1 rx data 0 x @900"));
  r.expire(1100);  // the hole opened at 200: not old enough yet
  EXPECT_THAT(sink_.take(), ElementsAre());
  r.expire(1200);
  EXPECT_THAT(sink_.take(), ElementsAre("1 tx gap 3+2", "1 tx data 5 fg @200"));
  EXPECT_EQ(r.stats().hole_bytes, 2u);
  EXPECT_EQ(r.stats().holes_given_up, 1u);
  // The missing bytes arrive after all: too late, dropped, counted.
  r.add(Event(1, Dir::kTx, 3, "de", 1300));
  EXPECT_THAT(sink_.take(), ElementsAre());
  EXPECT_EQ(r.stats().duplicate_bytes, 2u);
}

TEST_F(ReassemblerTest, LaterEventsAgeAHoleToo) {
  limits_.max_hole_age_ns = 1000;
  Reassembler r(limits_, &sink_);
  r.add(Event(1, Dir::kTx, 2, "cd", 100));
  r.add(Event(1, Dir::kTx, 4, "ef", 1200));  // event time moves past the bound
  EXPECT_THAT(sink_.take(),
              ElementsAre("1 tx gap 0+2", "1 tx data 2 cd @100", "1 tx data 4 ef @1200"));
}

TEST_F(ReassemblerTest, MemoryBoundGivesHolesUpAndIsNeverExceeded) {
  limits_.max_pending_bytes = 8;
  Reassembler r(limits_, &sink_);
  r.add(Event(1, Dir::kTx, 0, "ab"));
  r.add(Event(1, Dir::kTx, 4, "efgh"));  // held: 4 bytes
  r.add(Event(1, Dir::kTx, 10, "kl"));   // held: 6 bytes
  EXPECT_EQ(r.pending_bytes(), 6u);
  r.add(Event(1, Dir::kTx, 14, "opqr"));  // would hold 10 > 8: the first hole goes
  EXPECT_LE(r.pending_bytes(), 8u);
  EXPECT_THAT(sink_.take(),
              ElementsAre("1 tx data 0 ab @1", "1 tx gap 2+2", "1 tx data 4 efgh @1"));
  EXPECT_EQ(r.pending_bytes(), 6u);  // "kl" and "opqr" wait behind their holes
  // An event larger than the bound on its own: every hole before it goes,
  // and it is handed on without being held.
  r.add(Event(1, Dir::kTx, 30, std::string(20, 'z')));
  EXPECT_THAT(sink_.take(), ElementsAre("1 tx gap 8+2", "1 tx data 10 kl @1", "1 tx gap 12+2",
                                        "1 tx data 14 opqr @1", "1 tx gap 18+12",
                                        "1 tx data 30 " + std::string(20, 'z') + " @1"));
  EXPECT_EQ(r.pending_bytes(), 0u);
  EXPECT_EQ(r.stats().hole_bytes, 2u + 2u + 2u + 12u);
}

TEST_F(ReassemblerTest, LeastRecentlyActiveConnectionIsEvicted) {
  limits_.max_connections = 2;
  Reassembler r(limits_, &sink_);
  r.add(Event(1, Dir::kTx, 0, "a"));
  r.add(Event(2, Dir::kTx, 0, "b"));
  r.add(Event(1, Dir::kTx, 3, "d"));  // conn 1 is the most recent now, with a hole
  r.add(Event(3, Dir::kTx, 0, "c"));  // over the cap: conn 2 goes
  r.add(Event(4, Dir::kTx, 0, "e"));  // and then conn 1, its held bytes handed on first
  EXPECT_THAT(sink_.take(), ElementsAre("1 tx data 0 a @1", "2 tx data 0 b @1", "2 close evicted",
                                        "3 tx data 0 c @1", "1 tx gap 1+2", "1 tx data 3 d @1",
                                        "1 close evicted", "4 tx data 0 e @1"));
  EXPECT_EQ(r.connections(), 2u);
  EXPECT_EQ(r.stats().connections_evicted, 2u);
}

TEST_F(ReassemblerTest, IdleConnectionsCloseAndCloseFlushes) {
  limits_.idle_timeout_ns = 1000;
  Reassembler r(limits_, &sink_);
  r.add(Event(1, Dir::kTx, 0, "a", 100));
  r.add(Event(2, Dir::kRx, 2, "c", 500));  // waits for 0..2
  r.expire(1100);
  EXPECT_THAT(sink_.take(), ElementsAre("1 tx data 0 a @100", "1 close idle"));
  r.close(2);
  EXPECT_THAT(sink_.take(), ElementsAre("2 rx gap 0+2", "2 rx data 2 c @500", "2 close closed"));
  EXPECT_EQ(r.connections(), 0u);
  EXPECT_EQ(r.stats().connections_idle, 1u);
  EXPECT_EQ(r.stats().connections_closed, 1u);
}

TEST_F(ReassemblerTest, UnattributedAndMalformedEventsAreCountedNotPlaced) {
  Reassembler r(limits_, &sink_);
  r.add(Event(0, Dir::kTx, 0, "no session"));
  DataEvent short_data = Event(1, Dir::kTx, 0, "abc");
  short_data.len = 5;  // says 5 bytes, carries 3, lists no loss
  r.add(short_data);
  DataEvent bad_lost = Event(1, Dir::kTx, 0, "abc");
  bad_lost.lost = {{2, 9}};  // past the end of the call
  r.add(bad_lost);
  DataEvent wraps = Event(1, Dir::kTx, UINT64_MAX - 1, "abc");
  r.add(wraps);
  EXPECT_THAT(sink_.take(), ElementsAre());
  EXPECT_EQ(r.stats().unattributed_events, 1u);
  EXPECT_EQ(r.stats().malformed_events, 3u);
}

TEST_F(ReassemblerTest, AttributionIsTheLatestEventsAndSurvivesMissingFields) {
  struct InfoSink : TranscriptSink {
    void on_data(const ConnInfo& conn, Dir, uint64_t, std::string_view, uint64_t) override {
      infos.push_back(conn);
    }
    std::vector<ConnInfo> infos;
  } sink;
  Reassembler r(limits_, &sink);
  DataEvent first = Event(9, Dir::kTx, 0, "a");
  first.remote.family = 2;
  first.remote.port = 443;
  r.add(first);
  DataEvent second = Event(9, Dir::kTx, 1, "b");
  second.fd = -1;  // a buffered read: no syscall, no fd this time
  r.add(second);
  ASSERT_EQ(sink.infos.size(), 2u);
  EXPECT_EQ(sink.infos[1].fd, 7);
  EXPECT_EQ(sink.infos[1].remote.port, 443);
  EXPECT_EQ(sink.infos[1].comm, "curl");
}

}  // namespace
}  // namespace tlstap::streams
