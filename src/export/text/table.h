// The live table, read like tcpdump or sslsniff:
//   TIME COMM PID DIR LEN CONNECTION PLAINTEXT-preview
// with -x a hex dump of every captured byte under each row; with --records,
// rows of request/response pairs (export/text/record_table.h), each kind
// under its own header, written before its first row. Statistics go to
// a separate stream (stderr) so the table stays pipeable.
#pragma once

#include <ostream>

#include "export/exporter.h"
#include "export/output_file.h"

namespace tlstap::exporting {

struct TableOptions {
  bool hex = false;     // -x: dump every byte
  size_t preview = 64;  // plaintext bytes shown in the row
  bool utc = false;     // times in UTC instead of local time (tests)
};

class TableExporter : public Exporter {
 public:
  TableExporter(std::ostream& out, std::ostream& status, TableOptions options);
  // Standard output or a file: says why it failed and what it never wrote.
  TableExporter(Output& out, std::ostream& status, TableOptions options)
      : TableExporter(static_cast<std::ostream&>(out), status, options) {
    output_ = &out;
    unwritten_ = UnwrittenCounter(&out);
  }
  void on_data(const capture::DataEvent& event) override;
  // A row of the record table (export/text/record_table.h).
  void on_record(const protocols::Record& record) override;
  void on_stats(const capture::Stats& stats, bool final) override;
  void flush() override { out_.flush(); }
  bool failed() const override { return out_.bad(); }
  int error() const override { return output_ ? output_->error() : 0; }
  std::string output_name() const override {
    return output_ ? output_->name() : Exporter::output_name();
  }
  void add_unwritten(capture::Stats* stats) const override { unwritten_.add_to(stats); }

 private:
  std::ostream& out_;
  const Output* output_ = nullptr;
  UnwrittenCounter unwritten_{nullptr};
  std::ostream& status_;
  TableOptions options_;
  bool header_written_ = false;         // written with the first row
  bool record_header_written_ = false;  // written with the first record row
};

// "22:26:40.123456": the TIME column, local time unless utc.
std::string format_time(uint64_t ts_ns, bool utc);
// The connection column: "fd 5 127.0.0.1:51514 > 127.0.0.1:8443" (">" for
// tx, "<" for rx), "fd 5 unix", or "unattributed".
std::string format_connection(const capture::DataEvent& e);
// hexdump -C style lines, every byte.
void write_hex_dump(std::ostream& out, std::string_view bytes);
// Human summary lines for stats, each starting with "tlstap: ".
void write_stats_text(std::ostream& out, const capture::Stats& s, bool final);
// Only the "tlstap: lost: ..." part (and the late-attach line): tlstap keys,
// which copies no plaintext, has no calls or bytes to report.
void write_losses_text(std::ostream& out, const capture::Stats& s);

}  // namespace tlstap::exporting
