// CUDA graphs: the work one thread queues on a device's current stream, captured once and replayed
// with one launch (khub's Mode Compile). What a replay reads and writes is fixed at capture: the
// inputs that change between replays must live in buffers allocated before the capture and be
// refreshed in place. Memory allocated while capturing comes from a pool private to the graph, so
// it stays reserved for the graph (every replay writes it) and returns to the driver with it.
#pragma once

#include <functional>
#include <memory>

#include "core/device.h"

namespace khub {

class CudaGraph {
 public:
  explicit CudaGraph(Device device);
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // A graph of what `work` queues on the device's current stream: begin, work, end; a throw from
  // either closes the capture (nothing is left capturing) and propagates.
  static std::unique_ptr<CudaGraph> capture(Device device, const std::function<void()>& work) {
    auto g = std::make_unique<CudaGraph>(device);
    g->begin_capture();
    try {
      work();
      g->end_capture();
    } catch (...) {
      g->abort_capture();
      throw;
    }
    return g;
  }
  // Starts capturing the device's current stream (relaxed mode: allocations may call cudaMalloc).
  void begin_capture();
  // Ends the capture and instantiates the graph; throws (leaving no capture open) when the
  // captured work was invalid, naming the CUDA error.
  void end_capture();
  // Ends a capture after an error without instantiating (for unwinding); never throws.
  void abort_capture() noexcept;
  // Launches the graph on the device's current stream.
  void replay();
  bool ready() const { return exec_ != nullptr; }
  Device device() const { return device_; }

 private:
  Device device_;
  void* stream_ = nullptr;  // the captured stream
  void* graph_ = nullptr;   // cudaGraph_t
  void* exec_ = nullptr;    // cudaGraphExec_t
  int pool_ = 0;
  bool capturing_ = false;
};

}  // namespace khub
