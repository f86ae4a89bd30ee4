// The head dims a step compiles its kernels for, written once per step (the step's header:
// `using HeadDims = HeadDimSet<...>`) and read from there by the three places that need them:
// the step's claim (steps/*/step.cpp), the launcher's dispatch from the run-time head dim to a
// kernel instantiation, and, for tiled steps, the host view of the tile sizes (io model, grid
// checks). Plain C++17: the step .cu files include it too.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

namespace fa {

template <int... kDims>
struct HeadDimSet {
  static constexpr std::int64_t values[] = {kDims...};

  // "32, 64, 96, 128": for the launchers' refusal of a head dim they were not compiled for.
  static std::string list() {
    std::string s;
    ((s += (s.empty() ? "" : ", ") + std::to_string(kDims)), ...);
    return s;
  }

  // Calls f(std::integral_constant<int, D>{}) for the D equal to d; false when d is none of them.
  template <class F>
  static bool dispatch(std::int64_t d, F&& f) {
    return ((d == kDims ? (f(std::integral_constant<int, kDims>{}), true) : false) || ...);
  }
};

struct TileShape {
  std::int64_t block_m = 0, block_n = 0;  // both 0 for a head dim the step does not support
};

// Tile<D>::kBlockM and Tile<D>::kBlockN for a run-time head dim d among the set's; {0, 0} for
// any other.
template <template <int> class Tile, int... kDims>
constexpr TileShape tile_shape(HeadDimSet<kDims...>, std::int64_t d) {
  TileShape t{};
  (void)((d == kDims ? (t = TileShape{Tile<kDims>::kBlockM, Tile<kDims>::kBlockN}, true) : false) || ...);
  return t;
}

}  // namespace fa
