// Step 06: FlashAttention-3 on Hopper (TMA, mbarriers, wgmma, warp specialisation, pingpong).
//
// What changed from step 05 (FlashAttention-2 with mma.sync, ldmatrix, cp.async):
//   - Loads go through the Tensor Memory Accelerator. One thread issues cp.async.bulk.tensor for a
//     whole (rows, 64) box described by a CUtensorMap built on the host; the hardware writes it
//     into shared memory already 128-byte swizzled, zero-fills rows past Sq or Sk of the head, and
//     counts the bytes on an mbarrier. No thread computes an address, nothing is predicated.
//   - Both products are wgmma.mma_async, issued by a warpgroup (4 warps, 128 threads) for a
//     64-row tile: m64nNk16. S = Q K^T reads Q and K from shared memory through matrix
//     descriptors; O += P V reads P from registers (S's accumulators rounded to 16 bits, the
//     trick of step 05) and V from shared memory, transposed by the hardware (V is N-major). A
//     wgmma is asynchronous: the warpgroup issues it, keeps computing, and waits for it later.
//   - Warp specialisation: a producer warpgroup, whose thread 0 only issues TMA loads and which
//     gives registers back (setmaxnreg.dec), and kBlockM / 64 consumer warpgroups (two at
//     D = 128 and 256, three at D = 64) that only compute (setmaxnreg.inc). They talk through
//     mbarriers in shared memory: full[stage] (producer -> consumers: the bytes have landed) and
//     empty[stage] (consumers -> producer: the stage may be overwritten), for K and for V
//     separately.
//   - Scheduling: at D = 64 and 256 the consumers take turns issuing their GEMMs (pingpong, one
//     named barrier each), so one warpgroup's softmax runs while another's GEMMs occupy the tensor
//     cores (at D = 128 the turns do not pay, and the full kernel runs without them:
//     Tiles<D>::kPingpong); and inside a warpgroup, S = Q K^T of tile j is issued together with
//     O += P V of tile j - 1, so the softmax of tile j runs while that P V is on the tensor cores
//     (intra-warpgroup overlap).
//   - O leaves through sO with a TMA store (one thread of each consumer warpgroup issues it), so
//     the consumers' epilogue is their shared-memory stores of O (stmatrix: four 8 x 8 matrices
//     per instruction; 32-bit stores in the key-range kernels, kStmatrixO), with no global
//     addresses; only a warpgroup whose 64 rows straddle row 0 of a ragged first tile reads its
//     rows back from sO and stores them itself, as in step 05.
//   - Persistent blocks (where work items are short): one block per SM walks the query tiles,
//     so the next tile's Q and K/V loads run during this one's last P V and epilogue; O gets its
//     own staging buffer sO for that (for_each_item, launch_causal). At D = 256 there is no room
//     for it: sO is sQ (Config::kOwnO), and the next item's Q waits until O has left
//     (kQUntilStored).
//   - Unchanged from step 05: the online softmax (exp2 with log2(e) folded into the scale, the
//     -inf guards), causal tiles above the diagonal skipped and only tiles crossing it or Sk
//     masked, O normalised once at the end and staged through shared memory, LSE out,
//     heaviest query tiles first (one block per item; the persistent causal schedule pairs
//     heavy with light ones instead).
//   - New in the order of the work: the query tiles are cut from the end of the sequence, so
//     that a ragged tile is the cheapest one under the causal mask, and causal items that run
//     one block each go heaviest first across a chunk of heads, not head by head (work_tile).
//     Causal, in the persistent kernel at D = 64, each consumer computes only the key tiles its
//     own 64 rows see, not all those of its 192-row tile (kOwnKeyRange); one that sees fewer
//     leaves the pingpong ring for the rest and writes its O while the others finish the item,
//     and one whose rows see only the first half of their last key tile computes that half
//     (kHalfLastTile).
//
// Thread-to-data mapping (a work item = one (batch, head) and kBlockM query rows):
//   block          <- work items: item blockIdx.x (a head and a query tile counted from the end
//                     of the sequence, see work_tile), or, persistent, the items of
//                     for_each_item.
//   warpgroup 0    <- the producer: thread 0 issues every TMA load (per item Q once, then K and
//                     V tile by tile into the ring); threads 1..127 exit at once.
//   warpgroup 1+c  <- consumer c (c < kBlockM / 64): query rows [64 c, 64 c + 64) of the tile against
//                     every key; its warp w owns rows 64 c + 16 w .. + 15 (a wgmma's m64 is four
//                     warps' m16).
//   lane           <- in every wgmma accumulator (S: 64 x kBlockN, O: 64 x kHeadDim) the m16n8
//                     layout of step 05 repeated along N: rows g and g + 8 of its warp's 16,
//                     columns 8 j + 2 t and + 1 of every n8 slice j, in d[4 j + 2 h + e] (row
//                     g + 8 h, column 8 j + 2 t + e), g = lane / 4, t = lane % 4.
//   no_warp_specialization: no producer; thread 0 of consumer 0 issues the loads.
//
// Shared memory per block: sQ (kBlockM, D) + sO (kBlockM, D) + kStages x [sK (kBlockN, D) +
// sV (kBlockN, D)], each tile stored as D / 64 column blocks of (rows, 64) in the TMA's 128-byte
// swizzle, then the mbarriers, plus up to 1 KiB to align the tiles to the swizzle's 1024-byte
// period:
//   D = 64:  (2 x 192 + 2 x 4 x 128) x  64 x 2 = 176 KiB (+ 1 KiB + 144 B)
//   D = 128: (2 x 128 + 2 x 2 x 128) x 128 x 2 = 192 KiB (+ 1 KiB + 80 B)
//   D = 256: (128 + 2 x 2 x 64) x 256 x 2     = 192 KiB (+ 1 KiB + 80 B): sO shares sQ's bytes
// One block per SM: registers and shared memory each allow only one. D = 128 and 256: 12 warps,
// 2 x 128 x 240 + 128 x 24 registers; D = 64: 16 warps, 3 x 128 x 160 + 128 x 32 (the whole 64 K
// register file). At D = 256, O alone is 128 of a consumer thread's 240 registers: S gets
// 64-key tiles (32 registers; with 128 keys the S being computed, the P being multiplied and O
// would be 224 of the 240 by themselves).
//
// Expected bottleneck: the tensor cores at D = 128; at D = 64 the exp2 unit is as busy as they
// are. Per 64 x 128 tile of one warpgroup, the GEMMs are 4 x 64 x 128 x D flops, 512 clocks at
// D = 64 and 1024 at D = 128 at the SM's 4096 dense 16-bit flops per clock; the softmax is 8192
// exp2 at 16 per clock, 512 clocks, plus about 3 FP32 operations per score. Only if each
// warpgroup's softmax hides under GEMMs (its own P V and the other warpgroups' products) does the
// tensor pipe stay busy; that is what the pingpong (at D = 64) and the overlap are for, and what
// the ablations measure. At D = 64 the softmax is as long as the GEMMs, so two warpgroups leave the
// tensor cores idle whenever one's softmax runs long: a third consumer (192-row tiles) keeps
// GEMMs queued (measured: 1.05-1.25x the two-consumer kernel at N >= 2048, notes/worklog.md).
// At D = 256 (64-key tiles) the GEMMs of a warpgroup's tile are 1024 clocks and its softmax 4096
// exp2, 256 clocks: the tensor cores are the bottleneck with room to spare.
// HBM traffic is step 05's Theta(N^2 d^2 / M), with K/V re-reads from L2.
#include <cuda.h>  // CUtensorMap and its enums (types only: libcuda is never linked)
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math_constants.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

#include "common/attention_args.hpp"
#include "common/cuda_check.hpp"
#include "common/device_buffer.hpp"
#include "common/device_ops.cuh"
#include "common/launch.hpp"
#include "steps/06_warp_specialized/warp_specialized.hpp"

// A build for other architectures as well (CMAKE_CUDA_ARCHITECTURES="80;90a") compiles the kernel
// body out in their device passes (see flash3_kernel), leaving device-only constants unused there.
#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#pragma nv_diag_suppress 177
#endif

namespace fa::warp_specialized {
namespace {

constexpr int kWarpSize = 32;
constexpr int kWarpgroupWarps = 4;                            // wgmma runs on 4 warps together
constexpr int kWarpgroupThreads = kWarpgroupWarps * kWarpSize;  // 128
constexpr unsigned kFullWarp = 0xffffffffu;                   // every lane takes part in the shuffle
constexpr int kElemBytes = 2;                                 // bf16 and fp16
constexpr int kChunkBytes = 16;                               // one swizzled unit, one vector store
constexpr int kChunkElems = kChunkBytes / kElemBytes;         // 8 elements
constexpr int kSwizzleRowBytes = 128;                         // a 128B-swizzled row: 8 chunks
constexpr int kSwizzleCols = kSwizzleRowBytes / kElemBytes;   // 64 elements: one TMA box width
constexpr int kSwizzleRows = 8;                               // the XOR pattern repeats every 8 rows
constexpr int kSwizzleAtomBytes = kSwizzleRows * kSwizzleRowBytes;  // 1024: tiles start on this
constexpr int kWgmmaM = 64, kWgmmaK = 16;                     // wgmma.m64nNk16
constexpr int kQuad = 4;                                      // lanes that share an accumulator row
constexpr int kWarpRows = kWgmmaM / kWarpgroupWarps;          // 16 accumulator rows per warp
constexpr int kHalfRows = 8;                                  // a lane's rows are g and g + 8
constexpr int kSliceCols = 8;                                 // an n8 slice of an accumulator
constexpr int kARegs = 4;                                     // registers of one m64k16 A fragment
constexpr int kMbarrierBytes = 8;                             // one mbarrier object
constexpr int kRegisterFile = 65536;                          // 32-bit registers per SM
constexpr int kSmemPerBlockMax = 227 * 1024;                  // sm_90's opt-in dynamic shared memory
constexpr float kLog2e = 1.4426950408889634f;                 // exp(x) = exp2(x * log2(e))
constexpr float kLn2 = 0.6931471805599453f;                   // log(x) = log2(x) * ln(2)

// Named barriers (bar.sync / bar.arrive ids; 0 is __syncthreads). Consumer c uses kBarrierTurn
// + c ("consumer c may issue its GEMMs now", pingpong) and kBarrierTurn + kConsumers + c (its own
// four warps, staging O in sO).
constexpr int kBarrierTurn = 1;

struct Params {
  void* o;     // (B, H, Sq, D), the step's dtype
  float* lse;  // (B, H, Sq)
  int sq, sk;
  int num_m_blocks;  // ceil(Sq / kBlockM)
  int num_items;     // work items: B * H * num_m_blocks query tiles
  int num_slots;     // what the blocks walk (for_each_item): num_items, or causal and persistent
                     // ceil(num_items / 2) pairs
  float scale_log2;  // softmax scale * log2(e): exp(scale * s) = exp2(scale_log2 * s)
  int heads_per_chunk;  // causal, one block per item: heads whose query tiles are interleaved
                        // (work_tile); divides B * H
};

// Per head dim and variant: everything the kernel derives from the tile sizes in the header.
template <int kHeadDim_, Variant kVariant>
struct Config {
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kBlockM = Tiles<kHeadDim>::kBlockM;
  static constexpr int kBlockN = Tiles<kHeadDim>::kBlockN;
  static constexpr int kStages = Tiles<kHeadDim>::kStages;
  static constexpr int kConsumers = kBlockM / kWgmmaM;  // consumer warpgroups: 64 rows each
  static constexpr int kConsumerWarps = kConsumers * kWarpgroupWarps;  // arrivals that free a stage

  // setmaxnreg: the producer keeps what a thread issuing TMA needs; the consumers split the
  // rest of the register file (S, P, O and the statistics). setmaxnreg counts are multiples of
  // 8 in [24, 256]; the launch gives every thread 65536 / threads rounded down to 8 (168 at 384
  // threads, 128 at 512), and what the producer gives back is what the consumers take:
  // (168 - 24) x 128 = (240 - 168) x 256, (128 - 32) x 128 = (160 - 128) x 384 (README,
  // "Registers").
  static constexpr int kProducerRegisters = kConsumers == 2 ? 24 : 32;
  static constexpr int kConsumerRegisters = kConsumers == 2 ? 240 : 160;
  static constexpr int kBarrierEpilogue = kBarrierTurn + kConsumers;

  static constexpr bool kWarpSpecialized = kVariant != Variant::no_warp_specialization;
  static constexpr bool kPingpong = kVariant != Variant::no_pingpong;
  static constexpr bool kOverlap = kVariant != Variant::no_overlap;
  static constexpr int kProducers = kWarpSpecialized ? 1 : 0;  // producer warpgroups
  static constexpr int kThreads = (kProducers + kConsumers) * kWarpgroupThreads;

  static constexpr int kColBlocks = kHeadDim / kSwizzleCols;       // 64-column blocks of a row
  static constexpr int kQBlockBytes = kBlockM * kSwizzleRowBytes;  // one column block of sQ
  static constexpr int kKVBlockBytes = kBlockN * kSwizzleRowBytes;  // one column block of sK or sV
  static constexpr int kQBytes = kColBlocks * kQBlockBytes;        // = kBlockM x D x 2
  static constexpr int kKVBytes = kColBlocks * kKVBlockBytes;      // = kBlockN x D x 2, one stage
  static constexpr int kBarriers = 2 + 4 * kStages;                // full/empty Q, K and V
  static constexpr int kRingBytes = 2 * kStages * kKVBytes;        // the K and V stages
  // sO has bytes of its own where they fit (at D = 64 and 128), so that in the persistent kernel
  // the next item's Q can land in sQ while this item's O is staged. At D = 256 they do not fit
  // beside a ring of two stages, and sO is sQ: each consumer stages its O over its own 64 rows
  // of Q, which its last S = Q K^T has finished reading (the other consumers read only theirs);
  // the persistent kernel then loads the next Q only once O has left (kQUntilStored).
  static constexpr bool kOwnO =
      kSwizzleAtomBytes + 2 * kQBytes + kRingBytes + kMbarrierBytes * kBarriers <= kSmemPerBlockMax;
  static constexpr int kSmemBytes =  // alignment slack, sQ, sO (where its own), the K/V ring, the mbarriers
      kSwizzleAtomBytes + (kOwnO ? 2 : 1) * kQBytes + kRingBytes + kMbarrierBytes * kBarriers;

  static constexpr int kRowsPerConsumer = kWgmmaM;  // 64 rows: one wgmma M
  static constexpr int kAccS = kBlockN / 2;     // S accumulators per thread: 64 x kBlockN / 128
  static constexpr int kAccO = kHeadDim / 2;    // O accumulators per thread: 64 x D / 128
  static constexpr int kRegsP = kBlockN / kWgmmaK * kARegs;  // P as bf16x2 / f16x2 registers
  static constexpr int kSlicesS = kBlockN / kSliceCols;   // n8 slices across a row of S
  static constexpr int kSlicesO = kHeadDim / kSliceCols;  // n8 slices across a row of O
  // The softmax's row max and sum as trees with two consumers, as running chains with three
  // (measured on the H200, notes/worklog.md: with two consumers, D = 128, the trees up to 1.4%
  // faster; with three, D = 64, 1-3% slower).
  static constexpr bool kTreeFolds = kConsumers == 2;

  static_assert(kBlockM % kWgmmaM == 0 && (kConsumers == 2 || kConsumers == 3),
                "two or three consumer warpgroups, each owning one wgmma M of rows");
  static_assert(kHeadDim % kSwizzleCols == 0, "rows split into 64-element (128-byte) swizzled blocks");
  static_assert(kBlockN == 64 || kBlockN == 128, "S = Q K^T is one m64n64k16 or m64n128k16 chain");
  static_assert(kHeadDim == 64 || kHeadDim == 128 || kHeadDim == 256,
                "O += P V is one m64n64k16, m64n128k16 or m64n256k16 per k16 step");
  static_assert(kSmemBytes <= kSmemPerBlockMax, "sQ, the K/V ring and the mbarriers must fit");
  static_assert(kBlockM <= 256 && kBlockN <= 256, "a TMA box has at most 256 rows");
  static_assert(kStages >= 2, "tile j + 1 loads while tile j is used");
  static_assert((kSlicesS & (kSlicesS - 1)) == 0, "tree_fold halves the slices down to one");
  static_assert(kQBlockBytes % kSwizzleAtomBytes == 0 && kKVBlockBytes % kSwizzleAtomBytes == 0,
                "every column block starts on the swizzle period");
  static_assert(kProducerRegisters * kWarpgroupThreads + kConsumerRegisters * kConsumers * kWarpgroupThreads <=
                    kRegisterFile,
                "the register split must fit the register file");
};

// ---------------------------------------------------------------------------------------------
// The PTX the lesson is about, one small wrapper each.

__device__ __forceinline__ std::uint32_t smem_address(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// mbarrier: a 64-bit object in shared memory with an arrival count and a transaction (byte)
// count; its phase completes when both reach zero, then it re-arms for the next phase. Waiters
// name the phase by its parity.
__device__ __forceinline__ void mbarrier_init(std::uint32_t bar, int arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(arrivals) : "memory");
}

// Makes the initialisations visible to the other threads and to the TMA unit (async proxy).
__device__ __forceinline__ void fence_mbarrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

// One arrival that also announces `bytes` still to come (the TMA's complete_tx subtracts them).
__device__ __forceinline__ void mbarrier_arrive_expect_tx(std::uint32_t bar, int bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}

__device__ __forceinline__ void mbarrier_arrive(std::uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}

// Returns once the phase with parity `parity` has completed. A freshly initialised barrier is in
// phase 0, so waiting for parity 1 returns at once (the "previous" phase counts as complete).
__device__ __forceinline__ void mbarrier_wait(std::uint32_t bar, std::uint32_t parity) {
  std::uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}

// TMA: copies the box at coordinates (c0, c1, c2) (innermost first) of the tensor `map` into
// shared memory at dst, and reports its bytes to the mbarrier `bar`. Out-of-bounds elements of
// the box are written as zeros and counted like the others.
__device__ __forceinline__ void tma_load_3d(std::uint32_t dst, const CUtensorMap* map, int c0, int c1, int c2,
                                            std::uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], "
      "[%5];\n" ::"r"(dst),
      "l"(reinterpret_cast<std::uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(bar)
      : "memory");
}

// TMA store: copies the box at shared-memory address src (laid out as the map's swizzle says) to
// coordinates (c0, c1, c2) of `map`. The box must start inside the tensor: one starting before
// row 0 faulted on the H200 (an illegal instruction). The copy joins this thread's bulk
// async-group, which commit closes and wait_group waits for (.read: until the copy has read
// shared memory, which may then be rewritten; without .read: until it has written global memory).
__device__ __forceinline__ void tma_store_3d(const CUtensorMap* map, std::uint32_t src, int c0, int c1, int c2) {
  asm volatile("cp.async.bulk.tensor.3d.global.shared::cta.bulk_group [%0, {%2, %3, %4}], [%1];\n" ::"l"(
                   reinterpret_cast<std::uint64_t>(map)),
               "r"(src), "r"(c0), "r"(c1), "r"(c2)
               : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void bulk_wait_read() { asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); }
__device__ __forceinline__ void bulk_wait() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }
// Makes this thread's generic-proxy writes to shared memory visible to the async proxy (the TMA).
__device__ __forceinline__ void fence_proxy_async_shared() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// stmatrix: the warp stores four 8 x 8 matrices of 16-bit elements. Lane l gives the shared
// address of row l % 8 of matrix l / 8; register i holds the lane's two elements of matrix i,
// row lane / 4, columns 2 (lane % 4) and + 1: the layout of an n8 slice of a wgmma accumulator.
__device__ __forceinline__ void stmatrix_x4(std::uint32_t addr, std::uint32_t r0, std::uint32_t r1, std::uint32_t r2,
                                            std::uint32_t r3) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "r"(r0), "r"(r1),
               "r"(r2), "r"(r3)
               : "memory");
}

// Fetches a tensor map (a kernel parameter) into the TMA unit's cache ahead of the first load.
__device__ __forceinline__ void tma_prefetch_map(const CUtensorMap* map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<std::uint64_t>(map)) : "memory");
}

// Named barriers: bar.sync waits until `threads` threads have arrived at barrier `id`;
// bar.arrive arrives without waiting.
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_barrier_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// Moves this warpgroup's per-thread register budget down or up (all its warps execute it).
template <int kRegisters>
__device__ __forceinline__ void setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}
template <int kRegisters>
__device__ __forceinline__ void setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}

// wgmma shared-memory matrix descriptor (64 bits): start address >> 4 in bits 0-13, leading
// byte offset >> 4 in 16-29, stride byte offset >> 4 in 32-45, base offset 0 in 49-51 (the tiles
// start on the 1024-byte swizzle period), layout 1 = 128-byte swizzle in 62-63.
//   K-major operand (Q, K: the k16 step runs along a row): stride = 1024, the distance between
//     8-row groups; leading unused (1). A k16 step inside a 64-column block is start + 32 bytes.
//   N-major operand (V, transposed): stride = 1024, between 8-key groups along K; leading =
//     distance between 64-column blocks along N (kBlockN x 128 bytes).
__device__ __forceinline__ std::uint64_t smem_descriptor(std::uint32_t addr, std::uint32_t leading_bytes,
                                                         std::uint32_t stride_bytes) {
  // EXERCISE 6.2: the wgmma shared-memory matrix descriptor
  // BEGIN SOLUTION
  // HINT: pack the fields of the layout above into 64 bits, each in units of 16 bytes (>> 4): the
  // HINT: start address (its low 18 bits) in bits 0-13, leading_bytes in 16-29, stride_bytes in
  // HINT: 32-45, and the layout 1 (128-byte swizzle, as the TMA wrote the tiles) in bits 62-63.
  constexpr std::uint64_t kSwizzle128B = 1;
  return std::uint64_t((addr & 0x3FFFF) >> 4) | (std::uint64_t(leading_bytes >> 4) << 16) |
         (std::uint64_t(stride_bytes >> 4) << 32) | (kSwizzle128B << 62);
  // STUB: (void)leading_bytes, (void)stride_bytes;  // the start alone, unswizzled: every 8-row group
  // STUB: return std::uint64_t((addr & 0x3FFFF) >> 4);  // is read from the first one's place
  // END SOLUTION
}
// The same descriptor with its start address moved by `bytes` (a multiple of 16).
__device__ __forceinline__ std::uint64_t advance(std::uint64_t desc, std::uint32_t bytes) { return desc + (bytes >> 4); }

// wgmma bookkeeping: fence before a warpgroup's first wgmma that touches registers other
// instructions wrote; commit closes a group of wgmmas; wait_group<N> returns once at most N of
// this warpgroup's groups are still running.
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}

// The compiler sees a wgmma's accumulators as written when the instruction is issued; the
// hardware writes them until the wait. An empty asm that "rewrites" each register, placed after
// the wait, keeps every later read below the wait (and every earlier write above the issue).
// order_first: the first kCount registers only, those a narrower wgmma wrote (an asm on the
// others would read them, and so keep them live, for nothing).
template <int kCount, int N>
__device__ __forceinline__ void order_first(float (&r)[N]) {
  static_assert(kCount <= N, "a prefix of the registers");
#pragma unroll
  for (int i = 0; i < kCount; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N>
__device__ __forceinline__ void order_registers(float (&r)[N]) {
  order_first<N>(r);
}

// The accumulator operand lists of a wgmma: "+f" on d[0 .. N/2).
#define FA_ACC8(i) \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define FA_ACC32 FA_ACC8(0), FA_ACC8(8), FA_ACC8(16), FA_ACC8(24)
#define FA_ACC64 FA_ACC32, FA_ACC8(32), FA_ACC8(40), FA_ACC8(48), FA_ACC8(56)
#define FA_REGS32                                                                                                   \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, " \
  "%24, %25, %26, %27, %28, %29, %30, %31}"
#define FA_REGS64                                                                                                   \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, " \
  "%24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "   \
  "%46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define FA_ACC128 \
  FA_ACC64, FA_ACC8(64), FA_ACC8(72), FA_ACC8(80), FA_ACC8(88), FA_ACC8(96), FA_ACC8(104), FA_ACC8(112), FA_ACC8(120)
#define FA_REGS128 \
  "{" \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, " \
  "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
  "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, " \
  "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
  "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}"

// d (64 x N, fp32) = [scale_d ? d : 0] + A (64 x 16, descriptor) * B (16 x N, descriptor),
// both K-major (imm-trans-a = imm-trans-b = 0). TYPE is "bf16" or "f16". N = 64 writes
// d[0 .. 32): the accumulators of the first 64 columns in the n128 layout.
#define FA_WGMMA_SS_N64(TYPE)                                                                       \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                         \
               "wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE " " FA_REGS32           \
               ", %32, %33, p, 1, 1, 0, 0;\n}\n"                                                    \
               : FA_ACC32                                                                           \
               : "l"(desc_a), "l"(desc_b), "r"(scale_d))
#define FA_WGMMA_SS_N128(TYPE)                                                                      \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                         \
               "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE " " FA_REGS64          \
               ", %64, %65, p, 1, 1, 0, 0;\n}\n"                                                    \
               : FA_ACC64                                                                           \
               : "l"(desc_a), "l"(desc_b), "r"(scale_d))

// d (64 x N, fp32) += A (64 x 16, four registers) * B (16 x N, descriptor, N-major: imm-trans-b 1).
#define FA_WGMMA_RS_N64(TYPE)                                                                                  \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"                                                    \
               "wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE " " FA_REGS32                        \
               ", {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"                                                    \
               : FA_ACC32                                                                                       \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1))
#define FA_WGMMA_RS_N128(TYPE)                                                                                 \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"                                                    \
               "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE " " FA_REGS64                       \
               ", {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"                                                    \
               : FA_ACC64                                                                                       \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1))
#define FA_WGMMA_RS_N256(TYPE)                                                                                 \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"                                                   \
               "wgmma.mma_async.sync.aligned.m64n256k16.f32." TYPE "." TYPE " " FA_REGS128                      \
               ", {%128, %129, %130, %131}, %132, p, 1, 1, 1;\n}\n"                                               \
               : FA_ACC128                                                                                      \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1))

// S's accumulators d: kAcc >= N / 2 (a half tile writes the first N / 2 of a whole tile's).
template <class T, int N, int kAcc>
__device__ __forceinline__ void wgmma_ss(float (&d)[kAcc], std::uint64_t desc_a, std::uint64_t desc_b, int scale_d) {
  static_assert(N == 64 || N == 128, "wrapped shapes: m64n64k16 and m64n128k16");
  static_assert(N / 2 <= kAcc, "the accumulators hold the wgmma's 64 x N");
  if constexpr (N == 64) {
    if constexpr (std::is_same_v<T, __nv_bfloat16>)
      FA_WGMMA_SS_N64("bf16");
    else
      FA_WGMMA_SS_N64("f16");
  } else {
    if constexpr (std::is_same_v<T, __nv_bfloat16>)
      FA_WGMMA_SS_N128("bf16");
    else
      FA_WGMMA_SS_N128("f16");
  }
}

template <class T, int N>
__device__ __forceinline__ void wgmma_rs(float (&d)[N / 2], const std::uint32_t* a, std::uint64_t desc_b) {
  static_assert(N == 64 || N == 128 || N == 256, "wrapped shapes: m64n64k16, m64n128k16 and m64n256k16");
  if constexpr (N == 64) {
    if constexpr (std::is_same_v<T, __nv_bfloat16>)
      FA_WGMMA_RS_N64("bf16");
    else
      FA_WGMMA_RS_N64("f16");
  } else if constexpr (N == 128) {
    if constexpr (std::is_same_v<T, __nv_bfloat16>)
      FA_WGMMA_RS_N128("bf16");
    else
      FA_WGMMA_RS_N128("f16");
  } else {
    if constexpr (std::is_same_v<T, __nv_bfloat16>)
      FA_WGMMA_RS_N256("bf16");
    else
      FA_WGMMA_RS_N256("f16");
  }
}

// Byte offset of element (row, col) in a tile stored the TMA's 128B-swizzled way: column block
// col / 64 of (rows, 64), rows of 128 bytes, 16-byte chunk c of row r at position c ^ (r % 8).
template <int kTileRows>
__device__ __forceinline__ std::uint32_t swizzled_offset(int row, int col) {
  const int chunk = (col % kSwizzleCols) / kChunkElems;
  return std::uint32_t((col / kSwizzleCols) * kTileRows * kSwizzleRowBytes + row * kSwizzleRowBytes +
                       ((chunk ^ (row % kSwizzleRows)) * kChunkBytes) + (col % kChunkElems) * kElemBytes);
}

// Folds v[0 .. 2 kWidth) into v[0] pairwise, v[j] = op(v[j], v[j + kWidth]) with kWidth halving:
// 2 kWidth - 1 operations in a dependency chain of log2(2 kWidth). A template, not a loop over the
// width, so that every index is a constant and v stays in registers.
template <int kWidth, class Op>
__device__ __forceinline__ float tree_fold(float* v, Op op) {
  if constexpr (kWidth > 0) {
#pragma unroll
    for (int j = 0; j < kWidth; ++j) v[j] = op(v[j], v[j + kWidth]);
    return tree_fold<kWidth / 2>(v, op);
  } else {
    return v[0];
  }
}

// ---------------------------------------------------------------------------------------------

// One unit of work: a query tile of one head and the key tiles its rows see.
struct WorkTile {
  int head;        // b * H + h
  int q0;          // the tile's first query row; negative for the ragged first tile, whose rows
                   // before 0 do not exist (the TMA zero-fills them, they are never stored)
  int n_tiles;     // key tiles visited: [0, n_tiles); 0 when every row of the tile sees no key
  int n_unmasked;  // key tiles [0, n_unmasked) are entirely visible to the tile's first existing
                   // row (hence to all of its rows): no mask
};

// Keys query row `row` sees: [0, keys_seen). Bottom-right causal: row i sees keys j <= i + Sk - Sq.
template <bool kCausal>
__device__ __forceinline__ int keys_seen(const Params& p, int row) {
  return kCausal ? max(0, min(p.sk, (row + 1 - p.sq) + p.sk)) : p.sk;
}

// Work item `item` -> (head, query tile k). Unlike step 05, the query tiles are cut from the end
// of the sequence: tile k holds rows [Sq - kBlockM (k + 1), Sq - kBlockM k), so k = 0 is the last
// rows (causal: the most keys); the ragged tile, when kBlockM does not divide Sq (192-row tiles
// at D = 64), is the first rows, and causal it is the one that visits the fewest key tiles, so
// its missing rows waste least. Items are numbered head-major, item = head * num_m_blocks + k,
// except where the hardware schedules causal items (one block each): there the heads are taken
// in chunks of heads_per_chunk, and inside a chunk the items go tile k = 0 of every head, then
// k = 1, ...: heaviest first across the chunk (longest processing time first), so that the blocks
// the hardware starts last (it starts them in about index order: observed, not documented) are
// the shortest and fill the end of the grid. The chunk is the most heads whose K and V fit in
// half of L2, rounded down to a divisor of B * H (heads_per_chunk, on the host), so the items
// running at one time find K and V there.
template <int kBlockM, int kBlockN, bool kCausal, bool kPersistent>
__device__ __forceinline__ WorkTile work_tile(const Params& p, int item) {
  WorkTile w;
  if constexpr (kCausal && !kPersistent) {
    const int chunk_items = p.heads_per_chunk * p.num_m_blocks;
    const int chunk = item / chunk_items, in_chunk = item % chunk_items;
    w.head = chunk * p.heads_per_chunk + in_chunk % p.heads_per_chunk;
    w.q0 = p.sq - (in_chunk / p.heads_per_chunk + 1) * kBlockM;
  } else {
    w.head = item / p.num_m_blocks;
    w.q0 = p.sq - (item % p.num_m_blocks + 1) * kBlockM;
  }
  // The tile's last row sees the most keys.
  w.n_tiles = (keys_seen<kCausal>(p, w.q0 + kBlockM - 1) + kBlockN - 1) / kBlockN;
  w.n_unmasked = keys_seen<kCausal>(p, max(w.q0, 0)) / kBlockN;
  return w;
}

// The tile scheduler. Without persistence the grid has one block per work item (the hardware
// hands each free SM the next block). Persistent: one block per SM, each taking one slot per
// round of gridDim.x slots for the whole kernel, so that the next tile's loads overlap this
// tile's epilogue and no block is launched or set up twice on an SM. A slot is one work item;
// causal, a slot is the pair (slot, num_items - 1 - slot): query tile k of a head visits about
// (num_m_blocks - k) x kBlockM / kBlockN key tiles and its mirror, tile num_m_blocks - 1 - k of
// another head, about (k + 1) x kBlockM / kBlockN, so pairs cost about the same and a static
// round robin stays balanced.
template <bool kPersistent, bool kPairs, class F>
__device__ __forceinline__ void for_each_item(const Params& p, F&& body) {
  if constexpr (!kPersistent) {
    body(int(blockIdx.x));  // no loop: nothing of it stays live through the item
  } else {
    constexpr int kPerSlot = kPairs ? 2 : 1;
    for (int j = 0;; ++j) {  // one call site for the body: it is inlined once
      // Round r = j / kPerSlot hands slots [r G, r G + G) to the G blocks, rotated by r. Pair
      // costs differ by about a key tile (tile counts round up: 17 or 18 at D = 64, N = 2048),
      // and with 132 SMs and 11 query tiles per head an unrotated block would get the same
      // tile k, hence the same kind of pair, in every round.
      const int round = j / kPerSlot;
      const int slot = round * int(gridDim.x) + (int(blockIdx.x) + round) % int(gridDim.x);
      if (slot >= p.num_slots) return;
      const int item = j % kPerSlot == 0 ? slot : p.num_items - 1 - slot;
      if (j % kPerSlot == 1 && item == slot) continue;  // an odd count: the middle slot is one item
      body(item);
    }
  }
}

template <class T, int kHeadDim, bool kCausal, Variant kVariant, bool kPersistent>
__global__ void __launch_bounds__(Config<kHeadDim, kVariant>::kThreads, 1)
    flash3_kernel(const __grid_constant__ CUtensorMap tmap_q, const __grid_constant__ CUtensorMap tmap_k,
                  const __grid_constant__ CUtensorMap tmap_v, const __grid_constant__ CUtensorMap tmap_o,
                  const Params p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using C = Config<kHeadDim, kVariant>;
  constexpr int kBlockM = C::kBlockM, kBlockN = C::kBlockN, kStages = C::kStages;
  constexpr bool kPairs = kPersistent && kCausal;
  // sO is sQ (D = 256) and a next item's Q may come (persistent): sQ is released once the item's
  // O has left sO, at the end of its epilogue, not after its last S; and every item takes a Q
  // round, one without a key to see too (its epilogue writes O = 0 into sO), with no bytes.
  constexpr bool kQUntilStored = !C::kOwnO && kPersistent;

  // The tiles start on a 1024-byte boundary (the swizzle's period, which both the TMA and the
  // wgmma descriptors assume); the launch asks for 1 KiB of slack to allow the round-up.
  extern __shared__ unsigned char smem_raw[];
  const std::uint32_t smem_raw_addr = smem_address(smem_raw);
  const std::uint32_t sQ =  // (kBlockM, kHeadDim) swizzled
      (smem_raw_addr + kSwizzleAtomBytes - 1) & ~std::uint32_t(kSwizzleAtomBytes - 1);
  // (kBlockM, kHeadDim) swizzled: O staged (in sQ's bytes where it has none of its own: Config::kOwnO)
  const std::uint32_t sO = C::kOwnO ? sQ + C::kQBytes : sQ;
  unsigned char* const smem_o = smem_raw + (sO - smem_raw_addr);  // generic pointer to sO
  const std::uint32_t sK = sO + C::kQBytes;             // kStages x (kBlockN, kHeadDim) swizzled
  const std::uint32_t sV = sK + kStages * C::kKVBytes;  // kStages x (kBlockN, kHeadDim) swizzled
  const std::uint32_t bars = sV + kStages * C::kKVBytes;  // kBarriers mbarriers
  const std::uint32_t full_q = bars, empty_q = bars + kMbarrierBytes;
  auto full_k = [&](int s) { return bars + kMbarrierBytes * (2 + s); };
  auto full_v = [&](int s) { return bars + kMbarrierBytes * (2 + kStages + s); };
  auto empty_k = [&](int s) { return bars + kMbarrierBytes * (2 + 2 * kStages + s); };
  auto empty_v = [&](int s) { return bars + kMbarrierBytes * (2 + 3 * kStages + s); };

  if (threadIdx.x == 0) {
    mbarrier_init(full_q, 1);  // the producer's arrive.expect_tx; then the bytes
    mbarrier_init(empty_q, C::kConsumerWarps);  // lane 0 of every consumer warp
    for (int s = 0; s < kStages; ++s) {
      mbarrier_init(full_k(s), 1);
      mbarrier_init(full_v(s), 1);
      mbarrier_init(empty_k(s), C::kConsumerWarps);
      mbarrier_init(empty_v(s), C::kConsumerWarps);
    }
    fence_mbarrier_init();
  }
  __syncthreads();  // protects the mbarriers: initialised before anyone arrives at or waits on them

  // Loads, shared by the producer and (without warp specialisation) consumer thread 0. The
  // block's K/V tiles, counted over all its work items, go round the ring: its tile number r
  // uses stage r % kStages in round r / kStages; before refilling a stage, wait until the
  // consumers released the tile of the previous round (parity of round - 1). Q tiles likewise
  // alternate the parity of full_q / empty_q: q_round counts the block's Q loads.
  auto load_q = [&](const WorkTile& w, int q_round) {
    mbarrier_wait(empty_q, (q_round & 1) ^ 1);  // protects sQ: the previous tile's S (kQUntilStored:
                                                // its O store) are done
    if (kQUntilStored && w.n_tiles == 0) {      // no key to see: the Q round alone (kQUntilStored)
      mbarrier_arrive(full_q);
      return;
    }
    mbarrier_arrive_expect_tx(full_q, C::kQBytes);
#pragma unroll
    for (int cb = 0; cb < C::kColBlocks; ++cb)
      tma_load_3d(sQ + cb * C::kQBlockBytes, &tmap_q, cb * kSwizzleCols, w.q0, w.head, full_q);
  };
  // Key tile t of w into ring tile r: of K (tmap_k into sK, empty_k / full_k) or of V alike.
  auto load_kv = [&](const CUtensorMap* map, std::uint32_t ring_base, auto empty, auto full, const WorkTile& w,
                     int t, int r) {
    const int s = r % kStages;
    mbarrier_wait(empty(s), ((r / kStages) & 1) ^ 1);  // protects stage s: ring tile r - kStages is done
    mbarrier_arrive_expect_tx(full(s), C::kKVBytes);
    // EXERCISE 6.1: the TMA loads of a key tile: one box per 64-column block, in tensor coordinates
    // BEGIN SOLUTION
    // HINT: the tensor map is (D, Sk, B x H), innermost first, and its box is 64 columns x kBlockN
    // HINT: rows (a 128-byte row: the most the 128-byte swizzle takes), so a key tile is kColBlocks
    // HINT: boxes. Box cb goes to ring_base + s * C::kKVBytes + cb * C::kKVBlockBytes; its
    // HINT: coordinates are its first element: column 64 cb, key t * kBlockN, head w.head. Each box
    // HINT: adds its bytes to full(s): load all kColBlocks, or full(s) never completes.
#pragma unroll
    for (int cb = 0; cb < C::kColBlocks; ++cb)
      tma_load_3d(ring_base + s * C::kKVBytes + cb * C::kKVBlockBytes, map, cb * kSwizzleCols, t * kBlockN, w.head,
                  full(s));
    // STUB: (void)t;  // every stage gets key tile 0: the bytes full(s) expects, the wrong keys
    // STUB: for (int cb = 0; cb < C::kColBlocks; ++cb)
    // STUB:   tma_load_3d(ring_base + s * C::kKVBytes + cb * C::kKVBlockBytes, map, cb * kSwizzleCols, 0, w.head,
    // STUB:               full(s));
    // END SOLUTION
  };
  auto load_k = [&](const WorkTile& w, int t, int r) { load_kv(&tmap_k, sK, empty_k, full_k, w, t, r); };
  auto load_v = [&](const WorkTile& w, int t, int r) { load_kv(&tmap_v, sV, empty_v, full_v, w, t, r); };

  // Warp roles. The warpgroup index is made warp-uniform explicitly (a shuffle from lane 0), so
  // the compiler keeps the role branches and the descriptors in uniform registers.
  const int warpgroup = __shfl_sync(kFullWarp, int(threadIdx.x) / kWarpgroupThreads, 0);
  if constexpr (C::kWarpSpecialized) {
    if (warpgroup == 0) {  // the producer
      setmaxnreg_dec<C::kProducerRegisters>();
      if (threadIdx.x == 0) {
        tma_prefetch_map(&tmap_q);
        tma_prefetch_map(&tmap_k);
        tma_prefetch_map(&tmap_v);
        int ring = 0, q_round = 0;
        for_each_item<kPersistent, kPairs>(p, [&](int item) {
          const WorkTile w = work_tile<kBlockM, kBlockN, kCausal, kPersistent>(p, item);
          if (!kQUntilStored && w.n_tiles == 0) return;  // nothing to load: the consumers only write O = 0
          load_q(w, q_round++);
          for (int t = 0; t < w.n_tiles; ++t) {  // K before V: S = Q K^T needs K first
            load_k(w, t, ring + t);
            load_v(w, t, ring + t);
          }
          ring += w.n_tiles;
        });
      }
      return;
    }
    setmaxnreg_inc<C::kConsumerRegisters>();
  }

  // ------------------------------------------------------------------------------ consumers
  const int consumer = warpgroup - C::kProducers;  // 0 .. kConsumers - 1
  const int tid = int(threadIdx.x) % kWarpgroupThreads;
  const int warp = tid / kWarpSize, lane = tid % kWarpSize;
  const int group = lane / kQuad, quad = lane % kQuad;  // g and t of the fragment layouts
  const int wg_row0 = consumer * C::kRowsPerConsumer;   // first tile row this warpgroup owns
  // This lane's rows: h = 0, 1 is tile row lane_tile_row + 8 h.
  const int lane_tile_row = wg_row0 + warp * kWarpRows + group;

  // The current work item, and where its first K/V tile sits in the ring (ring) and which Q
  // round it is (q_round); the lambdas below read them.
  WorkTile w{};
  // Of w's key tiles this warpgroup computes [0, n_wg) and masks from n_unmasked on (set per
  // item, below).
  int n_wg = 0, n_unmasked = 0;
  // Causal, a warpgroup's 64 rows can see fewer key tiles than the tile's last row. With 192-row
  // tiles and 128-key tiles (D = 64, Sq = Sk a multiple of 128) the first warpgroup's rows never
  // see the item's last key tile, the middle one's every other item's: 1.5 of each item's
  // 3 n_tiles warpgroup-tiles are masked whole. With kOwnKeyRange a warpgroup computes only the tiles its
  // rows see and masks from the first its rows do not all see whole; the other warpgroups find
  // the tensor cores free meanwhile. Measured on the H200 (notes/worklog.md): in the persistent
  // kernel 1.025x at D = 64 causal N = 2048 and 1.01x at 4096; in the one-block-per-item
  // kernels (D = 64 causal, N >= 8192) the same code ran 2-3.5% slower although it skips the
  // same work: there ptxas packs the tile loop's 66 exp2 into 213 instructions instead of 256,
  // and the stalls on the full MIO queue rise from 0.57 to 0.76 cycles per instruction
  // (Nsight). So they, and the 128-row tiles, where nothing is skipped at these shapes, take
  // the tile's range.
  //   A warpgroup that sees fewer key tiles also leaves the pingpong ring for the tiles it does
  // not compute (the turn of key tile t > 0 goes round the warpgroups with t < n_wg only) and,
  // with a producer, writes its O before it passes those tiles (kEarlyEpilogue): its epilogue
  // runs while the others compute the item's last key tile, and it is ready for the next item's
  // first turn when they are done. Measured: 1.03x at D = 64 causal N = 2048, 1.04x at 4096.
  // Not at D = 256, whose 128 x 64 tiles would have it too: not tried there, and its early
  // epilogue would need its own place in the kQUntilStored rounds (static_assert below).
  constexpr bool kOwnKeyRange = kCausal && kPersistent && kBlockM > kBlockN && C::kOwnO;
  constexpr bool kEarlyEpilogue = kOwnKeyRange && C::kWarpSpecialized;
  static_assert(!(kEarlyEpilogue && kQUntilStored), "one place per item releases sQ and counts its Q round");
  // The epilogue's 1 / l and log2(l) are on the MUFU unit (rcp_fast, log2_fast; the IEEE
  // 1.f / l and log2f(l) are a Newton step with a call and a ten-term polynomial: with the quad
  // shuffles before them, 890-1060 of an epilogue's 2360-2700 clocks, clock64 stamps at D = 64
  // causal N = 2048), and O is staged with stmatrix (4 instructions per thread at D = 64 instead
  // of 16 stores), except in the kOwnKeyRange kernels, which keep the 32-bit stores. Measured on
  // the H200 (notes/worklog.md): both, in the full kernel, 1.00-1.07x at N <= 2048 and
  // 0.99-1.02x beyond; in the kOwnKeyRange kernels, whose tile loop ptxas schedules anew with
  // any change to the epilogue, both 1.07x at D = 64 causal N = 512 and 0.99x at 4096, the MUFU
  // functions alone 1.05x and 0.99-1.00x, with the full kernel then faster than no_pingpong at
  // every N.
  constexpr bool kStmatrixO = !kOwnKeyRange;
  // Causal, a warpgroup whose last row's keys end in the first half of its last key tile sees
  // nothing of that tile's second half, a 64 x 64 block masked whole: with 64-row warpgroups
  // and 128-key tiles (Sq = Sk a multiple of 128) every other warpgroup-item. It computes that
  // tile as a half tile (half_last, set per item): S = Q K^T over the stage's first 64 keys
  // (m64n64k16), the softmax over those 32 accumulators, P V over the first four k16 steps. The
  // loads are the same. Measured on the H200 (notes/worklog.md, three rounds, bf16 and fp16):
  // 1.014-1.022x at D = 64 causal N = 512, 1.022-1.025x at 1024, 1.018-1.021x at 2048 and
  // 1.013-1.016x at 4096, against 2.9% and 1.5% of the work skipped at N = 2048 and 4096. Only
  // in the kOwnKeyRange kernels: in the others (one block per item, and D = 128) the same code
  // made ptxas serialize the wgmma in ten kernels (not measured there).
  constexpr bool kHalfLastTile = kOwnKeyRange;
  // A warpgroup's last row is at most kBlockN rows before the tile's, so one whose rows exist
  // sees every key tile of the item or all but the last (or the item has one key tile). Only the
  // ragged first tile's warpgroups without rows leave the ring before the last tile.
  static_assert(!kOwnKeyRange || kBlockM - C::kRowsPerConsumer <= kBlockN,
                "each warpgroup with rows sees the item's key tiles, or all but the last");
  // kOwnKeyRange, set per item: consumers [0, first_mid) take no turn for key tiles 1 ..
  // n_tiles - 2 (they have no rows), consumers [0, first_last) none for tile n_tiles - 1.
  int first_mid = 0, first_last = 0;
  int ring = 0, q_round = 0;
  auto stage = [&](int t) { return (ring + t) % kStages; };        // stage of key tile t of w
  auto phase = [&](int t) { return ((ring + t) / kStages) & 1; };  // parity of its full barriers

  // Without a producer, consumer thread 0 issues the loads itself, at the top of each tile step
  // t: K of tile t + kStages - 1 and V of tile t + kStages - 2 (each item's prologue issues the
  // ones before). Their stages were released in step t - 1, so it waits only for the other
  // warpgroups' step t - 1: a synchronous stall inside the compute, which is the cost measured.
  const bool issues_loads = !C::kWarpSpecialized && threadIdx.x == 0;
  auto issue_ahead = [&](int t) {
    if (!issues_loads) return;
    if (t + kStages - 1 < w.n_tiles) load_k(w, t + kStages - 1, ring + t + kStages - 1);
    if (t + kStages - 2 < w.n_tiles) load_v(w, t + kStages - 2, ring + t + kStages - 2);
  };

  // Pingpong: the consumers issue their GEMMs in turns, in a ring 0, 1, .., kConsumers - 1, 0, ..
  // Consumer c waits on barrier kBarrierTurn + c for the previous consumer's bar.arrive and hands
  // the turn on by arriving on the next one's: each barrier completes with 2 x 128 threads, the
  // waiting warpgroup and the arriving one. The last consumer gives consumer 0 the first turn.
  // Every item's turns end with the last consumer's, which hands the next item's first turn to
  // consumer 0, so after the last one consumer 0 takes up that final hand-over, and every barrier
  // ends the kernel complete. With kOwnKeyRange the last consumer hands the turns of an item's
  // later key tiles to first_mid and first_last: the consumers before them have left the ring.
  // When all of them have, the ring of those tiles is the last consumer alone (alone_from): it
  // neither hands itself the turn nor waits for it.
  constexpr int kTurnThreads = 2 * kWarpgroupThreads;
  const int next_consumer = consumer + 1 == C::kConsumers ? 0 : consumer + 1;
  // The first consumer to take the turn of key tile t of the item (t = n_tiles: the next item's
  // first turn, which is consumer 0's). Every consumer takes tile 0's turn, even one without
  // key tiles, so that each item starts at consumer 0.
  auto first_turn = [&](int t) { return t == 0 || t >= w.n_tiles ? 0 : t == w.n_tiles - 1 ? first_last : first_mid; };
  // kOwnKeyRange, set per item: from this key tile to the item's last the last consumer takes
  // the turns alone (n_tiles: never; always n_tiles for the other consumers). It follows from
  // first_mid and first_last (the tiles t > 0 where first_turn(t) is the last consumer), set once
  // per item so that each turn in the tile loop costs two compares.
  int alone_from = 0;
  auto alone = [&](int t) { return t >= alone_from && t < w.n_tiles; };
  // Waits for the turn of key tile t.
  auto turn_begin = [&](int t) {
    if constexpr (C::kPingpong) {
      if constexpr (kOwnKeyRange)
        if (alone(t)) return;
      named_barrier_sync(kBarrierTurn + consumer, kTurnThreads);
    }
  };
  // Hands the turn on; the next turn is for key tile t_next.
  auto turn_end = [&](int t_next) {
    if constexpr (C::kPingpong) {
      if constexpr (kOwnKeyRange)
        if (alone(t_next)) return;
      const int next = kOwnKeyRange && next_consumer == 0 ? first_turn(t_next) : next_consumer;
      named_barrier_arrive(kBarrierTurn + next, kTurnThreads);
    }
  };
  if constexpr (C::kPingpong)
    if (next_consumer == 0) named_barrier_arrive(kBarrierTurn, kTurnThreads);

  float rO[C::kAccO];           // (64, kHeadDim) wgmma accumulator, unnormalised
  float rS[C::kAccS] = {};      // (64, kBlockN) wgmma accumulator: S, then P in fp32
  std::uint32_t rP[C::kRegsP];  // (64, kBlockN) as wgmma A fragments: 16-bit pairs
  float m_i[2];                 // running row max of the raw scores, rows h = 0, 1
  float l_i[2];                 // running row sum of exp, this lane's columns
  float alpha[2];               // exp(m_old - m_new) of the latest tile

  // Descriptors: this warpgroup's 64 rows of sQ; stage s of sK (both K-major) and sV (N-major).
  const std::uint64_t desc_q = smem_descriptor(sQ + wg_row0 * kSwizzleRowBytes, kChunkBytes, kSwizzleAtomBytes);
  auto desc_k = [&](int s) { return smem_descriptor(sK + s * C::kKVBytes, kChunkBytes, kSwizzleAtomBytes); };
  auto desc_v = [&](int s) { return smem_descriptor(sV + s * C::kKVBytes, C::kKVBlockBytes, kSwizzleAtomBytes); };

  // A tile's computed width `keys` (an integral constant): kBlockN, or its first half (see
  // kHalfLastTile), whose S is the first kBlockN / 4 accumulators of rS and whose P V is the
  // first half of the k16 steps. Kernels without half tiles never take the half_last branches;
  // there HalfTile is FullTile, so that those branches compile (an m64n32k16 S at 64-key tiles
  // is not wrapped).
  using FullTile = std::integral_constant<int, kBlockN>;
  using HalfTile = std::integral_constant<int, kHalfLastTile ? kBlockN / 2 : kBlockN>;

  // S = Q K_s^T: kHeadDim / 16 wgmmas in one group. The k16 step kk is bytes 32 (kk % 4) of
  // column block kk / 4 in both Q and K rows; the first one overwrites S (scale_d = 0). A half
  // tile is the same descriptors with the wgmma's N halved: keys 0 .. 63 of the stage.
  auto issue_s = [&](int s, auto keys) {
    const std::uint64_t dk = desc_k(s);
    wgmma_fence();
    // EXERCISE 6.3: the k16 steps of S = Q K^T through the descriptors
    // BEGIN SOLUTION
    // HINT: step kk covers columns 16 kk .. 16 kk + 15 of the rows of Q and K: column block
    // HINT: kk / 4 (C::kQBlockBytes apart in sQ, C::kKVBlockBytes in a K stage) and, inside it,
    // HINT: 32 (kk % 4) bytes from the block's start (the swizzle is applied by the hardware to
    // HINT: the address, so the descriptor moves as if unswizzled). advance(desc, bytes) moves a
    // HINT: descriptor's start; the first step overwrites S (scale_d 0), the others accumulate.
#pragma unroll
    for (int kk = 0; kk < kHeadDim / kWgmmaK; ++kk) {
      const int in_block = (kk % (kSwizzleCols / kWgmmaK)) * kWgmmaK * kElemBytes;  // 32 bytes a step
      const int block = kk / (kSwizzleCols / kWgmmaK);
      wgmma_ss<T, decltype(keys)::value>(rS, advance(desc_q, block * C::kQBlockBytes + in_block),
                       advance(dk, block * C::kKVBlockBytes + in_block), kk > 0 ? 1 : 0);
    }
    // STUB: for (int kk = 0; kk < kHeadDim / kWgmmaK; ++kk)  // every step multiplies columns 0 .. 15
    // STUB:   wgmma_ss<T, decltype(keys)::value>(rS, desc_q, dk, kk > 0 ? 1 : 0);
    // END SOLUTION
    wgmma_commit();
  };
  // O += P V_s: kBlockN / 16 wgmmas in one group. The k16 step kk is keys 16 kk .. + 15: rows
  // 16 kk of sV (2 swizzle atoms further per step), and registers rP[4 kk .. 4 kk + 3].
  auto issue_o = [&](int s, auto keys) {
    const std::uint64_t dv = desc_v(s);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < decltype(keys)::value / kWgmmaK; ++kk)
      wgmma_rs<T, kHeadDim>(rO, rP + kARegs * kk, advance(dv, kk * kWgmmaK * kSwizzleRowBytes));
    wgmma_commit();
  };
  // A stage is free once every consumer warp is past its wait for the wgmmas reading it.
  auto release = [&](std::uint32_t bar) {
    if (lane == 0) mbarrier_arrive(bar);
  };

  // Mask the tiles that cross Sk or the causal diagonal; then the online softmax of step 05 on
  // this lane's two rows: new max, alpha = exp(m_old - m_new), P = exp2(scale_log2 S - m) in
  // place over S, l_i = alpha l_i + sum P. O is rescaled by alpha separately (rescale_o).
  auto softmax = [&](int t, int lane_row0, auto keys) {
    constexpr int kSlices = decltype(keys)::value / kSliceCols;  // n8 slices of S computed
    if (t >= n_unmasked) {
      const int key0 = t * kBlockN + 2 * quad;  // this lane's first column in the tile
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = lane_row0 + kHalfRows * h;
        // The row sees [0, key_end): keys_seen without its clamp at 0, which the compare below
        // does not need (an end at or below 0 masks every key alike).
        const int key_end = kCausal ? min(p.sk, (row + 1 - p.sq) + p.sk) : p.sk;
#pragma unroll
        for (int j = 0; j < kSlices; ++j)
#pragma unroll
          for (int e = 0; e < 2; ++e)
            if (key0 + kSliceCols * j + e >= key_end) rS[4 * j + 2 * h + e] = -CUDART_INF_F;
      }
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      // The row max and (below) the row sum over this lane's kBlockN / 4 columns. With two
      // consumers as trees (C::kTreeFolds): as many FMNMX and FADD as a running max and sum, but
      // a dependency chain of log2 of the columns instead of one through each, which the exp2
      // (after the max) and the next tile (after the sum) wait for. With three consumers as a
      // running max and sum, which measured faster there (why is not measured; a reading: the
      // third warp on each scheduler already hides the chain).
      [[maybe_unused]] float part[kSlices];  // the trees' partial results (unused by the running folds)
      float m_new = m_i[h];
      if constexpr (C::kTreeFolds) {
#pragma unroll
        for (int j = 0; j < kSlices; ++j) part[j] = fmaxf(rS[4 * j + 2 * h], rS[4 * j + 2 * h + 1]);
        m_new = fmaxf(m_new, tree_fold<kSlices / 2>(part, [](float a, float b) { return fmaxf(a, b); }));
      } else {
#pragma unroll
        for (int j = 0; j < kSlices; ++j) m_new = fmaxf(m_new, fmaxf(rS[4 * j + 2 * h], rS[4 * j + 2 * h + 1]));
      }
      m_new = fmaxf(m_new, __shfl_xor_sync(kFullWarp, m_new, 1));  // the quad shares the row
      m_new = fmaxf(m_new, __shfl_xor_sync(kFullWarp, m_new, 2));
      // A row that has seen only masked keys keeps m = -inf; subtracting 0 instead keeps
      // exp2(-inf - -inf) = NaN out: its p and alpha are exp2(-inf) = 0.
      const float m_scaled = m_new == -CUDART_INF_F ? 0.f : m_new * p.scale_log2;
      alpha[h] = exp2_fast(m_i[h] * p.scale_log2 - m_scaled);  // 0 at the start
      m_i[h] = m_new;
      float sum = 0.f;
#pragma unroll
      for (int j = 0; j < kSlices; ++j) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float pe = exp2_fast(fmaf(rS[4 * j + 2 * h + e], p.scale_log2, -m_scaled));
          rS[4 * j + 2 * h + e] = pe;
          if constexpr (!C::kTreeFolds) sum += pe;
        }
        if constexpr (C::kTreeFolds) part[j] = rS[4 * j + 2 * h] + rS[4 * j + 2 * h + 1];
      }
      if constexpr (C::kTreeFolds) sum = tree_fold<kSlices / 2>(part, [](float a, float b) { return a + b; });
      l_i[h] = l_i[h] * alpha[h] + sum;
    }
  };
  auto rescale_o = [&] {
#pragma unroll
    for (int j = 0; j < C::kSlicesO; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        rO[4 * j + 2 * h] *= alpha[h];
        rO[4 * j + 2 * h + 1] *= alpha[h];
      }
  };
  // P's A fragment for keys [16 kk, 16 kk + 16) is S slices 2 kk and 2 kk + 1 (step 05's trick):
  // register 4 kk + i holds S[8 kk + 2 i], S[8 kk + 2 i + 1], so rP[i] = pack(S[2 i], S[2 i + 1]).
  // A half tile's P is zero in the second half's registers (its keys are masked): written, so
  // that no path through the code reads them undefined, which would keep them live from the
  // tile before across the item boundary (too few registers then: ptxas serializes the wgmma).
  auto convert_p = [&](auto keys) {
    constexpr int kRegs = decltype(keys)::value / kWgmmaK * kARegs;
#pragma unroll
    for (int i = 0; i < C::kRegsP; ++i) rP[i] = i < kRegs ? pack2<T>(rS[2 * i], rS[2 * i + 1]) : 0u;
  };

  // Each work item: Q, then the key tiles, then the epilogue (kEarlyEpilogue: then the key tiles
  // this warpgroup's rows do not see).
  for_each_item<kPersistent, kPairs>(p, [&](int item) {
    w = work_tile<kBlockM, kBlockN, kCausal, kPersistent>(p, item);
    const int lane_row0 = w.q0 + lane_tile_row;  // this lane's first query row
    // Consumer c's rows are [q0 + 64 c, q0 + 64 c + 64) of the sequence; none exists when all
    // lie before row 0 (the ragged first tile).
    if constexpr (kOwnKeyRange) {
      // Key tiles of consumer c: those its last row sees.
      auto consumer_tiles = [&](int c) {
        const int c_last = w.q0 + (c + 1) * C::kRowsPerConsumer - 1;
        return c_last < 0 ? 0 : (keys_seen<kCausal>(p, c_last) + kBlockN - 1) / kBlockN;
      };
      n_wg = consumer_tiles(consumer);
      n_unmasked = keys_seen<kCausal>(p, max(w.q0 + wg_row0, 0)) / kBlockN;
      // Who leaves the ring (the last consumer's last row is the tile's: it sees every tile).
      first_mid = first_last = 0;
#pragma unroll
      for (int c = 0; c < C::kConsumers - 1; ++c) {
        first_mid += consumer_tiles(c) == 0;
        first_last += consumer_tiles(c) < w.n_tiles;
      }
      constexpr int kLast = C::kConsumers - 1;
      alone_from = consumer != kLast ? w.n_tiles : first_mid == kLast ? 1 : first_last == kLast ? w.n_tiles - 1 : w.n_tiles;
    } else {
      n_wg = w.n_tiles;
      n_unmasked = w.n_unmasked;
    }
    const int wg_last_row = w.q0 + wg_row0 + C::kRowsPerConsumer - 1;
    const bool half_last = kHalfLastTile && n_wg > 0 &&
                           keys_seen<kCausal>(p, wg_last_row) <= (n_wg - 1) * kBlockN + kBlockN / 2;
#pragma unroll
    for (int i = 0; i < C::kAccO; ++i) rO[i] = 0.f;
#pragma unroll
    for (int h = 0; h < 2; ++h) m_i[h] = -CUDART_INF_F, l_i[h] = 0.f, alpha[h] = 0.f;

    // After S of the item's last key tile, sK[stage] is free and so is sQ (the next item's Q may
    // land while this one's last P V and epilogue run). kOwnKeyRange: after this warpgroup's
    // last S, so that the next Q may land during its early epilogue as well. kQUntilStored: sQ
    // is released at the end of the epilogue instead.
    auto release_k = [&](int t) {
      release(empty_k(stage(t)));
      if (!kQUntilStored && t == (kOwnKeyRange ? max(n_wg, 1) - 1 : w.n_tiles - 1)) release(empty_q);
    };

    // Key tiles [t_begin, n_tiles) without GEMM or softmax: the warpgroup still waits on and
    // releases every stage, so the barriers complete as for the tiles it computes, and takes its
    // turns (one per tile with the overlap, two without), except with kOwnKeyRange, where it has
    // left the ring for these tiles. A loop of its own, not a branch around each wgmma: ptxas
    // serializes wgmma whose accumulators it cannot follow through such branches.
    auto pass_tiles = [&](int t_begin) {
      for (int t = t_begin; t < w.n_tiles; ++t) {
        issue_ahead(t);
        mbarrier_wait(full_k(stage(t)), phase(t));
        if constexpr (!kOwnKeyRange) {
          turn_begin(t);
          turn_end(C::kOverlap ? t + 1 : t);
        }
        release_k(t);
        mbarrier_wait(full_v(stage(t)), phase(t));
        if constexpr (!kOwnKeyRange && !C::kOverlap) {
          turn_begin(t);
          turn_end(t + 1);
        }
        release(empty_v(stage(t)));
      }
    };

    if (w.n_tiles > 0) {
      if (issues_loads) {  // the prologue of the no-producer variant
        load_q(w, q_round);
        for (int t = 0; t < kStages - 1 && t < w.n_tiles; ++t) load_k(w, t, ring + t);
        for (int t = 0; t < kStages - 2 && t < w.n_tiles; ++t) load_v(w, t, ring + t);
      }
      mbarrier_wait(full_q, q_round & 1);  // protects sQ: the Q tile has landed

      if (!kCausal && w.q0 + wg_row0 + C::kRowsPerConsumer <= 0) {
        // None of this warpgroup's rows exists: it skips the item, and the other warpgroups find
        // the tensor cores free (with kOwnKeyRange, causal, n_wg = 0 does the same; in the other
        // causal kernels the ragged tile, which visits the fewest key tiles, is computed whole).
        pass_tiles(0);
      } else {
        if (n_wg > 0) {
          // The tiles computed whole, [0, n_full), then the half one (half_last).
          const int n_full = n_wg - (half_last ? 1 : 0);
          if constexpr (C::kOverlap) {
            // Tile 0: S alone.
            auto first_tile = [&](auto keys) {
              issue_ahead(0);
              mbarrier_wait(full_k(stage(0)), phase(0));  // protects sK: K tile 0 has landed
              turn_begin(0);
              issue_s(stage(0), keys);
              turn_end(1);
              wgmma_wait<0>();  // S_0 is done: rS may be read, its sK released
              order_first<decltype(keys)::value / 2>(rS);
              release_k(0);
              softmax(0, lane_row0, keys);
              convert_p(keys);
            };
            // Tile t: S_t and P_{t-1} V_{t-1} on the tensor cores while the softmax of S_t runs.
            // Tile t - 1 is a whole one.
            auto tile_step = [&](int t, auto keys) {
              issue_ahead(t);
              mbarrier_wait(full_k(stage(t)), phase(t));  // protects sK: K tile t has landed
              turn_begin(t);
              issue_s(stage(t), keys);
              rescale_o();  // alpha of tile t - 1, while S_t runs; before P_{t-1} V_{t-1} is added
              mbarrier_wait(full_v(stage(t - 1)), phase(t - 1));  // protects sV: V tile t - 1 has landed
              issue_o(stage(t - 1), FullTile{});
              turn_end(t + 1);
              wgmma_wait<1>();  // S_t is done; P_{t-1} V_{t-1} may still run (it reads rP, writes rO)
              order_first<decltype(keys)::value / 2>(rS);
              release_k(t);
              softmax(t, lane_row0, keys);
              wgmma_wait<0>();  // P_{t-1} V_{t-1} is done: rP may be overwritten, rO read
              order_registers(rO);
              order_first<decltype(keys)::value / 2>(rS);
              release(empty_v(stage(t - 1)));
              convert_p(keys);
            };
            // The last P V.
            auto last_pv = [&](auto keys) {
              const int t_last = n_wg - 1;
              rescale_o();
              mbarrier_wait(full_v(stage(t_last)), phase(t_last));  // protects sV: V tile t_last has landed
              issue_o(stage(t_last), keys);
              wgmma_wait<0>();  // the last P V is done: rO is final, its sV released
              order_registers(rO);
              release(empty_v(stage(t_last)));
            };
            if (n_full > 0)
              first_tile(FullTile{});
            else
              first_tile(HalfTile{});
            for (int t = 1; t < n_full; ++t) tile_step(t, FullTile{});
            if (half_last) {
              if (n_wg > 1) tile_step(n_wg - 1, HalfTile{});
              last_pv(HalfTile{});
            } else {
              last_pv(FullTile{});
            }
          } else {
            // No overlap: per tile S, then softmax, then P V, each waiting for the one before. The
            // two GEMMs are two turns of the pingpong.
            auto serial_tile = [&](int t, auto keys) {
              issue_ahead(t);
              mbarrier_wait(full_k(stage(t)), phase(t));  // protects sK: K tile t has landed
              turn_begin(t);
              issue_s(stage(t), keys);
              turn_end(t);  // the next turn is this tile's P V
              wgmma_wait<0>();  // S_t is done: rS may be read, its sK released
              order_first<decltype(keys)::value / 2>(rS);
              release_k(t);
              softmax(t, lane_row0, keys);
              rescale_o();
              convert_p(keys);
              mbarrier_wait(full_v(stage(t)), phase(t));  // protects sV: V tile t has landed
              turn_begin(t);
              issue_o(stage(t), keys);
              turn_end(t + 1);
              wgmma_wait<0>();  // P_t V_t is done: rO may be rescaled, rP rewritten, its sV released
              order_registers(rO);
              release(empty_v(stage(t)));
            };
            for (int t = 0; t < n_full; ++t) serial_tile(t, FullTile{});
            if (half_last) serial_tile(n_wg - 1, HalfTile{});
          }
        } else if constexpr (kOwnKeyRange) {
          // No key tile for these rows: only tile 0's turn (two without the overlap).
          turn_begin(0);
          turn_end(C::kOverlap ? 1 : 0);
          if constexpr (!C::kOverlap) {
            turn_begin(0);
            turn_end(1);
          }
        }
        if constexpr (kOwnKeyRange && !kEarlyEpilogue) pass_tiles(n_wg);  // the tiles its rows do not see
      }
      if constexpr (!kEarlyEpilogue) {
        ring += w.n_tiles;
        if constexpr (!kQUntilStored) ++q_round;
      }
    }
    if constexpr (kQUntilStored)
      if (w.n_tiles == 0) {  // the Q round of an item without keys (see load_q)
        if (issues_loads) load_q(w, q_round);
        mbarrier_wait(full_q, q_round & 1);  // keeps the Q rounds in step: without it the consumers could
                                             // complete two empty_q phases before the producer tests one
      }

    // Epilogue. Finish l_i over the quad; O = O / l_i; LSE = log(sum exp(scale * s)).
    float inv_l[2], lse[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float l = l_i[h];
      l += __shfl_xor_sync(kFullWarp, l, 1);
      l += __shfl_xor_sync(kFullWarp, l, 2);
      inv_l[h] = l > 0.f ? rcp_fast(l) : 0.f;  // a row that saw no key: O = 0, not 0 / 0
      lse[h] = l > 0.f ? (m_i[h] * p.scale_log2 + log2_fast(l)) * kLn2 : -CUDART_INF_F;
    }

    // Stage O in this warpgroup's own rows of sO (the other consumers only touch their own
    // rows), in the TMA's swizzle, then one thread stores them with the TMA: one box of (64 rows,
    // 64 columns) per column block. Written by the threads' generic stores and read by the TMA
    // (the async proxy), sO needs fence.proxy.async between the two. The LSE is stored after
    // the fence, which would otherwise wait for those global stores too.
    if (tid == 0) bulk_wait_read();  // protects sO: the previous item's store has read it
    named_barrier_sync(C::kBarrierEpilogue + consumer, kWarpgroupThreads);  // protects sO: as above, for
                                                                          // all four warps
    if constexpr (kStmatrixO) {
      // One stmatrix.x4 per two n8 slices j0, j0 + 1 of O: matrix i is slice j0 + i / 2, rows
      // 8 (i % 2) .. + 7 of the warp's 16, whose 8 columns are one 16-byte chunk of each row of
      // sO. Lane l addresses row l % 8 of matrix l / 8.
#pragma unroll
      for (int j0 = 0; j0 < C::kSlicesO; j0 += 2) {
        const int i = lane / kSliceCols;
        auto packed = [&](int j, int h) {
          return pack2<T>(rO[4 * j + 2 * h] * inv_l[h], rO[4 * j + 2 * h + 1] * inv_l[h]);
        };
        const int row = wg_row0 + warp * kWarpRows + kHalfRows * (i % 2) + lane % kSliceCols;  // tile row
        stmatrix_x4(sO + swizzled_offset<kBlockM>(row, kSliceCols * (j0 + i / 2)), packed(j0, 0), packed(j0, 1),
                    packed(j0 + 1, 0), packed(j0 + 1, 1));
      }
    } else {
      // Each lane's two elements of every n8 slice and row, one 32-bit store each.
#pragma unroll
      for (int j = 0; j < C::kSlicesO; ++j)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int row = lane_tile_row + kHalfRows * h;  // tile row
          *reinterpret_cast<std::uint32_t*>(smem_o + swizzled_offset<kBlockM>(row, kSliceCols * j + 2 * quad)) =
              pack2<T>(rO[4 * j + 2 * h] * inv_l[h], rO[4 * j + 2 * h + 1] * inv_l[h]);
        }
    }
    fence_proxy_async_shared();  // each thread's sO writes, visible to the TMA
    named_barrier_sync(C::kBarrierEpilogue + consumer, kWarpgroupThreads);  // protects sO: the warpgroup's
                                                                          // O rows are complete
    const int first_row = w.q0 + wg_row0;  // of this warpgroup's rows, in the sequence
    if (first_row >= 0) {
      if (tid == 0) {
#pragma unroll
        for (int cb = 0; cb < C::kColBlocks; ++cb)
          tma_store_3d(&tmap_o, sO + cb * C::kQBlockBytes + wg_row0 * kSwizzleRowBytes, cb * kSwizzleCols,
                       first_row, w.head);
        bulk_commit();
      }
    } else if (first_row + C::kRowsPerConsumer > 0) {
      // Rows from before row 0 to after it (the ragged first tile), which no TMA box may start
      // at: these go out as 16-byte stores from sO, consecutive threads along a row, skipping the
      // rows before 0.
      constexpr int kChunksPerRow = kHeadDim / kChunkElems;
      T* const gO = static_cast<T*>(p.o) + std::int64_t(w.head) * p.sq * kHeadDim;  // (Sq, kHeadDim) of the head
#pragma unroll
      for (int i = 0; i < C::kRowsPerConsumer * kChunksPerRow / kWarpgroupThreads; ++i) {
        const int idx = i * kWarpgroupThreads + tid;
        const int row = wg_row0 + idx / kChunksPerRow, chunk = idx % kChunksPerRow;  // tile row
        if (w.q0 + row >= 0)
          *reinterpret_cast<uint4*>(gO + std::int64_t(w.q0 + row) * kHeadDim + chunk * kChunkElems) =
              *reinterpret_cast<const uint4*>(smem_o + swizzled_offset<kBlockM>(row, chunk * kChunkElems));
      }
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = lane_row0 + kHalfRows * h;
      if (quad == 0 && row >= 0) p.lse[std::int64_t(w.head) * p.sq + row] = lse[h];
    }
    if constexpr (kQUntilStored) {
      // sQ (= sO) is free for the next item's Q once O has left it: the TMA store has read it
      // (tid 0's bulk group), or each thread its rows of a ragged first tile.
      if (tid == 0) bulk_wait_read();
      named_barrier_sync(C::kBarrierEpilogue + consumer, kWarpgroupThreads);  // protects sQ: as above
      release(empty_q);
      ++q_round;
    }
    if constexpr (kEarlyEpilogue) {  // after the epilogue: see kOwnKeyRange
      pass_tiles(n_wg);
      ring += w.n_tiles;
      if (w.n_tiles > 0) ++q_round;
    }
  });
  if (tid == 0) bulk_wait();  // the last TMA store is complete before the block and its sO go
  if constexpr (C::kPingpong)
    if (consumer == 0) turn_begin(0);  // the last consumer's final hand-over (see turn_end)
#else
  __trap();  // built without sm_90a code: the launcher refuses before this can run
#endif
}

// Whether the code loaded for this GPU is sm_90a's. A build for sm_90 without the "a"
// (CMAKE_CUDA_ARCHITECTURES=90) has the right compute capability and PTX version, so only the
// device pass can tell that flash3_kernel's body is compiled out.
__global__ void sm90a_probe(int* is_sm90a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  *is_sm90a = 1;
#else
  *is_sm90a = 0;
#endif
}

// ---------------------------------------------------------------------------------------------
// Host side: tensor maps and the launch.

bool aligned_16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % kChunkBytes == 0; }

// Once per process (the runner uses one device): sm90a_probe's answer.
bool runs_sm90a_code() {
  static const bool yes = [] {
    DeviceBuffer flag(sizeof(int));
    sm90a_probe<<<1, 1>>>(flag.as<int>());
    FA_CHECK_LAUNCH();
    int is_sm90a = 0;
    FA_CUDA_CHECK(cudaMemcpy(&is_sm90a, flag.get(), sizeof(int), cudaMemcpyDeviceToHost));
    return is_sm90a == 1;
  }();
  return yes;
}

// cuTensorMapEncodeTiled is a driver API function. The project links the CUDA runtime
// statically and never libcuda (the tests must start on machines without a driver), so the
// function is looked up at run time through the runtime, once.
PFN_cuTensorMapEncodeTiled_v12000 encode_tiled() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found{};
    constexpr unsigned kDriverVersion = 12000;  // the ABI of the _v12000 signature
    FA_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, kDriverVersion, cudaEnableDefault,
                                                   &found));
    if (found != cudaDriverEntryPointSuccess || f == nullptr)
      throw unsupported("06_warp_specialized: the CUDA driver does not provide cuTensorMapEncodeTiled");
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(f);
  }();
  return fn;
}

// An attribute of the current device, asked once per attribute (the runner uses one device).
template <cudaDeviceAttr kAttr>
int device_attribute() {
  static const int value = [] {
    int device = 0, v = 0;
    FA_CUDA_CHECK(cudaGetDevice(&device));
    FA_CUDA_CHECK(cudaDeviceGetAttribute(&v, kAttr, device));
    return v;
  }();
  return value;
}
int multiprocessor_count() { return device_attribute<cudaDevAttrMultiProcessorCount>(); }

// work_tile's chunk of heads (causal, one block per item): the most heads whose K and V (Sk x D
// x 2 bytes each) fit in half of L2, rounded down to a divisor of B * H so that every chunk is
// whole; 1 where work_tile does not use it.
std::int64_t heads_per_chunk(const AttnArgs& a, std::int64_t bh, bool persistent) {
  if (!a.causal || persistent) return 1;
  const std::int64_t kv_bytes = 2 * a.sk * a.d * kElemBytes;
  std::int64_t n = std::clamp<std::int64_t>(device_attribute<cudaDevAttrL2CacheSize>() / 2 / kv_bytes, 1, bh);
  while (bh % n != 0) --n;
  return n;
}

// A 3-D map over a (B * H, S, D) tensor, innermost first: (D, S, B * H). Its box is (64, rows,
// 1): one 128-byte-wide column block of `rows` rows of one head, written 128B-swizzled. Rows
// past S are outside dimension 1, so the box never reaches into the next head: they are zeros.
template <class T>
CUtensorMap make_map(const void* base, std::int64_t bh, std::int64_t seq, int head_dim, int box_rows) {
  CUtensorMap map;
  const cuuint64_t dims[3] = {cuuint64_t(head_dim), cuuint64_t(seq), cuuint64_t(bh)};
  const cuuint64_t strides[2] = {cuuint64_t(head_dim) * kElemBytes, cuuint64_t(seq * head_dim) * kElemBytes};
  const cuuint32_t box[3] = {cuuint32_t(kSwizzleCols), cuuint32_t(box_rows), 1};
  const cuuint32_t element_strides[3] = {1, 1, 1};
  const CUtensorMapDataType type =
      std::is_same_v<T, __nv_bfloat16> ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  const CUresult r = encode_tiled()(&map, type, 3, const_cast<void*>(base), dims, strides, box, element_strides,
                                    CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                    CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw Error("06_warp_specialized: cuTensorMapEncodeTiled failed with CUresult " + std::to_string(int(r)),
                kExitCuda);
  return map;
}

template <class T, int kHeadDim, bool kCausal, Variant kVariant, bool kPersistent>
void launch(const AttnArgs& a, cudaStream_t stream) {
  using C = Config<kHeadDim, kVariant>;
  auto* kernel = flash3_kernel<T, kHeadDim, kCausal, kVariant, kPersistent>;
  // Once per instantiation (on the current device; the runner uses one): the build must hold
  // sm_90a code for the kernel, and more than 48 KiB of dynamic shared memory is opt-in.
  static const bool ready = [kernel] {
    if (!runs_sm90a_code())
      throw unsupported("06_warp_specialized: this build has no sm_90a code (configure with "
                        "-DCMAKE_CUDA_ARCHITECTURES=90a)");
    opt_in_shared_memory(reinterpret_cast<const void*>(kernel), C::kSmemBytes, "06_warp_specialized", kHeadDim);
    return true;
  }();
  (void)ready;

  if (!aligned_16(a.q) || !aligned_16(a.k) || !aligned_16(a.v) || !aligned_16(a.o))
    throw unsupported("06_warp_specialized: q, k, v and o must be 16-byte aligned (TMA and vector stores)");
  const std::int64_t num_m_blocks = (a.sq + C::kBlockM - 1) / C::kBlockM;
  if (const std::string why = flat_grid_refusal("06_warp_specialized", a.b * a.h, a.sq, C::kBlockM); !why.empty())
    throw unsupported(why);
  const std::int64_t items = a.b * a.h * num_m_blocks;
  const std::int64_t slots = kPersistent && kCausal ? (items + 1) / 2 : items;
  // Persistent: one block per SM (one fits: see the shared-memory and register budgets above).
  const std::int64_t blocks = kPersistent ? std::min<std::int64_t>(slots, multiprocessor_count()) : slots;
  const std::int64_t bh = a.b * a.h;
  const CUtensorMap tmap_q = make_map<T>(a.q, bh, a.sq, kHeadDim, C::kBlockM);
  const CUtensorMap tmap_k = make_map<T>(a.k, bh, a.sk, kHeadDim, C::kBlockN);
  const CUtensorMap tmap_v = make_map<T>(a.v, bh, a.sk, kHeadDim, C::kBlockN);
  const CUtensorMap tmap_o = make_map<T>(a.o, bh, a.sq, kHeadDim, C::kRowsPerConsumer);
  const Params p{a.o,        a.lse,           int(a.sq), int(a.sk), int(num_m_blocks), int(items),
                 int(slots), a.scale * kLog2e, int(heads_per_chunk(a, bh, kPersistent))};
  kernel<<<unsigned(blocks), C::kThreads, C::kSmemBytes, stream>>>(tmap_q, tmap_k, tmap_v, tmap_o, p);
  FA_CHECK_LAUNCH();
}

template <class T, int kHeadDim, Variant kVariant>
void launch_causal(const AttnArgs& a, cudaStream_t stream) {
  // The full kernel leaves the pingpong out where it does not pay (measured: Tiles<D>::kPingpong):
  // there it runs the no_pingpong kernels, and its own kernels are not compiled. The ablations
  // keep their one kernel everywhere.
  constexpr Variant kRun = kVariant == Variant::full && !Tiles<kHeadDim>::kPingpong ? Variant::no_pingpong : kVariant;
  const std::int64_t key_tiles = (a.sk + Tiles<kHeadDim>::kBlockN - 1) / Tiles<kHeadDim>::kBlockN;
  // The persistent scheduler where work items are short (measured crossover: Tiles<D>); one
  // block per item where they are long, and always in the no_persistent ablation.
  const std::int64_t mean_key_tiles = a.causal ? (key_tiles + 1) / 2 : key_tiles;  // per item
  const int max_key_tiles =
      a.causal ? Tiles<kHeadDim>::kPersistentMaxKeyTilesCausal : Tiles<kHeadDim>::kPersistentMaxKeyTiles;
  if constexpr (kVariant != Variant::no_persistent)
    if (mean_key_tiles <= max_key_tiles)
      return a.causal ? launch<T, kHeadDim, true, kRun, true>(a, stream)
                      : launch<T, kHeadDim, false, kRun, true>(a, stream);
  a.causal ? launch<T, kHeadDim, true, kRun, false>(a, stream)
           : launch<T, kHeadDim, false, kRun, false>(a, stream);
}

template <class T, int kHeadDim>
void launch_variant(const AttnArgs& a, Variant variant, cudaStream_t stream) {
  switch (variant) {
    case Variant::full: return launch_causal<T, kHeadDim, Variant::full>(a, stream);
    case Variant::no_pingpong: return launch_causal<T, kHeadDim, Variant::no_pingpong>(a, stream);
    case Variant::no_overlap: return launch_causal<T, kHeadDim, Variant::no_overlap>(a, stream);
    case Variant::no_warp_specialization:
      return launch_causal<T, kHeadDim, Variant::no_warp_specialization>(a, stream);
    case Variant::no_persistent: return launch_causal<T, kHeadDim, Variant::no_persistent>(a, stream);
  }
}

template <int kHeadDim>
void launch_for(const AttnArgs& a, Element element, Variant variant, cudaStream_t stream) {
  if (element == Element::bf16)
    launch_variant<__nv_bfloat16, kHeadDim>(a, variant, stream);
  else
    launch_variant<__half, kHeadDim>(a, variant, stream);
}

}  // namespace

void forward(const AttnArgs& a, Element element, Variant variant, cudaStream_t stream) {
  if (!HeadDims::dispatch(a.d, [&](auto d) { launch_for<decltype(d)::value>(a, element, variant, stream); }))
    throw unsupported("06_warp_specialized: head dim " + std::to_string(a.d) + " is not compiled (" +
                      HeadDims::list() + ")");
}

}  // namespace fa::warp_specialized
