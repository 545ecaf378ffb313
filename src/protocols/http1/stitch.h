// Pairs the requests of one connection with its responses.
#pragma once

#include <deque>
#include <vector>

#include "protocols/http1/types.h"

namespace tlstap::protocols::http1 {

struct StitchResult {
  std::vector<Record> records;  // attribution left empty: the caller knows the connection
  int error_count = 0;          // records with an error
};

// HTTP/1 answers requests in order (pipelined or not), so the oldest
// waiting request takes the oldest response, except where time or lost
// bytes say otherwise:
//  - a response that began before the oldest waiting request did answers a
//    request that was not captured (an error record of its own);
//  - a response found after lost response bytes answers the latest request
//    sent before it; older waiting requests lost their responses.
// Messages that may still be paired stay in the deques (at most
// kMaxWaiting each); with connection_closed everything left becomes a record.
StitchResult Stitch(std::deque<Message>* requests, std::deque<Message>* responses,
                    bool connection_closed = false);

inline constexpr size_t kMaxWaiting = 256;

}  // namespace tlstap::protocols::http1
