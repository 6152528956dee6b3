#pragma once
// What the readers and encoders hand to a network: one sorted vector of spike times (ms)
// per input neuron, the form a `spike_array` population takes.
#include <cstdint>
#include <string>
#include <vector>

namespace engram {

// [neuron] -> spike times in ms, ascending.
using spike_trains = std::vector<std::vector<double>>;

// An address-event from a vision sensor (DVS/ATIS): pixel, polarity (1 = ON, brighter;
// 0 = OFF, darker) and time stamp in microseconds.
struct dvs_event {
    std::uint16_t x = 0, y = 0;
    std::uint8_t p = 0;
    std::uint64_t t_us = 0;
    bool operator==(const dvs_event&) const = default;
};

// One file of a dataset stored as class folders, with its label.
struct labelled_file {
    std::string path;
    int label = 0;
};

// Events -> trains for width*height*2 neurons; neuron (p*height + y)*width + x, so the
// OFF channel comes first, then ON. Times become ms relative to the stream, shifted by
// `offset_ms`. Events outside the sensor throw std::invalid_argument.
spike_trains to_spike_trains(const std::vector<dvs_event>& events, int width, int height,
                             double offset_ms = 0.0);

// Channel/time pairs (times in seconds, as SHD and N-TIDIGITS store them) -> trains for
// `n_channels` neurons. A channel >= n_channels throws std::invalid_argument.
spike_trains to_spike_trains(const std::vector<float>& times_s,
                             const std::vector<std::uint16_t>& channels, std::size_t n_channels);
spike_trains to_spike_trains(const std::vector<double>& times_s,
                             const std::vector<std::uint16_t>& channels, std::size_t n_channels);

// The labelled files of `dir`: every subfolder whose name is a non-negative integer is a
// class (its label), every regular file in it ending in `extension` a sample. Sorted by
// label, then by file name (bytewise), so the order is the same on every machine.
// Other entries are skipped. Throws io_error if `dir` cannot be listed or holds no class.
std::vector<labelled_file> list_class_folders(const std::string& dir, const std::string& extension);

}  // namespace engram
