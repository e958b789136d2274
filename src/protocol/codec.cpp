#include "protocol/codec.h"

#include <unistd.h>

#include <algorithm>
#include <bit>

namespace fjord::protocol {

void Reader::fail(const char* why) {
  if (error_ == nullptr) error_ = why;
  p_ = end_;
}

double Reader::read_float64() { return std::bit_cast<double>(read_be<uint64_t>()); }

Uuid Reader::read_uuid() {
  Uuid u;
  if (remaining() < 16) {
    fail("truncated uuid");
    return u;
  }
  std::memcpy(u.bytes.data(), p_, 16);
  p_ += 16;
  return u;
}

bool Reader::take_length(int64_t len, const char* what) {
  if (len < 0 || static_cast<uint64_t>(len) > remaining()) {
    fail(what);
    return false;
  }
  return true;
}

std::optional<std::string> Reader::read_nullable_string(bool flexible) {
  int64_t len = flexible ? static_cast<int64_t>(read_uvarint()) - 1 : read_int16();
  if (!ok()) return std::nullopt;
  if (len == -1) return std::nullopt;
  if (!take_length(len, "string length out of range")) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(p_), static_cast<size_t>(len));
  p_ += len;
  return s;
}

std::string Reader::read_string(bool flexible) {
  const uint8_t* before = p_;
  auto s = read_nullable_string(flexible);
  if (!s && ok() && p_ != before) fail("null for a non-nullable string");
  return s ? std::move(*s) : std::string();
}

std::optional<ByteView> Reader::read_nullable_span(bool flexible) {
  int64_t len = flexible ? static_cast<int64_t>(read_uvarint()) - 1 : read_int32();
  if (!ok()) return std::nullopt;
  if (len == -1) return std::nullopt;
  if (!take_length(len, "bytes length out of range")) return std::nullopt;
  ByteView view(p_, static_cast<size_t>(len));
  p_ += len;
  return view;
}

std::optional<Bytes> Reader::read_nullable_bytes(bool flexible) {
  auto view = read_nullable_span(flexible);
  if (!view) return std::nullopt;
  return Bytes(view->begin(), view->end());
}

Records Reader::read_records(bool flexible) {
  auto view = read_nullable_span(flexible);
  if (!view) return Records();
  if (!writable_) return Records(Bytes(view->begin(), view->end()));
  // The buffer is the caller's and writable (borrow_records): this view of it may be too.
  return Records::borrowed(std::span<uint8_t>(const_cast<uint8_t*>(view->data()), view->size()));
}

Bytes Reader::read_bytes(bool flexible) {
  const uint8_t* before = p_;
  auto b = read_nullable_bytes(flexible);
  if (!b && ok() && p_ != before) fail("null for non-nullable bytes");
  return b ? std::move(*b) : Bytes();
}

int32_t Reader::read_array_length(bool flexible) {
  int64_t n = flexible ? static_cast<int64_t>(read_uvarint()) - 1 : read_int32();
  if (!ok()) return 0;
  if (n == -1) return -1;
  if (!take_length(n, "array length out of range")) return 0;
  return static_cast<int32_t>(n);
}

void Reader::skip_tagged_fields() {
  uint32_t count = read_uvarint();
  for (uint32_t i = 0; i < count && ok(); ++i) {
    read_uvarint();
    skip(read_uvarint());
  }
}

void Writer::write_float64(double v) { write_be(std::bit_cast<uint64_t>(v)); }

void Writer::write_uvarlong(uint64_t v) {
  while (v >= 0x80) {
    out_->push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out_->push_back(static_cast<uint8_t>(v));
}

void Writer::write_varint(int32_t v) {
  write_uvarlong((static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31));
}

void Writer::write_varlong(int64_t v) {
  write_uvarlong((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

void Writer::write_string(std::string_view s, bool flexible) {
  if (flexible) {
    write_uvarint(static_cast<uint32_t>(s.size() + 1));
  } else {
    write_int16(static_cast<int16_t>(s.size()));
  }
  write_raw(s.data(), s.size());
}

void Writer::write_nullable_string(const std::optional<std::string>& s, bool flexible) {
  if (s) {
    write_string(*s, flexible);
  } else if (flexible) {
    write_uvarint(0);
  } else {
    write_int16(-1);
  }
}

void Writer::write_bytes(ByteView b, bool flexible) {
  if (flexible) {
    write_uvarint(static_cast<uint32_t>(b.size() + 1));
  } else {
    write_int32(static_cast<int32_t>(b.size()));
  }
  write_raw(b.data(), b.size());
}

void Writer::write_nullable_bytes(const std::optional<Bytes>& b, bool flexible) {
  if (b) {
    write_bytes(*b, flexible);
  } else if (flexible) {
    write_uvarint(0);
  } else {
    write_int32(-1);
  }
}

void Writer::write_records(const Records& r, bool flexible) {
  if (r.is_null()) {
    write_nullable_bytes(std::nullopt, flexible);
    return;
  }
  uint64_t size = r.size();
  if (flexible) {
    write_uvarlong(size + 1);
  } else {
    write_int32(static_cast<int32_t>(size));
  }
  if (auto d = r.data()) write_raw(d->data(), d->size());
  for (const FileSlice& s : r.slices()) {
    if (splices_ != nullptr) {
      splices_->push_back({out_->size(), s});
      continue;
    }
    size_t at = out_->size();
    out_->resize(at + s.length);
    ssize_t n = ::pread(s.fd, out_->data() + at, s.length, static_cast<off_t>(s.offset));
    if (n != static_cast<ssize_t>(s.length)) std::fill(out_->begin() + static_cast<ptrdiff_t>(at), out_->end(), 0);
  }
}

Bytes Frame::materialize() const {
  Bytes out;
  size_t from = 0;
  for (const Splice& s : splices) {
    out.insert(out.end(), head.begin() + static_cast<ptrdiff_t>(from), head.begin() + static_cast<ptrdiff_t>(s.at));
    size_t at = out.size();
    out.resize(at + s.slice.length);
    ssize_t n = ::pread(s.slice.fd, out.data() + at, s.slice.length, static_cast<off_t>(s.slice.offset));
    if (n != static_cast<ssize_t>(s.slice.length)) std::fill(out.begin() + static_cast<ptrdiff_t>(at), out.end(), 0);
    from = s.at;
  }
  out.insert(out.end(), head.begin() + static_cast<ptrdiff_t>(from), head.end());
  return out;
}

void Writer::write_array_length(int32_t n, bool flexible) {
  if (flexible) {
    write_uvarint(static_cast<uint32_t>(n + 1));
  } else {
    write_int32(n);
  }
}

void Writer::write_raw(const void* data, size_t n) {
  auto* b = static_cast<const uint8_t*>(data);
  out_->insert(out_->end(), b, b + n);
}

void Writer::patch_int32(size_t pos, int32_t v) {
  auto u = static_cast<uint32_t>(v);
  for (int i = 0; i < 4; ++i) (*out_)[pos + i] = static_cast<uint8_t>(u >> (8 * (3 - i)));
}

}  // namespace fjord::protocol
