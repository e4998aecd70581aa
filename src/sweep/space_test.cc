#include <gtest/gtest.h>

#include <cmath>

#include "sweep/sweep.h"

namespace trainyard::sweep {
namespace {

TEST(Kinds, NamesRoundTrip) {
  for (const std::string& name : KindNames()) {
    auto kind = KindFromName(name);
    ASSERT_TRUE(kind.has_value()) << name;
    EXPECT_EQ(KindName(*kind), name);
  }
  EXPECT_FALSE(KindFromName("gaussian").has_value());
  EXPECT_EQ(KindNames().size(), 10u);
}

TEST(NormalQuantile, KnownValues) {
  EXPECT_NEAR(NormalQuantile(0.5), 0.0, 1e-15);
  EXPECT_NEAR(NormalQuantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(NormalQuantile(0.025), -1.959963984540054, 1e-12);
  EXPECT_NEAR(NormalQuantile(0.8413447460685429), 1.0, 1e-12);
  EXPECT_NEAR(NormalQuantile(1e-10), -6.361340902404056, 1e-9);
  for (double u = 0.001; u < 1; u += 0.0137) {
    const double x = NormalQuantile(u);
    EXPECT_NEAR(0.5 * std::erfc(-x / std::sqrt(2.0)), u, 1e-14) << u;
  }
}

Distribution Make(Kind kind) {
  Distribution d;
  d.kind = kind;
  return d;
}

TEST(FromUnit, HandComputed) {
  Distribution c = Make(Kind::kChoice);
  c.values = {16, "b", true};
  EXPECT_EQ(FromUnit(c, 0.0), 16);
  EXPECT_EQ(FromUnit(c, 0.34), "b");
  EXPECT_EQ(FromUnit(c, 0.999), true);
  EXPECT_EQ(FromUnit(c, 1.0), true);

  Distribution r = Make(Kind::kRandint);
  r.upper = 10;
  EXPECT_EQ(FromUnit(r, 0.0), 0);
  EXPECT_EQ(FromUnit(r, 0.55), 5);
  EXPECT_EQ(FromUnit(r, 0.9999), 9);
  EXPECT_TRUE(FromUnit(r, 0.55).is_number_integer());

  Distribution un = Make(Kind::kUniform);
  un.min_value = -1;
  un.max_value = 3;
  EXPECT_DOUBLE_EQ(FromUnit(un, 0.25).get<double>(), 0.0);

  Distribution qu = Make(Kind::kQUniform);
  qu.min_value = 0;
  qu.max_value = 10;
  qu.q = 4;
  EXPECT_DOUBLE_EQ(FromUnit(qu, 0.55).get<double>(), 4.0);  // round(5.5 / 4) * 4
  EXPECT_DOUBLE_EQ(FromUnit(qu, 0.65).get<double>(), 8.0);  // round(6.5 / 4) * 4

  Distribution lu = Make(Kind::kLogUniform);
  lu.min_value = std::log(1e-4);
  lu.max_value = std::log(1e-2);
  EXPECT_NEAR(FromUnit(lu, 0.5).get<double>(), 1e-3, 1e-15);

  Distribution qlu = Make(Kind::kQLogUniform);
  qlu.min_value = 0;
  qlu.max_value = std::log(100.0);
  qlu.q = 5;
  EXPECT_DOUBLE_EQ(FromUnit(qlu, 0.5).get<double>(), 10.0);  // round(10 / 5) * 5

  Distribution n = Make(Kind::kNormal);
  n.mu = 2;
  n.sigma = 3;
  EXPECT_NEAR(FromUnit(n, 0.5).get<double>(), 2.0, 1e-12);
  EXPECT_NEAR(FromUnit(n, 0.975).get<double>(), 2 + 3 * 1.959963984540054, 1e-9);
  EXPECT_TRUE(std::isfinite(FromUnit(n, 0.0).get<double>()));

  Distribution qn = Make(Kind::kQNormal);
  qn.mu = 2;
  qn.sigma = 3;
  qn.q = 0.5;
  EXPECT_DOUBLE_EQ(FromUnit(qn, 0.975).get<double>(), 8.0);  // round(7.88 / 0.5) * 0.5

  Distribution ln = Make(Kind::kLogNormal);
  ln.mu = 0;
  ln.sigma = 1;
  EXPECT_NEAR(FromUnit(ln, 0.5).get<double>(), 1.0, 1e-12);

  Distribution qln = Make(Kind::kQLogNormal);
  qln.mu = std::log(7.2);
  qln.sigma = 1;
  qln.q = 2;
  EXPECT_DOUBLE_EQ(FromUnit(qln, 0.5).get<double>(), 8.0);  // round(7.2 / 2) * 2
}

}  // namespace
}  // namespace trainyard::sweep
