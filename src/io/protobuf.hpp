#pragma once
// A minimal writer of the protocol buffers wire format, enough for an ONNX model (onnx.cpp):
// varints, length-delimited fields (strings, bytes, nested messages) and fixed32 floats. Written
// here from the wire format's definition so that exporting needs no protobuf library.
//   field key  = varint (field number << 3 | wire type)
//   wire types = 0 varint (int32, int64, enums: two's complement, 10 bytes when negative),
//                2 length-delimited (varint length, then the bytes), 5 fixed32 (little-endian)
// A repeated scalar field is written unpacked (one key per value), as proto2, the syntax of
// onnx.proto, does by default; parsers accept both forms.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace scratchcnn::protobuf {

enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// Appends v as a base-128 varint: 7 bits at a time, least significant first, the high bit set on
// every byte but the last.
inline void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Appends the 4 bytes of f, little-endian, whatever the host's byte order.
inline void put_float_le(std::string& out, float f) {
  std::uint32_t u = 0;
  std::memcpy(&u, &f, sizeof u);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

// One message being written: fields are appended in the order of the calls.
class Message {
 public:
  Message& key(std::uint32_t field, WireType type) {
    put_varint(bytes_, (std::uint64_t(field) << 3) | type);
    return *this;
  }
  // int32, int64, uint64, enum (a negative value as its 64-bit two's complement).
  Message& varint(std::uint32_t field, std::int64_t v) {
    key(field, kVarint);
    put_varint(bytes_, static_cast<std::uint64_t>(v));
    return *this;
  }
  // string, bytes.
  Message& bytes(std::uint32_t field, std::string_view s) {
    key(field, kLengthDelimited);
    put_varint(bytes_, s.size());
    bytes_.append(s);
    return *this;
  }
  Message& message(std::uint32_t field, const Message& m) { return bytes(field, m.bytes_); }
  Message& fixed32(std::uint32_t field, float f) {
    key(field, kFixed32);
    put_float_le(bytes_, f);
    return *this;
  }
  const std::string& str() const { return bytes_; }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

}  // namespace scratchcnn::protobuf
