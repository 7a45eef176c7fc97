// CRIU's RPC messages in protobuf's wire format (linux/criu_rpc.h), checked byte by byte.
#include <gtest/gtest.h>

#include "linux/criu_rpc.h"

namespace vessel::linux::criu {
namespace {

TEST(CriuRpcTest, VarintsAndTags) {
  std::string s;
  put_varint(s, 1);
  put_varint(s, 300);
  EXPECT_EQ(s, std::string("\x01\xac\x02", 3));
  s.clear();
  put_tag(s, 34, 0);  // (34 << 3) | 0 = 272 = 0x90 0x02
  EXPECT_EQ(s, std::string("\x90\x02", 2));
}

TEST(CriuRpcTest, DumpRequestCarriesTheFieldsSet) {
  Opts o;
  o.images_dir_fd = 5;
  o.pid = 42;
  o.leave_running = true;
  o.root = "/r";
  o.ext_mnt.emplace_back("/a", "/b");
  std::string req = encode_request(ReqType::dump, &o);
  // type = DUMP (field 1), then opts (field 2, length-delimited).
  ASSERT_GE(req.size(), 4u);
  EXPECT_EQ(req.substr(0, 2), std::string("\x08\x01", 2));
  EXPECT_EQ(static_cast<uint8_t>(req[2]), 0x12);
  std::string opts = req.substr(4);
  ASSERT_EQ(static_cast<size_t>(static_cast<uint8_t>(req[3])), opts.size());
  EXPECT_NE(opts.find(std::string("\x08\x05", 2)), std::string::npos);    // images_dir_fd 5
  EXPECT_NE(opts.find(std::string("\x10\x2a", 2)), std::string::npos);    // pid 42
  EXPECT_NE(opts.find(std::string("\x18\x01", 2)), std::string::npos);    // leave_running
  EXPECT_NE(opts.find(std::string("\x6a\x02/r", 4)), std::string::npos);  // root (13)
  // ext_mnt (23): tag 0xba 0x01, length 8, {1: "/a", 2: "/b"}
  EXPECT_NE(opts.find(std::string("\xba\x01\x08\x0a\x02/a\x12\x02/b", 11)), std::string::npos);
}

TEST(CriuRpcTest, NegativeInt32IsTenBytes) {
  Opts o;  // images_dir_fd -1
  std::string req = encode_request(ReqType::check, &o);
  EXPECT_NE(req.find(std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11)),
            std::string::npos);
}

TEST(CriuRpcTest, DecodesRestoreResponseAndSkipsUnknownFields) {
  std::string resp;
  put_uint_field(resp, 1, 2);  // RESTORE
  put_uint_field(resp, 2, 1);  // success
  std::string restore;
  put_uint_field(restore, 1, 4321);
  put_bytes_field(resp, 4, restore);
  put_bytes_field(resp, 99, "ignored");
  put_uint_field(resp, 98, 7);
  Response r = decode_response(resp);
  EXPECT_EQ(r.type, ReqType::restore);
  EXPECT_TRUE(r.success);
  ASSERT_TRUE(r.restore_pid.has_value());
  EXPECT_EQ(*r.restore_pid, 4321);
}

TEST(CriuRpcTest, DecodesFailureWithErrnoAndMessage) {
  std::string resp;
  put_uint_field(resp, 1, 1);
  put_uint_field(resp, 2, 0);
  put_uint_field(resp, 7, 3);
  put_bytes_field(resp, 9, "no such process");
  Response r = decode_response(resp);
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.cr_errno, 3);
  EXPECT_EQ(r.cr_errmsg, "no such process");
}

TEST(CriuRpcTest, TruncatedInputThrows) {
  EXPECT_THROW(decode_response(std::string("\x0a\x05"
                                           "ab",
                                           4)),
               std::exception);
  EXPECT_THROW(decode_response(std::string("\x08\xff", 2)), std::exception);
}

}  // namespace
}  // namespace vessel::linux::criu
