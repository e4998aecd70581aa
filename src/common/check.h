// Checks for programmer errors only (never for user input or I/O): they abort with both values.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>

#define TY_CHECK(cond)                                                              \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

#define TY_CHECK_OP(a, op, b)                                                                      \
  do {                                                                                             \
    const auto& ty_a_ = (a);                                                                       \
    const auto& ty_b_ = (b);                                                                       \
    if (!(ty_a_ op ty_b_)) {                                                                       \
      std::ostringstream ty_os_;                                                                   \
      ty_os_ << #a " " #op " " #b " (" << ty_a_ << " vs. " << ty_b_ << ")";                        \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, ty_os_.str().c_str()); \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)

#define TY_CHECK_EQ(a, b) TY_CHECK_OP(a, ==, b)
#define TY_CHECK_NE(a, b) TY_CHECK_OP(a, !=, b)
#define TY_CHECK_LT(a, b) TY_CHECK_OP(a, <, b)
#define TY_CHECK_LE(a, b) TY_CHECK_OP(a, <=, b)
#define TY_CHECK_GE(a, b) TY_CHECK_OP(a, >=, b)
