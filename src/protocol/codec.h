// Kafka wire primitives: big-endian integers, varints, strings, bytes, arrays, uuids.
//
// Reader never throws and never allocates more than the bytes it has been given: on any
// malformed input it records the first error, jumps to the end, and every later read returns a
// default value. Callers check ok() once at the end (loops also stop on !ok()).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/uuid.h"
#include "protocol/records.h"

namespace fjord::protocol {

class Reader {
 public:
  Reader() = default;
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  explicit Reader(ByteView v) : Reader(v.data(), v.size()) {}

  bool ok() const { return error_ == nullptr; }
  const char* error() const { return error_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* position() const { return p_; }
  void fail(const char* why);

  int8_t read_int8() { return static_cast<int8_t>(read_be<uint8_t>()); }
  int16_t read_int16() { return static_cast<int16_t>(read_be<uint16_t>()); }
  int32_t read_int32() { return static_cast<int32_t>(read_be<uint32_t>()); }
  int64_t read_int64() { return static_cast<int64_t>(read_be<uint64_t>()); }
  uint16_t read_uint16() { return read_be<uint16_t>(); }
  uint32_t read_uint32() { return read_be<uint32_t>(); }
  double read_float64();
  bool read_bool() { return read_be<uint8_t>() != 0; }
  Uuid read_uuid();

  // Varints are inline: a record batch holds several per record.
  uint32_t read_uvarint() { return static_cast<uint32_t>(read_unsigned_varint(35, UINT32_MAX)); }
  uint64_t read_uvarlong() { return read_unsigned_varint(64, UINT64_MAX); }
  int32_t read_varint() {  // zig-zag
    uint32_t v = read_uvarint();
    return static_cast<int32_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  int64_t read_varlong() {  // zig-zag
    uint64_t v = read_uvarlong();
    return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }

  // Strings and byte arrays: `flexible` selects the compact (varint length + 1) form.
  std::string read_string(bool flexible);
  std::optional<std::string> read_nullable_string(bool flexible);
  Bytes read_bytes(bool flexible);
  std::optional<Bytes> read_nullable_bytes(bool flexible);
  // A records field: copied, or with borrow_records() a view of the buffer being read.
  Records read_records(bool flexible);
  // Records fields read from now on view the buffer instead of copying it. The caller promises
  // the buffer is writable and outlives the records (the connection's request frame).
  void borrow_records() { writable_ = true; }
  // An array's element count; -1 means null. Fails if the count exceeds the bytes left, since
  // every element takes at least one byte (so a hostile count cannot make us allocate).
  int32_t read_array_length(bool flexible);

  // A reader over the next `n` bytes, which this reader skips.
  Reader sub_reader(size_t n) {
    if (n > remaining()) {
      fail("truncated field");
      return Reader();
    }
    Reader sub(p_, n);
    sub.writable_ = writable_;
    p_ += n;
    return sub;
  }
  void skip(size_t n) {
    if (n > remaining()) {
      fail("truncated field");
      return;
    }
    p_ += n;
  }
  // The flexible-version tagged-field section when the caller knows none of the tags.
  void skip_tagged_fields();

 private:
  // Up to max_shift / 7 bytes of 7 bits each, least significant first; fails above `max`.
  uint64_t read_unsigned_varint(int max_shift, uint64_t max) {
    uint64_t v = 0;
    for (int shift = 0; shift < max_shift; shift += 7) {
      if (p_ == end_) {
        fail("truncated varint");
        return 0;
      }
      uint8_t b = *p_++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        if (v > max) break;
        return v;
      }
    }
    fail("varint too long");
    return 0;
  }
  // A bytes field's length and where its bytes are (skipped); nullopt for null or on failure.
  std::optional<ByteView> read_nullable_span(bool flexible);

  template <typename T>
  T read_be() {
    if (remaining() < sizeof(T)) {
      fail("truncated integer");
      return 0;
    }
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>((v << 8) | p_[i]);
    p_ += sizeof(T);
    return v;
  }
  bool take_length(int64_t len, const char* what);

  const uint8_t* p_ = nullptr;
  const uint8_t* end_ = nullptr;
  const char* error_ = nullptr;
  bool writable_ = false;
};

class Writer {
 public:
  explicit Writer(Bytes& out) : out_(&out) {}
  // File slices of records fields are noted in `splices` instead of being copied.
  Writer(Bytes& out, std::vector<Splice>* splices) : out_(&out), splices_(splices) {}

  Bytes& buffer() { return *out_; }
  size_t size() const { return out_->size(); }

  void write_int8(int8_t v) { out_->push_back(static_cast<uint8_t>(v)); }
  void write_int16(int16_t v) { write_be(static_cast<uint16_t>(v)); }
  void write_int32(int32_t v) { write_be(static_cast<uint32_t>(v)); }
  void write_int64(int64_t v) { write_be(static_cast<uint64_t>(v)); }
  void write_uint16(uint16_t v) { write_be(v); }
  void write_uint32(uint32_t v) { write_be(v); }
  void write_float64(double v);
  void write_bool(bool v) { out_->push_back(v ? 1 : 0); }
  void write_uuid(const Uuid& u) { write_raw(u.bytes.data(), u.bytes.size()); }

  void write_uvarint(uint32_t v) { write_uvarlong(v); }
  void write_uvarlong(uint64_t v);
  void write_varint(int32_t v);
  void write_varlong(int64_t v);

  void write_string(std::string_view s, bool flexible);
  void write_nullable_string(const std::optional<std::string>& s, bool flexible);
  void write_bytes(ByteView b, bool flexible);
  void write_nullable_bytes(const std::optional<Bytes>& b, bool flexible);
  // Length prefix, the in-memory part, then the file slices: spliced when this writer collects
  // splices, else read into the buffer.
  void write_records(const Records& r, bool flexible);
  // -1 for null.
  void write_array_length(int32_t n, bool flexible);
  void write_raw(const void* data, size_t n);
  // Overwrites 4 bytes at `pos` (a length prefix reserved earlier).
  void patch_int32(size_t pos, int32_t v);

 private:
  template <typename T>
  void write_be(T v) {
    uint8_t tmp[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i) tmp[i] = static_cast<uint8_t>(v >> (8 * (sizeof(T) - 1 - i)));
    out_->insert(out_->end(), tmp, tmp + sizeof(T));
  }

  Bytes* out_;
  std::vector<Splice>* splices_ = nullptr;
};

}  // namespace fjord::protocol
