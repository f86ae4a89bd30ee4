#include "reference/reference.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>

#include "common/error.hpp"

namespace fa {
namespace {

using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using FloatMap = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

}  // namespace

std::vector<std::int64_t> all_rows(const Problem& p) {
  std::vector<std::int64_t> rows(std::size_t(p.rows()));
  std::iota(rows.begin(), rows.end(), std::int64_t(0));
  return rows;
}

std::vector<std::int64_t> sample_rows(const Problem& p, std::int64_t count, std::uint64_t seed) {
  if (count >= p.rows()) return all_rows(p);
  std::set<std::int64_t> picked{0, p.rows() - 1};
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<std::int64_t> pick(0, p.rows() - 1);
  while (std::int64_t(picked.size()) < count) picked.insert(pick(gen));
  return {picked.begin(), picked.end()};
}

RefResult reference_attention(const Problem& p, const float* q, const float* k, const float* v,
                              const std::vector<std::int64_t>& rows) {
  const std::int64_t D = p.d, Sq = p.sq, Sk = p.sk;
  const double scale = p.softmax_scale();
  RefResult r;
  r.rows = rows;
  r.o.assign(rows.size() * std::size_t(D), 0.0);
  r.lse.assign(rows.size(), kNegInf);

  // Rows are sorted by head in practice, but need not be: group them by (b, h) so each head's
  // K and V are converted to double once.
  std::vector<std::size_t> order(rows.size());
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return rows[a] / Sq < rows[b] / Sq; });

  double sum_s2 = 0, n_s = 0;  // for score_rms
  std::size_t start = 0;
  while (start < order.size()) {
    const std::int64_t head = rows[order[start]] / Sq;  // flat (b * H + h)
    std::size_t end = start;
    while (end < order.size() && rows[order[end]] / Sq == head) ++end;

    const RowMajor K = FloatMap(k + head * Sk * D, Sk, D).cast<double>();
    const RowMajor V = FloatMap(v + head * Sk * D, Sk, D).cast<double>();
    const std::ptrdiff_t n = std::ptrdiff_t(end - start);
#pragma omp parallel for schedule(dynamic, 8) reduction(+ : sum_s2, n_s)
    for (std::ptrdiff_t t = 0; t < n; ++t) {
      const std::size_t slot = order[start + std::size_t(t)];
      const std::int64_t i = rows[slot] % Sq;
      const std::int64_t keys = p.visible_keys(i);  // keys 0 .. keys-1 are visible
      if (keys == 0) continue;                       // O = 0, LSE = -inf
      const Eigen::VectorXd qi = Eigen::Map<const Eigen::VectorXf>(q + rows[slot] * D, D).cast<double>();
      const Eigen::VectorXd s = scale * (K.topRows(keys) * qi);
      sum_s2 += s.squaredNorm();
      n_s += double(keys);
      const double m = s.maxCoeff();
      const Eigen::VectorXd e = (s.array() - m).exp().matrix();
      const double l = e.sum();
      Eigen::Map<Eigen::VectorXd>(r.o.data() + slot * std::size_t(D), D) = V.topRows(keys).transpose() * e / l;
      r.lse[slot] = m + std::log(l);
    }
    start = end;
  }
  r.score_rms = n_s > 0 ? std::sqrt(sum_s2 / n_s) : 0.0;
  return r;
}

BlockedResult blocked_attention(const Problem& p, const float* q, const float* k, const float* v,
                                std::int64_t block_m, std::int64_t block_n) {
  // A block size of 0 would never advance the loops below.
  if (block_m < 1 || block_n < 1)
    throw usage_error("blocked_attention: block sizes must be >= 1 (got " + std::to_string(block_m) + " x " +
                      std::to_string(block_n) + ")");
  const std::int64_t D = p.d, Sq = p.sq, Sk = p.sk;
  const double scale = p.softmax_scale();
  BlockedResult r;
  r.o.assign(std::size_t(p.q_elems()), 0.0);
  r.lse.assign(std::size_t(p.rows()), kNegInf);

  for (std::int64_t head = 0; head < p.bh(); ++head) {
    const float* Q = q + head * Sq * D;
    const float* K = k + head * Sk * D;
    const float* V = v + head * Sk * D;
    // Outer loop: one block of query rows, held "on chip" (here: local vectors).
    for (std::int64_t m0 = 0; m0 < Sq; m0 += block_m) {
      const std::int64_t bm = std::min(block_m, Sq - m0);
      std::vector<double> m_i(std::size_t(bm), kNegInf);  // running row max
      std::vector<double> l_i(std::size_t(bm), 0.0);      // running sum of exp(s - m_i)
      std::vector<double> acc(std::size_t(bm * D), 0.0);  // unnormalised O block
      std::vector<double> s(std::size_t(bm * block_n));   // S_ij for this pair of blocks

      // Inner loop: stream key/value blocks past the resident query block.
      for (std::int64_t n0 = 0; n0 < Sk; n0 += block_n) {
        const std::int64_t bn = std::min(block_n, Sk - n0);
        for (std::int64_t r_ = 0; r_ < bm; ++r_) {
          const std::int64_t i = m0 + r_;
          const std::int64_t keys = p.visible_keys(i);
          // S_ij = scale * Q_i K_j^T, masked entries = -inf.
          double row_max = kNegInf;
          for (std::int64_t c = 0; c < bn; ++c) {
            const std::int64_t j = n0 + c;
            double dot = kNegInf;
            if (j < keys) {
              dot = 0;
              for (std::int64_t x = 0; x < D; ++x) dot += double(Q[i * D + x]) * double(K[j * D + x]);
              dot *= scale;
            }
            s[std::size_t(r_ * block_n + c)] = dot;
            row_max = std::max(row_max, dot);
          }
          // Online softmax: new max, rescale what was accumulated under the old max.
          const double m_new = std::max(m_i[std::size_t(r_)], row_max);
          if (m_new == kNegInf) continue;  // nothing visible yet in this row
          const double alpha = std::exp(m_i[std::size_t(r_)] - m_new);  // exp(-inf) = 0 on the first block
          double row_sum = 0;
          for (std::int64_t x = 0; x < D; ++x) acc[std::size_t(r_ * D + x)] *= alpha;
          for (std::int64_t c = 0; c < bn; ++c) {
            const double pij = std::exp(s[std::size_t(r_ * block_n + c)] - m_new);  // 0 where masked
            row_sum += pij;
            for (std::int64_t x = 0; x < D; ++x) acc[std::size_t(r_ * D + x)] += pij * double(V[(n0 + c) * D + x]);
          }
          l_i[std::size_t(r_)] = alpha * l_i[std::size_t(r_)] + row_sum;
          m_i[std::size_t(r_)] = m_new;
        }
      }
      // Normalise once at the end; rows that saw no key keep O = 0, LSE = -inf.
      for (std::int64_t r_ = 0; r_ < bm; ++r_) {
        if (l_i[std::size_t(r_)] == 0) continue;
        const std::int64_t row = head * Sq + m0 + r_;
        for (std::int64_t x = 0; x < D; ++x)
          r.o[std::size_t(row * D + x)] = acc[std::size_t(r_ * D + x)] / l_i[std::size_t(r_)];
        r.lse[std::size_t(row)] = m_i[std::size_t(r_)] + std::log(l_i[std::size_t(r_)]);
      }
    }
  }
  return r;
}

}  // namespace fa
