#include "storage/file.h"

#include <gtest/gtest.h>

namespace fjord::storage {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

TEST(Reservation, KeepsFivePercentOfTheFileSystemFree) {
  // 200 GiB file system: 10 GiB must stay free after the reservation.
  EXPECT_TRUE(reservation_leaves_room(50 * kGiB, 200 * kGiB, kGiB));
  EXPECT_TRUE(reservation_leaves_room(11 * kGiB, 200 * kGiB, kGiB));
  EXPECT_FALSE(reservation_leaves_room(11 * kGiB - 1, 200 * kGiB, kGiB));
  EXPECT_FALSE(reservation_leaves_room(10 * kGiB, 200 * kGiB, 64 << 20));
}

TEST(Reservation, KeepsAtLeastOneGibibyteFreeOnSmallFileSystems) {
  // 8 GiB file system: 5% is 0.4 GiB, so 1 GiB is the floor.
  EXPECT_TRUE(reservation_leaves_room(2 * kGiB, 8 * kGiB, 64 << 20));
  EXPECT_FALSE(reservation_leaves_room(kGiB + (32 << 20), 8 * kGiB, 64 << 20));
  EXPECT_FALSE(reservation_leaves_room(kGiB / 2, 8 * kGiB, 1 << 20));
}

TEST(Reservation, NeverReservesMoreThanIsFree) {
  EXPECT_FALSE(reservation_leaves_room(512 << 20, 0, kGiB));
  EXPECT_TRUE(reservation_leaves_room(3 * kGiB, 0, kGiB));
}

}  // namespace
}  // namespace fjord::storage
