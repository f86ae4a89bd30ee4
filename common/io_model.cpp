#include "common/io_model.hpp"

namespace fa {

double IoModel::requested_read() const {
  double s = 0;
  for (const auto& k : kernels) s += k.read;
  return s;
}

double IoModel::requested_write() const {
  double s = 0;
  for (const auto& k : kernels) s += k.write;
  return s;
}

IoModel compulsory_io(const Problem& p) {
  IoModel m;
  m.compulsory_read = p.bytes_q() + 2 * p.bytes_kv();
  m.compulsory_write = p.bytes_o() + p.bytes_lse();
  return m;
}

}  // namespace fa
