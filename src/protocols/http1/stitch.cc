#include "protocols/http1/stitch.h"

#include <string>
#include <string_view>
#include <utility>

namespace tlstap::protocols::http1 {
namespace {

// "request cut short by lost bytes", "... by the connection's end"
std::string cut_short(std::string_view what, const Message& m) {
  return std::string(what) + (m.cut_by == Cut::kConnectionEnd ? " cut short by the connection's end"
                                                              : " cut short by lost bytes");
}

Record make_record(const Message* req, const Message* resp, std::string error) {
  Record r;
  if (req) {
    r.method = req->method;
    r.target = req->target;
    r.host = req->header("Host");
    r.request_bytes = req->wire_size;
    r.request_body_bytes = req->body_size;
    r.ts_ns = req->first_ts_ns;
    if (req->truncated && error.empty()) error = cut_short("request", *req);
  }
  if (resp) {
    r.status = resp->status;
    r.response_bytes = resp->wire_size;
    r.response_body_bytes = resp->body_size;
    if (!req) r.ts_ns = resp->first_ts_ns;
    if (resp->truncated && error.empty()) error = cut_short("response", *resp);
  }
  if (req && resp && resp->last_ts_ns >= req->first_ts_ns)
    r.latency_ns = resp->last_ts_ns - req->first_ts_ns;
  r.error = std::move(error);
  return r;
}

}  // namespace

StitchResult Stitch(std::deque<Message>* requests, std::deque<Message>* responses,
                    bool connection_closed) {
  StitchResult out;
  auto emit = [&](const Message* req, const Message* resp, std::string error) {
    Record r = make_record(req, resp, std::move(error));
    if (!r.error.empty()) ++out.error_count;
    out.records.push_back(std::move(r));
  };
  while (!responses->empty()) {
    const Message& resp = responses->front();
    if (requests->empty()) {
      // Its request may still come: the other direction is parsed on its own.
      if (!connection_closed && responses->size() <= kMaxWaiting) break;
      emit(nullptr, &resp, "no request seen");
      responses->pop_front();
      continue;
    }
    if (resp.first_ts_ns < requests->front().first_ts_ns) {
      emit(nullptr, &resp, "request not captured");
      responses->pop_front();
      continue;
    }
    if (resp.after_gap) {
      while (requests->size() > 1 && (*requests)[1].first_ts_ns <= resp.first_ts_ns) {
        emit(&requests->front(), nullptr, "response lost");
        requests->pop_front();
      }
    }
    emit(&requests->front(), &resp, "");
    requests->pop_front();
    responses->pop_front();
  }
  while (!requests->empty() && (connection_closed || requests->size() > kMaxWaiting)) {
    emit(&requests->front(), nullptr, "no response");
    requests->pop_front();
  }
  return out;
}

}  // namespace tlstap::protocols::http1
